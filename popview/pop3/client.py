"""The POP3 client a session uses: :class:`Pop3Client`, one connection's commands.

It is the asyncio shell around :class:`~popview.pop3.protocol.Pop3Connection`,
in pieces: opening (TCP, TLS, STLS, greeting) is in :mod:`~popview.pop3.dial`,
the command engine (deadlines, dropping the connection) in
:mod:`~popview.pop3.channel`, logging in in :mod:`~popview.pop3.login`,
pipelined batches in :mod:`~popview.pop3.pipeline`, and the sentences a user
reads for ``-ERR`` in :mod:`~popview.pop3.wording`. Rules it keeps (see
docs/hardening.md, HARDENING section A and B):

* every command runs under one deadline for its *whole* reply, not per read;
* a timeout, a framing error, a lost connection or a cancelled command closes
  the socket (never with QUIT) and the client refuses every later command;
* an ``-ERR`` reply raises :class:`~popview.errors.Pop3ServerError` and the
  connection stays usable;
* QUIT is sent by :meth:`Pop3Client.quit` and by nothing else;
* no credential is written before TLS is up, unless ``tls="none"`` was asked for.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import overload

from popview.errors import Pop3Error, Pop3ServerError, printable
from popview.pop3 import pipeline as pipelined
from popview.pop3 import protocol
from popview.pop3.channel import MAX_LISTING_BYTES, MAX_LISTING_LINES
from popview.pop3.dial import (
    MAX_CAPA_LINES,
    Opened,
    TlsMode,
    greeting_key,
    open_channel,
    read_capabilities,
)
from popview.pop3.login import log_in
from popview.pop3.pipeline import PIPELINE_WINDOW, Reply, Sink
from popview.pop3.predial import DialAhead
from popview.pop3.protocol import (
    Capabilities,
    Command,
    ErrReply,
    Limits,
    ListEntry,
    ListingResult,
    OkReply,
    Progress,
    UidlEntry,
    block_lines,
    parse_capa,
    parse_list,
    parse_list_line,
    parse_stat,
    parse_uidl,
    parse_uidl_line,
)
from popview.pop3.tls import TlsInfo
from popview.pop3.wording import WHAT, server_error

__all__ = [
    "DEFAULT_MAX_MESSAGE",
    "MAX_LISTING_BYTES",
    "MAX_LISTING_LINES",
    "Pop3Client",
    "Reply",
    "TlsMode",
    "server_error",
]

DEFAULT_MAX_MESSAGE = 128 * 1024 * 1024
"""Default cap on one RETR (bytes); a bigger message is a protocol error."""


class Pop3Client:
    """One POP3 connection. Create it with :meth:`connect`.

    Use ``async with`` to make sure the socket is closed: leaving the block
    closes it *without* QUIT (so nothing marked is deleted); call :meth:`quit`
    to commit deletions.
    """

    def __init__(self, opened: Opened, *, tls_mode: TlsMode, pipelining: bool) -> None:
        self._channel = opened.channel
        self._tls_mode: TlsMode = tls_mode
        self._allow_pipelining = pipelining
        self.capabilities: Capabilities = opened.capabilities
        """The capabilities from the latest CAPA (empty when CAPA failed)."""
        self.greeting = opened.greeting.text
        """The greeting text (raw; sanitize before showing)."""
        self.apop_timestamp: str | None = opened.greeting.timestamp
        self.tls_info: TlsInfo | None = opened.tls_info
        """The TLS session, or ``None`` on a plaintext connection."""
        self.authenticated = False
        self.offered_before_login: Capabilities = opened.capabilities
        """The capabilities as they were before login (SASL is listed there)."""
        self.greeting_key = greeting_key(opened.greeting)
        """The greeting without its APOP timestamp, to remember capabilities under."""
        self.capabilities_remembered = opened.remembered
        """Whether no CAPA was asked before login (the remembered ones matched)."""

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
        remembered: tuple[str, Capabilities] | None = None,
        dialled: DialAhead | None = None,
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
            remembered: ``(greeting key, capabilities)`` from an earlier
                session: used instead of asking CAPA when the greeting matches
                (see :func:`~popview.pop3.dial.greeting_key`).
            dialled: A connection to ``host``:``port`` opened ahead
                (:mod:`popview.pop3.predial`), adopted instead of dialling again.

        Raises:
            TLSVerificationError: Certificate not trusted or not matching the pin.
            Pop3ConnectionError: Could not connect, or STLS not possible.
            Pop3TimeoutError: A deadline passed.
            Pop3ServerError: The greeting was ``-ERR``.
            Pop3ProtocolError: The server broke the protocol.
        """
        opened = await open_channel(
            host, port, tls=tls, ssl_context=ssl_context, pin=pin,
            connect_timeout=connect_timeout, command_timeout=command_timeout,
            greeting_timeout=greeting_timeout, server_hostname=server_hostname, trace=trace,
            limits=limits, fetch_fingerprint=fetch_fingerprint, remembered=remembered,
            dialled=dialled,
        )  # fmt: skip
        return cls(opened, tls_mode=tls, pipelining=pipelining)

    # -- state -----------------------------------------------------------------

    @property
    def encrypted(self) -> bool:
        """Whether the socket is TLS right now (drives the "UNENCRYPTED" badge)."""
        return self._channel.encrypted

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (it is never reused)."""
        return self._channel.closed

    @property
    def pipelining_broken(self) -> bool:
        """Set when the server stopped answering pipelined commands: open the
        next connection with ``pipelining=False`` (HARDENING A.19)."""
        return self._channel.pipelining_broken

    @pipelining_broken.setter
    def pipelining_broken(self, value: bool) -> None:
        self._channel.pipelining_broken = value

    @property
    def pipelining(self) -> bool:
        """Whether commands will be pipelined (advertised and not known broken)."""
        return (
            self.capabilities.pipelining and self._allow_pipelining and not self.pipelining_broken
        )

    def abort(self, reason: str = "it was closed") -> None:
        """Close the socket at once, without QUIT (marked messages stay)."""
        self._channel.abort(reason)

    async def close(self) -> None:
        """Close the socket without QUIT, waiting briefly for a clean TLS close."""
        await self._channel.close()

    async def __aenter__(self) -> Pop3Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- commands --------------------------------------------------------------

    async def capa(self) -> Capabilities:
        """Send CAPA (RFC 2449) and remember the result.

        ``-ERR`` means "no capabilities"; more than a few hundred lines are
        ignored after the first ones (HARDENING A.18).
        """
        self.capabilities = await read_capabilities(self._channel)
        return self.capabilities

    async def stat(self) -> tuple[int, int]:
        """Return (message count, mailbox size in octets) from STAT."""
        reply = await self._channel.ok(protocol.stat(), WHAT["STAT"])
        return self._channel.parsed(parse_stat, reply.text, WHAT["STAT"])

    @overload
    async def list(self) -> ListingResult[ListEntry]: ...
    @overload
    async def list(self, n: int) -> ListEntry: ...
    async def list(self, n: int | None = None) -> ListingResult[ListEntry] | ListEntry:
        """LIST: every message's size (bad rows rejected, HARDENING A.12), or
        with ``n`` one message's (a malformed answer is a protocol error)."""
        channel, what = self._channel, WHAT["LIST"]
        if n is not None:
            reply = await channel.ok(protocol.list_(n), what)
            return channel.parsed(parse_list_line, reply.text, what)
        return parse_list(await channel.block(channel.capped(protocol.list_()), what))

    @overload
    async def uidl(self) -> ListingResult[UidlEntry]: ...
    @overload
    async def uidl(self, n: int) -> UidlEntry: ...
    async def uidl(self, n: int | None = None) -> ListingResult[UidlEntry] | UidlEntry:
        """UIDL: every message's unique id (RFC 1939 §7), or with ``n`` one message's."""
        channel, what = self._channel, WHAT["UIDL"]
        if n is not None:
            reply = await channel.ok(protocol.uidl(n), what)
            return channel.parsed(parse_uidl_line, reply.text, what)
        return parse_uidl(await channel.block(channel.capped(protocol.uidl()), what))

    async def top(self, n: int, lines: int = 0) -> bytes:
        """TOP: the header block and the first ``lines`` body lines of message ``n``."""
        return await self._channel.block(protocol.top(n, lines), WHAT["TOP"])

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

        def report(event: Progress) -> None:
            if progress is not None:
                progress(event.received, _leading_int(event.text))

        command = protocol.retr(n, max_bytes=max_bytes)
        reply = await self._channel.exchange(command, WHAT["RETR"], progress=report)
        assert isinstance(reply, OkReply)  # -ERR raised
        data = reply.data or b""
        if progress is not None:
            progress(len(data), _leading_int(reply.text))
        return data

    async def dele(self, n: int) -> str:
        """Mark message ``n`` deleted (applied only by :meth:`quit`, RFC 1939 §6)."""
        return (await self._channel.ok(protocol.dele(n), WHAT["DELE"])).text

    async def rset(self) -> str:
        """Unmark every message marked in this session (RFC 1939 §5)."""
        return (await self._channel.ok(protocol.rset(), WHAT["RSET"])).text

    async def noop(self) -> str:
        """Keep the session alive."""
        return (await self._channel.ok(protocol.noop(), WHAT["NOOP"])).text

    async def utf8(self) -> str:
        """Enable UTF-8 mode (RFC 6856 §2), before login and only when advertised."""
        if not self.capabilities.utf8:
            raise Pop3Error("The server does not support UTF-8 mode.")
        return (await self._channel.ok(protocol.utf8(), WHAT["UTF8"])).text

    async def quit(self) -> str:
        """QUIT: commit deletions and close (RFC 1939 §6).

        The only place QUIT is sent. The socket is closed afterwards whatever
        the answer; an ``-ERR`` means some deletions may not have been applied.
        """
        try:
            reply = await self._channel.exchange(protocol.quit(), WHAT["QUIT"], raise_err=False)
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

    async def login(
        self,
        user: str,
        password: str,
        *,
        mechanism: str | None = None,
        apop: bool = False,
        oauth_token: str | None = None,
        capa: bool = True,
        pipelined: bool = False,
        then: Sequence[Command] = (),
        sinks: Mapping[str, Sink] | None = None,
    ) -> Sequence[Reply | Pop3ServerError] | None:
        """Authenticate, then read CAPA again (RFC 2449 §6: it may change).

        Args:
            user: User name.
            password: Password (never logged, traced or put in an error).
            mechanism: Force one method: a SASL name (``"PLAIN"``...),
                ``"USER"`` or ``"APOP"``; default: the strongest offered.
            apop: Use APOP (RFC 1939 §7); only if the greeting has a valid timestamp.
            oauth_token: An OAuth 2 bearer token (OAUTHBEARER/XOAUTH2).
            capa: False to leave CAPA to the caller, who pipelines it with its
                first commands (one round trip less) and hands the answer to
                :meth:`adopt_capabilities`.
            pipelined: Send USER and PASS in one write when the server
                pipelines (ignored otherwise).
            then: Commands for after the login (no QUIT), sent in the same
                write as a pipelined USER and PASS, or as SCRAM's last line
                (behind the empty line that acknowledges the server's
                signature): the login and the first commands in one flight.
            sinks: For ``then``, as for :meth:`pipeline`.

        Returns:
            The replies to ``then`` (``-ERR`` as :class:`Pop3ServerError`) when
            they went with the login; ``None`` when the login took another way
            (APOP, SASL, not pipelining) and nothing of ``then`` was sent.

        Raises:
            InvalidCredentialError: The credentials hold CR, LF or NUL (nothing sent).
            AuthError: The server refused them, or offers no usable method.
            Pop3ServerError: Refused for another reason (IN-USE, LOGIN-DELAY...).
            Pop3Error: The connection is not encrypted and ``tls="none"`` was
                not chosen.
        """
        self.offered_before_login = self.capabilities
        replies = await log_in(
            self._channel, capabilities=self.capabilities, apop_timestamp=self.apop_timestamp,
            plaintext_allowed=self._tls_mode == "none", user=user, password=password,
            mechanism=mechanism, apop=apop, oauth_token=oauth_token,
            pipelined=pipelined and self.pipelining, then=then, sinks=sinks,
        )  # fmt: skip
        self.authenticated = True
        if capa:
            await self.capa()
        return replies

    def adopt_capabilities(self, reply: Reply | Pop3ServerError) -> Capabilities:
        """Take the answer to a pipelined CAPA as the capabilities (``-ERR``:
        none); more than a few hundred lines are ignored (HARDENING A.18)."""
        if isinstance(reply, Pop3ServerError):
            self.capabilities = Capabilities()
        else:
            self.capabilities = parse_capa(block_lines(reply.data)[:MAX_CAPA_LINES])
        return self.capabilities

    # -- pipelining ------------------------------------------------------------

    def pipeline(
        self,
        commands: Iterable[Command],
        *,
        window: int = PIPELINE_WINDOW,
        sinks: Mapping[str, Sink] | None = None,
    ) -> AsyncGenerator[Reply | Pop3ServerError, None]:
        """Send many commands, yielding each reply in order as it arrives.

        With PIPELINING (RFC 2449 §6.6) the commands go out in windows, each
        written in one write; otherwise one at a time. ``-ERR`` replies are
        yielded as :class:`Pop3ServerError`, not raised. Each reply must
        arrive within the command timeout of the previous one: a server that
        answers fewer replies than it was sent fails by that deadline, and
        :attr:`pipelining_broken` is set (HARDENING A.19). Abandoning the
        iterator early drops the connection (replies would be left unread).

        ``sinks`` maps a verb to a callable given the data lines of that verb's
        replies as they arrive (then the :class:`Reply` holds no ``lines``), so
        a listing can be parsed without holding the whole block.
        """
        return pipelined.pipeline(
            self._channel, commands, pipelined=self.pipelining, window=window, sinks=sinks
        )

    def top_many(
        self, numbers: Iterable[int], lines: int = 0
    ) -> AsyncGenerator[tuple[int, bytes | Pop3ServerError], None]:
        """Pipelined ``TOP n lines`` for each number: ``(n, header bytes or error)``."""
        return pipelined.top_many(self._channel, numbers, lines, pipelined=self.pipelining)


def _leading_int(text: str) -> int | None:
    head = text.split(" ", 1)[0]
    return int(head) if head.isdigit() and len(head) < 19 else None
