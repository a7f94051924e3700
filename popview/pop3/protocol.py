"""Sans-IO POP3 (RFC 1939, RFC 2449, RFC 5034): commands to bytes, bytes to events.

Shaped like h11: :class:`Pop3Connection` never touches a socket. The caller
:meth:`~Pop3Connection.send` s a :class:`Command` (getting the bytes to write),
feeds whatever bytes arrive with :meth:`~Pop3Connection.receive_data` (any
split, even one byte at a time; ``b""`` means EOF) and pulls events with
:meth:`~Pop3Connection.next_event` until it returns :data:`NEED_DATA`.

Events for one command, in order:

* single-line commands: one :class:`OkReply` or :class:`ErrReply`;
* multi-line commands (LIST, UIDL, CAPA, TOP, RETR without argument where the
  RFC says so): :class:`OkReply`, then zero or more :class:`DataLines` (lines
  already dot-unstuffed, without their line ending), then :class:`EndOfData`;
  an ``-ERR`` reply is a single :class:`ErrReply` with no data;
* during ``AUTH``: :class:`Continuation` for each ``+ `` challenge;
* the greeting (before any command): :class:`Greeting` or :class:`ErrReply`.

Anything else is a framing error: :class:`popview.errors.Pop3ProtocolError`
is raised, the connection enters the ``ERROR`` state and every later call
raises again. The connection must then be dropped (never reused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Generic, TypeVar

__all__ = [
    "NEED_DATA",
    "Capabilities",
    "Command",
    "Continuation",
    "DataLines",
    "EndOfData",
    "ErrReply",
    "Event",
    "Greeting",
    "Limits",
    "ListEntry",
    "ListingResult",
    "OkReply",
    "Pop3Connection",
    "UidlEntry",
]


class _NeedData(Enum):
    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = _NeedData.NEED_DATA
"""Sentinel returned by :meth:`Pop3Connection.next_event` when more bytes are needed."""


@dataclass(frozen=True)
class Limits:
    """Framing limits; crossing one is a protocol error (the connection is dead).

    Attributes:
        max_line: Longest line accepted, terminator excluded. Real mail has
            lines of 200,000 bytes; poplib's 2048 is far too small.
        max_status_line: Longest ``+OK``/``-ERR``/``+ `` line.
        max_response_bytes: Default cap on the bytes of one multi-line reply
            (a command may carry its own).
        max_response_lines: Default cap on the line count of one multi-line reply.
    """

    max_line: int = 1024 * 1024
    max_status_line: int = 64 * 1024
    max_response_bytes: int = 512 * 1024 * 1024
    max_response_lines: int = 2_000_000


@dataclass(frozen=True)
class Command:
    """One POP3 command line.

    Attributes:
        verb: Upper-case keyword, e.g. ``"RETR"``.
        args: Arguments, already validated (no CR, LF or NUL).
        multiline: Whether a ``+OK`` reply is followed by a dot-terminated block.
        secret: Whether the arguments must be masked in traces (PASS, APOP,
            AUTH responses).
        max_bytes: Cap on the multi-line body for this command, or ``None`` for
            :attr:`Limits.max_response_bytes`.
        max_lines: Cap on the multi-line line count, or ``None`` for the default.
        raw: For SASL responses: the line is sent as is (no verb).
    """

    verb: str
    args: tuple[str, ...] = ()
    multiline: bool = False
    secret: bool = False
    max_bytes: int | None = None
    max_lines: int | None = None
    raw: bool = False

    def trace(self) -> str:
        """Return the command as it may appear in a log (secrets masked)."""
        raise NotImplementedError


# Command constructors (validated; raise ValueError on CR/LF/NUL or bad numbers).
# stat(), list_(n=None), uidl(n=None), top(n, lines), retr(n, max_bytes=None),
# dele(n), rset(), noop(), quit(), capa(), stls(), user(name), pass_(password),
# apop(name, digest), auth(mechanism, initial_response=None), sasl_response(data),
# utf8()


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
        code: RFC 2449 response code without brackets, or ``None``.
    """

    text: str
    code: str | None = None


@dataclass(frozen=True)
class ErrReply:
    """A ``-ERR`` status line. The connection stays usable."""

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
    """The terminating ``.`` of a multi-line reply was seen."""

    line_count: int = 0
    byte_count: int = 0


Event = Greeting | OkReply | ErrReply | Continuation | DataLines | EndOfData


@dataclass(frozen=True)
class ListEntry:
    """One LIST row: message number and size in octets as the server says."""

    number: int
    size: int


@dataclass(frozen=True)
class UidlEntry:
    """One UIDL row. ``stable`` is False when the id breaks RFC 1939 §7
    (empty, over 70 chars, bytes outside 0x21-0x7E) or is duplicated."""

    number: int
    uid: str
    stable: bool = True


T = TypeVar("T")


@dataclass(frozen=True)
class ListingResult(Generic[T]):
    """Good rows kept, bad rows reported (sanitized) instead of raising."""

    entries: tuple[T, ...]
    rejected: tuple[str, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    """RFC 2449 CAPA, parsed. ``None``/empty means not advertised."""

    raw: tuple[str, ...] = ()
    top: bool = False
    user: bool = False
    uidl: bool = False
    pipelining: bool = False
    resp_codes: bool = False
    auth_resp_code: bool = False
    stls: bool = False
    utf8: bool = False
    sasl: tuple[str, ...] = ()
    login_delay: int | None = None
    expire: int | None = None  # None: not advertised; -1: NEVER
    implementation: str | None = None
    rejected: tuple[str, ...] = field(default_factory=tuple)


class Pop3Connection:
    """The POP3 state machine for one connection (client side).

    Args:
        limits: Framing limits.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        raise NotImplementedError

    def send(self, command: Command) -> bytes:
        """Queue ``command`` as awaiting a reply; return the bytes to write."""
        raise NotImplementedError

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the server; ``b""`` signals EOF."""
        raise NotImplementedError

    def next_event(self) -> Event | _NeedData:
        """Return the next event or :data:`NEED_DATA`."""
        raise NotImplementedError
