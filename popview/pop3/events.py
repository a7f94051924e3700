"""The events :class:`popview.pop3.protocol.Pop3Connection` produces, as frozen dataclasses.

Text in them is decoded leniently from the server's bytes and not yet
sanitized: sanitize before display (rule "hostile-text"). Re-exported by
:mod:`popview.pop3.protocol`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Continuation",
    "Data",
    "ErrReply",
    "Event",
    "Greeting",
    "OkReply",
    "Progress",
]


@dataclass(frozen=True)
class Greeting:
    """The server's ``+OK`` greeting.

    Attributes:
        text: The greeting text (raw-decoded, not yet sanitized for display).
        timestamp: The APOP timestamp ``<...>`` if the greeting holds a valid
            msg-id (RFC 1939 §7, RFC 5322 msg-id syntax), else ``None``.
    """

    text: str
    timestamp: str | None = None


@dataclass(frozen=True)
class OkReply:
    """A whole ``+OK`` reply: the status line and, for a multi-line command, its block.

    Attributes:
        text: The text after ``+OK`` (RESP-CODE removed), decoded leniently.
        code: RFC 2449 response code without brackets, upper-cased, or ``None``.
        data: For a multi-line command, the block: dot-unstuffed, every line
            ending in CRLF (bare LF lines get their CR), the terminating ``.``
            removed; ``None`` for a single-line reply.
        lines: Lines in ``data``.
    """

    text: str
    code: str | None = None
    data: bytes | None = None
    lines: int = 0


@dataclass(frozen=True)
class ErrReply:
    """A ``-ERR`` status line. The connection stays usable (except as a greeting)."""

    text: str
    code: str | None = None


@dataclass(frozen=True)
class Continuation:
    """A SASL ``+ `` challenge (RFC 5034).

    Attributes:
        data: The base64 text as sent (empty when ``overlong``).
        overlong: The challenge was longer than the status-line limit; it was
            discarded, and the exchange must be cancelled with ``*``.
    """

    data: str
    overlong: bool = False


@dataclass(frozen=True)
class Progress:
    """Part of a block arrived (only for commands that ask, such as ``RETR``).

    Attributes:
        received: Octets of the block received so far, as sent (still stuffed).
        text: The text of the ``+OK`` that opened the block (RESP-CODE removed),
            e.g. the size a server announces for RETR.
    """

    received: int
    text: str = ""


@dataclass(frozen=True)
class Data:
    """A piece of a streamed block (LIST and UIDL of a whole mailbox): complete
    lines, dot-unstuffed, CRLF line endings. The :class:`OkReply` that follows
    the last piece has empty ``data``; the bytes are not held twice (HARDENING A.7)."""

    data: bytes


Event = Greeting | OkReply | ErrReply | Continuation | Progress | Data
