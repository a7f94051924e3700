"""The events :class:`popview.pop3.protocol.Pop3Connection` produces, as frozen dataclasses.

Text in them is decoded leniently from the server's bytes and not yet
sanitized: sanitize before display (rule "hostile-text"). Re-exported by
:mod:`popview.pop3.protocol`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Continuation",
    "DataLines",
    "EndOfData",
    "ErrReply",
    "Event",
    "Greeting",
    "OkReply",
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
    """A ``+OK`` status line.

    Attributes:
        text: The text after ``+OK`` (RESP-CODE removed), decoded leniently.
        code: RFC 2449 response code without brackets, upper-cased, or ``None``.
    """

    text: str
    code: str | None = None


@dataclass(frozen=True)
class ErrReply:
    """A ``-ERR`` status line. The connection stays usable (except as a greeting)."""

    text: str
    code: str | None = None


@dataclass(frozen=True)
class Continuation:
    """A SASL ``+ `` challenge (RFC 5034); ``data`` is the base64 text as sent."""

    data: str


@dataclass(frozen=True)
class DataLines:
    """Some lines of a multi-line reply: dot-unstuffed, line ending removed."""

    lines: tuple[bytes, ...]


@dataclass(frozen=True)
class EndOfData:
    """The terminating ``.`` of a multi-line reply was seen.

    Attributes:
        line_count: Lines in the block.
        byte_count: Octets of the unstuffed block counting CRLF per line (what
            RFC 1939 LIST sizes count).
    """

    line_count: int = 0
    byte_count: int = 0


Event = Greeting | OkReply | ErrReply | Continuation | DataLines | EndOfData
