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

Commands and their constructors live in :mod:`popview.pop3.commands`, the
events in :mod:`popview.pop3.events` and the pure parsers for reply contents
(STAT, LIST, UIDL, CAPA) in :mod:`popview.pop3.replies`; all are re-exported
here, so callers need only this module.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Final

from popview.errors import Pop3ConnectionError, Pop3ProtocolError, printable
from popview.pop3.commands import (
    Command,
    apop,
    auth,
    capa,
    check_argument,
    dele,
    list_,
    noop,
    pass_,
    quit,
    retr,
    rset,
    sasl_cancel,
    sasl_response,
    stat,
    stls,
    top,
    uidl,
    user,
    utf8,
)
from popview.pop3.events import (
    Continuation,
    DataLines,
    EndOfData,
    ErrReply,
    Event,
    Greeting,
    OkReply,
)
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
        check_argument(line)
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
