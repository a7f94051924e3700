"""The display data a parsed message is made of (plain frozen dataclasses).

Every string here is decoded; header strings and file names are sanitized,
body text is sanitized when it is rendered (:mod:`popview.mail.render`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from popview.mail.headers import Address

__all__ = ["Attachment", "BodySegment", "HeaderField", "ParsedMessage", "TextPart"]


def _no_data() -> bytes:
    return b""


@dataclass(frozen=True, slots=True)
class HeaderField:
    """One header as the "all headers" view shows it (decoded, sanitized)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class TextPart:
    """A decoded text body part (text is *not* sanitized yet: render does it).

    Attributes:
        content_type: ``text/plain`` or ``text/html``.
        text: The decoded text.
        charset: The charset label that was declared ("" if none).
        clean: ``False`` if fallbacks or replacement characters were needed.
    """

    content_type: str
    text: str
    charset: str = ""
    clean: bool = True


@dataclass(frozen=True, slots=True)
class BodySegment:
    """One position in the body: alternatives of the same content, or a
    nested message (message/rfc822, e.g. a forward).

    Attributes:
        plain: The text/plain alternative, if any.
        html: The text/html alternative, if any.
        message: A nested message shown inline, if this segment is one.
    """

    plain: TextPart | None = None
    html: TextPart | None = None
    message: ParsedMessage | None = None


@dataclass(frozen=True, eq=False)
class Attachment:
    """An attachment or inline part.

    Attributes:
        filename: Sanitized, never empty, safe to join to a directory.
        content_type: Sanitized MIME type, lower case.
        size: Decoded size in bytes (estimated from the encoded length until
            :meth:`data` is called).
        inline: ``True`` for inline parts (e.g. images of multipart/related).
        content_id: The Content-ID without brackets ("" if none).
    """

    filename: str
    content_type: str
    size: int
    inline: bool = False
    content_id: str = ""
    _loader: Callable[[], bytes] = field(default=_no_data, repr=False)

    def data(self) -> bytes:
        """Return the decoded bytes (bad base64 decodes as far as it goes)."""
        try:
            return self._loader()
        except Exception:  # a broken part yields nothing rather than a crash
            return b""


@dataclass(frozen=True, eq=False)
class ParsedMessage:
    """Everything the viewer shows about one message.

    Attributes:
        subject: Decoded, sanitized Subject.
        from_: From addresses.
        to: To addresses (capped).
        cc: Cc addresses (capped).
        reply_to: Reply-To addresses.
        date: The Date as an aware datetime, or ``None``.
        date_text: The Date header as written (sanitized).
        message_id: Sanitized Message-ID.
        headers: Every header, decoded and sanitized, in order (capped).
        segments: The body, in order.
        attachments: Attachments and inline parts, in order.
        defects: Human-readable problems for the banner.
        raw: The message bytes, for "view source" and saving.
    """

    subject: str = ""
    from_: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    date: datetime | None = None
    date_text: str = ""
    message_id: str = ""
    headers: tuple[HeaderField, ...] = ()
    segments: tuple[BodySegment, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()
    raw: bytes = field(default=b"", repr=False)

    @property
    def date_local(self) -> str:
        """The date in local time (``YYYY-MM-DD HH:MM``), "" if unknown."""
        if self.date is None:
            return ""
        try:
            return self.date.astimezone().strftime("%Y-%m-%d %H:%M")
        except (OverflowError, ValueError, OSError):
            return ""
