"""docs/hardening.md sections A (bad server input, framing) and B (TLS, authentication)
against the embedded server, at the level of :class:`Pop3Client`.

Each test names its case. Assertions are on what the caller gets (the error,
the bytes) and on the server's transcript (what the client sent: no
credentials before TLS, no QUIT on an error path, no command after a framing
error). Cases whose policy lives above the client (A.13 cross-session delete,
A.15 lazy headers, A.16 marks dropped on reconnect, A.17 re-prompt, A.19 the
fallback on the *next* connection) are covered here as far as the client
decides them; the session layer owns the rest.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable

import pytest
import trustme

from popview.errors import (
    AuthError,
    Pop3ConnectionError,
    Pop3ProtocolError,
    Pop3ServerError,
    Pop3TimeoutError,
    TLSVerificationError,
)
from popview.pop3.auth_methods import InvalidCredentialError, SaslError
from popview.pop3.protocol import Limits
from popview.server import Fault, MemoryMailbox, Pop3Server
from popview.session.identity import message_keys
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER, connect, logged_in

MakeServer = Callable[..., Awaitable[Pop3Server]]
USER_PASS_CAPS = ["TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE"]


async def idle(server: Pop3Server) -> None:
    """Wait until the server has finished every session (and released its locks)."""
    await asyncio.wait_for(server.wait_idle(), 10)


def no_credentials(server: Pop3Server) -> bool:
    verbs = {line.split(" ")[0].upper() for line in server.commands()}
    return not verbs & {"USER", "PASS", "APOP", "AUTH"}


class TestBadServerInput:
    """HARDENING section A: bad server input and framing."""

    async def test_a01_huge_greeting_without_crlf(self, make_pop3_server: MakeServer) -> None:
        """A.1: a 1 MB greeting with no CRLF is a protocol error; nothing is sent."""
        server = await make_pop3_server(greeting=b"+OK " + b"x" * 1_000_000)
        with pytest.raises(Pop3ProtocolError):
            await connect(server)
        assert server.commands() == []

    async def test_a02_err_greeting(self, make_pop3_server: MakeServer) -> None:
        """A.2: "-ERR Permission denied" ends it; the text is shown sanitized; nothing sent."""
        server = await make_pop3_server(greeting=b"-ERR Permission denied\x1b[2J\r\n")
        with pytest.raises(Pop3ServerError) as info:
            await connect(server)
        assert "Permission denied" in str(info.value)
        assert "\x1b" not in str(info.value) and "␛[2J" in str(info.value)
        assert server.commands() == []

    async def test_a03_drip_fed_reply_hits_the_whole_command_deadline(
        self, make_pop3_server: MakeServer
    ) -> None:
        """A.3: one byte every 0.2 s never trips a per-read timeout, but the
        1 s deadline for the whole RETR fires; the connection is dropped, no QUIT."""
        server = await make_pop3_server(
            faults=[Fault(verb="RETR", chunk_size=1, chunk_delay=0.2, times=None)]
        )
        client = await logged_in(server, command_timeout=1)
        with pytest.raises(Pop3TimeoutError, match="did not finish sending the message"):
            await client.retr(1)
        assert client.closed
        assert "QUIT" not in server.commands()

    async def test_a04_silent_server_greeting_deadline(self, make_pop3_server: MakeServer) -> None:
        """A.4: TCP accepted, then silence: the greeting deadline fires; nothing sent."""
        server = await make_pop3_server(faults=[Fault(verb="GREETING", silent=True)])
        with pytest.raises(Pop3TimeoutError, match="did not greet"):
            await connect(server, greeting_timeout=0.3)
        assert server.commands() == []

    async def test_a04_cancel_while_waiting_for_the_greeting(
        self, make_pop3_server: MakeServer
    ) -> None:
        """A.4: cancelling a connect that waits for a greeting ends it at once."""
        server = await make_pop3_server(faults=[Fault(verb="GREETING", silent=True)])
        task = asyncio.create_task(connect(server, greeting_timeout=60))
        while server.sessions_opened == 0:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await idle(server)  # the server saw the socket close
        assert server.commands() == []

    async def test_a05_long_body_lines(self, make_pop3_server: MakeServer) -> None:
        """A.5: body lines of 3,000 to 200,000 bytes arrive intact."""
        raw = b"Subject: long\r\n\r\n" + b"".join(
            bytes([65 + i]) * size + b"\r\n" for i, size in enumerate((3_000, 50_000, 200_000))
        )
        server = await make_pop3_server(mailbox=MemoryMailbox([raw]))
        async with await logged_in(server) as client:
            assert await client.retr(1) == raw

    async def test_a06_over_long_line_with_reply_shaped_tail(
        self, make_pop3_server: MakeServer
    ) -> None:
        """A.6: a line over the cap whose tail reads "+OK": dropped; the tail is never
        a reply; the next command needs a new connection."""
        raw = b"Subject: x\r\n\r\n" + b"a" * (1024 * 1024 + 10) + b"+OK injected\r\nend\r\n"
        server = await make_pop3_server(mailbox=MemoryMailbox([raw, b"Subject: y\r\n\r\nok\r\n"]))
        client = await logged_in(server)
        with pytest.raises(Pop3ProtocolError):
            await client.retr(1)
        assert client.closed
        sent = server.commands()
        with pytest.raises(Pop3ConnectionError, match="Connect again"):
            await client.dele(1)
        assert server.commands() == sent and "QUIT" not in sent
        await idle(server)
        async with await logged_in(server) as fresh:
            assert await fresh.retr(2) == b"Subject: y\r\n\r\nok\r\n"

    @pytest.mark.slow  # a million rows through the client
    async def test_a07_endless_listing_is_capped(self, make_pop3_server: MakeServer) -> None:
        """A.7: a LIST of 600,000 rows crosses the 500,000-line cap: dropped, bounded."""
        rows = b"+OK\r\n" + b"1 1\r\n" * 600_000 + b".\r\n"
        server = await make_pop3_server(faults=[Fault(verb="LIST", replace=rows)])
        client = await logged_in(server)
        with pytest.raises(Pop3ProtocolError, match="longer than"):
            await client.list()
        assert client.closed and "QUIT" not in server.commands()

    async def test_a07_listing_byte_cap(self, make_pop3_server: MakeServer) -> None:
        """A.7: UIDL bytes are capped too (here lowered through Limits)."""
        rows = b"+OK\r\n" + b"".join(b"%d %s\r\n" % (i, b"u" * 60) for i in range(1, 5000))
        server = await make_pop3_server(faults=[Fault(verb="UIDL", replace=rows + b".\r\n")])
        client = await logged_in(server, limits=Limits(max_response_bytes=100_000))
        with pytest.raises(Pop3ProtocolError, match="larger than"):
            await client.uidl()
        assert client.closed

    async def test_a08_disconnect_mid_uidl(self, make_pop3_server: MakeServer) -> None:
        """A.8: EOF before the "." of UIDL: a clear error; the next connection works."""
        partial = b"+OK\r\n1 uid-0001\r\n2 uid-0002\r\n"
        server = await make_pop3_server(
            faults=[Fault(verb="UIDL", replace=partial, drop_after=True)]
        )
        client = await logged_in(server)
        with pytest.raises(Pop3ConnectionError, match="while sending the message ids"):
            await client.uidl()
        assert client.closed
        await idle(server)
        async with await logged_in(server) as fresh:
            assert len((await fresh.uidl()).entries) == 3

    async def test_a09_dot_stuffing_one_byte_at_a_time(self, make_pop3_server: MakeServer) -> None:
        """A.9: ".", "..", "...", ". x", ".x" lines, reply sent 1 byte per write: exact."""
        raw = b"Subject: dots\r\n\r\n.\r\n..\r\n...\r\n. x\r\n.x\r\n.\r\n"
        server = await make_pop3_server(
            mailbox=MemoryMailbox([raw]),
            faults=[Fault(verb="RETR", chunk_size=1, times=None)],
        )
        async with await logged_in(server) as client:
            assert await client.retr(1) == raw

    async def test_a10_lone_dot_inside_a_message(self, make_pop3_server: MakeServer) -> None:
        """A.10: an unstuffed "." ends the message early; the lines after it are
        detected before the next command, which is never sent (no DELE)."""
        broken = b"+OK\r\nline one\r\n.\r\nmore after the dot\r\n.\r\n"
        server = await make_pop3_server(faults=[Fault(verb="RETR", replace=broken)])
        traced: list[str] = []
        client = await logged_in(server, trace=traced.append)
        assert await client.retr(1) == b"line one\r\n"
        with pytest.raises(Pop3ProtocolError):
            await client.dele(1)
        assert client.closed
        await idle(server)
        assert not any(line.startswith("C: DELE") for line in traced)
        assert not any(c.startswith("DELE") for c in server.commands())

    async def test_a11_line_endings_and_nul(self, make_pop3_server: MakeServer) -> None:
        """A.11: bare LF, CR inside a line, mixed endings and NUL bytes: nothing lost."""
        reply = b"+OK\nbare lf\nmixed\r\ncr\ronly\r\nnul\x00byte\r\n.\n"
        server = await make_pop3_server(
            greeting=b"+OK hello\x00world\n", faults=[Fault(verb="RETR", replace=reply)]
        )
        async with await logged_in(server) as client:
            assert client.greeting == "hello\x00world"
            assert await client.retr(1) == b"bare lf\r\nmixed\r\ncr\ronly\r\nnul\x00byte\r\n"

    async def test_a12_malformed_listing_rows(self, make_pop3_server: MakeServer) -> None:
        """A.12: bad LIST rows are rejected and reported; good rows still listed."""
        rows = [b"abc 1", b"1", b"1 -5", b"1 99999999999999999999", b"0 10", b"2 20",
                b"2 30", b"3 30 ", b"4 40,", b"5 50"]  # fmt: skip
        reply = b"+ok scan listing\r\n" + b"".join(r + b"\r\n" for r in rows) + b".\r\n"
        server = await make_pop3_server(faults=[Fault(verb="LIST", replace=reply)])
        async with await logged_in(server) as client:
            listing = await client.list()
            assert [(e.number, e.size) for e in listing.entries] == [(2, 20), (5, 50)]
            assert len(listing.rejected) == len(rows) - 2
            assert not client.closed

    async def test_a12_malformed_stat_drops_the_connection(
        self, make_pop3_server: MakeServer
    ) -> None:
        """A.12: a STAT that is not two numbers is a protocol error (the session
        layer carries on without STAT); the connection is not reused."""
        server = await make_pop3_server(faults=[Fault(verb="STAT", replace=b"+OK lots\x1b[2J\r\n")])
        client = await logged_in(server)
        with pytest.raises(Pop3ProtocolError) as info:
            await client.stat()
        assert str(info.value) == "The server sent a malformed STAT reply: 'lots␛[2J'."
        assert client.closed

    @pytest.mark.parametrize("verb", ["LIST", "UIDL"])
    async def test_a12_malformed_single_row_drops_the_connection(
        self, make_pop3_server: MakeServer, verb: str
    ) -> None:
        """A.12: ``LIST n``/``UIDL n`` answered without a message number: the user
        reads which reply was malformed; the connection is not reused."""
        server = await make_pop3_server(faults=[Fault(verb=verb, replace=b"+OK x\r\n")])
        client = await logged_in(server)
        with pytest.raises(Pop3ProtocolError) as info:
            await (client.list(1) if verb == "LIST" else client.uidl(1))
        assert str(info.value) == f"The server sent a malformed {verb} reply: 'x'."
        assert client.closed

    async def test_a13_unstable_uidl_values_are_flagged(self, make_pop3_server: MakeServer) -> None:
        """A.13: empty, 71-char, non-ASCII and duplicated ids are flagged not stable;
        path-like ids come back verbatim (the store must never use them as paths)."""
        rows = [b"1 ", b"2 " + b"u" * 71, b"3 caf\xc3\xa9", b"4 dup", b"5 dup",
                b"6 ../../x", b"7 a/b", b"8 fine"]  # fmt: skip
        reply = b"+OK\r\n" + b"".join(r + b"\r\n" for r in rows) + b".\r\n"
        server = await make_pop3_server(faults=[Fault(verb="UIDL", replace=reply)])
        async with await logged_in(server) as client:
            entries = {e.number: e for e in (await client.uidl()).entries}
        # The protocol core keeps the ids as sent; the session's one rule decides.
        keys = message_keys(entries, [(n, e.uid) for n, e in entries.items()], generation=1)
        assert [n for n, (key, _uid) in keys.items() if not key.stable] == [1, 2, 3, 4, 5]
        assert entries[6].uid == "../../x" and entries[7].uid == "a/b"
        assert keys[8][0].stable and keys[8][1] == "fine"

    async def test_a14_advertised_size_is_only_a_hint(self, make_pop3_server: MakeServer) -> None:
        """A.14: "+OK 2^63 octets" for a small message: no preallocation, the
        message arrives; a byte cap below the real size drops the connection."""
        reply = b"+OK 9223372036854775808 octets\r\nSubject: s\r\n\r\nsmall\r\n.\r\n"
        seen: list[tuple[int, int | None]] = []
        server = await make_pop3_server(faults=[Fault(verb="RETR", replace=reply)])
        client = await logged_in(server)
        got = await client.retr(1, progress=lambda n, total: seen.append((n, total)))
        assert got == b"Subject: s\r\n\r\nsmall\r\n"
        assert seen[-1] == (len(got), None)
        with pytest.raises(Pop3ProtocolError, match="larger than"):
            await client.retr(2, max_bytes=100)
        assert client.closed

    async def test_a15_top_refused_or_with_body(self, make_pop3_server: MakeServer) -> None:
        """A.15: TOP answered -ERR for one message and with body lines for another:
        every row still comes back (the session shows it, headers fetched lazily)."""
        with_body = b"+OK\r\nSubject: third\r\n\r\nbody line\r\n.\r\n"
        server = await make_pop3_server(
            faults=[
                Fault(verb="TOP", arg="2", err_code=""),
                Fault(verb="TOP", arg="3", replace=with_body),
            ]
        )
        async with await logged_in(server) as client:
            got = dict([item async for item in client.top_many([1, 2, 3])])
        assert isinstance(got[1], bytes) and b"Subject: Lunch" in got[1]
        assert isinstance(got[2], Pop3ServerError)
        assert got[3] == b"Subject: third\r\n\r\nbody line\r\n"

    async def test_a16_server_without_uidl(self, make_pop3_server: MakeServer) -> None:
        """A.16: no UIDL: the capability says so, UIDL is a usable -ERR. (Keeping
        marks inside one session is the session layer's job.)"""
        server = await make_pop3_server(capabilities=["TOP", "USER"])
        async with await logged_in(server) as client:
            assert not client.capabilities.uidl
            with pytest.raises(Pop3ServerError):
                await client.uidl()
            assert await client.stat() == (3, client_size(server))

    async def test_a17_resp_codes_on_pass_keep_their_code(
        self, make_pop3_server: MakeServer
    ) -> None:
        """A.17: IN-USE, LOGIN-DELAY, SYS/TEMP, SYS/PERM and AUTH on PASS keep
        their code; only AUTH is an AuthError; PASS is sent once each. (The
        sentence for each code is the session's: test_session.py::TestRespCodes.)"""
        for code in ("IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM", "AUTH"):
            server = await make_pop3_server(
                capabilities=USER_PASS_CAPS, faults=[Fault(verb="PASS", err_code=code)]
            )
            client = await connect(server)
            with pytest.raises(Pop3ServerError) as info:
                await client.login(POP3_USER, POP3_PASSWORD)
            await client.close()
            assert info.value.code == code
            assert isinstance(info.value, AuthError) == (code == "AUTH")
            assert POP3_PASSWORD not in str(info.value)
            assert server.commands().count("PASS ***") == 1

    async def test_a17_utf8_code_on_retr(self, make_pop3_server: MakeServer) -> None:
        """A.17: -ERR [UTF8] on RETR keeps its code; the connection stays usable."""
        server = await make_pop3_server(faults=[Fault(verb="RETR", err_code="UTF8")])
        async with await logged_in(server) as client:
            with pytest.raises(Pop3ServerError) as info:
                await client.retr(1)
            assert info.value.code == "UTF8"
            assert await client.noop() is not None

    async def test_a18_capa_err_means_no_capabilities(self, make_pop3_server: MakeServer) -> None:
        """A.18: CAPA -ERR: no capabilities, USER/PASS still works on a plain link."""
        server = await make_pop3_server(faults=[Fault(verb="CAPA", err_code="", times=None)])
        async with await logged_in(server) as client:
            assert client.capabilities.raw == ()
            assert await client.stat()

    async def test_a18_capa_err_with_tls_required(
        self, make_pop3_server: MakeServer, tls_server_context: ssl.SSLContext
    ) -> None:
        """A.18: CAPA -ERR while STARTTLS is required: abort before USER."""
        server = await make_pop3_server(
            stls=tls_server_context, faults=[Fault(verb="CAPA", err_code="")]
        )
        with pytest.raises(Pop3ConnectionError):
            await connect(server, tls="starttls")
        assert server.commands() == ["CAPA"]

    async def test_a18_capa_garbage_and_flood(self, make_pop3_server: MakeServer) -> None:
        """A.18: a garbage CAPA reply is a protocol error before any login; a
        10,000-line CAPA is capped."""
        server = await make_pop3_server(faults=[Fault(verb="CAPA", replace=b"HELLO THERE\r\n")])
        with pytest.raises(Pop3ProtocolError):
            await connect(server)
        assert server.commands() == ["CAPA"]
        flood = b"+OK\r\n" + b"X-JUNK\r\n" * 9_999 + b"USER\r\n.\r\n"
        server = await make_pop3_server(faults=[Fault(verb="CAPA", replace=flood)])
        async with await connect(server) as client:
            assert 0 < len(client.capabilities.raw) <= 512

    async def test_a19_pipelining_short_answers(self, make_pop3_server: MakeServer) -> None:
        """A.19: PIPELINING advertised but only the first TOP answered: a clean
        timeout saying so, the flag for the next connection, no QUIT; a client
        opened with pipelining=False then works one command at a time."""
        server = await make_pop3_server(faults=[Fault(verb="TOP", skip=1, times=None, silent=True)])
        client = await logged_in(server, command_timeout=0.5)
        got: list[int] = []
        with pytest.raises(Pop3TimeoutError, match="one command at a time"):
            async for n, _ in client.top_many([1, 2, 3]):
                got.append(n)
        assert got == [1]
        assert client.pipelining_broken and client.closed
        assert "QUIT" not in server.commands()
        await idle(server)
        server.faults.clear()
        async with await logged_in(server, pipelining=not client.pipelining_broken) as fresh:
            assert not fresh.pipelining
            assert [n async for n, _ in fresh.top_many([1, 2, 3])] == [1, 2, 3]


def client_size(server: Pop3Server) -> int:
    mailbox = server.mailbox
    assert isinstance(mailbox, MemoryMailbox)
    return sum(len(m) for m in mailbox.messages)


class TestTlsAndAuth:
    """HARDENING section B: TLS and authentication."""

    async def test_b20_untrusted_ca_on_995(
        self, make_pop3_server: MakeServer, tls_server_context: ssl.SSLContext
    ) -> None:
        """B.20: implicit TLS with an unknown CA: certificate error; no command at
        all (so no plaintext retry and no credentials)."""
        server = await make_pop3_server(implicit_tls=tls_server_context)
        with pytest.raises(TLSVerificationError):
            await connect(server, tls="implicit")
        assert server.commands() == []

    async def test_b21_cert_for_another_host_over_stls(
        self, make_pop3_server: MakeServer, tls_ca: trustme.CA, tls_client_context: ssl.SSLContext
    ) -> None:
        """B.21: after STLS, a trusted cert for another name is refused; no USER/PASS."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_ca.issue_cert("mail.example.org").configure_cert(context)
        server = await make_pop3_server(stls=context)
        with pytest.raises(TLSVerificationError, match="host name"):
            await connect(server, tls="starttls", ssl_context=tls_client_context)
        assert no_credentials(server)

    async def test_b22_stls_stripped_from_capa(
        self, make_pop3_server: MakeServer, tls_server_context: ssl.SSLContext
    ) -> None:
        """B.22: STARTTLS required but CAPA lacks STLS (stripped): transcript ends at CAPA."""
        server = await make_pop3_server(stls=tls_server_context, capabilities=USER_PASS_CAPS)
        with pytest.raises(Pop3ConnectionError, match="password was not sent"):
            await connect(server, tls="starttls")
        assert server.commands() == ["CAPA"]

    async def test_b23_stls_refused(
        self, make_pop3_server: MakeServer, tls_server_context: ssl.SSLContext
    ) -> None:
        """B.23: -ERR to STLS: one clean failure, no second try, no plaintext login."""
        server = await make_pop3_server(
            stls=tls_server_context, faults=[Fault(verb="STLS", err_code="", times=None)]
        )
        with pytest.raises(Pop3ConnectionError, match="refused to start TLS"):
            await connect(server, tls="starttls")
        assert server.commands() == ["CAPA", "STLS"]
        assert server.sessions_opened == 1

    async def test_b24_injected_reply_after_stls_ok(
        self, make_pop3_server: MakeServer, tls_server_context: ssl.SSLContext,
        tls_client_context: ssl.SSLContext,
    ) -> None:  # fmt: skip
        """B.24: "+OK Begin TLS" and "+OK injected" in one segment: the injected
        line is never taken as a TLS-protected reply; the connection is dropped."""
        server = await make_pop3_server(
            stls=tls_server_context, faults=[Fault(verb="STLS", append=b"+OK injected\r\n")]
        )
        with pytest.raises(Pop3ProtocolError, match="before encryption began"):
            await connect(server, tls="starttls", ssl_context=tls_client_context)
        assert server.commands() == ["CAPA", "STLS"]

    async def test_b25_capabilities_reread_after_tls_and_login(
        self, make_pop3_server: MakeServer, tls_server_context: ssl.SSLContext,
        tls_client_context: ssl.SSLContext,
    ) -> None:  # fmt: skip
        """B.25: pre-TLS capabilities (here PIPELINING, SASL PLAIN, X-PRE-TLS) are
        forgotten: CAPA after STLS and again after login."""
        pre_tls = b"+OK\r\nSTLS\r\nUSER\r\nPIPELINING\r\nSASL PLAIN\r\nX-PRE-TLS\r\n.\r\n"
        server = await make_pop3_server(
            stls=tls_server_context,
            capabilities=["USER", "UIDL", "TOP", "STLS"],
            faults=[Fault(verb="CAPA", replace=pre_tls)],
        )
        client = await connect(server, tls="starttls", ssl_context=tls_client_context)
        caps = client.capabilities
        assert "X-PRE-TLS" not in caps.raw and not caps.pipelining and caps.sasl == ()
        await client.login(POP3_USER, POP3_PASSWORD)
        await client.close()
        assert server.commands() == ["CAPA", "STLS", "CAPA", "USER alice", "PASS ***", "CAPA"]

    async def test_b26_silent_after_stls_ok(
        self, make_pop3_server: MakeServer, tls_server_context: ssl.SSLContext,
        tls_client_context: ssl.SSLContext,
    ) -> None:  # fmt: skip
        """B.26: STLS acknowledged, then silence during the handshake: the
        handshake deadline fires; no credentials."""
        server = await make_pop3_server(
            stls=tls_server_context, faults=[Fault(verb="STLS", stall=True)]
        )
        with pytest.raises(Pop3TimeoutError, match="TLS handshake"):
            await connect(
                server, tls="starttls", ssl_context=tls_client_context, connect_timeout=0.5
            )
        assert server.commands() == ["CAPA", "STLS"]

    async def test_b27_tls_on_a_plain_port_and_explicit_plaintext(
        self, make_pop3_server: MakeServer
    ) -> None:
        """B.27: implicit TLS to a plaintext port fails without sending a password;
        only an explicit tls="none" logs in, and then says it is not encrypted."""
        server = await make_pop3_server()
        with pytest.raises(Pop3ConnectionError):
            await connect(server, tls="implicit")
        assert no_credentials(server)
        async with await logged_in(server, tls="none") as client:
            assert client.encrypted is False
        assert "AUTH PLAIN ***" in server.commands()

    @pytest.mark.parametrize(
        "greeting",
        [b"+OK " + b"<" * 1_000_000 + b"\r\n", b"+OK " + b"<a@" * 200_000 + b"\r\n"],
        ids=["lt-x1M", "unterminated-200k"],
    )
    async def test_b28_hostile_apop_timestamps(
        self, make_pop3_server: MakeServer, greeting: bytes
    ) -> None:
        """B.28: huge "<" greetings parse (no timestamp); APOP then refuses to run."""
        server = await make_pop3_server(greeting=greeting)
        limits = Limits(max_status_line=2 * 1024 * 1024)
        async with await connect(server, limits=limits) as client:
            assert client.apop_timestamp is None
            with pytest.raises(AuthError, match="APOP"):
                await client.login(POP3_USER, POP3_PASSWORD, apop=True)
        assert no_credentials(server)

    async def test_b28_apop_only_when_configured(self, make_pop3_server: MakeServer) -> None:
        """B.28: a valid APOP timestamp alone does not make popview use APOP."""
        server = await make_pop3_server(apop=True)
        client = await logged_in(server)
        assert client.apop_timestamp is not None
        await client.close()
        assert not any(c.startswith("APOP") for c in server.commands())

    async def test_b29_non_base64_challenge_is_cancelled(
        self, make_pop3_server: MakeServer
    ) -> None:
        """B.29: a challenge that is not base64 is answered "*"; a clear error."""
        server = await make_pop3_server(
            faults=[Fault(verb="AUTH", replace=b"+ !!!not base64!!!\r\n")]
        )
        client = await connect(server)
        with pytest.raises(SaslError, match="cancelled"):
            await client.login(POP3_USER, POP3_PASSWORD)
        commands = server.commands()
        assert commands[commands.index("AUTH PLAIN ***") + 1] == "*"
        await client.close()

    async def test_b29_megabyte_challenge(self, make_pop3_server: MakeServer) -> None:
        """B.29: a 1 MB challenge (over the status-line cap) is discarded as it
        arrives and answered with "*": the login fails, the link stays usable."""
        server = await make_pop3_server(
            faults=[Fault(verb="AUTH", replace=b"+ " + b"QUFB" * 262_144 + b"\r\n")]
        )
        client = await connect(server)
        with pytest.raises(SaslError, match="too long") as info:
            await client.login(POP3_USER, POP3_PASSWORD)
        assert "cancelled" in info.value.message
        assert server.commands()[-1] == "*"
        assert not client.closed
        assert client._channel.core.buffered == 0
        await client.close()

    @pytest.mark.parametrize(
        ("user", "password"),
        [("bob\r\nDELE 1", "pw"), ("bob", "pw\r\nDELE 1"), ("bob\n", "pw"), ("bob", "p\0w")],
        ids=["user-crlf", "pass-crlf", "user-lf", "pass-nul"],
    )
    async def test_b30_crlf_in_credentials(
        self, make_pop3_server: MakeServer, user: str, password: str
    ) -> None:
        """B.30: CR/LF/NUL in user or password: refused before anything is sent."""
        server = await make_pop3_server()
        async with await connect(server) as client:
            with pytest.raises(InvalidCredentialError):
                await client.login(user, password)
        assert server.commands() == ["CAPA"]
