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

The pure parsers for reply contents (STAT, LIST, UIDL, CAPA) live in
:mod:`popview.pop3.replies` and are re-exported here.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Final

from popview.errors import Pop3ConnectionError, Pop3ProtocolError, printable
from popview.pop3.replies import (
    Capabilities,
    ListEntry,
    ListingResult,
    UidlEntry,
    decode_line,
    parse_capa,
    parse_list,
    parse_list_line,
    parse_stat,
    parse_timestamp,
    parse_uidl,
    parse_uidl_line,
)

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

    def __repr__(self) -> str:
        # Rule 4 / HARDENING C.35: a Command ends up in crash screens' locals,
        # ``pending`` and %r logs, so its repr masks what trace() masks.
        args = self.args if not self.secret else (self.trace(),)
        return f"Command(verb={self.verb!r}, args={args!r}, secret={self.secret!r})"


def _arg(value: str) -> str:
    # HARDENING B.30: a CR/LF would let a value inject a second command.
    if not isinstance(value, str):
        raise TypeError(f"command argument must be str, not {type(value).__name__}")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError("command argument contains CR, LF or NUL")
    if not value.isascii() and any("\ud800" <= ch <= "\udfff" for ch in value):
        # A lone surrogate (non-UTF-8 bytes via surrogateescape) would fail in
        # encode() with a UnicodeEncodeError whose repr holds the whole line.
        raise ValueError("command argument is not valid Unicode text")
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
    return decode_line(line[n:].lstrip(b" \t"))


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
            raise self._fail(f"the greeting is not +OK or -ERR: {printable(decode_line(line))!r}")
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
            f"a reply to {command.verb} that is not +OK or -ERR: {printable(decode_line(line))!r}"
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
