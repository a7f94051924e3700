"""The embedded POP3 server: asyncio, loopback only, with faults and a transcript.

Used by ``popview --demo``/``popview serve`` and by the tests, which inject
faults (:class:`~popview.server.faults.Fault`) and assert on the commands the
server received (:attr:`Pop3Server.transcript`, passwords masked).
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType

from popview.server.conversation import Pop3Conversation
from popview.server.faults import Fault
from popview.server.mailbox import Mailbox
from popview.server.oauth import TokenChecker

__all__ = ["DEFAULT_MAX_LINE", "Pop3Server", "TranscriptEntry", "default_capabilities"]

DEFAULT_MAX_LINE = 8192
"""Longest accepted command line in octets, without CRLF (RFC 2449 §4 asks for 255)."""


def default_capabilities(
    stls: bool = False, implementation: str = "popview", utf8: bool = False
) -> list[str]:
    """The CAPA lines the server sends by default (RFC 2449 §6, RFC 2595 §4,
    RFC 5034 §6, RFC 6856 §2)."""
    caps = ["TOP", "UIDL", "USER", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE", "SASL PLAIN"]
    if stls:
        caps.append("STLS")
    if utf8:
        caps.append("UTF8 USER")
    caps.append(f"IMPLEMENTATION {implementation}")
    return caps


@dataclass(frozen=True)
class TranscriptEntry:
    """One command line the server received.

    Attributes:
        session: The connection's number, counting from 1.
        line: The line decoded as latin-1 without its line ending; secrets
            masked (``PASS ***``, ``APOP alice ***``, ``AUTH PLAIN ***``, SASL
            response lines ``***``; a cancelling ``*`` is kept).
    """

    session: int
    line: str


def _loopback_host(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"  # one address, so port 0 gives one port
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"the embedded server binds loopback only, not {host!r}")


class Pop3Server:
    """A POP3 server (RFC 1939, RFC 2449, RFC 2595, RFC 5034) on loopback.

    Args:
        mailbox: The mailbox every login gets, or a zero-argument callable
            returning a mailbox for each login.
        users: User name -> password.
        host: ``127.0.0.1``, ``::1``, ``localhost`` or another loopback
            address; anything else raises :class:`ValueError`.
        port: TCP port; 0 picks a free one (read :attr:`port` after start).
        implicit_tls: A server-side SSL context: the listener speaks TLS from
            the first byte (RFC 8314).
        stls: A server-side SSL context: advertise and serve STLS (RFC 2595).
        capabilities: CAPA lines replacing :func:`default_capabilities`. TOP
            and UIDL are refused as unknown commands when left out.
        apop: Put an APOP timestamp in the greeting and accept APOP.
        greeting: Raw bytes (with CRLF) sent instead of the normal greeting.
        faults: Injected faults; :attr:`faults` may be changed at any time.
        max_line: Longest accepted command line; a longer one is answered
            ``-ERR`` and the connection is closed.
        utf8: Offer and accept UTF8 (RFC 6856); a session that logs in
            without sending it gets each message with raw 8-bit headers
            replaced by a "Cannot display Unicode content" notice, while LIST
            keeps the real size (as Courier does).
        token_checker: ``(user, token) -> valid`` for XOAUTH2 and OAUTHBEARER,
            which are offered (in the default CAPA) only when it is given.
        idle_timeout: Seconds a connection may wait between commands before
            the server closes it without a word (RFC 1939 §3 autologout: no
            UPDATE state, so every DELE is forgotten), or None for never; the
            way Outlook cuts idle sessions, for keepalive tests.

    Attributes:
        transcript: Every command line received, in order (all sessions).
        sessions_opened: How many connections were accepted.
        port: The bound port (after :meth:`start`).
    """

    def __init__(
        self,
        mailbox: Mailbox | Callable[[], Mailbox],
        users: Mapping[str, str],
        host: str = "127.0.0.1",
        port: int = 0,
        implicit_tls: ssl.SSLContext | None = None,
        stls: ssl.SSLContext | None = None,
        capabilities: Iterable[str] | None = None,
        apop: bool = False,
        greeting: bytes | None = None,
        faults: Iterable[Fault] = (),
        max_line: int = DEFAULT_MAX_LINE,
        utf8: bool = False,
        token_checker: TokenChecker | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        self.mailbox = mailbox
        self.token_checker = token_checker
        self.users = dict(users)
        self.host = _loopback_host(host)
        self.port = port
        self.implicit_tls = implicit_tls
        self.stls = stls
        self.capabilities = None if capabilities is None else list(capabilities)
        self.apop = apop
        self.greeting = greeting
        self.faults: list[Fault] = list(faults)
        self.max_line = max_line
        self.utf8 = utf8
        self.idle_timeout = idle_timeout
        self.idle_cuts = 0
        """How many connections the idle timeout closed."""
        self.transcript: list[TranscriptEntry] = []
        self.sessions_opened = 0
        self._locks: set[str] = set()
        self._listener: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle: asyncio.Event | None = None

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Bind and start accepting connections."""
        if self._listener is not None:
            raise RuntimeError("server already started")
        self._idle = asyncio.Event()
        self._idle.set()
        self._listener = await asyncio.start_server(
            self._accept,
            self.host,
            self.port,
            ssl=self.implicit_tls,
            limit=self.max_line + 2,
        )
        self.port = self._listener.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening, drop every open connection (no UPDATE) and wait for them."""
        if self._listener is None:
            return
        self._listener.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._listener.wait_closed()

    async def wait_idle(self) -> None:
        """Wait until no connection is open (e.g. after a client dropped one)."""
        if self._idle is not None:
            await self._idle.wait()

    async def __aenter__(self) -> Pop3Server:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # asyncio runs this callback as a task
        self.sessions_opened += 1
        self._tasks.add(task)
        if self._idle is not None:
            self._idle.clear()
        try:
            await Pop3Conversation(self, self.sessions_opened, reader, writer).run()
        except asyncio.CancelledError:
            # close() cancelled us. End normally: asyncio's stream callback
            # logs a cancelled client_connected_cb task as an error.
            pass
        finally:
            self._tasks.discard(task)
            if not self._tasks and self._idle is not None:
                self._idle.set()

    # -- what sessions ask for ----------------------------------------------

    @property
    def active_sessions(self) -> int:
        """How many connections are open now."""
        return len(self._tasks)

    def commands(self, session: int | None = None) -> list[str]:
        """The transcript lines, of all sessions or of one."""
        return [e.line for e in list(self.transcript) if session is None or e.session == session]

    def record(self, session: int, line: str) -> None:
        """Append a (masked) line to the transcript."""
        self.transcript.append(TranscriptEntry(session, line))

    def capability_lines(self, tls_active: bool) -> list[str]:
        """The CAPA lines to send; STLS is never offered on a TLS connection."""
        if self.capabilities is not None:
            caps = list(self.capabilities)
        else:
            caps = default_capabilities(stls=self.stls is not None, utf8=self.utf8)
            if self.token_checker is not None:
                caps = [f"{c} XOAUTH2 OAUTHBEARER" if c.startswith("SASL") else c for c in caps]
        if tls_active:
            caps = [c for c in caps if c.upper() != "STLS"]
        return caps

    def supports(self, verb: str) -> bool:
        """Whether an optional command (TOP, UIDL) is in the capability list."""
        if self.capabilities is None:
            return True
        return any(c.split(" ")[0].upper() == verb for c in self.capabilities)

    def mailbox_for_login(self) -> Mailbox:
        """The mailbox a new login works on."""
        if isinstance(self.mailbox, Mailbox):
            return self.mailbox
        return self.mailbox()

    def acquire(self, keys: list[str]) -> bool:
        """Lock every key, or none if one is held (RFC 1939 §4 exclusive access)."""
        if any(k in self._locks for k in keys):
            return False
        self._locks.update(keys)
        return True

    def release(self, keys: list[str]) -> None:
        """Unlock keys taken with :meth:`acquire`."""
        self._locks.difference_update(keys)
