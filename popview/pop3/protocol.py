"""Sans-IO POP3 (RFC 1939, RFC 2449, RFC 5034): commands to bytes, bytes to events.

Shaped like h11: :class:`Pop3Connection` never touches a socket. The caller
:meth:`~Pop3Connection.send` s a :class:`Command` (getting the bytes to write),
feeds whatever bytes arrive with :meth:`~Pop3Connection.receive_data` (any
split, even one byte at a time; ``b""`` means EOF) and pulls events with
:meth:`~Pop3Connection.next_event` until it returns :data:`NEED_DATA`.

Events for one command, in order:

* single-line commands: one :class:`OkReply` or :class:`ErrReply`;
* multi-line commands (CAPA, TOP, RETR, LIST and UIDL without argument):
  :class:`OkReply`, then zero or more :class:`DataLines` (lines already
  dot-unstuffed, without their line ending), then :class:`EndOfData`; an
  ``-ERR`` reply is a single :class:`ErrReply` with no data;
* during ``AUTH``: :class:`Continuation` for each ``+ `` challenge, answered
  with :func:`sasl_response` (or :func:`sasl_cancel`), until ``+OK``/``-ERR``;
* the greeting (before any reply): :class:`Greeting` or :class:`ErrReply`.

Anything else is a framing error: :class:`popview.errors.Pop3ProtocolError`
is raised, the connection enters the ``ERROR`` state and every later call
raises again. The connection must then be dropped (never reused).

The second half of the module holds pure parsers for reply contents (STAT,
LIST, UIDL, CAPA): they reject junk rows instead of raising.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Generic, TypeVar

from popview.errors import Pop3ConnectionError, Pop3ProtocolError, printable

__all__ = [
    "NEED_DATA",
    "Capabilities",
    "Command",
    "ConnectionState",
    "Continuation",
    "DataLines",
    "EndOfData",
    "ErrReply",
    "Event",
    "Greeting",
    "Limits",
    "ListEntry",
    "ListingResult",
    "LocalProtocolError",
    "OkReply",
    "Pop3Connection",
    "UidlEntry",
    "apop",
    "auth",
    "capa",
    "dele",
    "list_",
    "noop",
    "parse_capa",
    "parse_list",
    "parse_list_line",
    "parse_stat",
    "parse_timestamp",
    "parse_uidl",
    "parse_uidl_line",
    "pass_",
    "quit",
    "retr",
    "rset",
    "sasl_cancel",
    "sasl_response",
    "stat",
    "stls",
    "top",
    "uidl",
    "user",
    "utf8",
]


class _NeedData(Enum):
    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = _NeedData.NEED_DATA
"""Sentinel returned by :meth:`Pop3Connection.next_event` when more bytes are needed."""


class LocalProtocolError(RuntimeError):
    """The caller misused :class:`Pop3Connection` (a bug in popview, not the server)."""


@dataclass(frozen=True)
class Limits:
    """Framing limits; crossing one is a protocol error (the connection is dead).

    Attributes:
        max_line: Longest line accepted, terminator excluded. Real mail has
            lines of 200,000 bytes; poplib's 2048 is far too small.
        max_status_line: Longest ``+OK``/``-ERR``/``+ `` line (and greeting).
        max_response_bytes: Default cap on the bytes of one multi-line reply
            (a command may carry its own).
        max_response_lines: Default cap on the line count of one multi-line reply.
    """

    max_line: int = 1024 * 1024
    max_status_line: int = 64 * 1024
    max_response_bytes: int = 512 * 1024 * 1024
    max_response_lines: int = 2_000_000


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Command:
    """One POP3 command line. Build it with the constructors below.

    Attributes:
        verb: Upper-case keyword, e.g. ``"RETR"`` (empty for a raw line).
        args: Arguments, already validated (no CR, LF or NUL).
        multiline: Whether a ``+OK`` reply is followed by a dot-terminated block.
        secret: Whether arguments must be masked in traces (PASS, APOP,
            AUTH responses).
        max_bytes: Cap on the multi-line body for this command, or ``None`` for
            :attr:`Limits.max_response_bytes`.
        max_lines: Cap on the multi-line line count, or ``None`` for the default.
        raw: For SASL responses: the line is sent as is (no verb), and it does
            not await a reply of its own (the pending ``AUTH`` does).
        public_args: How many leading arguments :meth:`trace` shows even when
            ``secret`` (the user name of APOP, the mechanism of AUTH).
    """

    verb: str
    args: tuple[str, ...] = ()
    multiline: bool = False
    secret: bool = False
    max_bytes: int | None = None
    max_lines: int | None = None
    raw: bool = False
    public_args: int = 0

    def line(self) -> str:
        """Return the command line without its CRLF (secrets included)."""
        if self.raw:
            return self.args[0] if self.args else ""
        return " ".join((self.verb, *self.args))

    def trace(self) -> str:
        """Return the command as it may appear in a log (secrets masked)."""
        if not self.secret:
            return self.line()
        if self.raw:
            return "***"
        shown = self.args[: self.public_args]
        masked = ("***",) if len(self.args) > len(shown) else ()
        return " ".join((self.verb, *shown, *masked))


def _arg(value: str) -> str:
    # HARDENING B.30: a CR/LF would let a value inject a second command.
    if not isinstance(value, str):
        raise TypeError(f"command argument must be str, not {type(value).__name__}")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError("command argument contains CR, LF or NUL")
    return value


def _number(value: int, *, minimum: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("message number must be an int")
    if value < minimum:
        raise ValueError(f"number must be >= {minimum}, got {value}")
    return str(value)


def stat() -> Command:
    """STAT (RFC 1939 §5): ``+OK count size``."""
    return Command("STAT")


def list_(n: int | None = None) -> Command:
    """LIST: the scan listing of all messages (multi-line), or of message ``n``."""
    if n is None:
        return Command("LIST", multiline=True)
    return Command("LIST", (_number(n),))


def uidl(n: int | None = None) -> Command:
    """UIDL: unique ids of all messages (multi-line), or of message ``n``."""
    if n is None:
        return Command("UIDL", multiline=True)
    return Command("UIDL", (_number(n),))


def top(n: int, lines: int, max_bytes: int | None = None) -> Command:
    """TOP n lines: headers plus ``lines`` body lines (multi-line)."""
    return Command("TOP", (_number(n), _number(lines, minimum=0)), True, max_bytes=max_bytes)


def retr(n: int, max_bytes: int | None = None) -> Command:
    """RETR n (multi-line); ``max_bytes`` caps the message body."""
    return Command("RETR", (_number(n),), multiline=True, max_bytes=max_bytes)


def dele(n: int) -> Command:
    """DELE n: mark message ``n`` deleted (applied only at QUIT, RFC 1939 §6)."""
    return Command("DELE", (_number(n),))


def rset() -> Command:
    """RSET: unmark every message marked deleted in this session."""
    return Command("RSET")


def noop() -> Command:
    """NOOP."""
    return Command("NOOP")


def quit() -> Command:
    """QUIT: commits deletions (UPDATE state). Only on an explicit user commit."""
    return Command("QUIT")


def capa() -> Command:
    """CAPA (RFC 2449, multi-line)."""
    return Command("CAPA", multiline=True, max_lines=10_000, max_bytes=1024 * 1024)


def stls() -> Command:
    """STLS (RFC 2595 §4)."""
    return Command("STLS")


def utf8() -> Command:
    """UTF8 (RFC 6856 §2)."""
    return Command("UTF8")


def user(name: str) -> Command:
    """USER name."""
    if not _arg(name):
        raise ValueError("user name is empty")
    return Command("USER", (name,))


def pass_(password: str) -> Command:
    """PASS password (masked in traces as ``PASS ***``)."""
    return Command("PASS", (_arg(password),), secret=True)


def apop(name: str, digest: str) -> Command:
    """APOP name digest (RFC 1939 §7); the digest is masked in traces."""
    if not _arg(name):
        raise ValueError("user name is empty")
    return Command("APOP", (name, _arg(digest)), secret=True, public_args=1)


def auth(mechanism: str, initial_response: str | None = None) -> Command:
    """AUTH mechanism [initial-response] (RFC 5034); the response is masked.

    Args:
        mechanism: SASL mechanism name, e.g. ``"SCRAM-SHA-256"``.
        initial_response: Base64 text (``"="`` for an empty one), or ``None``.
    """
    if not _arg(mechanism) or " " in mechanism:
        raise ValueError("bad SASL mechanism name")
    args: tuple[str, ...] = (mechanism.upper(),)
    if initial_response is not None:
        args += (_arg(initial_response),)
    return Command("AUTH", args, secret=True, public_args=1)


def sasl_response(data: str) -> Command:
    """A SASL response line (base64 text) answering a ``+ `` challenge."""
    return Command("", (_arg(data),), secret=True, raw=True)


def sasl_cancel() -> Command:
    """The ``*`` line that cancels an AUTH exchange (RFC 5034 §4)."""
    return Command("", ("*",), raw=True)


# --------------------------------------------------------------------------- events


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


class ConnectionState(Enum):
    """Where the server side of the conversation is (``their_state``)."""

    GREETING = "GREETING"  # waiting for the greeting
    IDLE = "IDLE"  # greeted, no command awaiting a reply
    REPLY = "REPLY"  # waiting for a status line (or a SASL challenge)
    DATA = "DATA"  # inside a multi-line block
    CLOSED = "CLOSED"  # clean EOF while idle, or the greeting was -ERR
    ERROR = "ERROR"  # framing error: drop the connection


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _split_code(text: str) -> tuple[str | None, str]:
    """Split an RFC 2449 §8 ``[resp-code]`` off the front of a status text."""
    if not text.startswith("["):
        return None, text
    end = text.find("]")
    code = text[1:end] if end > 0 else ""
    # resp-level = 1*<any CHAR except " ", CR, LF, "[", "]", "/">
    levels = code.split("/")
    if not all(levels) or any(not ("!" <= ch <= "~") or ch in "[]" for ch in code):
        return None, text
    return code.upper(), text[end + 1 :].lstrip(" ")


def _status(line: bytes, keyword: bytes) -> str | None:
    """Return the text after ``+OK``/``-ERR`` (any case), or None if not one."""
    n = len(keyword)
    if line[:n].upper() != keyword or (len(line) > n and line[n : n + 1] not in (b" ", b"\t")):
        return None
    return _decode(line[n:].lstrip(b" \t"))


class Pop3Connection:
    """The POP3 state machine for one connection (client side).

    Args:
        limits: Framing limits.
    """

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._buf = bytearray()
        self._pos = 0  # start of the unread bytes in _buf
        self._scan = 0  # where the search for the next LF resumes
        self._eof = False
        self._state = ConnectionState.GREETING
        self._pending: deque[Command] = deque()
        self._data_cmd: Command | None = None
        self._data_lines = 0
        self._data_bytes = 0
        self._end: EndOfData | None = None

    # -- state ---------------------------------------------------------------

    @property
    def their_state(self) -> ConnectionState:
        """The current :class:`ConnectionState`."""
        return self._state

    state = their_state

    @property
    def pending(self) -> tuple[Command, ...]:
        """Commands sent whose reply has not been fully received, oldest first."""
        head = (self._data_cmd,) if self._data_cmd is not None else ()
        return head + tuple(self._pending)

    @property
    def has_buffered_data(self) -> bool:
        """Whether received bytes (or an event) wait unprocessed.

        After the ``+OK`` to STLS this must be False: anything already
        buffered was sent in plaintext and would be read as if it came over
        TLS (HARDENING B.24).
        """
        return len(self._buf) > self._pos or self._end is not None

    # -- I/O-free API ----------------------------------------------------------

    def send(self, command: Command) -> bytes:
        """Queue ``command`` as awaiting a reply; return the bytes to write.

        Raises:
            Pop3ProtocolError: The connection already failed.
            Pop3ConnectionError: The server closed the connection.
            LocalProtocolError: A SASL response with no AUTH awaiting one.
            ValueError: An argument holds CR, LF or NUL.
        """
        self._check_usable()
        if self._state is ConnectionState.CLOSED:
            raise Pop3ConnectionError("The server closed the connection.")
        line = command.line()
        _arg(line)
        if command.raw:
            if not self._pending or self._pending[0].verb != "AUTH":
                raise LocalProtocolError("SASL response sent with no AUTH in progress")
        else:
            self._pending.append(command)
            if self._state is ConnectionState.IDLE:
                self._state = ConnectionState.REPLY
        return line.encode("utf-8") + b"\r\n"

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the server; ``b""`` signals EOF.

        Raises:
            Pop3ProtocolError: The connection already failed.
            LocalProtocolError: Bytes fed after EOF (repeating EOF is fine).
        """
        self._check_usable()
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("data received after EOF")
        if self._pos:
            # Compact once per chunk: only the unread tail is copied.
            del self._buf[: self._pos]
            self._scan -= self._pos
            self._pos = 0
        self._buf += data

    def next_event(self) -> Event | _NeedData:
        """Return the next event or :data:`NEED_DATA`.

        Raises:
            Pop3ProtocolError: The server broke the framing or closed the
                connection mid-reply; the connection is now in ``ERROR``.
        """
        self._check_usable()
        try:
            return self._next_event()
        except Pop3ProtocolError:
            self._state = ConnectionState.ERROR
            raise

    # -- internals -------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._state is ConnectionState.ERROR:
            raise Pop3ProtocolError(
                "This connection already failed and cannot be used again.",
            )

    def _fail(self, what: str) -> Pop3ProtocolError:
        return Pop3ProtocolError(f"The server broke the POP3 protocol: {what}.")

    def _need_data(self) -> _NeedData:
        if self._eof:
            raise Pop3ProtocolError(
                "The server closed the connection in the middle of a reply.",
                title="Connection lost",
            )
        return NEED_DATA

    def _next_line(self, cap: int) -> bytes | None:
        """Pop one line (terminator and one trailing CR removed), or None."""
        buf = self._buf
        nl = buf.find(b"\n", self._scan)
        if nl < 0:
            self._scan = len(buf)
            # HARDENING A.1/A.6: fail as soon as the cap is crossed, without
            # waiting for a newline that may never come (bounded memory).
            if len(buf) - self._pos > cap + 1:
                raise self._fail(f"a line longer than {cap} bytes")
            return None
        line = bytes(buf[self._pos : nl])
        self._pos = self._scan = nl + 1
        # RFC 1939 §3 says CRLF; bare LF is accepted too (HARDENING A.11).
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > cap:
            raise self._fail(f"a line longer than {cap} bytes")
        return line

    def _next_event(self) -> Event | _NeedData:
        if self._end is not None:
            end, self._end = self._end, None
            return end
        state = self._state
        if state is ConnectionState.CLOSED:
            return NEED_DATA
        if state is ConnectionState.DATA:
            return self._read_data()
        if state is ConnectionState.IDLE:
            # HARDENING A.10: bytes nobody asked for (e.g. after a lone "."
            # ended a RETR early) mean the stream is out of step.
            if len(self._buf) > self._pos:
                raise self._fail("data arrived while no command was pending")
            if self._eof:
                self._state = ConnectionState.CLOSED
            return NEED_DATA
        line = self._next_line(self.limits.max_status_line)
        if line is None:
            return self._need_data()
        if state is ConnectionState.GREETING:
            return self._greeting(line)
        return self._reply(line)

    def _after_reply(self) -> None:
        self._state = ConnectionState.REPLY if self._pending else ConnectionState.IDLE

    def _greeting(self, line: bytes) -> Event:
        text = _status(line, b"+OK")
        if text is not None:
            self._after_reply()
            return Greeting(text, parse_timestamp(text))
        text = _status(line, b"-ERR")
        if text is None:
            raise self._fail(f"the greeting is not +OK or -ERR: {printable(_decode(line))!r}")
        # RFC 1939 §4: a server may refuse the session; it then closes.
        self._state = ConnectionState.CLOSED
        self._pending.clear()
        code, text = _split_code(text)
        return ErrReply(text, code)

    def _reply(self, line: bytes) -> Event:
        command = self._pending[0]
        text = _status(line, b"+OK")
        if text is not None:
            self._pending.popleft()
            code, text = _split_code(text)
            if command.multiline:
                self._data_cmd = command
                self._data_lines = self._data_bytes = 0
                self._state = ConnectionState.DATA
            else:
                self._after_reply()
            return OkReply(text, code)
        text = _status(line, b"-ERR")
        if text is not None:
            self._pending.popleft()
            self._after_reply()
            code, text = _split_code(text)
            return ErrReply(text, code)
        # RFC 5034 §4: continue-req = "+" SP [base64] CRLF, only during AUTH.
        if command.verb == "AUTH" and (line == b"+" or line.startswith(b"+ ")):
            return Continuation(line[2:].decode("ascii", "replace"))
        raise self._fail(
            f"a reply to {command.verb} that is not +OK or -ERR: {printable(_decode(line))!r}"
        )

    def _read_data(self) -> Event | _NeedData:
        command = self._data_cmd
        assert command is not None
        max_bytes = command.max_bytes or self.limits.max_response_bytes
        max_lines = command.max_lines or self.limits.max_response_lines
        lines: list[bytes] = []
        end: EndOfData | None = None
        while (line := self._next_line(self.limits.max_line)) is not None:
            # RFC 1939 §3: "." alone ends the block; a leading "." is stuffed.
            if line[:1] == b".":
                if len(line) == 1:
                    end = EndOfData(self._data_lines, self._data_bytes)
                    break
                line = line[1:]
            self._data_lines += 1
            self._data_bytes += len(line) + 2
            if self._data_lines > max_lines:
                raise self._fail(f"a {command.verb} reply longer than {max_lines} lines")
            if self._data_bytes > max_bytes:
                raise self._fail(f"a {command.verb} reply larger than {max_bytes} bytes")
            lines.append(line)
        if end is not None:
            self._data_cmd = None
            self._after_reply()
            if not lines:
                return end
            self._end = end
        if lines:
            return DataLines(tuple(lines))
        return self._need_data()


# --------------------------------------------------------------------------- parsers

_ATEXT: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)
_DIGITS: Final = frozenset("0123456789")
_MAX_NUMBER: Final = 2**63 - 1
_MAX_UID: Final = 70  # RFC 1939 §7: 1 to 70 characters
_MAX_CAPA_LINES: Final = 512
_MAX_CAPA_LINE: Final = 1024

T = TypeVar("T")


def _dot_atom(text: str) -> bool:
    # RFC 5322 §3.2.3 dot-atom-text = 1*atext *("." 1*atext)
    parts = text.split(".")
    return all(part and all(ch in _ATEXT for ch in part) for part in parts)


def _msg_id(candidate: str) -> bool:
    # RFC 5322 §3.6.4: "<" id-left "@" id-right ">", id-right may be a
    # no-fold-literal "[" *dtext "]".
    left, at, right = candidate[1:-1].partition("@")
    if not at or not _dot_atom(left):
        return False
    if right.startswith("[") and right.endswith("]") and len(right) >= 2:
        return all("!" <= ch <= "~" and ch not in "[]\\" for ch in right[1:-1])
    return _dot_atom(right)


def parse_timestamp(text: str) -> str | None:
    """Return the first ``<...>`` in ``text`` that is a valid msg-id, or None.

    Runs in linear time on hostile greetings (HARDENING B.28): a msg-id holds
    no ``<`` or ``>``, so only the span from the last ``<`` before each ``>``
    can be one, and those spans do not overlap.
    """
    start = -1
    for i, ch in enumerate(text):
        if ch == "<":
            start = i
        elif ch == ">" and start >= 0:
            candidate = text[start : i + 1]
            if _msg_id(candidate):
                return candidate
            start = -1
    return None


def _int(token: str, *, minimum: int = 0) -> int | None:
    """Parse a decimal ASCII number (no sign, no spaces), or None."""
    if not token or len(token) > 19 or any(ch not in _DIGITS for ch in token):
        return None
    value = int(token)
    return value if minimum <= value <= _MAX_NUMBER else None


def _text(line: bytes | str) -> str:
    return _decode(line) if isinstance(line, bytes) else line


def _junk(what: str, text: str) -> Pop3ProtocolError:
    return Pop3ProtocolError(f"The server sent a malformed {what} reply: {printable(text)!r}.")


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


@dataclass(frozen=True)
class ListingResult(Generic[T]):
    """Good rows kept, bad rows reported (sanitized) instead of raising."""

    entries: tuple[T, ...]
    rejected: tuple[str, ...] = ()


def parse_stat(text: str) -> tuple[int, int]:
    """Parse the text of a STAT ``+OK`` (``"count size [anything]"``).

    Raises:
        Pop3ProtocolError: The text is not two non-negative numbers.
    """
    parts = text.split(" ", 2)
    numbers = [_int(part) for part in parts[:2]]
    if len(parts) < 2 or numbers[0] is None or numbers[1] is None:
        raise _junk("STAT", text)
    return numbers[0], numbers[1]


def _scan_row(text: str) -> ListEntry | None:
    # RFC 1939 §5: msg-number SP size, and "no requirement on what follows
    # the message size" - but trailing blanks and glued junk are refused.
    parts = text.split(" ", 2)
    if len(parts) < 2 or (len(parts) == 3 and (not parts[2] or parts[2] != parts[2].strip())):
        return None
    number, size = _int(parts[0], minimum=1), _int(parts[1])
    if number is None or size is None:
        return None
    return ListEntry(number, size)


def _uid_row(text: str) -> tuple[int, str] | None:
    number_text, sep, uid = text.partition(" ")
    number = _int(number_text, minimum=1)
    if not sep or number is None:
        return None
    return number, uid


def _uid_stable(uid: str) -> bool:
    # RFC 1939 §7: 1 to 70 characters in the range 0x21 to 0x7E.
    return 0 < len(uid) <= _MAX_UID and all("!" <= ch <= "~" for ch in uid)


def parse_list_line(text: str) -> ListEntry:
    """Parse the text of a ``LIST n`` ``+OK`` reply.

    Raises:
        Pop3ProtocolError: The text is not a scan listing.
    """
    entry = _scan_row(text)
    if entry is None:
        raise _junk("LIST", text)
    return entry


def parse_uidl_line(text: str) -> UidlEntry:
    """Parse the text of a ``UIDL n`` ``+OK`` reply.

    Raises:
        Pop3ProtocolError: The text does not start with a message number.
    """
    row = _uid_row(text)
    if row is None:
        raise _junk("UIDL", text)
    return UidlEntry(row[0], row[1], _uid_stable(row[1]))


def parse_list(
    lines: Iterable[bytes | str], max_number: int | None = None
) -> ListingResult[ListEntry]:
    """Parse a multi-line LIST block, keeping good rows (HARDENING A.12).

    Args:
        lines: The unstuffed lines of the block.
        max_number: The STAT count, if known: higher numbers are rejected.
    """
    entries: list[ListEntry] = []
    rejected: list[str] = []
    seen: set[int] = set()
    for raw in lines:
        text = _text(raw)
        entry = _scan_row(text)
        if entry is None or entry.number in seen or entry.number > (max_number or _MAX_NUMBER):
            rejected.append(printable(text))
            continue
        seen.add(entry.number)
        entries.append(entry)
    return ListingResult(tuple(entries), tuple(rejected))


def parse_uidl(
    lines: Iterable[bytes | str], max_number: int | None = None
) -> ListingResult[UidlEntry]:
    """Parse a multi-line UIDL block (HARDENING A.12/A.13).

    Rows without a valid message number, or repeating one, are rejected. Ids
    that break RFC 1939 §7 or appear twice are kept with ``stable=False``:
    such a message may be shown but never deleted across sessions.

    Args:
        lines: The unstuffed lines of the block.
        max_number: The STAT count, if known: higher numbers are rejected.
    """
    rows: list[tuple[int, str]] = []
    rejected: list[str] = []
    seen: set[int] = set()
    uid_count: dict[str, int] = {}
    for raw in lines:
        text = _text(raw)
        row = _uid_row(text)
        if row is None or row[0] in seen or row[0] > (max_number or _MAX_NUMBER):
            rejected.append(printable(text))
            continue
        seen.add(row[0])
        rows.append(row)
        uid_count[row[1]] = uid_count.get(row[1], 0) + 1
    entries = tuple(
        UidlEntry(number, uid, _uid_stable(uid) and uid_count[uid] == 1) for number, uid in rows
    )
    return ListingResult(entries, tuple(rejected))


@dataclass(frozen=True)
class Capabilities:
    """RFC 2449 CAPA, parsed. ``None``/empty means not advertised.

    Attributes:
        raw: The (capped) CAPA lines as sent.
        login_delay: Seconds between logins (``LOGIN-DELAY``).
        login_delay_user: ``LOGIN-DELAY n USER``: may change after login.
        expire: Days messages are kept; ``-1`` for ``NEVER``; ``0`` means
            the server may delete a message once it was retrieved.
        expire_user: ``EXPIRE n USER``: may change after login.
        utf8_user: ``UTF8 USER``: UTF-8 user names are allowed (RFC 6856).
        sasl: Upper-cased SASL mechanism names, in server order.
        rejected: Sanitized lines that could not be understood.
    """

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
    login_delay_user: bool = False
    expire_user: bool = False
    utf8_user: bool = False


_FLAGS: Final = {
    "TOP": "top",
    "USER": "user",
    "UIDL": "uidl",
    "PIPELINING": "pipelining",
    "RESP-CODES": "resp_codes",
    "AUTH-RESP-CODE": "auth_resp_code",
    "STLS": "stls",
}
_MECH_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _delay(args: list[str], never: bool) -> tuple[int, bool] | None:
    # RFC 2449 §6.5/§6.6: "LOGIN-DELAY n [USER]", "EXPIRE n|NEVER [USER]".
    if not args or len(args) > 2 or (len(args) == 2 and args[1].upper() != "USER"):
        return None
    value = -1 if never and args[0].upper() == "NEVER" else _int(args[0])
    return None if value is None else (value, len(args) == 2)


def parse_capa(lines: Iterable[bytes | str], max_lines: int = _MAX_CAPA_LINES) -> Capabilities:
    """Parse a CAPA block into :class:`Capabilities` (RFC 2449 §6).

    Only the first ``max_lines`` lines are read (HARDENING A.18); lines that
    are over-long or malformed land in ``rejected``. Unknown capabilities are
    kept in ``raw`` only.
    """
    flags: dict[str, bool] = {}
    numbers: dict[str, int] = {}
    sasl: tuple[str, ...] = ()
    implementation: str | None = None
    raw: list[str] = []
    rejected: list[str] = []
    for count, line in enumerate(lines):
        if count >= max_lines:
            rejected.append(f"(more than {max_lines} lines ignored)")
            break
        text = _text(line)
        words = text.split()
        name = words[0].upper() if words else ""
        args = words[1:]
        if len(text) > _MAX_CAPA_LINE or not name or any(not ("!" <= c <= "~") for c in name):
            rejected.append(printable(text, 80))
            continue
        raw.append(text)
        if name in _FLAGS:
            flags[_FLAGS[name]] = True
        elif name == "UTF8":
            flags["utf8"] = True
            flags["utf8_user"] = [a.upper() for a in args] == ["USER"]
        elif name in ("LOGIN-DELAY", "EXPIRE"):
            parsed = _delay(args, never=name == "EXPIRE")
            key = name.lower().replace("-", "_")
            if parsed is None:
                rejected.append(printable(text, 80))
            else:
                numbers[key], flags[key + "_user"] = parsed
        elif name == "SASL":
            mechs = [m.upper() for m in args]
            good = [m for m in mechs if len(m) <= 20 and set(m) <= _MECH_CHARS]
            if len(good) != len(mechs):
                rejected.append(printable(text, 80))
            sasl = tuple(dict.fromkeys(good))
        elif name == "IMPLEMENTATION":
            implementation = text.split(None, 1)[1] if args else ""
    return Capabilities(
        raw=tuple(raw),
        rejected=tuple(rejected),
        sasl=sasl,
        implementation=implementation,
        login_delay=numbers.get("login_delay"),
        expire=numbers.get("expire"),
        **flags,
    )
