"""The I/O shell: one open POP3 byte stream driven through the sans-IO core.

A :class:`Stream` is the :class:`asyncio.Protocol` of the connection: every
byte that arrives goes straight into the core
(:class:`~popview.pop3.protocol.Pop3Connection`), so there is one buffer, the
core's, and what is buffered is always known (HARDENING B.24). A
:class:`Channel` writes what the core produces and runs each exchange under
one deadline, with one reply loop (:meth:`Channel.reply`) for the greeting,
single and multi-line replies, ``RETR`` progress and SASL challenges. Line
endings are the core's business alone. Rules it keeps (docs/hardening.md,
HARDENING section A and B):

* every command runs under one deadline for its *whole* reply, not per read;
* a timeout, a framing error, a lost connection or a cancelled command closes
  the socket (never with QUIT) and every later command is refused;
* bytes that arrive while no command is pending mean the stream is out of
  step: nothing more is sent (HARDENING A.10).

The core's terse :class:`~popview.pop3.protocol.RemoteProtocolError` becomes
a sentence for people here (worded by :func:`~popview.pop3.wording.protocol_error`).
It knows no command but the generic shape of one; the commands are in
:mod:`popview.pop3.client`, opening in :mod:`popview.pop3.dial`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
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
    Continuation,
    Data,
    ErrReply,
    Event,
    Greeting,
    OkReply,
    Progress,
    RemoteProtocolError,
)
from popview.pop3.wording import protocol_error, server_error

__all__ = [
    "MAX_LISTING_BYTES",
    "MAX_LISTING_LINES",
    "Channel",
    "Stream",
]

_T = TypeVar("_T")
# HARDENING A.7: an endless LIST/UIDL is cut off (NeoMutt caps 500,000 too).
MAX_LISTING_LINES = 500_000
MAX_LISTING_BYTES = 64 * 1024 * 1024
_HIGH_WATER = 2 * 1024 * 1024
"""Unread octets in the core above which the socket is not read (flow control)."""

Challenge = Callable[[Continuation], Sequence[Command]]
"""Answers a SASL challenge with the lines to write: the next response (or the
``*`` that cancels), with commands pipelined behind a last one, or nothing when
the answer was written ahead."""


class Stream(asyncio.Protocol):
    """The connection's protocol: feeds the core, wakes the reader.

    Args:
        core: The sans-IO core every received byte goes to.
    """

    def __init__(self, core: protocol.Pop3Connection) -> None:
        self.core = core
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.core.receive_data(data)
        except protocol.ProtocolError:
            # The core already failed (or saw EOF): nothing read now matters.
            self._abort()
            return
        if self.core.buffered > _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self._paused = True
        self._wake()

    def eof_received(self) -> bool:
        self._eof()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._eof()

    def _eof(self) -> None:
        with contextlib.suppress(protocol.ProtocolError):
            self.core.receive_data(b"")
        self._wake()

    def _abort(self) -> None:
        if self.transport is not None:
            # CPython < 3.11.3: aborting a TLS transport that already closed
            # dereferences its dropped protocol (gh-100348).
            with contextlib.suppress(AttributeError):
                self.transport.abort()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def readable(self) -> None:
        """Wait until more bytes (or EOF) reached the core."""
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


class Channel:
    """One connection's bytes and the exchanges run over them.

    Attributes:
        stream: The connection's protocol (its transport is replaced by STLS).
        host: The server name, for error messages.
        core: The sans-IO protocol state (the :class:`~popview.pop3.protocol.Pop3Connection`).
        lock: Held for each whole exchange: replies come back in order.
        pipelining_broken: Set when the server stopped answering pipelined
            commands (HARDENING A.19).
    """

    def __init__(
        self,
        stream: Stream,
        *,
        host: str,
        command_timeout: float,
        trace: Callable[[str], None] | None,
    ) -> None:
        self.stream = stream
        self.host = host
        self.core = stream.core
        self.lock = asyncio.Lock()
        self.pipelining_broken = False
        self._timeout = command_timeout
        self._trace = trace
        self._closed_reason: str | None = None

    # -- state -----------------------------------------------------------------

    @property
    def transport(self) -> asyncio.Transport:
        """The current transport (TLS once STLS succeeded)."""
        assert self.stream.transport is not None
        return self.stream.transport

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (it is never reused)."""
        return self._closed_reason is not None

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        """The TLS session object, or ``None`` on plaintext."""
        found = self.transport.get_extra_info("ssl_object")
        return found if isinstance(found, ssl.SSLObject) else None

    @property
    def encrypted(self) -> bool:
        """Whether the socket is TLS right now."""
        return not self.closed and self.ssl_object is not None

    def abort(self, reason: str = "it was closed") -> None:
        """Close the socket at once, without QUIT (marked messages stay)."""
        if self._closed_reason is None:
            self._closed_reason = reason
        self.stream._abort()

    async def close(self) -> None:
        """Close the socket without QUIT, waiting briefly for a clean TLS close."""
        if self.closed:
            if not self.transport.is_closing():
                self.abort()
            return
        self._closed_reason = "it was closed"
        self.transport.close()
        try:
            async with asyncio.timeout(2):
                while not self.stream.lost:
                    await self.stream.readable()
        except (TimeoutError, OSError, ssl.SSLError):
            self.stream._abort()

    async def start_tls(
        self, context: ssl.SSLContext, *, server_hostname: str, timeout: float
    ) -> None:
        """Upgrade the connection to TLS in place (after ``+OK`` to STLS)."""
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(
            self.transport,
            self.stream,
            context,
            server_hostname=server_hostname,
            ssl_handshake_timeout=timeout,
        )
        if transport is None:  # the connection closed during the handshake
            raise ConnectionError("closed during the TLS handshake")
        self.stream.transport = transport

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
        if not self.core.pending and self.core.has_buffered_data:
            self._next_event("a reply")  # raises: data arrived while no command was pending
            raise Pop3ProtocolError("The server sent data that no command asked for.")

    def write(self, commands: Sequence[Command]) -> None:
        """Send commands in one write: one segment for a pipelined window."""
        try:
            data = b"".join(self.core.send(command) for command in commands)
        except protocol.LocalProtocolError:
            # Some were queued in the core but none written: out of step for good.
            self.abort("a command was refused by the protocol state")
            raise
        if self._trace is not None:  # 10,000 TOP lines are not formatted for nobody
            for command in commands:
                self.emit(f"C: {command.trace()}")
        self.transport.write(data)

    def _next_event(self, what: str) -> Event | protocol._NeedData:
        """The core's next event, its errors worded for people."""
        try:
            return self.core.next_event()
        except RemoteProtocolError as exc:
            if exc.closed:
                self.abort("the server closed it")
            raise protocol_error(exc, what) from None

    async def reply(
        self,
        what: str,
        *,
        progress: Callable[[Progress], None] | None = None,
        challenge: Challenge | None = None,
        data: Callable[[bytes], None] | None = None,
        wait: bool = True,
    ) -> Greeting | OkReply | ErrReply | None:
        """Read the next whole reply: the one reply loop of the client.

        Args:
            what: What the server is sending, for error messages.
            progress: Called with each :class:`Progress` of a block
                (commands that ask for it, such as RETR).
            challenge: Answers SASL challenges (only during AUTH).
            data: Given each piece of a streamed block (LIST, UIDL); without
                it the pieces are joined into the reply's ``data``.
            wait: If False, return None instead of waiting for more bytes
                (only for a command whose block is not streamed).
        """
        pieces: list[bytes] = []
        while True:
            event = self._next_event(what)
            if event is protocol.NEED_DATA:
                if not wait:
                    assert not pieces
                    return None
                await self.stream.readable()
            elif isinstance(event, Data):
                if data is not None:
                    data(event.data)
                else:
                    pieces.append(event.data)
            elif isinstance(event, Progress):
                if progress is not None:
                    progress(event)
            elif isinstance(event, Continuation):
                if challenge is None:
                    raise Pop3ProtocolError(f"The server sent a login challenge instead of {what}.")
                answer = challenge(event)
                if answer:
                    self.write(answer)
            elif isinstance(event, ErrReply):
                if self._trace is not None:
                    self.emit(f"S: -ERR {event.text}")
                return event
            else:
                assert isinstance(event, OkReply | Greeting)
                if self._trace is not None:
                    self.emit(f"S: +OK {event.text}")
                if pieces and isinstance(event, OkReply):
                    return dataclasses.replace(event, data=b"".join(pieces))
                return event

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
        login: bool = False,
        progress: Callable[[Progress], None] | None = None,
        challenge: Challenge | None = None,
        data: Callable[[bytes], None] | None = None,
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
                reply = await self.reply(what, progress=progress, challenge=challenge, data=data)
        assert reply is not None and not isinstance(reply, Greeting)
        if isinstance(reply, ErrReply) and raise_err:
            raise server_error(reply, command.verb, login=login)
        return reply

    async def ok(self, command: Command, what: str) -> OkReply:
        """Like :meth:`exchange`; ``-ERR`` raises, so the reply is ``+OK``."""
        reply = await self.exchange(command, what)
        assert isinstance(reply, OkReply)
        return reply

    async def block(self, command: Command, what: str) -> bytes:
        """Run a multi-line command and return its block (CRLF line endings)."""
        return (await self.ok(command, what)).data or b""

    def parsed(self, parse: Callable[[str], _T], text: str, what: str) -> _T:
        """Parse a one-line answer; a malformed one is a protocol error (dropped).

        Args:
            parse: A reply parser of :mod:`popview.pop3.replies`.
            text: The ``+OK`` text.
            what: What the server was sending (a :data:`~popview.pop3.wording.WHAT` value).
        """
        try:
            return parse(text)
        except RemoteProtocolError as exc:
            self.abort("the server sent a malformed reply")
            raise protocol_error(exc, what) from None

    def capped(self, command: Command) -> Command:
        """Cap a full LIST/UIDL tighter than a message (HARDENING A.7)."""
        if command.verb not in ("LIST", "UIDL") or not command.multiline:
            return command
        if command.max_lines is not None or command.max_bytes is not None:
            return command
        limits = self.core.limits
        return dataclasses.replace(
            command,
            max_lines=min(MAX_LISTING_LINES, limits.max_response_lines),
            max_bytes=min(MAX_LISTING_BYTES, limits.max_response_bytes),
            stream=True,
        )
