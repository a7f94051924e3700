"""Sans-IO POP3 (RFC 1939, RFC 2449, RFC 5034): commands to bytes, bytes to events.

Shaped like h11: :class:`Pop3Connection` never touches a socket. The caller
:meth:`~Pop3Connection.send` s a :class:`Command` (getting the bytes to write),
feeds whatever bytes arrive with :meth:`~Pop3Connection.receive_data` (any
split, even one byte at a time; ``b""`` means EOF) and pulls events with
:meth:`~Pop3Connection.next_event` until it returns :data:`NEED_DATA`.

One event per reply:

* a single-line command: :class:`OkReply` or :class:`ErrReply`;
* a multi-line command (CAPA, TOP, RETR, LIST and UIDL without argument):
  one :class:`OkReply` whose ``data`` is the whole block, once its
  terminating ``.`` arrived (dot-unstuffed, every line ending in CRLF), or
  one :class:`ErrReply`; a command that asks for it (RETR) also gets
  :class:`Progress` events while the block arrives;
* during ``AUTH``: :class:`Continuation` for each ``+ `` challenge, answered
  with :func:`sasl_response` (or :func:`sasl_cancel`), until ``+OK``/``-ERR``;
* the greeting (before any reply): :class:`Greeting` or :class:`ErrReply`.

Blocks are framed with searches over the buffer, not a loop per line: the end
is one regex search, the line and size limits are byte counts, unstuffing is
one ``replace`` (HARDENING A.5-A.11 hold for any split of the input).

The core knows the POP3 states (RFC 1939 §3): AUTHORIZATION, TRANSACTION and
UPDATE. Sending a command the current state forbids raises
:class:`LocalProtocolError` (a bug in the caller); anything the server breaks
raises :class:`RemoteProtocolError`, after which the connection is in
``ERROR`` and must be dropped (never reused). Neither carries sentences for
people: the I/O shell words them.

Commands and their constructors live in :mod:`popview.pop3.commands`, the
events in :mod:`popview.pop3.events` and the pure parsers for reply contents
(STAT, LIST, UIDL, CAPA) in :mod:`popview.pop3.replies`; all are re-exported
here, so callers need only this module.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Final

from popview.errors import printable
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
    Data,
    ErrReply,
    Event,
    Greeting,
    OkReply,
    Progress,
)
from popview.pop3.replies import (
    Capabilities,
    ListEntry,
    ListingResult,
    UidlEntry,
    block_lines,
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
    "Continuation",
    "Data",
    "ErrReply",
    "Event",
    "Greeting",
    "Limits",
    "ListEntry",
    "ListingResult",
    "LocalProtocolError",
    "OkReply",
    "Pop3Connection",
    "Progress",
    "ProtocolError",
    "RemoteProtocolError",
    "State",
    "UidlEntry",
    "apop",
    "auth",
    "block_lines",
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


class ProtocolError(Exception):
    """The POP3 conversation cannot go on (terse, technical; not for people)."""


class LocalProtocolError(ProtocolError, RuntimeError):
    """The caller misused :class:`Pop3Connection` (a bug in popview, not the server):
    a command the state forbids, bytes after EOF, a connection used after it failed."""


class RemoteProtocolError(ProtocolError):
    """The server broke the protocol; the connection is now in ``ERROR``.

    Attributes:
        closed: The server closed the connection in the middle of a reply
            (rather than sending something malformed).
    """

    def __init__(self, what: str, *, closed: bool = False) -> None:
        super().__init__(what)
        self.closed = closed


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


class State(Enum):
    """The POP3 session state (RFC 1939 §3), as the server's replies confirmed it."""

    AUTHORIZATION = "AUTHORIZATION"  # before (and during) login
    TRANSACTION = "TRANSACTION"  # logged in
    UPDATE = "UPDATE"  # QUIT answered in TRANSACTION: deletions applied
    CLOSED = "CLOSED"  # clean EOF, QUIT answered before login, or an -ERR greeting
    ERROR = "ERROR"  # the server broke the protocol: drop the connection


# RFC 1939 §4-7, RFC 2449 (CAPA in both), RFC 2595 (STLS), RFC 5034 (AUTH),
# RFC 6856 §2 (UTF8 only before login).
_ALLOWED: Final = {  # keyed by State.value: an Enum's __hash__ runs in Python
    State.AUTHORIZATION.value: frozenset(
        {"USER", "PASS", "APOP", "AUTH", "STLS", "UTF8", "CAPA", "QUIT"}
    ),
    State.TRANSACTION.value: frozenset(
        {"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL", "CAPA", "QUIT"}
    ),
}
_LOGIN: Final = frozenset({"PASS", "APOP", "AUTH"})
# RFC 1939 §3: a block ends with "." alone on a line; bare LF is accepted too
# (HARDENING A.11), so the search is for LF "." [CR] LF.
_END: Final = re.compile(rb"\n\.\r?\n")
_BARE_LF: Final = re.compile(rb"(?<!\r)\n")
_DOT_LINE: Final = re.compile(rb"\n\.")


class _Phase(Enum):
    GREETING = 1  # waiting for the greeting
    IDLE = 2  # no command awaiting a reply
    STATUS = 3  # waiting for a status line (or a SASL challenge)
    BLOCK = 4  # inside a multi-line block


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
        self._scan = 0  # where the search for the next LF (or block end) resumes
        self._eof = False
        self._state = State.AUTHORIZATION
        self._planned = State.AUTHORIZATION  # the state once every pending command succeeds
        self._phase = _Phase.GREETING
        self._pending: deque[Command] = deque()
        self._block: _Block | None = None
        self._skip_line = False  # discarding the rest of an over-long SASL challenge
        self._auth_open = False  # AUTH pending and its last response line not sent

    # -- state ---------------------------------------------------------------

    @property
    def state(self) -> State:
        """The POP3 :class:`State`, as the server's replies confirmed it."""
        return self._state

    @property
    def pending(self) -> tuple[Command, ...]:
        """Commands sent whose reply has not been fully received, oldest first."""
        return tuple(self._pending)

    @property
    def has_buffered_data(self) -> bool:
        """Whether received bytes wait unprocessed.

        After the ``+OK`` to STLS this must be False: anything already
        buffered was sent in plaintext and would be read as if it came over
        TLS (HARDENING B.24).
        """
        return len(self._buf) > self._pos

    @property
    def buffered(self) -> int:
        """Octets received and not yet returned as events (for flow control)."""
        return len(self._buf) - self._pos

    # -- I/O-free API ----------------------------------------------------------

    def send(self, command: Command) -> bytes:
        """Queue ``command`` as awaiting a reply; return the bytes to write.

        Raises:
            LocalProtocolError: The state forbids the command (RFC 1939 §3:
                e.g. RETR before login, anything after QUIT or STLS until its
                reply, a SASL response with no AUTH awaiting one), or the
                connection is closed or failed.
            ValueError: An argument holds CR, LF or NUL.
        """
        self._check_usable()
        line = command.line()
        check_argument(line)
        if command.raw:
            if not self._auth_open:
                raise LocalProtocolError("SASL response sent with no AUTH in progress")
            if command.last:
                self._auth_open = False
            return line.encode("utf-8") + b"\r\n"
        planned = self._planned
        if self._auth_open or (self._pending and self._pending[-1].verb == "STLS"):
            # RFC 2595 §4: nothing may follow STLS before TLS; RFC 5034 §4: nor
            # AUTH until the client sent its last response line.
            raise LocalProtocolError(
                f"{command.verb} sent while {self._pending[-1].verb} is pending"
            )
        if command.verb not in _ALLOWED.get(planned.value, ()):
            raise LocalProtocolError(
                f"{command.verb or 'an empty line'} is not allowed in {planned.value}"
            )
        if command.verb == "QUIT":
            self._planned = State.UPDATE if planned is State.TRANSACTION else State.CLOSED
        elif command.verb in _LOGIN:
            self._planned = State.TRANSACTION
            self._auth_open = command.verb == "AUTH"
        self._pending.append(command)
        if self._phase is _Phase.IDLE:
            self._phase = _Phase.STATUS
        return line.encode("utf-8") + b"\r\n"

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the server; ``b""`` signals EOF.

        Raises:
            LocalProtocolError: Bytes fed after EOF (repeating EOF is fine), or
                the connection already failed.
        """
        self._check_usable()
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("data received after EOF")
        # Compact once per chunk: only the unread tail is copied. Inside a
        # block the LF before it stays, so the end search can match there.
        cut = self._pos - 1 if self._block is not None else self._pos
        if cut > 0:
            del self._buf[:cut]
            self._pos -= cut
            self._scan -= cut
            if self._block is not None:
                self._block.shift(cut)
        self._buf += data

    def next_event(self) -> Event | _NeedData:
        """Return the next event or :data:`NEED_DATA`.

        Raises:
            RemoteProtocolError: The server broke the framing or closed the
                connection mid-reply; the connection is now in ``ERROR``.
            LocalProtocolError: The connection already failed.
        """
        self._check_usable()
        try:
            return self._next_event()
        except RemoteProtocolError:
            self._state = self._planned = State.ERROR
            raise

    # -- internals -------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._state is State.ERROR:
            raise LocalProtocolError("the connection already failed")

    def _need_data(self) -> _NeedData:
        if self._eof:
            raise RemoteProtocolError("the server closed the connection mid-reply", closed=True)
        return NEED_DATA

    def _next_line(self, cap: int) -> bytes | None:
        """Pop one status line (terminator and one trailing CR removed), or None."""
        buf = self._buf
        nl = buf.find(b"\n", self._scan)
        if nl < 0:
            self._scan = len(buf)
            # HARDENING A.1/A.6: fail as soon as the cap is crossed, without
            # waiting for a newline that may never come (bounded memory).
            if len(buf) - self._pos > cap + 1:
                raise RemoteProtocolError(f"a line longer than {cap} bytes")
            return None
        line = bytes(buf[self._pos : nl])
        self._pos = self._scan = nl + 1
        # RFC 1939 §3 says CRLF; bare LF is accepted too (HARDENING A.11).
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > cap:
            raise RemoteProtocolError(f"a line longer than {cap} bytes")
        return line

    def _next_event(self) -> Event | _NeedData:
        phase = self._phase
        if self._state is State.CLOSED and not self._pending:
            return NEED_DATA  # an -ERR greeting or QUIT answered: the rest is ignored
        if phase is _Phase.BLOCK:
            return self._read_block()
        if phase is _Phase.IDLE:
            # HARDENING A.10: bytes nobody asked for (e.g. after a lone "."
            # ended a RETR early) mean the stream is out of step.
            if len(self._buf) > self._pos:
                raise RemoteProtocolError("data arrived while no command was pending")
            if self._eof:
                self._state = self._planned = State.CLOSED
            return NEED_DATA
        if phase is _Phase.STATUS and self._pending[0].verb == "AUTH":
            overlong = self._overlong_challenge()
            if overlong is not None:
                return overlong
        line = self._next_line(self.limits.max_status_line)
        if line is None:
            return self._need_data()
        if phase is _Phase.GREETING:
            return self._greeting(line)
        return self._reply(line)

    def _overlong_challenge(self) -> Event | _NeedData | None:
        """A ``+ `` challenge over the status-line cap is not a framing error:
        it is reported (to be answered with ``*``, RFC 5034 §4) and its bytes
        are discarded as they arrive (bounded memory)."""
        buf, pos, cap = self._buf, self._pos, self.limits.max_status_line
        if self._skip_line:
            nl = buf.find(b"\n", pos)
            if nl < 0:
                self._pos = self._scan = len(buf)
                return self._need_data()
            self._pos = self._scan = nl + 1
            self._skip_line = False
            return None
        if buf[pos : pos + 2] != b"+ ":
            return None
        nl = buf.find(b"\n", pos, pos + cap + 2)
        if nl >= 0 and nl - pos - (buf[nl - 1 : nl] == b"\r") <= cap:
            return None
        if nl < 0 and len(buf) - pos <= cap + 1:
            return None  # may still end in time
        self._skip_line = True
        return Continuation("", overlong=True)

    def _after_reply(self) -> None:
        self._phase = _Phase.STATUS if self._pending else _Phase.IDLE

    def _greeting(self, line: bytes) -> Event:
        text = _status(line, b"+OK")
        if text is not None:
            self._after_reply()
            return Greeting(text, parse_timestamp(text))
        text = _status(line, b"-ERR")
        if text is None:
            raise RemoteProtocolError(
                f"the greeting is not +OK or -ERR: {printable(decode_line(line))!r}"
            )
        # RFC 1939 §4: a server may refuse the session; it then closes.
        self._state = self._planned = State.CLOSED
        self._phase = _Phase.IDLE
        self._pending.clear()
        code, text = _split_code(text)
        return ErrReply(text, code)

    def _settle(self, command: Command, ok: bool) -> None:
        """Move the session state on the reply to ``command`` (RFC 1939 §3)."""
        verb = command.verb
        if verb == "QUIT":
            quitting = State.UPDATE if self._state is State.TRANSACTION else State.CLOSED
            self._state = self._planned = quitting
        elif verb in _LOGIN:
            if verb == "AUTH":
                self._auth_open = False
            if ok:
                self._state = State.TRANSACTION
            elif not any(c.verb in _LOGIN for c in self._pending):
                self._state = self._planned = State.AUTHORIZATION

    def _reply(self, line: bytes) -> Event | _NeedData:
        command = self._pending[0]
        text = _status(line, b"+OK")
        if text is not None:
            self._pending.popleft()
            self._settle(command, True)
            code, text = _split_code(text)
            if command.multiline:
                self._block = _Block(command, text, code, self._pos, self.limits)
                self._scan = self._pos - 1  # the LF ending the status line
                self._phase = _Phase.BLOCK
                return self._read_block()
            self._after_reply()
            return OkReply(text, code)
        text = _status(line, b"-ERR")
        if text is not None:
            self._pending.popleft()
            self._settle(command, False)
            self._after_reply()
            code, text = _split_code(text)
            return ErrReply(text, code)
        # RFC 5034 §4: continue-req = "+" SP [base64] CRLF, only during AUTH.
        if command.verb == "AUTH" and (line == b"+" or line.startswith(b"+ ")):
            return Continuation(line[2:].decode("ascii", "replace"))
        raise RemoteProtocolError(
            f"a reply to {command.verb} that is not +OK or -ERR: {printable(decode_line(line))!r}"
        )

    def _read_block(self) -> Event | _NeedData:
        block = self._block
        assert block is not None
        buf = self._buf
        found = _END.search(buf, self._scan)
        if found is None:
            # A terminator is at most 4 bytes: resume the search just before the end.
            self._scan = max(len(buf) - 3, self._pos - 1)
            end = buf.rfind(b"\n", block.checked) + 1
        else:
            end = found.start() + 1
        if end > block.checked:
            block.check(buf, end)
        if found is None and len(buf) - block.checked > self.limits.max_line + 1:
            # HARDENING A.6: an endless line fails once the cap is crossed.
            raise RemoteProtocolError(f"a line longer than {self.limits.max_line} bytes")
        if block.command.stream and end > self._pos:
            piece = block.normalize(bytes(buf[self._pos : end]))
            self._pos = end
            return Data(piece)
        if found is None:
            received = len(buf) - self._pos
            if block.command.progress and received > block.reported:
                block.reported = received
                return Progress(received, block.text)
            return self._need_data()
        data = bytes(buf[self._pos : end])
        self._pos = self._scan = found.end()
        self._block = None
        self._after_reply()
        return block.reply(data)


class _Block:
    """A multi-line block being received: its limits, checked as bytes arrive."""

    def __init__(
        self, command: Command, text: str, code: str | None, start: int, limits: Limits
    ) -> None:
        self.command = command
        self.text = text
        self.code = code
        self.checked = start  # start of the first line not yet checked (after an LF)
        self.lines = 0
        self.size = 0  # octets once unstuffed, counting CRLF per line (as LIST sizes do)
        self.bare_lf = False
        self.dots = False
        self.reported = 0
        self.max_line = limits.max_line
        self.max_bytes = command.max_bytes or limits.max_response_bytes
        self.max_lines = command.max_lines or limits.max_response_lines

    def shift(self, cut: int) -> None:
        """The buffer lost ``cut`` bytes at its front."""
        self.checked -= cut

    def check(self, buf: bytearray, end: int) -> None:
        """Check the complete lines in ``buf[checked:end]`` against the limits,
        with byte counts rather than a loop per line (HARDENING A.5-A.7)."""
        start = self.checked
        lines = buf.count(b"\n", start, end)
        crlf = buf.count(b"\r\n", start, end)
        # RFC 1939 §3: each line that starts with "." was stuffed with one more.
        # Rare in practice: one literal-prefix search (C speed) before counting.
        dots = buf.count(b"\n.", start - 1, end) if _DOT_LINE.search(buf, start - 1, end) else 0
        if end - start - lines > self.max_line:
            self._check_long_lines(bytes(buf[start : end - 1]))
        self.checked = end
        self.lines += lines
        self.size += end - start + (lines - crlf) - dots
        self.bare_lf = self.bare_lf or lines != crlf
        self.dots = self.dots or dots > 0
        verb = self.command.verb
        if self.lines > self.max_lines:
            raise RemoteProtocolError(f"a {verb} reply longer than {self.max_lines} lines")
        if self.size > self.max_bytes:
            raise RemoteProtocolError(f"a {verb} reply larger than {self.max_bytes} bytes")

    def _check_long_lines(self, chunk: bytes) -> None:
        cap = self.max_line
        if max(map(len, chunk.split(b"\n"))) <= cap:
            return
        # Rare: some line is within one byte of the cap; its CR does not count.
        for line in chunk.split(b"\n"):
            if len(line) - line.endswith(b"\r") > cap:
                raise RemoteProtocolError(f"a line longer than {cap} bytes")

    def normalize(self, data: bytes) -> bytes:
        """Complete lines as sent (checked, not yet returned) made CRLF and unstuffed."""
        if self.bare_lf:
            data = _BARE_LF.sub(b"\r\n", data)  # HARDENING A.11: bare LF ends a line too
        if self.dots:
            if data[:1] == b".":
                data = data[1:]
            data = data.replace(b"\r\n.", b"\r\n")
        self.bare_lf = self.dots = False
        return data

    def reply(self, data: bytes) -> OkReply:
        """The whole reply: ``data`` (as sent, up to the terminator) normalized."""
        return OkReply(self.text, self.code, self.normalize(data), self.lines)
