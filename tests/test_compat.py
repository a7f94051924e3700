"""Servers that are standard but not typical: UTF8 (RFC 6856), a CAPA that
names no login method, and listing rows LIST gets wrong but UIDL gets right.

Every test runs the client or the session against the embedded server and
asserts on what the caller gets and what the server received (its transcript).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from popview.config import Account
from popview.errors import AuthError
from popview.pop3.client import Pop3Client
from popview.server import Fault, MemoryMailbox, Pop3Server
from popview.server.maildrop import downgrade_8bit
from popview.session import MailboxSession, MessageKey
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER, new_server


def eight_bit_mail(address: str) -> bytes:
    """A mail with raw UTF-8 (RFC 6532) in its From name and Subject, from ``address``."""
    return (
        f"From: Jürgen Größe <{address}>\r\n"
        "To: alice@example.org\r\n"
        "Subject: Grüße aus Köln – 東京\r\n"
        "Message-ID: <utf8-1@example.org>\r\n"
        "\r\n"
        "Hallo.\r\n"
    ).encode()


EIGHT_BIT = eight_bit_mail("jürgen@bücher.example")
PLAIN = b"From: bob@example.org\r\nSubject: plain\r\nMessage-ID: <p@x>\r\n\r\nhi\r\n"


@asynccontextmanager
async def serving(messages: list[bytes], **kwargs: Any) -> AsyncIterator[Pop3Server]:
    server = new_server(list(messages), **kwargs)
    async with server:
        yield server


async def connect(server: Pop3Server, trace: list[str] | None = None) -> Pop3Client:
    return await Pop3Client.connect(
        "127.0.0.1", server.port, tls="none", connect_timeout=5, command_timeout=5,
        trace=None if trace is None else trace.append,
    )  # fmt: skip


class TestUtf8:
    """HARDENING F.59: UTF8 is enabled whenever offered (RFC 6856 §2)."""

    async def test_the_server_mode_is_real(self) -> None:
        """A client that does not send UTF8 gets Courier's notice instead of the
        message, and LIST still gives the real size: the next test can fail."""
        async with serving([EIGHT_BIT, PLAIN], utf8=True) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            login = f"USER {POP3_USER}\r\nPASS {POP3_PASSWORD}\r\n".encode()
            writer.write(login + b"LIST 1\r\nRETR 1\r\nQUIT\r\n")
            wire = await asyncio.wait_for(reader.read(), 5)
            writer.close()
        assert b"+OK 1 %d\r\n" % len(EIGHT_BIT) in wire  # LIST: the real size
        retr = wire.split(b"octets\r\n", 1)[1].split(b"\r\n.\r\n", 1)[0] + b"\r\n"
        assert b"Subject: Cannot display Unicode content" in retr
        assert len(retr) != len(EIGHT_BIT)

    async def test_utf8_is_sent_before_login_and_8bit_arrives_unchanged(self) -> None:
        """CAPA offers UTF8: it goes out in AUTHORIZATION, before the
        credentials, and the 8-bit message arrives byte for byte."""
        async with serving([EIGHT_BIT, PLAIN], utf8=True) as server:
            async with await connect(server) as client:
                assert client.capabilities.utf8 and client.capabilities.utf8_user
                await client.login(POP3_USER, POP3_PASSWORD)
                listed = {e.number: e.size for e in (await client.list()).entries}
                body = await client.retr(1)
            assert body == EIGHT_BIT
            assert listed[1] == len(body)
            assert server.commands()[:3] == ["CAPA", "UTF8", "AUTH PLAIN ***"]

    async def test_not_sent_when_not_offered(self) -> None:
        async with serving([PLAIN]) as server:
            async with await connect(server) as client:
                await client.login(POP3_USER, POP3_PASSWORD)
            assert "UTF8" not in server.commands()

    async def test_a_utf8_user_name_needs_utf8_user(self) -> None:
        """RFC 6856 §3: a non-ASCII name goes in USER only with ``UTF8 USER``;
        otherwise nothing at all is sent."""
        users = {"jürgen": "pw"}
        async with serving([PLAIN], capabilities=["USER", "UIDL", "UTF8 USER"]) as server:
            server.users = users
            async with await connect(server) as client:
                await client.login("jürgen", "pw")
            assert server.commands()[:3] == ["CAPA", "UTF8", "USER jÃ¼rgen"]
        async with serving([PLAIN], capabilities=["USER", "UIDL"]) as server:
            server.users = users
            async with await connect(server) as client:
                with pytest.raises(AuthError, match="UTF8 USER"):
                    await client.login("jürgen", "pw")
            assert server.commands() == ["CAPA"]

    async def test_session_shows_the_8bit_subject(self) -> None:
        """Through the session (TOP for the envelope): the real subject, not the notice."""
        async with serving([EIGHT_BIT], utf8=True) as server:
            account = Account(
                name="t", host="127.0.0.1", port=server.port, user=POP3_USER, tls="none"
            )
            session = MailboxSession(account, POP3_PASSWORD)
            await session.open()
            try:
                envelopes = [e async for u in session.list_messages() for e in u.envelopes]
                assert envelopes[0].subject == "Grüße aus Köln – 東京"
            finally:
                await session.close()

    def test_downgrade_only_touches_8bit_headers(self) -> None:
        assert downgrade_8bit(PLAIN) is None
        assert downgrade_8bit(b"Subject: x\r\n\r\nK\xc3\xb6ln\r\n") is None  # 8-bit body only
        assert downgrade_8bit(EIGHT_BIT) is not None


class TestNoLoginMethodInCapa:
    """HARDENING F.61: USER/PASS is RFC 1939's baseline."""

    async def test_user_pass_is_tried_and_the_trace_says_so(self) -> None:
        trace: list[str] = []
        async with serving([PLAIN], capabilities=["UIDL", "TOP"]) as server:
            async with await connect(server, trace) as client:
                await client.login(POP3_USER, POP3_PASSWORD)
                assert client.authenticated
            assert server.commands()[:3] == ["CAPA", "USER alice", "PASS ***"]
        assert any("names no login method" in line and "USER/PASS" in line for line in trace)
        assert not any(POP3_PASSWORD in line for line in trace)

    async def test_only_unknown_sasl_mechanisms(self) -> None:
        """``SASL GSSAPI`` alone is no usable method either."""
        async with serving([PLAIN], capabilities=["UIDL", "SASL GSSAPI"]) as server:
            async with await connect(server) as client:
                await client.login(POP3_USER, POP3_PASSWORD)
            assert server.commands()[1:3] == ["USER alice", "PASS ***"]

    async def test_a_configured_method_is_not_replaced(self) -> None:
        """A configured SASL method the server lacks stays an error: no fallback."""
        async with serving([PLAIN], capabilities=["UIDL"]) as server:
            async with await connect(server) as client:
                with pytest.raises(AuthError, match="CRAM-MD5"):
                    await client.login(POP3_USER, POP3_PASSWORD, mechanism="CRAM-MD5")
            assert server.commands() == ["CAPA"]


def _msg(n: int) -> bytes:
    head = f"From: s{n}@example.org\r\nSubject: message {n}\r\nMessage-ID: <{n}@x>\r\n"
    return f"{head}\r\nbody {n}\r\n".encode()


BAD_LIST = Fault(
    verb="LIST",
    times=None,
    replace=(
        b"+OK 4 messages\r\n1 %d\r\n2 -5\r\n3 123456789012345678901234567890\r\n4\r\n.\r\n"
        % len(_msg(1))
    ),
)


class TestBadListingRows:
    """HARDENING F.60: a bad LIST row with a good UIDL row keeps the message."""

    async def test_listed_with_unknown_size_then_shown_and_deleted(self) -> None:
        trace: list[str] = []
        messages = [_msg(n) for n in range(1, 5)]
        async with serving(messages, faults=[BAD_LIST]) as server:
            account = Account(
                name="t", host="127.0.0.1", port=server.port, user=POP3_USER, tls="none"
            )
            session = MailboxSession(account, POP3_PASSWORD, trace=trace.append)
            await session.open()
            try:
                envelopes = {
                    e.number: e async for u in session.list_messages() for e in u.envelopes
                }
                assert sorted(envelopes) == [1, 2, 3, 4]
                assert envelopes[1].size == len(messages[0])
                assert [envelopes[n].size for n in (2, 3, 4)] == [None, None, None]
                uid = envelopes[2].uid
                assert uid is not None and MessageKey(uid).stable  # the UIDL row is good
                fetched = await session.fetch(uid)
                assert fetched.raw == messages[1]
                await session.mark(uid)
                result = await session.commit(reconnect=False)
                assert uid in result.deleted
            finally:
                await session.close()
            assert "DELE 2" in server.commands()
        assert isinstance(server.mailbox, MemoryMailbox)
        left = [stored.data for stored in server.mailbox.load()]
        assert left == [messages[0], messages[2], messages[3]]  # exactly #2 went
        warned = [line for line in trace if "malformed LIST/UIDL" in line]
        assert len(warned) == 1 and "2 -5" in warned[0]

    async def test_bad_uidl_row_gives_a_session_key(self) -> None:
        bad_uidl = Fault(
            verb="UIDL",
            times=None,
            replace=b"+OK\r\n1 uid-one\r\n2 \x01\x02\r\nx uid-three\r\n.\r\n",
        )
        async with serving([_msg(n) for n in range(1, 4)], faults=[bad_uidl]) as server:
            account = Account(
                name="t", host="127.0.0.1", port=server.port, user=POP3_USER, tls="none"
            )
            session = MailboxSession(account, POP3_PASSWORD)
            await session.open()
            try:
                keys = {
                    m.envelope.number: m.key
                    async for u in session.list_messages()
                    for m in u.messages
                }
                assert keys[1] == "uid-one"
                for n in (2, 3):
                    key = keys[n]
                    assert not key.stable
                    assert (await session.fetch(key)).raw == _msg(n)
            finally:
                await session.close()
