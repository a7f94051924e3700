"""The asyncio I/O shell around :class:`~popview.pop3.protocol.Pop3Connection`.

:class:`Pop3Client` owns one TCP (or TLS) connection: it writes the bytes the
sans-IO core produces, feeds it what arrives, and turns its events into
results and errors a user can read. Rules it keeps (see HARDENING.md A/B):

* every command runs under one deadline for its *whole* reply, not per read;
* a timeout, a framing error, a lost connection or a cancelled command closes
  the socket (never with QUIT) and the client refuses every later command;
* an ``-ERR`` reply raises :class:`~popview.errors.Pop3ServerError` and the
  connection stays usable;
* QUIT is sent by :meth:`Pop3Client.quit` and by nothing else;
* no credential is written before TLS is up, unless ``tls="none"`` was asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, TypeVar, overload

from popview.errors import (
    AuthError,
    Pop3ConnectionError,
    Pop3Error,
    Pop3ProtocolError,
    Pop3ServerError,
    Pop3TimeoutError,
    printable,
)
from popview.pop3 import auth, protocol
from popview.pop3.protocol import (
    Capabilities,
    Command,
    Continuation,
    DataLines,
    EndOfData,
    ErrReply,
    Event,
    Greeting,
    Limits,
    ListEntry,
    ListingResult,
    OkReply,
    UidlEntry,
    parse_capa,
    parse_list,
    parse_list_line,
    parse_stat,
    parse_uidl,
    parse_uidl_line,
)
from popview.pop3.tls import TlsInfo, check_pin, client_context, tls_info, verification_error

__all__ = [
    "DEFAULT_MAX_MESSAGE",
    "MAX_LISTING_BYTES",
    "MAX_LISTING_LINES",
    "Pop3Client",
    "Reply",
    "TlsMode",
    "server_error",
]

TlsMode = Literal["implicit", "starttls", "none"]
_T = TypeVar("_T")
DEFAULT_MAX_MESSAGE = 128 * 1024 * 1024
"""Default cap on one RETR (bytes); a bigger message is a protocol error."""

_READ_CHUNK = 64 * 1024
_STREAM_LIMIT = 1024 * 1024
_PIPELINE_WINDOW = 64
_MAX_CAPA_LINES = 600  # parse_capa reads 512 and notes that more were ignored
# HARDENING A.7: an endless LIST/UIDL is cut off (NeoMutt caps 500,000 too).
MAX_LISTING_LINES = 500_000
MAX_LISTING_BYTES = 64 * 1024 * 1024  # base64 characters; RFC 5034 challenges are short
_CRLF = b"\r\n"
_NOT_PIPELINED = frozenset({"QUIT", "STLS", "USER", "PASS", "APOP", "AUTH", "UTF8"})

# What each command was doing, for "while sending ..." sentences.
_WHAT = {
    "STAT": "the mailbox size",
    "LIST": "the message list",
    "UIDL": "the message ids",
    "TOP": "message headers",
    "RETR": "the message",
    "DELE": "the answer to a deletion mark",
    "RSET": "the answer to a reset",
    "NOOP": "the answer to a keep-alive",
    "QUIT": "the answer to logging out",
    "CAPA": "its capabilities",
    "STLS": "the answer to STARTTLS",
    "UTF8": "the answer to UTF8",
}

# "The server refused ...", by command.
_REFUSED = {
    "STAT": "to report the mailbox size",
    "LIST": "to send the message list",
    "UIDL": "to send the message ids",
    "TOP": "to send the message headers",
    "RETR": "to send the message",
    "DELE": "to mark the message for deletion",
    "RSET": "to undo the deletion marks",
    "NOOP": "the keep-alive",
    "CAPA": "to list its capabilities",
    "UTF8": "to switch to UTF-8",
    "USER": "the login",
    "PASS": "the login",
    "APOP": "the login",
    "AUTH": "the login",
}

_CODE_MESSAGES = {
    "IN-USE": "The mailbox is in use by another mail program. Close it, or wait a few "
    "minutes, then try again.",
    "LOGIN-DELAY": "The server does not allow logging in again so soon. Wait a few minutes, "
    "then try again.",
    "SYS/TEMP": "The server has a temporary problem. Try again later.",
    "SYS/PERM": "The server has a permanent problem with this mailbox. Contact your mail provider.",
    "UTF8": "The server can only send this in UTF-8, which was not enabled.",
}


@dataclass(frozen=True)
class Reply:
    """A ``+OK`` answer to one command.

    Attributes:
        text: The text after ``+OK`` (raw, not sanitized for display).
        code: The RFC 2449 response code, if any.
        lines: The dot-unstuffed data lines of a multi-line reply.
    """

    text: str
    code: str | None = None
    lines: tuple[bytes, ...] = ()

    def body(self) -> bytes:
        """Return the data lines joined with CRLF, each line terminated."""
        return b"".join(line + _CRLF for line in self.lines)


class _CountingReader(asyncio.StreamReader):
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


def server_error(reply: ErrReply, verb: str, *, login: bool = False) -> Pop3ServerError:
    """Turn an ``-ERR`` into the error a user sees (RFC 2449 §8, RFC 3206).

    Args:
        reply: The ``-ERR`` reply.
        verb: The command it answers, e.g. ``"RETR"``.
        login: Whether the reply answers a login command (an ``-ERR`` without a
            code then means the credentials were refused).
    """
    text = printable(reply.text, 200)
    code = reply.code.upper() if reply.code else None
    said = f' The server said: "{text}"' if text else ""
    base = code.split("/")[0] if code else None
    if code in _CODE_MESSAGES or (code and code.startswith("SYS/")):
        message = _CODE_MESSAGES.get(code, _CODE_MESSAGES["SYS/TEMP"])
        return Pop3ServerError(message + said, reply_text=text, code=code)
    if login and (code is None or base in ("AUTH", "AUTH-RESP-CODE")):
        return AuthError(
            "The server refused the user name or password. Check them and try again." + said,
            reply_text=text,
            code=code,
        )
    asked = _REFUSED.get(verb, f"the {printable(verb, 20)} command")
    return Pop3ServerError(f"The server refused {asked}." + said, reply_text=text, code=code)


class Pop3Client:
    """One POP3 connection. Create it with :meth:`connect`.

    Use ``async with`` to make sure the socket is closed: leaving the block
    closes it *without* QUIT (so nothing marked is deleted); call :meth:`quit`
    to commit deletions.
    """

    def __init__(
        self,
        reader: _CountingReader,
        writer: asyncio.StreamWriter,
        *,
        host: str,
        tls_mode: TlsMode,
        command_timeout: float,
        trace: Callable[[str], None] | None,
        limits: Limits | None,
        pipelining: bool,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._host = host
        self._tls_mode: TlsMode = tls_mode
        self._timeout = command_timeout
        self._trace = trace
        self._conn = protocol.Pop3Connection(limits)
        self._consumed = 0
        self._lock = asyncio.Lock()
        self._closed_reason: str | None = None
        self._allow_pipelining = pipelining
        self.capabilities = Capabilities()
        """The capabilities from the latest CAPA (empty when CAPA failed)."""
        self.greeting = ""
        """The greeting text (raw; sanitize before showing)."""
        self.apop_timestamp: str | None = None
        self.tls_info: TlsInfo | None = None
        """The TLS session, or ``None`` on a plaintext connection."""
        self.pipelining_broken = False
        """Set when the server stopped answering pipelined commands: open the
        next connection with ``pipelining=False`` (HARDENING A.19)."""
        self.authenticated = False

    # -- opening ---------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        tls: TlsMode = "implicit",
        ssl_context: ssl.SSLContext | None = None,
        pin: str | None = None,
        connect_timeout: float = 15.0,
        command_timeout: float = 60.0,
        greeting_timeout: float | None = None,
        server_hostname: str | None = None,
        trace: Callable[[str], None] | None = None,
        limits: Limits | None = None,
        pipelining: bool = True,
        fetch_fingerprint: bool = True,
    ) -> Pop3Client:
        """Connect, read the greeting, set up TLS and read the capabilities.

        Args:
            host: Server name or address.
            port: TCP port (995 for implicit TLS, 110 otherwise).
            tls: ``"implicit"`` (TLS from the first byte, RFC 8314),
                ``"starttls"`` (STLS, RFC 2595; refused when not offered) or
                ``"none"`` (plaintext, only when the user asked for it).
            ssl_context: Client context; default :func:`~popview.pop3.tls.client_context`.
            pin: Expected SHA-256 fingerprint of the server certificate; with a
                pin the default context skips CA verification (the pin is stricter).
            connect_timeout: Deadline for TCP connect and the TLS handshake.
            command_timeout: Deadline for each command's whole reply.
            greeting_timeout: Deadline for the greeting (default: connect_timeout).
            server_hostname: Name checked against the certificate (default: host).
            trace: Called with each protocol line, secrets masked.
            limits: Framing limits for the protocol core.
            pipelining: ``False`` to never pipeline (after :attr:`pipelining_broken`).
            fetch_fingerprint: On a certificate error, make one more TLS-only
                connection to learn the presented fingerprint (nothing is sent).

        Raises:
            TLSVerificationError: Certificate not trusted or not matching the pin.
            Pop3ConnectionError: Could not connect, or STLS not possible.
            Pop3TimeoutError: A deadline passed.
            Pop3ServerError: The greeting was ``-ERR``.
            Pop3ProtocolError: The server broke the protocol.
        """
        if tls not in ("implicit", "starttls", "none"):
            raise ValueError(f"tls must be 'implicit', 'starttls' or 'none', not {tls!r}")
        context: ssl.SSLContext | None = None
        if tls != "none":
            context = ssl_context or client_context(pinned=pin is not None)
        name = server_hostname or host
        try:
            return await cls._open(
                host, port, tls, context, pin, name, connect_timeout,
                greeting_timeout or connect_timeout, command_timeout, trace, limits, pipelining,
            )  # fmt: skip
        except ssl.SSLCertVerificationError as exc:
            fingerprint = None
            if fetch_fingerprint:
                fingerprint = await cls._presented_fingerprint(
                    host, port, tls, name, connect_timeout, limits
                )
            raise verification_error(exc, name, fingerprint=fingerprint) from None

    @classmethod
    async def _open(
        cls,
        host: str,
        port: int,
        tls: TlsMode,
        context: ssl.SSLContext | None,
        pin: str | None,
        name: str,
        connect_timeout: float,
        greeting_timeout: float,
        command_timeout: float,
        trace: Callable[[str], None] | None,
        limits: Limits | None,
        pipelining: bool,
        probe: bool = False,
    ) -> Pop3Client:
        loop = asyncio.get_running_loop()
        reader = _CountingReader(_STREAM_LIMIT, loop)
        implicit = context if tls == "implicit" else None
        try:
            async with asyncio.timeout(connect_timeout):
                transport, proto = await loop.create_connection(
                    lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
                    host,
                    port,
                    ssl=implicit,
                    server_hostname=name if implicit else None,
                    ssl_handshake_timeout=connect_timeout if implicit else None,
                )
        except TimeoutError:
            raise Pop3TimeoutError(
                f"Could not connect to {printable(host)} port {port} within "
                f"{connect_timeout:g} seconds. Check the server name and port, and your network."
            ) from None
        except ssl.SSLCertVerificationError:
            raise
        except ssl.SSLError as exc:
            raise _handshake_error(host, exc) from None
        except OSError as exc:
            reason = printable(exc.strerror or str(exc))
            raise Pop3ConnectionError(
                f"Could not connect to {printable(host)} port {port}: {reason}. "
                "Check the server name and port."
            ) from None
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Pipelined windows are written in one send each: no Nagle delay.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        writer = asyncio.StreamWriter(transport, proto, reader, loop)
        client = cls(
            reader, writer, host=host, tls_mode=tls, command_timeout=command_timeout,
            trace=trace, limits=limits, pipelining=pipelining,
        )  # fmt: skip
        try:
            await client._read_greeting(greeting_timeout)
            if tls == "implicit":
                client._check_tls(pin, context)
            elif tls == "starttls":
                assert context is not None
                await client._starttls(context, name, connect_timeout, pin, probe)
                if probe:
                    return client
            if not probe:
                await client.capa()
        except BaseException:
            client.abort("the connection could not be set up")
            raise
        return client

    @classmethod
    async def _presented_fingerprint(
        cls,
        host: str,
        port: int,
        tls: TlsMode,
        name: str,
        timeout: float,
        limits: Limits | None,
    ) -> str | None:
        """Handshake once more without verification just to read the
        certificate; nothing but (for STLS) the greeting and STLS is exchanged."""
        context = client_context(pinned=True)
        try:
            client = await cls._open(
                host, port, tls, context, None, name, timeout, timeout, timeout, None,
                limits, False, probe=True,
            )  # fmt: skip
        except (Pop3Error, OSError, ssl.SSLError, ValueError):
            return None
        info = client.tls_info
        client.abort("certificate fetched")
        return info.fingerprint if info else None

    async def _read_greeting(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                event = await self._next_event("its greeting")
        except TimeoutError:
            self.abort("no greeting")
            raise Pop3TimeoutError(
                f"The server accepted the connection but did not greet within {timeout:g} "
                "seconds. It may be overloaded, or this is not a POP3 port."
            ) from None
        if isinstance(event, ErrReply):
            self.abort("the server refused the connection")
            text = printable(event.text, 200)
            raise Pop3ServerError(
                f'The server refused the connection. It said: "{text}"',
                reply_text=text,
                code=event.code,
            )
        if not isinstance(event, Greeting):
            raise Pop3ProtocolError("The server did not start with a POP3 greeting.")
        self._emit(f"S: +OK {event.text}")
        self.greeting = event.text
        self.apop_timestamp = event.timestamp

    def _check_tls(self, pin: str | None, context: ssl.SSLContext | None) -> None:
        ssl_object = self._writer.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            raise Pop3ConnectionError("The TLS session could not be established.")
        if pin is not None:
            check_pin(ssl_object, pin)  # before any credential is written
        verified = context is not None and context.verify_mode == ssl.CERT_REQUIRED
        self.tls_info = tls_info(ssl_object, verified=verified, pinned=pin is not None)

    async def _starttls(
        self,
        context: ssl.SSLContext,
        name: str,
        timeout: float,
        pin: str | None,
        probe: bool,
    ) -> None:
        """RFC 2595 §4: STLS, then the TLS handshake, then forget what we knew."""
        if not probe:
            await self.capa()
            if not self.capabilities.stls:
                self.abort("STARTTLS not offered")
                raise Pop3ConnectionError(
                    "The server does not offer STARTTLS, so the connection cannot be "
                    "encrypted; your password was not sent. Use implicit TLS (port 995) "
                    "if the server has it.",
                    title="Encryption not available",
                )
        command = protocol.stls()
        async with self._guard(_WHAT["STLS"]):
            self._write([command])
            reply = await self._reply(command, _WHAT["STLS"], one_line=True)
        if isinstance(reply, ErrReply):
            self.abort("STARTTLS refused")
            text = printable(reply.text, 200)
            raise Pop3ConnectionError(
                "The server refused to start TLS, so the connection cannot be encrypted; "
                f'your password was not sent. It said: "{text}"',
                title="Encryption not available",
            )
        if self._reader.fed != self._consumed or self._conn.has_buffered_data:
            # Anything after "+OK" was sent before the handshake, in the clear.
            self.abort("data injected before TLS")
            raise Pop3ProtocolError(
                "The server sent extra data right after agreeing to start TLS, before "
                "encryption began. This can be an attack, so the connection was closed."
            )
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(
                    context, server_hostname=name, ssl_handshake_timeout=timeout
                )
        except TimeoutError:
            raise Pop3TimeoutError(
                f"The TLS handshake with {printable(self._host)} did not finish within "
                f"{timeout:g} seconds. The connection was closed."
            ) from None
        except ssl.SSLCertVerificationError:
            raise
        except ssl.SSLError as exc:
            raise _handshake_error(self._host, exc) from None
        except (ConnectionError, OSError) as exc:
            raise Pop3ConnectionError(
                "The connection was lost during the TLS handshake. Try again."
            ) from exc
        if self._reader.fed != self._consumed:
            self.abort("data injected before TLS")
            raise Pop3ProtocolError(
                "The server sent data in the clear while TLS was being set up. This can "
                "be an attack, so the connection was closed."
            )
        self._check_tls(pin, context)
        # RFC 2595 §4: discard every capability learned before TLS.
        self.capabilities = Capabilities()

    # -- state -----------------------------------------------------------------

    @property
    def encrypted(self) -> bool:
        """Whether the socket is TLS right now (drives the "UNENCRYPTED" badge)."""
        return not self.closed and self._writer.get_extra_info("ssl_object") is not None

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (it is never reused)."""
        return self._closed_reason is not None

    @property
    def pipelining(self) -> bool:
        """Whether commands will be pipelined (advertised and not known broken)."""
        return (
            self.capabilities.pipelining and self._allow_pipelining and not self.pipelining_broken
        )

    def abort(self, reason: str = "it was closed") -> None:
        """Close the socket at once, without QUIT (marked messages stay)."""
        if self._closed_reason is None:
            self._closed_reason = reason
        transport = self._writer.transport
        # CPython < 3.11.3: aborting a TLS transport that already closed dereferences
        # its dropped protocol (gh-100348). The socket is closed either way.
        with contextlib.suppress(AttributeError):
            transport.abort()

    async def close(self) -> None:
        """Close the socket without QUIT, waiting briefly for a clean TLS close."""
        if self.closed:
            if not self._writer.transport.is_closing():
                self.abort()
            return
        self._closed_reason = "it was closed"
        self._writer.close()
        try:
            async with asyncio.timeout(2):
                await self._writer.wait_closed()
        except (TimeoutError, OSError, ssl.SSLError):
            self._writer.transport.abort()

    async def __aenter__(self) -> Pop3Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the command engine ----------------------------------------------------

    def _emit(self, line: str) -> None:
        if self._trace is not None:
            self._trace(printable(line, 500))

    def _ensure_open(self) -> None:
        if self._closed_reason is not None:
            raise Pop3ConnectionError(
                f"This connection is closed ({self._closed_reason}). Connect again.",
                title="Not connected",
            )

    async def _check_in_step(self) -> None:
        """Refuse to send while unrequested bytes wait (HARDENING A.10).

        With no command pending, anything received means the stream is out of
        step (e.g. a lone "." ended a message early): a command sent now would
        be answered by the leftovers, so the connection is dropped instead.
        """
        if self._conn.pending:
            return
        if self._reader.fed != self._consumed:
            data = await self._reader.read(_READ_CHUNK)  # returns at once: data is buffered
            self._consumed += len(data)
            if data:
                self._conn.receive_data(data)
        if self._conn.has_buffered_data:
            self._conn.next_event()  # raises: data arrived while no command was pending
            raise Pop3ProtocolError("The server sent data that no command asked for.")

    def _write(self, commands: Sequence[Command]) -> None:
        data = b"".join(self._conn.send(command) for command in commands)
        for command in commands:
            self._emit(f"C: {command.trace()}")
        self._writer.write(data)  # one write: one segment for a pipelined window

    async def _next_event(self, what: str, *, one_line: bool = False) -> Event:
        """Return the next protocol event, reading as needed.

        Args:
            what: What the server is sending, for error messages.
            one_line: Read no further than the end of one line, so that bytes
                after it stay in the reader, countable (the STLS reply).
        """
        while True:
            event = self._conn.next_event()
            if not isinstance(event, protocol._NeedData):
                return event
            try:
                if one_line:
                    data = await self._reader.readuntil(b"\n")
                else:
                    data = await self._reader.read(_READ_CHUNK)
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
            self._conn.receive_data(data)

    async def _reply(
        self,
        command: Command,
        what: str,
        sink: Callable[[tuple[bytes, ...]], None] | None = None,
        *,
        one_line: bool = False,
    ) -> OkReply | ErrReply:
        """Read one command's reply; data lines go to ``sink`` (or are dropped)."""
        event = await self._next_event(what, one_line=one_line)
        if isinstance(event, ErrReply):
            self._emit(f"S: -ERR {event.text}")
            return event
        if not isinstance(event, OkReply):
            raise Pop3ProtocolError(f"The server sent something unexpected instead of {what}.")
        self._emit(f"S: +OK {event.text}")
        if command.multiline:
            while not isinstance(event := await self._next_event(what), EndOfData):
                if not isinstance(event, DataLines):
                    raise Pop3ProtocolError(f"The server garbled {what}.")
                if sink is not None:
                    sink(event.lines)
        return event if isinstance(event, OkReply) else OkReply("")

    @contextlib.asynccontextmanager
    async def _guard(
        self, what: str, *, pipelined: int = 0, answered: int = 0
    ) -> AsyncIterator[None]:
        """Run one exchange under the command deadline. Anything going wrong
        but an ``-ERR`` drops the connection (rule 5: never reused after a
        framing error, a timeout or a cancel)."""
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

    async def _simple(
        self,
        command: Command,
        what: str,
        *,
        raise_err: bool = True,
        sink: Callable[[tuple[bytes, ...]], None] | None = None,
        login: bool = False,
    ) -> OkReply | ErrReply:
        """Send one command and read its whole reply under one deadline."""
        async with self._lock:
            self._ensure_open()
            async with self._guard(what):
                await self._check_in_step()
                self._write([command])
                reply = await self._reply(command, what, sink)
        if isinstance(reply, ErrReply) and raise_err:
            raise server_error(reply, command.verb, login=login)
        return reply

    async def _ok(self, command: Command, what: str) -> OkReply:
        reply = await self._simple(command, what)
        assert isinstance(reply, OkReply)
        return reply

    def _parsed(self, parse: Callable[[str], _T], text: str) -> _T:
        """Parse a one-line answer; a malformed one is a protocol error (dropped)."""
        try:
            return parse(text)
        except Pop3ProtocolError:
            self.abort("the server sent a malformed reply")
            raise

    def _for_pipeline(self, command: Command) -> Command:
        # QUIT only through quit() (rule 2); logins and STLS have their own flows.
        if command.raw or command.verb in _NOT_PIPELINED:
            raise ValueError(f"{command.verb or 'a SASL line'} cannot go through pipeline()")
        return self._listing(command)

    def _listing(self, command: Command) -> Command:
        # HARDENING A.7: a listing is capped tighter than a message.
        if command.verb not in ("LIST", "UIDL") or not command.multiline:
            return command
        if command.max_lines is not None or command.max_bytes is not None:
            return command
        limits = self._conn.limits
        return dataclasses.replace(
            command,
            max_lines=min(MAX_LISTING_LINES, limits.max_response_lines),
            max_bytes=min(MAX_LISTING_BYTES, limits.max_response_bytes),
        )

    async def _lines(self, command: Command, what: str) -> list[bytes]:
        lines: list[bytes] = []
        await self._simple(command, what, sink=lines.extend)
        return lines

    # -- commands --------------------------------------------------------------

    async def capa(self) -> Capabilities:
        """Send CAPA (RFC 2449) and remember the result.

        ``-ERR`` means "no capabilities"; more than a few hundred lines are
        ignored after the first ones (HARDENING A.18).
        """
        kept: list[bytes] = []

        def keep(lines: tuple[bytes, ...]) -> None:
            kept.extend(lines[: max(0, _MAX_CAPA_LINES - len(kept))])

        reply = await self._simple(protocol.capa(), _WHAT["CAPA"], raise_err=False, sink=keep)
        caps = Capabilities() if isinstance(reply, ErrReply) else parse_capa(kept)
        self.capabilities = caps
        return caps

    async def stat(self) -> tuple[int, int]:
        """Return (message count, mailbox size in octets) from STAT."""
        reply = await self._ok(protocol.stat(), _WHAT["STAT"])
        return self._parsed(parse_stat, reply.text)

    @overload
    async def list(self) -> ListingResult[ListEntry]: ...
    @overload
    async def list(self, n: int) -> ListEntry: ...
    async def list(self, n: int | None = None) -> ListingResult[ListEntry] | ListEntry:
        """LIST: every message's size (bad rows rejected, HARDENING A.12), or
        with ``n`` one message's (a malformed answer is a protocol error)."""
        what = _WHAT["LIST"]
        if n is not None:
            return self._parsed(parse_list_line, (await self._ok(protocol.list_(n), what)).text)
        return parse_list(await self._lines(self._listing(protocol.list_()), what))

    @overload
    async def uidl(self) -> ListingResult[UidlEntry]: ...
    @overload
    async def uidl(self, n: int) -> UidlEntry: ...
    async def uidl(self, n: int | None = None) -> ListingResult[UidlEntry] | UidlEntry:
        """UIDL: every message's unique id (RFC 1939 §7), or with ``n`` one message's."""
        what = _WHAT["UIDL"]
        if n is not None:
            return self._parsed(parse_uidl_line, (await self._ok(protocol.uidl(n), what)).text)
        return parse_uidl(await self._lines(self._listing(protocol.uidl()), what))

    async def top(self, n: int, lines: int = 0) -> bytes:
        """TOP: the header block and the first ``lines`` body lines of message ``n``."""
        out = bytearray()

        def add(block: tuple[bytes, ...]) -> None:
            for line in block:
                out.extend(line)
                out.extend(_CRLF)

        await self._simple(protocol.top(n, lines), _WHAT["TOP"], sink=add)
        return bytes(out)

    async def retr(
        self,
        n: int,
        *,
        progress: Callable[[int, int | None], None] | None = None,
        max_bytes: int = DEFAULT_MAX_MESSAGE,
    ) -> bytes:
        """RETR message ``n``, streamed into one buffer.

        Args:
            n: Message number in this session.
            progress: Called as ``progress(bytes_so_far, expected)``;
                ``expected`` is the size the server announced, if any (a hint:
                nothing is preallocated from it, HARDENING A.14).
            max_bytes: A longer message is a protocol error (connection dropped).
        """
        out = bytearray()
        expected: list[int | None] = [None]

        def add(block: tuple[bytes, ...]) -> None:
            for line in block:
                out.extend(line)
                out.extend(_CRLF)
            if progress is not None:
                progress(len(out), expected[0])

        command = protocol.retr(n, max_bytes=max_bytes)
        async with self._lock:
            self._ensure_open()
            async with self._guard(_WHAT["RETR"]):
                await self._check_in_step()
                self._write([command])
                event = await self._next_event(_WHAT["RETR"])
                if isinstance(event, ErrReply):
                    raise server_error(event, "RETR")
                if not isinstance(event, OkReply):
                    raise Pop3ProtocolError("The server sent something unexpected for RETR.")
                expected[0] = _leading_int(event.text)
                while not isinstance(event := await self._next_event(_WHAT["RETR"]), EndOfData):
                    if not isinstance(event, DataLines):
                        raise Pop3ProtocolError("The server garbled the message.")
                    add(event.lines)
        if progress is not None and not out:
            progress(0, expected[0])
        return bytes(out)

    async def dele(self, n: int) -> str:
        """Mark message ``n`` deleted (applied only by :meth:`quit`, RFC 1939 §6)."""
        return (await self._ok(protocol.dele(n), _WHAT["DELE"])).text

    async def rset(self) -> str:
        """Unmark every message marked in this session (RFC 1939 §5)."""
        return (await self._ok(protocol.rset(), _WHAT["RSET"])).text

    async def noop(self) -> str:
        """Keep the session alive."""
        return (await self._ok(protocol.noop(), _WHAT["NOOP"])).text

    async def utf8(self) -> str:
        """Enable UTF-8 mode (RFC 6856 §2), before login and only when advertised."""
        if not self.capabilities.utf8:
            raise Pop3Error("The server does not support UTF-8 mode.")
        return (await self._ok(protocol.utf8(), _WHAT["UTF8"])).text

    async def quit(self) -> str:
        """QUIT: commit deletions and close (RFC 1939 §6).

        The only place QUIT is sent. The socket is closed afterwards whatever
        the answer; an ``-ERR`` means some deletions may not have been applied.
        """
        try:
            reply = await self._simple(protocol.quit(), _WHAT["QUIT"], raise_err=False)
        finally:
            await self.close()
        if isinstance(reply, ErrReply):
            text = printable(reply.text, 200)
            raise Pop3ServerError(
                "The server reported a problem while applying deletions; some messages "
                f'may not have been deleted. It said: "{text}"',
                reply_text=text,
                code=reply.code,
            )
        return reply.text

    # -- login -----------------------------------------------------------------

    async def login(
        self,
        user: str,
        password: str,
        *,
        mechanism: str | None = None,
        apop: bool = False,
        oauth_token: str | None = None,
    ) -> None:
        """Authenticate, then read CAPA again (RFC 2449 §6: it may change).

        Args:
            user: User name.
            password: Password (never logged, traced or put in an error).
            mechanism: Force one method: a SASL name (``"PLAIN"``...),
                ``"USER"`` or ``"APOP"``; default: the strongest offered.
            apop: Use APOP (RFC 1939 §7); only if the greeting has a valid timestamp.
            oauth_token: An OAuth 2 bearer token (OAUTHBEARER/XOAUTH2).

        Raises:
            InvalidCredentialError: The credentials hold CR, LF or NUL (nothing sent).
            AuthError: The server refused them, or offers no usable method.
            Pop3ServerError: Refused for another reason (IN-USE, LOGIN-DELAY...).
            Pop3Error: The connection is not encrypted and ``tls="none"`` was
                not chosen.
        """
        # HARDENING B.30: refuse CR/LF/NUL before a single byte is written.
        auth.validate_credentials(user, password)
        if oauth_token is not None:
            auth.validate_credential(oauth_token, "access token")
        self._ensure_open()
        if not self.encrypted and self._tls_mode != "none":
            # RFC 8314 §5 / HARDENING B.27: plaintext only when asked for.
            raise Pop3Error(
                "The connection is not encrypted, so your password was not sent.",
                title="Connection not encrypted",
            )
        caps = self.capabilities
        # No CAPA at all: USER/PASS is the RFC 1939 baseline.
        choice = "APOP" if apop else auth.choose_mechanism(
            caps.sasl, caps.user or not caps.raw, mechanism, oauth_token is not None
        )  # fmt: skip
        if choice == "APOP":
            await self._login_apop(user, password)
        elif choice == "USER":
            await self._simple(protocol.user(user), "the login", login=True)
            await self._simple(protocol.pass_(password), "the login", login=True)
        else:
            await self._login_sasl(auth.create_mechanism(choice, user, password, oauth_token))
        self.authenticated = True
        await self.capa()

    async def _login_apop(self, user: str, password: str) -> None:
        # HARDENING B.28: only with a greeting timestamp that is a valid msg-id.
        if self.apop_timestamp is None:
            raise AuthError(
                "APOP login was asked for, but the server's greeting has no valid APOP "
                "timestamp. Use another login method.",
                title="Login method unavailable",
            )
        digest = auth.apop_digest(self.apop_timestamp, password)
        await self._simple(protocol.apop(user, digest), "the login", login=True)

    async def _login_sasl(self, mech: auth.SaslMechanism) -> None:
        """RFC 5034 §4: AUTH with an initial response, then challenge/response."""
        what = "the login"
        async with self._lock:
            self._ensure_open()
            async with self._guard(what):
                await self._check_in_step()
                self._write([protocol.auth(mech.name, mech.start())])
                while True:
                    event = await self._next_event(what)
                    if isinstance(event, OkReply):
                        self._emit(f"S: +OK {event.text}")
                        # SCRAM: a server that did not prove itself is not trusted.
                        try:
                            mech.check_success()
                        except auth.SaslError:
                            self.abort("the server did not prove its identity")
                            raise
                        return
                    if isinstance(event, ErrReply):
                        self._emit(f"S: -ERR {event.text}")
                        raise server_error(event, "AUTH", login=True)
                    if not isinstance(event, Continuation):
                        raise Pop3ProtocolError("The server broke the login exchange.")
                    try:
                        answer = mech.respond(auth.decode_challenge(event.data))
                    except auth.SaslError as exc:
                        await self._cancel_sasl(what, exc)
                    self._write([protocol.sasl_response(auth.encode_response(answer))])

    async def _cancel_sasl(self, what: str, cause: auth.SaslError) -> None:
        # RFC 5034 §4 / HARDENING B.29: "*" cancels; the server answers -ERR.
        self._write([protocol.sasl_cancel()])
        event = await self._next_event(what)
        if isinstance(event, Continuation):
            raise Pop3ProtocolError("The server kept challenging after the login was cancelled.")
        text = printable(event.text, 200) if isinstance(event, ErrReply | OkReply) else ""
        raise auth.SaslError(
            f"{cause.message} The login was cancelled; try another login method.",
            reply_text=text,
        )

    # -- pipelining ------------------------------------------------------------

    async def pipeline(
        self, commands: Iterable[Command], *, window: int = _PIPELINE_WINDOW
    ) -> AsyncGenerator[Reply | Pop3ServerError, None]:
        """Send many commands, yielding each reply in order as it arrives.

        With PIPELINING (RFC 2449 §6.6) the commands go out in windows, each
        written in one write; otherwise one at a time. ``-ERR`` replies are
        yielded as :class:`Pop3ServerError`, not raised. Each reply must
        arrive within the command timeout of the previous one: a server that
        answers fewer replies than it was sent fails by that deadline, and
        :attr:`pipelining_broken` is set (HARDENING A.19). Abandoning the
        iterator early drops the connection (replies would be left unread).
        """
        commands = map(self._for_pipeline, commands)
        if not self.pipelining:
            for command in commands:
                what = _WHAT.get(command.verb, "a reply")
                lines: list[bytes] = []
                reply = await self._simple(command, what, raise_err=False, sink=lines.extend)
                yield _to_reply(reply, command.verb, lines)
            return
        source = iter(commands)
        pending: deque[Command] = deque()
        answered = 0
        async with self._lock:
            self._ensure_open()
            try:
                async with self._guard("the first replies"):
                    await self._check_in_step()
                batch = [c for _, c in zip(range(window), source, strict=False)]
                pending.extend(batch)
                self._write(batch)
                while pending:
                    command = pending[0]
                    what = _WHAT.get(command.verb, "a reply")
                    lines = []
                    async with self._guard(what, pipelined=len(pending), answered=answered):
                        reply = await self._reply(command, what, lines.extend)
                    pending.popleft()
                    answered += 1
                    if len(pending) <= window // 2:
                        batch = [
                            c for _, c in zip(range(window - len(pending)), source, strict=False)
                        ]
                        if batch:
                            pending.extend(batch)
                            self._write(batch)
                    yield _to_reply(reply, command.verb, lines)
            finally:
                if pending and not self.closed:
                    self.abort("pipelined replies were left unread")

    async def top_many(
        self, numbers: Iterable[int], lines: int = 0
    ) -> AsyncGenerator[tuple[int, bytes | Pop3ServerError], None]:
        """Pipelined ``TOP n lines`` for each number: ``(n, header bytes or error)``."""
        order: deque[int] = deque()

        def commands() -> Iterable[Command]:
            for n in numbers:
                order.append(n)
                yield protocol.top(n, lines)

        async with contextlib.aclosing(self.pipeline(commands())) as replies:
            async for reply in replies:
                n = order.popleft()
                yield n, reply if isinstance(reply, Pop3ServerError) else reply.body()


def _handshake_error(host: str, exc: ssl.SSLError) -> Pop3ConnectionError:
    reason = printable(exc.reason or str(exc), 200) if hasattr(exc, "reason") else str(exc)
    return Pop3ConnectionError(
        f"The TLS handshake with {printable(host)} failed ({reason}). The server may not "
        "speak TLS on this port, or only outdated TLS versions.",
        title="Secure connection failed",
    )


def _to_reply(reply: OkReply | ErrReply, verb: str, lines: list[bytes]) -> Reply | Pop3ServerError:
    if isinstance(reply, ErrReply):
        return server_error(reply, verb)
    return Reply(reply.text, reply.code, tuple(lines))


def _leading_int(text: str) -> int | None:
    head = text.split(" ", 1)[0]
    return int(head) if head.isdigit() and len(head) < 19 else None
