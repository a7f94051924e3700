"""The command engine: one open POP3 byte stream driven through the sans-IO core.

A :class:`Channel` writes the bytes :class:`~popview.pop3.protocol.Pop3Connection`
produces, feeds it what arrives, and runs each exchange under one deadline.
Rules it keeps (docs/hardening.md, HARDENING section A and B):

* every command runs under one deadline for its *whole* reply, not per read;
* a timeout, a framing error, a lost connection or a cancelled command closes
  the socket (never with QUIT) and every later command is refused;
* bytes that arrive while no command is pending mean the stream is out of
  step: nothing more is sent (HARDENING A.10).

It knows no command but the generic shape of one; the commands are in
:mod:`popview.pop3.client`, opening in :mod:`popview.pop3.connect`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import TypeVar

from popview.errors import (
    Pop3ConnectionError,
    Pop3Error,
    Pop3ProtocolError,
    Pop3ServerError,
    Pop3TimeoutError,
    printable,
)
from popview.pop3 import protocol
from popview.pop3.protocol import (
    Command,
    DataLines,
    EndOfData,
    ErrReply,
    Event,
    Limits,
    OkReply,
)
from popview.pop3.wording import server_error

__all__ = [
    "MAX_LISTING_BYTES",
    "MAX_LISTING_LINES",
    "STREAM_LIMIT",
    "Channel",
    "CountingReader",
]

_T = TypeVar("_T")
_READ_CHUNK = 64 * 1024
STREAM_LIMIT = 1024 * 1024
"""Longest line the reader buffers while looking for a line end (the STLS reply)."""
# HARDENING A.7: an endless LIST/UIDL is cut off (NeoMutt caps 500,000 too).
MAX_LISTING_LINES = 500_000
MAX_LISTING_BYTES = 64 * 1024 * 1024

Sink = Callable[[tuple[bytes, ...]], None]


class CountingReader(asyncio.StreamReader):
    """A StreamReader that counts what it was fed, so the client knows what is
    buffered (with only public API): data left over after ``+OK`` to STLS must
    never be read as TLS-protected (HARDENING B.24, CVE-2020-14954)."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.fed = 0

    def feed_data(self, data: Iterable[int]) -> None:  # type: ignore[override]
        if isinstance(data, bytes | bytearray | memoryview):
            self.fed += len(data)
        super().feed_data(data)


class Channel:
    """One connection's bytes and the exchanges run over them.

    Attributes:
        reader: The stream's reader (counts what arrived).
        writer: The stream's writer (``start_tls`` upgrades it in place).
        host: The server name, for error messages.
        conn: The sans-IO protocol state.
        lock: Held for each whole exchange: replies come back in order.
        pipelining_broken: Set when the server stopped answering pipelined
            commands (HARDENING A.19).
    """

    def __init__(
        self,
        reader: CountingReader,
        writer: asyncio.StreamWriter,
        *,
        host: str,
        command_timeout: float,
        trace: Callable[[str], None] | None,
        limits: Limits | None,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host
        self.conn = protocol.Pop3Connection(limits)
        self.lock = asyncio.Lock()
        self.pipelining_broken = False
        self._timeout = command_timeout
        self._trace = trace
        self._consumed = 0
        self._closed_reason: str | None = None

    # -- state -----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (it is never reused)."""
        return self._closed_reason is not None

    @property
    def encrypted(self) -> bool:
        """Whether the socket is TLS right now."""
        return not self.closed and self.writer.get_extra_info("ssl_object") is not None

    @property
    def unread_bytes(self) -> bool:
        """Whether bytes arrived that the protocol core has not been fed yet."""
        return self.reader.fed != self._consumed

    def abort(self, reason: str = "it was closed") -> None:
        """Close the socket at once, without QUIT (marked messages stay)."""
        if self._closed_reason is None:
            self._closed_reason = reason
        transport = self.writer.transport
        # CPython < 3.11.3: aborting a TLS transport that already closed dereferences
        # its dropped protocol (gh-100348). The socket is closed either way.
        with contextlib.suppress(AttributeError):
            transport.abort()

    async def close(self) -> None:
        """Close the socket without QUIT, waiting briefly for a clean TLS close."""
        if self.closed:
            if not self.writer.transport.is_closing():
                self.abort()
            return
        self._closed_reason = "it was closed"
        self.writer.close()
        try:
            async with asyncio.timeout(2):
                await self.writer.wait_closed()
        except (TimeoutError, OSError, ssl.SSLError):
            self.writer.transport.abort()

    # -- one exchange ------------------------------------------------------------

    def emit(self, line: str) -> None:
        """Pass one protocol line to the trace, if any (secrets already masked)."""
        if self._trace is not None:
            self._trace(printable(line, 500))

    def ensure_open(self) -> None:
        """Raise :class:`Pop3ConnectionError` if the connection is closed."""
        if self._closed_reason is not None:
            raise Pop3ConnectionError(
                f"This connection is closed ({self._closed_reason}). Connect again.",
                title="Not connected",
            )

    async def check_in_step(self) -> None:
        """Refuse to send while unrequested bytes wait (HARDENING A.10).

        With no command pending, anything received means the stream is out of
        step (e.g. a lone "." ended a message early): a command sent now would
        be answered by the leftovers, so the connection is dropped instead.
        """
        if self.conn.pending:
            return
        if self.unread_bytes:
            data = await self.reader.read(_READ_CHUNK)  # returns at once: data is buffered
            self._consumed += len(data)
            if data:
                self.conn.receive_data(data)
        if self.conn.has_buffered_data:
            self.conn.next_event()  # raises: data arrived while no command was pending
            raise Pop3ProtocolError("The server sent data that no command asked for.")

    def write(self, commands: Sequence[Command]) -> None:
        """Send commands in one write: one segment for a pipelined window."""
        data = b"".join(self.conn.send(command) for command in commands)
        for command in commands:
            self.emit(f"C: {command.trace()}")
        self.writer.write(data)

    async def next_event(self, what: str, *, one_line: bool = False) -> Event:
        """Return the next protocol event, reading as needed.

        Args:
            what: What the server is sending, for error messages.
            one_line: Read no further than the end of one line, so that bytes
                after it stay in the reader, countable (the STLS reply).
        """
        while True:
            event = self.conn.next_event()
            if event is not protocol.NEED_DATA:
                return event
            try:
                if one_line:
                    data = await self.reader.readuntil(b"\n")
                else:
                    data = await self.reader.read(_READ_CHUNK)
            except asyncio.IncompleteReadError as exc:
                self._consumed += len(exc.partial)
                data = b""
            except asyncio.LimitOverrunError:
                raise Pop3ProtocolError(
                    f"The server sent an over-long line instead of {what}."
                ) from None
            if not data:
                self.abort("the server closed it")
                raise Pop3ConnectionError(
                    f"The server closed the connection while sending {what}. Try again."
                )
            self._consumed += len(data)
            self.conn.receive_data(data)

    async def reply(
        self,
        command: Command,
        what: str,
        sink: Sink | None = None,
        *,
        one_line: bool = False,
    ) -> OkReply | ErrReply:
        """Read one command's reply; data lines go to ``sink`` (or are dropped)."""
        event = await self.next_event(what, one_line=one_line)
        if isinstance(event, ErrReply):
            self.emit(f"S: -ERR {event.text}")
            return event
        if not isinstance(event, OkReply):
            raise Pop3ProtocolError(f"The server sent something unexpected instead of {what}.")
        self.emit(f"S: +OK {event.text}")
        if command.multiline:
            while not isinstance(event := await self.next_event(what), EndOfData):
                if not isinstance(event, DataLines):
                    raise Pop3ProtocolError(f"The server garbled {what}.")
                if sink is not None:
                    sink(event.lines)
        return event if isinstance(event, OkReply) else OkReply("")

    @contextlib.asynccontextmanager
    async def guard(
        self, what: str, *, pipelined: int = 0, answered: int = 0
    ) -> AsyncIterator[None]:
        """Run one exchange under the command deadline. Anything going wrong
        but an ``-ERR`` drops the connection (rule "drop-on-framing-error": never
        reused after a framing error, a timeout or a cancel)."""
        try:
            async with asyncio.timeout(self._timeout):
                yield
        except Pop3ServerError:
            raise
        except TimeoutError:
            self.abort("a command timed out")
            seconds = f"{self._timeout:g}"
            if pipelined > 1:
                self.pipelining_broken = True
                raise Pop3TimeoutError(
                    f"The server stopped answering pipelined commands (it answered {answered} "
                    f"and then nothing for {seconds} seconds). The connection was closed; the "
                    "next one will send one command at a time."
                ) from None
            raise Pop3TimeoutError(
                f"The server did not finish sending {what} within {seconds} seconds. "
                "The connection was closed; try again."
            ) from None
        except Pop3ProtocolError:
            self.abort("the server broke the protocol")
            raise
        except Pop3Error:
            self.abort("the connection was lost")
            raise
        except OSError as exc:
            self.abort("the connection was lost")
            raise Pop3ConnectionError(
                f"The connection was lost while the server was sending {what}. Try again."
            ) from exc
        except BaseException:
            self.abort("a command was interrupted")
            raise

    async def exchange(
        self,
        command: Command,
        what: str,
        *,
        raise_err: bool = True,
        sink: Sink | None = None,
        login: bool = False,
    ) -> OkReply | ErrReply:
        """Send one command and read its whole reply under one deadline.

        Raises:
            Pop3ServerError: The reply was ``-ERR`` and ``raise_err`` is set.
        """
        async with self.lock:
            self.ensure_open()
            async with self.guard(what):
                await self.check_in_step()
                self.write([command])
                reply = await self.reply(command, what, sink)
        if isinstance(reply, ErrReply) and raise_err:
            raise server_error(reply, command.verb, login=login)
        return reply

    async def ok(self, command: Command, what: str) -> OkReply:
        """Like :meth:`exchange`; ``-ERR`` raises, so the reply is ``+OK``."""
        reply = await self.exchange(command, what)
        assert isinstance(reply, OkReply)
        return reply

    async def lines(self, command: Command, what: str) -> list[bytes]:
        """Run a multi-line command and return its data lines."""
        lines: list[bytes] = []
        await self.exchange(command, what, sink=lines.extend)
        return lines

    def parsed(self, parse: Callable[[str], _T], text: str) -> _T:
        """Parse a one-line answer; a malformed one is a protocol error (dropped)."""
        try:
            return parse(text)
        except Pop3ProtocolError:
            self.abort("the server sent a malformed reply")
            raise

    def capped(self, command: Command) -> Command:
        """Cap a full LIST/UIDL tighter than a message (HARDENING A.7)."""
        if command.verb not in ("LIST", "UIDL") or not command.multiline:
            return command
        if command.max_lines is not None or command.max_bytes is not None:
            return command
        limits = self.conn.limits
        return dataclasses.replace(
            command,
            max_lines=min(MAX_LISTING_LINES, limits.max_response_lines),
            max_bytes=min(MAX_LISTING_BYTES, limits.max_response_bytes),
        )
