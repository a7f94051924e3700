"""The mailbox listing's view of a message: a lean header-block parser.

The listing parses one header block (the answer to ``TOP n 0``) per message,
10,000 of them for a large maildrop, so this does not build an
``email.message.Message``: it finds the end of the header section, picks the
few headers the list shows with one regular expression over the bytes,
unfolds them (RFC 5322 §2.2.3) and decodes them (RFC 2047). Every value is
capped (see :mod:`popview.mail.headers`), so a 1 MB Subject or a To with
200,000 ``;`` costs about as much as an ordinary one.

To, Cc and References are not shown in the list, and address lists are the
dearest thing to parse, so the envelope keeps their raw (unfolded, capped)
values and parses them on first use of :attr:`Envelope.to`, :attr:`Envelope.cc`
or :attr:`Envelope.references`, with the same functions an eager parse would
use: the results, sanitized, are identical.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from popview.mail.headers import (
    ADDRESS_VALUE_CAP,
    RAW_VALUE_CAP,
    Address,
    decode_header_bytes,
    decode_words,
    display_address,
    first_address,
    parse_addresses,
    parse_date,
)
from popview.mail.signals import SIGNAL_HEADERS, read_signals
from popview.sanitize import sanitize_header

__all__ = ["Envelope", "parse_envelope", "parse_envelopes"]

SUBJECT_MAX_LEN = 998  # RFC 5322 §2.1.1: a line is at most 998 characters
_ID_MAX_LEN = 998
_MAX_REFERENCES = 100
_HEADER_BLOCK_CAP = 1 << 20  # look at the first 1 MiB of a header block
# References kept raw: 100 ids of at most 252 characters and the space between.
_REFERENCES_CAP = _MAX_REFERENCES * 260

_WANTED = (
    b"from|to|cc|subject|date|message-id|in-reply-to|references|content-type|" + SIGNAL_HEADERS
)
# A wanted field name at the start of a line, then its value with any folded
# continuation lines (RFC 5322 §2.2.3: a continuation starts with SP or HTAB).
# The line start is a literal LF, not a MULTILINE "^": the engine then skips
# from LF to LF at C speed instead of trying the pattern at every byte.
_FIELD = re.compile(
    rb"\n(" + _WANTED + rb")[ \t]*:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)",
    re.IGNORECASE,
)
# The header section ends at the first line that is neither a field nor a
# continuation (the same rule as email.feedparser, so the list and the viewer
# agree): normally the empty line of RFC 5322 §2.1, else a malformed line.
_END_OF_HEADER = re.compile(rb"\n(?![\x21-\x39\x3b-\x7e]*:|[ \t]|From )")
_FOLD = re.compile(rb"\r?\n(?=[ \t])")
# The same three patterns over the block decoded once (ASCII: no Unicode case
# folding, so "\u017fubject" is not "subject"), for the usual block: UTF-8 and
# short enough that no value reaches decode_header_bytes's cut.
_FIELD_TEXT = re.compile(_FIELD.pattern.decode("ascii"), re.IGNORECASE | re.ASCII)
_END_OF_HEADER_TEXT = re.compile(_END_OF_HEADER.pattern.decode("ascii"))
_FOLD_TEXT = re.compile(_FOLD.pattern.decode("ascii"))
_TEXT_BLOCK_CAP = 4 * RAW_VALUE_CAP
_MSG_ID = re.compile(r"<[^<>\s]{1,250}>")
_MULTIPART_HINTS = ("multipart/mixed", "multipart/report", "application/", "image/", "audio/")


class Envelope(NamedTuple):
    """One row of the mailbox list. Every string is decoded and sanitized.

    Immutable, as a tuple: a listing builds 10,000 of these (parsed, or rebuilt
    from the cache), and a tuple's constructor costs 2.4 µs where a frozen
    dataclass's, setting 17 fields through ``object.__setattr__``, costs 6.5 µs.

    Attributes:
        number: Message number in this POP3 session (RFC 1939 §5).
        uid: The server's stable UIDL (RFC 1939 §7), or ``None`` when it has none
            usable; never a session-only key (the session pairs each envelope with
            its :class:`~popview.session.identity.MessageKey`).
        size: Size in octets as the server listed it; ``None`` when its LIST
            row was malformed (HARDENING F.60).
        from_name: Display name of the first From address ("" if none).
        from_addr: Address of the first From address ("" if none).
        to_raw: The raw To value (unfolded, capped); never shown: read
            :attr:`to`.
        cc_raw: The raw Cc value, likewise; read :attr:`cc`.
        subject: Subject, one line, capped.
        date: The Date header as an aware datetime, ``None`` if unparsable.
        date_text: The Date header as written (sanitized).
        message_id: Message-ID ("" if none).
        in_reply_to: In-Reply-To ("" if none).
        references_raw: The raw References value, likewise; read
            :attr:`references`.
        has_attachment: Hint from the top-level Content-Type.
        signals: Decision signals (``spam``, ``dmarc=fail``...; see
            :mod:`popview.mail.signals`), read from the same header block.
        spam_score: The spam filter's score, ``None`` if none.
        list_id: The List-Id ("" if none).
    """

    number: int
    uid: str | None
    size: int | None
    from_name: str = ""
    from_addr: str = ""
    to_raw: str = ""
    cc_raw: str = ""
    subject: str = ""
    date: datetime | None = None
    date_text: str = ""
    message_id: str = ""
    in_reply_to: str = ""
    references_raw: str = ""
    has_attachment: bool = False
    signals: frozenset[str] = frozenset()
    spam_score: float | None = None
    list_id: str = ""

    @property
    def to(self) -> tuple[Address, ...]:
        """The To addresses (capped), decoded and sanitized."""
        return parse_addresses(self.to_raw)

    @property
    def cc(self) -> tuple[Address, ...]:
        """The Cc addresses (capped), decoded and sanitized."""
        return parse_addresses(self.cc_raw)

    @property
    def references(self) -> tuple[str, ...]:
        """Message-IDs from References (capped), sanitized."""
        return _ids(self.references_raw, _MAX_REFERENCES)

    @property
    def sender(self) -> str:
        """The From column: name and address, so a name cannot pose as one."""
        return display_address(self.from_name, self.from_addr)


def _header_section(block: bytes) -> bytes:
    block = block[:_HEADER_BLOCK_CAP]
    if b"\n" not in block and b"\r" in block:
        block = block.replace(b"\r", b"\n")  # CR-only line ends
    block = b"\n" + block
    end = _END_OF_HEADER.search(block)
    return block[1 : end.start()] if end else block[1:]


def _raw_fields(section: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for match in _FIELD.finditer(b"\n" + section):
        name = match.group(1).lower().decode("ascii")
        if name not in fields:  # the first occurrence wins, as in email.message
            value = _FOLD.sub(b"", match.group(2))
            fields[name] = decode_header_bytes(value).strip()
    return fields


def _fields(block: bytes) -> dict[str, str]:
    """The wanted fields of a header block: :func:`_raw_fields` of its
    :func:`_header_section`, found in one pass over the decoded text when the
    block is UTF-8 (ASCII included) and at most ``_TEXT_BLOCK_CAP`` bytes."""
    if len(block) <= _TEXT_BLOCK_CAP and b"\n" in block:
        try:
            text = "\n" + block.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            end = _END_OF_HEADER_TEXT.search(text)
            fields: dict[str, str] = {}
            # Backwards, so the first occurrence is the one kept (as in email.message).
            for name, value in reversed(
                _FIELD_TEXT.findall(text, 0, end.start() if end else len(text))
            ):
                if "\n" in value:
                    value = _FOLD_TEXT.sub("", value)
                fields[name.lower()] = value.strip()
            return fields
    return _raw_fields(_header_section(block))


def _ids(value: str, limit: int) -> tuple[str, ...]:
    found: list[str] = []
    for match in _MSG_ID.finditer(value):
        found.append(sanitize_header(match.group(), max_len=_ID_MAX_LEN))
        if len(found) >= limit:
            break
    return tuple(found)


def _intern_raw(value: str, cap: int) -> str:
    """Cut ``value`` to what its parser looks at; share a short one (a mailbox's
    To is mostly the same few strings) so 100,000 envelopes hold one copy."""
    value = value[:cap]
    return sys.intern(value) if len(value) <= 200 else value


def parse_envelope(
    header_bytes: bytes, *, number: int, uid: str | None, size: int | None
) -> Envelope:
    """Parse a header block into an :class:`Envelope`; never raises.

    Args:
        header_bytes: The header section (a body after the empty line is
            ignored), any line endings, any bytes.
        number: The message number in this session.
        uid: The UIDL, or ``None``.
        size: The listed size in octets.

    Returns:
        The envelope; missing or unparsable fields are empty.
    """
    try:
        fields = _fields(header_bytes)
    except Exception:  # defensive: a parser bug must not lose the row
        fields = {}
    sender = first_address(fields.get("from", ""))
    date_text = fields.get("date", "")
    first_id = _ids(fields.get("message-id", ""), 1)
    reply_id = _ids(fields.get("in-reply-to", ""), 1)
    content_type = fields.get("content-type", "").lower().lstrip()
    signals = read_signals(fields, sender.addr)
    return Envelope(
        number=number,
        uid=uid,
        size=size,
        from_name=sender.name,
        from_addr=sender.addr,
        to_raw=_intern_raw(fields.get("to", ""), ADDRESS_VALUE_CAP),
        cc_raw=_intern_raw(fields.get("cc", ""), ADDRESS_VALUE_CAP),
        subject=sanitize_header(decode_words(fields.get("subject", "")), max_len=SUBJECT_MAX_LEN),
        date=parse_date(date_text),
        date_text=sanitize_header(date_text, max_len=200),
        message_id=first_id[0] if first_id else "",
        in_reply_to=reply_id[0] if reply_id else "",
        references_raw=fields.get("references", "")[:_REFERENCES_CAP],
        has_attachment=content_type.startswith(_MULTIPART_HINTS),
        signals=signals.tokens,
        spam_score=signals.spam_score,
        list_id=signals.list_id,
    )


def parse_envelopes(
    blocks: Iterable[tuple[bytes, int, str | None, int]],
) -> list[Envelope]:
    """Parse a batch of ``(header_bytes, number, uid, size)`` tuples."""
    return [
        parse_envelope(block, number=number, uid=uid, size=size)
        for block, number, uid, size in blocks
    ]
