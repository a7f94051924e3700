"""Pop3Client against the embedded server on loopback: every command, login,
pipelining, and what happens to a connection after an error.

Each test checks what the caller gets back and what the server received (its
transcript). Plaintext (``tls="none"``) is used where TLS is not the point;
tests/test_tls.py covers the encrypted paths.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from popview.errors import (
    AuthError,
    Pop3ConnectionError,
    Pop3Error,
    Pop3ServerError,
)
from popview.pop3 import protocol
from popview.pop3.auth_methods import InvalidCredentialError
from popview.pop3.client import Pop3Client, Reply
from popview.server import Fault, MemoryMailbox, Pop3Server
from popview.session.identity import is_valid_uidl
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER, connect, logged_in, new_server


def message(i: int, body_lines: int = 3) -> bytes:
    head = f"From: sender{i}@example.org\r\nSubject: message {i}\r\nMessage-ID: <{i}@x>\r\n\r\n"
    body = "".join(f"line {j} of {i}\r\n" for j in range(body_lines))
    return (head + body).encode()


MESSAGES = [message(i) for i in range(1, 6)]


@asynccontextmanager
async def serving(messages: list[bytes] | None = None, **kwargs: Any) -> AsyncIterator[Pop3Server]:
    """An embedded server on a free loopback port, with alice's mailbox."""
    server = new_server(list(messages or MESSAGES), **kwargs)
    async with server:
        yield server


class TestConnect:
    async def test_greeting_and_capabilities_are_read(self) -> None:
        """Connecting reads the greeting and CAPA; a plaintext link says so."""
        async with serving() as server:
            async with await connect(server) as client:
                assert "ready" in client.greeting
                assert client.capabilities.uidl and client.capabilities.pipelining
                assert client.encrypted is False
                assert client.tls_info is None
            assert server.commands() == ["CAPA"]

    async def test_leaving_async_with_closes_without_quit(self) -> None:
        """``async with`` closes the socket; QUIT is never sent, nothing deleted."""
        async with serving() as server:
            async with await logged_in(server) as client:
                await client.dele(1)
            assert client.closed
            assert "QUIT" not in server.commands()
            assert "DELE 1" in server.commands()

    async def test_unknown_tls_mode_is_rejected(self) -> None:
        """A typo in the TLS mode is an error, not a silent plaintext connection."""
        with pytest.raises(ValueError):
            await Pop3Client.connect("127.0.0.1", 1, tls="plain")  # type: ignore[arg-type]

    async def test_refused_port_gives_a_connection_error(self) -> None:
        """Nothing listening: a Pop3ConnectionError naming the host and port."""
        async with serving() as server:
            port = server.port
        with pytest.raises(Pop3ConnectionError) as info:
            await Pop3Client.connect("127.0.0.1", port, tls="none", connect_timeout=5)
        assert f"port {port}" in str(info.value)


class TestLogin:
    async def test_user_pass_is_traced_masked_and_capa_reread(self) -> None:
        """USER/PASS logs in; the trace and transcript mask the password; CAPA again after."""
        traced: list[str] = []
        async with serving(capabilities=["TOP", "UIDL", "USER", "PIPELINING"]) as server:
            client = await connect(server, trace=traced.append)
            await client.login(POP3_USER, POP3_PASSWORD)
            assert client.authenticated
            await client.close()
            assert server.commands() == ["CAPA", "USER alice", "PASS ***", "CAPA"]
        assert "C: PASS ***" in traced
        assert not any(POP3_PASSWORD in line for line in traced)

    async def test_sasl_plain_is_preferred_when_offered(self) -> None:
        """With SASL PLAIN advertised, AUTH PLAIN is used and the response masked."""
        async with serving() as server:
            client = await logged_in(server)
            await client.close()
            commands = server.commands()
        assert commands[1].startswith("AUTH PLAIN")
        assert POP3_PASSWORD not in " ".join(commands)
        assert "PASS ***" not in commands

    async def test_wrong_password_is_an_auth_error_and_stays_usable(self) -> None:
        """A refused password is AuthError without the password; the connection lives on."""
        async with serving(capabilities=["USER", "UIDL"]) as server:
            client = await connect(server)
            with pytest.raises(AuthError) as info:
                await client.login(POP3_USER, "wrong-password")
            assert "wrong-password" not in str(info.value)
            assert info.value.code == "AUTH"
            assert not client.closed
            await client.login(POP3_USER, POP3_PASSWORD)
            assert await client.stat() == (5, sum(len(m) for m in MESSAGES))
            await client.close()

    async def test_apop_when_asked_and_timestamp_valid(self) -> None:
        """apop=True uses APOP with the greeting timestamp; the digest is masked."""
        async with serving(apop=True) as server:
            client = await connect(server)
            assert client.apop_timestamp is not None
            await client.login(POP3_USER, POP3_PASSWORD, apop=True)
            await client.close()
            assert server.commands()[1] == "APOP alice ***"

    async def test_crlf_in_user_name_sends_nothing(self) -> None:
        """A user name with CR/LF is refused before any byte goes out."""
        async with serving() as server:
            client = await connect(server)
            with pytest.raises(InvalidCredentialError):
                await client.login("bob\r\nDELE 1", "pw")
            await client.close()
            assert server.commands() == ["CAPA"]


class TestCommands:
    async def test_stat_list_uidl(self) -> None:
        """STAT, LIST, LIST n, UIDL and UIDL n return what the server holds."""
        async with serving() as server, await logged_in(server) as client:
            count, size = await client.stat()
            assert (count, size) == (5, sum(len(m) for m in MESSAGES))
            listing = await client.list()
            assert [e.size for e in listing.entries] == [len(m) for m in MESSAGES]
            assert listing.rejected == ()
            one = await client.list(2)
            assert (one.number, one.size) == (2, len(MESSAGES[1]))
            uids = await client.uidl()
            assert [e.uid for e in uids.entries] == [f"uid-{i:04d}" for i in range(1, 6)]
            assert all(is_valid_uidl(e.uid) for e in uids.entries)
            assert (await client.uidl(3)).uid == "uid-0003"

    async def test_top_and_retr_return_the_bytes(self) -> None:
        """TOP n 0 gives the header block; RETR gives the message exactly, with progress."""
        seen: list[tuple[int, int | None]] = []
        async with serving() as server, await logged_in(server) as client:
            head = await client.top(1, 0)
            assert head == MESSAGES[0].split(b"\r\n\r\n")[0] + b"\r\n\r\n"
            body = await client.retr(2, progress=lambda got, total: seen.append((got, total)))
            assert body == MESSAGES[1]
        assert seen[-1] == (len(MESSAGES[1]), len(MESSAGES[1]))

    async def test_retr_reproduces_dot_lines(self) -> None:
        """Lines starting with dots survive the round trip (RFC 1939 §3 byte-stuffing)."""
        raw = b"Subject: dots\r\n\r\n.\r\n..\r\n...\r\n. x\r\n.x\r\nend\r\n"
        async with serving([raw]) as server, await logged_in(server) as client:
            assert await client.retr(1) == raw

    async def test_dele_rset_noop_and_quit_commit(self) -> None:
        """DELE marks, RSET unmarks, QUIT commits only what is still marked."""
        mailbox = MemoryMailbox(list(MESSAGES))
        async with new_server(mailbox) as server:
            client = await logged_in(server)
            await client.dele(1)
            await client.rset()
            await client.dele(2)
            await client.noop()
            await client.quit()
            assert client.closed
            assert server.commands()[-5:] == ["DELE 1", "RSET", "DELE 2", "NOOP", "QUIT"]
        assert len(mailbox.messages) == 4
        assert MESSAGES[1] not in mailbox.messages
        assert MESSAGES[0] in mailbox.messages

    async def test_err_reply_raises_and_connection_stays_usable(self) -> None:
        """-ERR on RETR of a missing message: Pop3ServerError; the next command works."""
        async with serving() as server, await logged_in(server) as client:
            with pytest.raises(Pop3ServerError) as info:
                await client.retr(99)
            assert not client.closed
            assert "refused" in str(info.value)
            assert await client.stat() == (5, sum(len(m) for m in MESSAGES))

    async def test_err_text_is_sanitized(self) -> None:
        """Control characters in an -ERR text reach neither the message nor reply_text."""
        fault = Fault(verb="RETR", replace=b"-ERR [SYS/TEMP] no\x1b]0;pwned\x07 way\r\n")
        async with serving(faults=[fault]) as server, await logged_in(server) as client:
            with pytest.raises(Pop3ServerError) as info:
                await client.retr(1)
        error = info.value
        assert error.code == "SYS/TEMP"
        assert "\x1b" not in error.reply_text and "\x07" not in str(error)
        assert "␛]0;pwned␇ way" in error.reply_text
        assert "refused to send the message" in str(error)  # the sentence is the session's

    async def test_closed_connection_refuses_commands(self) -> None:
        """After close(), a command fails with a clear error and nothing is sent."""
        async with serving() as server:
            client = await logged_in(server)
            await client.close()
            sent = list(server.commands())
            with pytest.raises(Pop3ConnectionError, match="closed"):
                await client.noop()
            assert server.commands() == sent

    async def test_utf8_only_when_advertised(self) -> None:
        """UTF8 is refused locally when CAPA does not list it (RFC 6856)."""
        async with serving(capabilities=["USER", "UIDL"]) as server:
            async with await connect(server) as client:
                with pytest.raises(Pop3Error):
                    await client.utf8()
            assert server.commands() == ["CAPA"]


class TestPipelining:
    async def test_thousand_tops_come_back_in_order(self) -> None:
        """1,000 pipelined TOPs return 1,000 header blocks, in order, each the right one."""
        messages = [message(i, 1) for i in range(1, 1001)]
        async with serving(messages) as server, await logged_in(server) as client:
            assert client.pipelining
            got = [item async for item in client.top_many(range(1, 1001))]
        assert [n for n, _ in got] == list(range(1, 1001))
        for n, head in got:
            assert isinstance(head, bytes)
            assert f"Subject: message {n}\r\n".encode() in head
        tops = [c for c in server.commands() if c.startswith("TOP ")]
        assert tops == [f"TOP {n} 0" for n in range(1, 1001)]

    async def test_sequential_without_pipelining_capability(self) -> None:
        """Without PIPELINING in CAPA the same call works one command at a time."""
        caps = ["TOP", "UIDL", "USER"]
        async with serving(capabilities=caps) as server, await logged_in(server) as client:
            assert not client.pipelining
            got = [n async for n, _ in client.top_many([3, 1, 2])]
        assert got == [3, 1, 2]

    async def test_err_replies_are_yielded_in_place(self) -> None:
        """An -ERR in the middle of a batch is yielded as an error; the rest still arrive."""
        async with serving() as server, await logged_in(server) as client:
            got = [
                item
                async for item in client.pipeline(
                    [protocol.noop(), protocol.retr(42), protocol.list_(1)]
                )
            ]
        assert isinstance(got[0], Reply)
        assert isinstance(got[1], Pop3ServerError)
        assert isinstance(got[2], Reply) and got[2].text.startswith("1 ")

    async def test_quit_cannot_be_pipelined(self) -> None:
        """QUIT is sent by quit() alone: pipeline() refuses it before sending anything."""
        async with serving() as server, await logged_in(server) as client:
            sent = list(server.commands())
            with pytest.raises(ValueError):
                _ = [r async for r in client.pipeline([protocol.noop(), protocol.quit()])]
            assert "QUIT" not in server.commands()
            assert server.commands() == sent

    async def test_abandoned_pipeline_drops_the_connection(self) -> None:
        """Stopping early leaves replies unread: the connection is closed, not reused."""
        async with serving() as server:
            client = await logged_in(server)
            stream = client.top_many(range(1, 6))
            async for _ in stream:
                break
            await stream.aclose()
            assert client.closed
            with pytest.raises(Pop3ConnectionError):
                await client.noop()
