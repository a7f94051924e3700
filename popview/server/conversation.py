"""One POP3 connection on the embedded server: read commands, apply faults, reply.

States follow RFC 1939 §3: AUTHORIZATION until a login succeeds, then
TRANSACTION; QUIT in TRANSACTION enters UPDATE (marked messages are removed)
and closes. A connection that ends any other way removes nothing.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from popview.server.credential_checks import (
    check_apop,
    check_password,
    check_plain,
    make_timestamp,
    mask_command,
)
from popview.server.faults import GREETING, Fault, pick_fault
from popview.server.maildrop import Maildrop, MaildropMessage, dot_stuff
from popview.server.oauth import OAUTH_MECHANISMS, failure_challenge, parse_oauth_response

if TYPE_CHECKING:
    from popview.server.mailbox import Mailbox
    from popview.server.server import Pop3Server

__all__ = ["Pop3Conversation"]

_CLOSE_TIMEOUT = 2.0  # seconds a peer gets to finish the close (TLS close_notify)
_AUTH_ONLY = frozenset({"USER", "PASS", "APOP", "AUTH", "STLS", "UTF8"})
_TRANSACTION_ONLY = frozenset({"STAT", "LIST", "UIDL", "TOP", "RETR", "DELE", "NOOP", "RSET"})


class _State(Enum):
    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"


class _Then(Enum):
    CONTINUE = "continue"
    CLOSE = "close"
    START_TLS = "start-tls"


@dataclass
class _Reply:
    data: bytes
    then: _Then = _Then.CONTINUE


class _ConnectionEnded(Exception):
    """The peer went away (EOF) in the middle of an exchange."""


class _LineTooLong(Exception):
    """An input line exceeded the server's cap."""


def _ok(text: str) -> _Reply:
    return _Reply(b"+OK " + text.encode("utf-8") + b"\r\n" if text else b"+OK\r\n")


def _err(text: str) -> _Reply:
    return _Reply(b"-ERR " + text.encode("utf-8") + b"\r\n")


class Pop3Conversation:
    """Serve one accepted connection until QUIT, a drop, or server shutdown.

    Args:
        server: The server the connection belongs to (config, faults, locks,
            transcript).
        number: The session number used in the transcript (1, 2, ...).
        reader: The connection's stream reader.
        writer: The connection's stream writer.
    """

    def __init__(
        self,
        server: Pop3Server,
        number: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        self.number = number
        self.reader = reader
        self.writer = writer
        self.state = _State.AUTHORIZATION
        self.tls_active = writer.get_extra_info("sslcontext") is not None
        self.timestamp = make_timestamp() if server.apop else None
        self.user: str | None = None
        self.mailbox: Mailbox | None = None
        self.maildrop: Maildrop | None = None
        self.lock_keys: list[str] = []
        self.utf8 = False

    async def run(self) -> None:
        """Serve the connection; never raises except on cancellation."""
        try:
            if await self._greet():
                await self._serve()
        except asyncio.CancelledError:
            self.writer.transport.abort()
            raise
        except (_ConnectionEnded, ConnectionError, OSError, ssl.SSLError, EOFError):
            pass  # a dropped connection: nothing to do but forget the session
        finally:
            self._unlock()
        await self._close()

    # -- the command loop ---------------------------------------------------

    async def _greet(self) -> bool:
        if self.server.greeting is not None:
            greeting = self.server.greeting
        else:
            text = "popview POP3 server ready"
            if self.timestamp is not None:  # RFC 1939 §7 APOP
                text += " " + self.timestamp
            greeting = _ok(text).data
        fault = pick_fault(self.server.faults, GREETING, None)
        if fault is not None:
            if fault.drop_before:
                return False
            if fault.err_code is not None:
                greeting = fault.error_reply()
        silent = fault is not None and fault.silent
        if not silent and not await self._write(greeting, fault):
            return False
        if fault is not None and fault.stall:
            await self._stall()
            return False
        return True

    async def _serve(self) -> None:
        while True:
            try:
                raw = await self._read_line()
            except _LineTooLong:
                await self._write(b"-ERR Line too long\r\n", None)
                return
            line = raw.decode("latin-1")
            self.server.record(self.number, mask_command(line))
            verb, _, rest = line.partition(" ")
            verb = verb.upper()
            args = rest.split()
            fault = pick_fault(self.server.faults, verb, args[0] if args else None)
            if fault is not None and fault.drop_before:
                return
            if fault is not None and fault.silent:
                reply = None
            elif fault is not None and fault.err_code is not None:
                reply = _Reply(fault.error_reply())
            else:
                reply = await self._dispatch(verb, args, rest)
            if reply is not None and not await self._write(reply.data, fault):
                return
            if fault is not None and fault.stall:
                await self._stall()
                return
            if reply is None:
                continue
            if reply.then is _Then.CLOSE:
                return
            if reply.then is _Then.START_TLS:
                await self._start_tls()

    async def _read_line(self, *, secret: bool = False) -> bytes:
        """Read one line without its line ending (CRLF or a bare LF).

        Args:
            secret: The line is a SASL response: an over-long one is recorded
                as ``*** [line too long]``, never by its first bytes.

        Raises:
            _ConnectionEnded: EOF before a whole line.
            _LineTooLong: The line is longer than the server's cap; it is
                recorded (masked, truncated) in the transcript.
        """
        try:
            line = await asyncio.wait_for(self.reader.readuntil(b"\n"), self.server.idle_timeout)
        except TimeoutError as exc:  # autologout (RFC 1939 §3): close, no UPDATE
            self.server.idle_cuts += 1
            raise _ConnectionEnded from exc
        except asyncio.IncompleteReadError as exc:
            raise _ConnectionEnded from exc
        except asyncio.LimitOverrunError as exc:
            head = await self.reader.read(80)
            self._record_too_long(head.split(b"\n")[0].rstrip(b"\r"), secret)
            raise _LineTooLong from exc
        line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self.server.max_line:
            self._record_too_long(line[:80], secret)
            raise _LineTooLong
        return line

    def _record_too_long(self, head: bytes, secret: bool) -> None:
        text = "***" if secret else mask_command(head.decode("latin-1"))
        self.server.record(self.number, text + " [line too long]")

    async def _write(self, data: bytes, fault: Fault | None) -> bool:
        """Send a reply, as a fault says; False when the connection must close."""
        if fault is None:
            self.writer.write(data)
            await self.writer.drain()
            return True
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.hold is not None:
            await fault.hold.wait()
        first = True
        # Pieces are pulled one at a time and drained before the next: a
        # streamed (even endless) replace costs bounded memory here.
        for piece in fault.pieces(data):
            if not first and fault.chunk_delay:
                await asyncio.sleep(fault.chunk_delay)
            first = False
            self.writer.write(piece)
            await self.writer.drain()
        return not fault.drop_after

    async def _start_tls(self) -> None:
        context = self.server.stls
        assert context is not None  # only STLS asks for this, and only when configured
        await self.writer.drain()
        # RFC 2595 §4 / CVE-2011-0411: bytes that came in before the handshake are
        # not TLS-protected; drop them so they are never read as commands.
        buffered = getattr(self.reader, "_buffer", None)
        if isinstance(buffered, bytearray):
            buffered.clear()
        await self.writer.start_tls(context)
        self.tls_active = True
        self.user = None

    async def _stall(self) -> None:
        """Discard input until EOF, answering nothing (Fault.stall)."""
        while await self.reader.read(65536):
            pass

    async def _close(self) -> None:
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), _CLOSE_TIMEOUT)
        except (TimeoutError, OSError, ssl.SSLError):
            self.writer.transport.abort()
        except asyncio.CancelledError:
            self.writer.transport.abort()
            raise

    # -- commands -----------------------------------------------------------

    async def _dispatch(self, verb: str, args: list[str], rest: str) -> _Reply:
        gated = (verb in ("TOP", "UIDL") and not self.server.supports(verb)) or (
            verb == "UTF8" and not self.server.utf8
        )
        if gated or verb not in _AUTH_ONLY | _TRANSACTION_ONLY | {"CAPA", "QUIT"}:
            return _err("Unknown command")
        if self.state is _State.AUTHORIZATION and verb in _TRANSACTION_ONLY:
            return _err("Not logged in")
        if self.state is _State.TRANSACTION and verb in _AUTH_ONLY:
            return _err("Already logged in")
        if verb == "CAPA":
            lines = "".join(f"{cap}\r\n" for cap in self.server.capability_lines(self.tls_active))
            return _Reply(b"+OK Capability list follows\r\n" + lines.encode("utf-8") + b".\r\n")
        if verb == "QUIT":
            return self._quit()
        if self.state is _State.AUTHORIZATION:
            return await self._authorization(verb, args, rest)
        return self._transaction(verb, args)

    async def _authorization(self, verb: str, args: list[str], rest: str) -> _Reply:
        if verb == "STLS":
            if self.server.stls is None:
                return _err("TLS is not available")
            if self.tls_active:
                return _err("Already using TLS")
            return _Reply(b"+OK Begin TLS negotiation\r\n", _Then.START_TLS)
        if verb == "UTF8":  # RFC 6856 §2: AUTHORIZATION state only
            self.utf8 = True
            return _ok("UTF8 enabled")
        if verb == "USER":
            if not rest:
                return _err("Missing user name")
            self.user = _text(rest)
            return _ok("Send your password")
        if verb == "PASS":
            user, self.user = self.user, None
            if user is None:
                return _err("Send USER first")
            # RFC 1939 §7: the password is the rest of the line, spaces included.
            if check_password(self.server.users, user, rest.encode("latin-1")):
                return self._login(user)
            return _err("[AUTH] Invalid user name or password")
        if verb == "APOP":
            if self.timestamp is None:
                return _err("APOP is not enabled")
            if len(args) != 2:
                return _err("Usage: APOP name digest")
            name = _text(args[0])
            if check_apop(self.server.users, self.timestamp, name, args[1]):
                return self._login(name)
            return _err("[AUTH] Invalid user name or digest")
        return await self._auth(args)

    async def _auth(self, args: list[str]) -> _Reply:
        """RFC 5034 AUTH; without a mechanism, list the mechanisms (RFC 1734 style)."""
        if not args:
            return _Reply(b"+OK\r\nPLAIN\r\n.\r\n")
        mechanism = args[0].upper()
        oauth = mechanism in OAUTH_MECHANISMS and self.server.token_checker is not None
        if (mechanism != "PLAIN" and not oauth) or len(args) > 2:
            return _err("Unsupported authentication mechanism")
        if len(args) == 2:
            response = "" if args[1] == "=" else args[1]  # RFC 5034 §4: "=" is empty
        else:
            answer = await self._sasl_response(b"+ \r\n")
            if answer is None:
                return _Reply(b"-ERR Line too long\r\n", _Then.CLOSE)
            response = answer
            if response == "*":  # RFC 5034 §4: the client cancelled
                return _err("Authentication cancelled")
        if oauth:
            return await self._auth_oauth(mechanism, response)
        user = check_plain(self.server.users, response)
        if user is None:
            return _err("[AUTH] Authentication failed")
        return self._login(user)

    async def _sasl_response(self, challenge: bytes) -> str | None:
        """Send a ``+`` challenge, read the client's (secret) answer; ``None``: too long."""
        await self._write(challenge, None)
        try:
            raw = await self._read_line(secret=True)
        except _LineTooLong:
            return None
        response = raw.decode("latin-1")
        self.server.record(self.number, "*" if response == "*" else "***")
        return response

    async def _auth_oauth(self, mechanism: str, response: str) -> _Reply:
        """XOAUTH2 / OAUTHBEARER: the token checker decides (popview.server.oauth)."""
        checker = self.server.token_checker
        assert checker is not None
        parsed = parse_oauth_response(mechanism, response)
        if parsed is not None and await asyncio.to_thread(checker, *parsed):
            return self._login(parsed[0])
        # RFC 7628 §3.2.2: the error goes in a challenge the client acknowledges.
        if await self._sasl_response(failure_challenge()) is None:
            return _Reply(b"-ERR Line too long\r\n", _Then.CLOSE)
        return _err("[AUTH] Invalid token")

    def _login(self, user: str) -> _Reply:
        mailbox = self.server.mailbox_for_login()
        keys = [f"user:{user}", mailbox.lock_key]
        if not self.server.acquire(keys):
            return _err("[IN-USE] Mailbox is locked by another session")
        self.lock_keys = keys
        try:
            stored = mailbox.load()
        except OSError:
            self._unlock()
            return _err("[SYS/TEMP] Cannot open the mailbox")
        self.mailbox = mailbox
        self.maildrop = Maildrop(stored, downgrade=self.server.utf8 and not self.utf8)
        self.state = _State.TRANSACTION
        count, size = self.maildrop.stat()
        return _ok(f"Logged in, {count} messages ({size} octets)")

    def _quit(self) -> _Reply:
        if self.maildrop is None or self.mailbox is None:
            return _Reply(b"+OK Bye\r\n", _Then.CLOSE)
        # RFC 1939 §6: the UPDATE state, the only place messages are removed.
        keys = self.maildrop.marked_keys()
        try:
            self.mailbox.expunge(keys)
        except OSError:
            reply = _Reply(b"-ERR [SYS/TEMP] Some messages were not removed\r\n", _Then.CLOSE)
        else:
            reply = _Reply(f"+OK Bye, {len(keys)} messages deleted\r\n".encode(), _Then.CLOSE)
        # Unlock before replying, so a client that logs in again at once is let in.
        self._unlock()
        self.maildrop = None
        return reply

    def _transaction(self, verb: str, args: list[str]) -> _Reply:
        drop = self.maildrop
        assert drop is not None  # TRANSACTION always has a maildrop
        max_args = 2 if verb == "TOP" else 1 if verb in ("LIST", "UIDL", "RETR", "DELE") else 0
        if len(args) > max_args:
            return _err("Too many arguments")
        if verb in ("STAT", "NOOP", "RSET"):
            if verb == "RSET":
                drop.reset()
            count, size = drop.stat()
            if verb == "STAT":
                return _ok(f"{count} {size}")
            return _ok("" if verb == "NOOP" else f"Maildrop has {count} messages ({size} octets)")
        if verb in ("LIST", "UIDL") and not args:
            count, size = drop.stat()
            head = f"+OK {count} messages ({size} octets)\r\n"
            rows = "".join(_row(verb, m) + "\r\n" for m in drop.live())
            return _Reply((head + rows + ".\r\n").encode("latin-1", "replace"))
        if len(args) < (2 if verb == "TOP" else 1):
            return _err("Missing argument")
        found = drop.find(args[0])
        if isinstance(found, str):
            return _err(found)
        if verb in ("LIST", "UIDL"):
            return _Reply(("+OK " + _row(verb, found) + "\r\n").encode("latin-1", "replace"))
        if verb == "DELE":
            found.deleted = True
            return _ok(f"Message {found.number} deleted")
        if verb == "RETR":
            return _Reply(f"+OK {found.size} octets\r\n".encode() + dot_stuff(found.wire))
        lines = args[1]
        if not (lines.isascii() and lines.isdigit()) or len(lines) > 9:
            return _err(f"Invalid line count: {lines}")
        return _Reply(b"+OK Top of message follows\r\n" + dot_stuff(found.top(int(lines))))

    def _unlock(self) -> None:
        if self.lock_keys:
            self.server.release(self.lock_keys)
            self.lock_keys = []


def _row(verb: str, msg: MaildropMessage) -> str:
    return f"{msg.number} {msg.size if verb == 'LIST' else msg.uid}"


def _text(arg: str) -> str:
    """A user name as sent (UTF-8 on the wire, read as latin-1)."""
    return arg.encode("latin-1").decode("utf-8", "replace")
