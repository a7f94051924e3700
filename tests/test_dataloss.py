"""HARDENING section E (E.44-E.52, docs/hardening.md): nothing the user did not commit
is ever deleted.

Each case runs against the embedded server (assertions on its transcript and on the
mailbox afterwards); the data-loss cases run again against the private Dovecot and
check the Maildir on disk. The UI halves of 47 and 49 (window close, Ctrl+C, the
single worker) are in the UI tests; here is the engine side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from popview.config import Account
from popview.errors import Pop3ConnectionError, Pop3ProtocolError, PopviewError
from popview.server import Fault, MemoryMailbox, Pop3Server
from popview.session import MailboxSession, MessageParseError
from popview.store import Store
from tests.fixtures.dovecot import DovecotServer, MailUser
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER
from tests.store_support import journal_marks

MakeServer = Callable[..., Awaitable[Pop3Server]]


def message(n: int) -> bytes:
    return (
        f"From: s{n}@example.org\r\nSubject: Message {n}\r\nMessage-ID: <m{n}@example.org>\r\n"
        f"\r\nBody {n}.\r\n"
    ).encode()


def embedded_account(server: Pop3Server) -> Account:
    return Account(name="t", host="127.0.0.1", port=server.port, user=POP3_USER, tls="none")


def verbs(server: Pop3Server, session: int | None = None) -> list[str]:
    return [line.split(" ")[0] for line in server.commands(session)]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "cache")
    yield opened
    opened.close()


@pytest.fixture
async def five(make_pop3_server: MakeServer) -> tuple[Pop3Server, MemoryMailbox]:
    mailbox = MemoryMailbox([message(n) for n in range(1, 6)])
    return await make_pop3_server(mailbox=mailbox), mailbox


async def opened(server: Pop3Server) -> MailboxSession:
    """A session on the embedded ``server``, logged in."""
    session = MailboxSession(embedded_account(server), POP3_PASSWORD)
    await session.open()
    return session


async def drop(session: MailboxSession) -> None:
    """Kill the socket under the session, as a network failure would (no QUIT)."""
    client = session.client
    assert client is not None
    client.abort("test dropped it")
    await asyncio.sleep(0.05)  # let the server see the EOF and release its lock


async def delete_elsewhere(account: Account, password: str, uid: str, **kw: Any) -> None:
    """Another client deletes ``uid`` and commits."""
    other = MailboxSession(account, password, **kw)
    await other.open()
    await other.mark(uid)
    result = await other.commit(reconnect=False)
    assert result.deleted == (uid,)


class TestCase44DropBeforeQuit:
    async def test_marks_survive_a_dropped_connection(
        self, five: tuple[Pop3Server, MemoryMailbox], store: Store
    ) -> None:
        """44: mark two, the connection drops before QUIT: both still on the server,
        and the session still reports them as pending (not deleted)."""
        server, mailbox = five
        session = MailboxSession(embedded_account(server), POP3_PASSWORD, store=store)
        await session.open()
        await session.mark("uid-0002")
        await session.mark("uid-0004")
        await drop(session)
        await server.wait_idle()
        assert not session.connected
        assert session.marks == {"uid-0002", "uid-0004"}
        assert "QUIT" not in verbs(server)
        assert mailbox.deleted == [] and len(mailbox.messages) == 5
        assert journal_marks(store.journal, session.account_key) == {"uid-0002", "uid-0004"}


class TestCase45StaleNumbers:
    async def test_dele_only_for_numbers_resolved_again(
        self, five: tuple[Pop3Server, MemoryMailbox]
    ) -> None:
        """45: mark 3 and 5, drop, another client removes message 1: the new session
        sends DELE 2 and DELE 4 (the new numbers), never 3 or 5."""
        server, mailbox = five
        account = embedded_account(server)
        session = MailboxSession(account, POP3_PASSWORD)
        await session.open()
        await session.mark("uid-0003")
        await session.mark("uid-0005")
        await drop(session)
        await delete_elsewhere(account, POP3_PASSWORD, "uid-0001")
        result = await session.commit(reconnect=False)
        last = server.commands(server.sessions_opened)
        assert [c for c in last if c.startswith("DELE")] == ["DELE 2", "DELE 4"]
        assert result.deleted == ("uid-0003", "uid-0005")
        assert sorted(mailbox.deleted) == ["uid-0001", "uid-0003", "uid-0005"]
        assert mailbox.uids == ["uid-0002", "uid-0004"]


class TestCase46QuitOutcomeUnknown:
    async def test_quit_err_is_unknown_and_verified(
        self, five: tuple[Pop3Server, MemoryMailbox]
    ) -> None:
        """46: QUIT answered -ERR: status unknown; the next connection's UIDL shows the
        marks still there, so they stay marked (re-DELE'd by UIDL, not old numbers)."""
        server, mailbox = five
        server.faults.append(Fault("QUIT", err_code=""))
        session = await opened(server)
        await session.mark("uid-0002")
        result = await session.commit()
        assert result.status == "unknown" and result.verified
        assert result.deleted == () and result.remaining == ("uid-0002",)
        assert mailbox.deleted == []
        assert session.marks == {"uid-0002"}
        await session.close()

    async def test_reset_after_quit_then_uidl_shows_deleted(
        self, five: tuple[Pop3Server, MemoryMailbox]
    ) -> None:
        """46: the server applies QUIT but resets before answering: status unknown,
        the fresh UIDL confirms both deletions, and no DELE is sent again."""
        server, mailbox = five
        server.faults.append(Fault("QUIT", replace=b"", drop_after=True))
        session = await opened(server)
        await session.mark("uid-0001")
        await session.mark("uid-0002")
        result = await session.commit()
        assert result.status == "unknown" and result.verified
        assert sorted(result.deleted) == ["uid-0001", "uid-0002"]
        assert sorted(mailbox.deleted) == ["uid-0001", "uid-0002"]
        assert "DELE" not in verbs(server, server.sessions_opened)
        assert session.marks == frozenset()
        await session.close()


class TestCase47NoQuitOnAbnormalPaths:
    async def test_framing_error_drops_without_quit(
        self, five: tuple[Pop3Server, MemoryMailbox]
    ) -> None:
        """47: a framing error during RETR with marks pending: no QUIT, nothing deleted."""
        server, mailbox = five
        server.faults.append(Fault("RETR", replace=b"garbage\r\n", times=None))
        session = await opened(server)
        await session.mark("uid-0001")
        with pytest.raises(Pop3ProtocolError):
            await session.fetch("uid-0003")
        assert not session.connected
        await session.close()
        await server.wait_idle()
        assert "QUIT" not in verbs(server) and mailbox.deleted == []

    async def test_cancel_mid_retr_drops_without_quit(
        self, five: tuple[Pop3Server, MemoryMailbox]
    ) -> None:
        """47: the caller cancels a slow RETR with marks pending: socket closed, no QUIT."""
        server, mailbox = five
        server.faults.append(Fault("RETR", delay=30))
        session = await opened(server)
        await session.mark("uid-0001")
        task = asyncio.ensure_future(session.fetch("uid-0002"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not session.connected
        await session.close()
        assert "QUIT" not in verbs(server) and mailbox.deleted == []

    async def test_close_with_marks_never_quits(
        self, five: tuple[Pop3Server, MemoryMailbox]
    ) -> None:
        """47: closing the session (app exit) with marks: no QUIT, nothing deleted."""
        server, mailbox = five
        session = await opened(server)
        await session.mark("uid-0001")
        await session.close()
        await server.wait_idle()
        assert "QUIT" not in verbs(server) and mailbox.deleted == []


class TestCase48UnmarkOne:
    async def test_unmark_b_deletes_only_a(self, five: tuple[Pop3Server, MemoryMailbox]) -> None:
        """48: mark A and B, unmark B: RSET then DELE A; only A is deleted."""
        server, mailbox = five
        session = await opened(server)
        await session.mark("uid-0002")
        await session.mark("uid-0004")
        await session.unmark("uid-0004")
        assert server.commands()[-2:] == ["RSET", "DELE 2"]
        await session.commit(reconnect=False)
        assert mailbox.deleted == ["uid-0002"]


class TestCase48RsetRefused:
    """48 with a server that answers RSET with -ERR: its DELE marks would survive and
    the commit's QUIT would delete what the user unmarked, so the connection is
    dropped (no QUIT) and the next one re-marks only what is still marked."""

    async def test_unmark_one_then_commit_deletes_only_the_other(
        self, five: tuple[Pop3Server, MemoryMailbox]
    ) -> None:
        """Mark 2 and 4, unmark 4 (RSET -ERR), commit: only 2 is deleted."""
        server, mailbox = five
        server.faults.append(Fault("RSET", err_code=""))
        session = await opened(server)
        await session.mark("uid-0002")
        await session.mark("uid-0004")
        await session.unmark("uid-0004")
        assert session.marks == frozenset({"uid-0002"})
        assert "QUIT" not in verbs(server, 1)
        result = await session.commit(reconnect=False)
        assert result.deleted == ("uid-0002",)
        assert mailbox.deleted == ["uid-0002"]
        assert verbs(server, 2).count("DELE") == 1

    async def test_unmark_all_then_mark_another_deletes_only_that(
        self, five: tuple[Pop3Server, MemoryMailbox]
    ) -> None:
        """Mark 1 and 2, unmark all (RSET -ERR [SYS/TEMP]), mark 3, commit: only 3 goes."""
        server, mailbox = five
        server.faults.append(Fault("RSET", err_code="SYS/TEMP"))
        session = await opened(server)
        await session.mark("uid-0001")
        await session.mark("uid-0002")
        await session.unmark_all()
        await session.mark("uid-0003")
        await session.commit(reconnect=False)
        assert mailbox.deleted == ["uid-0003"]
        assert "QUIT" not in verbs(server, 1)


class TestCase49Serialized:
    async def test_no_command_while_the_listing_runs(
        self, five: tuple[Pop3Server, MemoryMailbox]
    ) -> None:
        """49: a fetch asked while the listing streams is refused, not interleaved."""
        server, _ = five
        session = await opened(server)
        listing = session.list_messages()
        await anext(listing)
        with pytest.raises(PopviewError, match="still loading"):
            await session.fetch("uid-0001")
        async for _ in listing:
            pass
        assert "RETR" not in verbs(server)
        await session.close()

    async def test_quitting_mid_retr_then_fetch_again(
        self, five: tuple[Pop3Server, MemoryMailbox]
    ) -> None:
        """49: a RETR abandoned mid-stream drops the connection; the next fetch uses a
        new connection and gets the whole message."""
        server, mailbox = five
        server.faults.append(Fault("RETR", chunk_size=8, chunk_delay=0.05))
        session = await opened(server)
        task = asyncio.ensure_future(session.fetch("uid-0001"))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.wait_idle()  # the server notices the closed socket and unlocks
        fetched = await session.fetch("uid-0001")
        assert fetched.raw == mailbox.messages[0]
        assert server.sessions_opened == 2 and "QUIT" not in verbs(server)
        await session.close()


class TestCase50ParserException:
    async def test_parser_crash_keeps_the_session(
        self, five: tuple[Pop3Server, MemoryMailbox], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """50: an exception inside the MIME parser becomes an error with the raw bytes;
        the connection stays up, marks stay, no QUIT."""
        import popview.mail.message

        def explode(raw: bytes) -> Any:
            raise RuntimeError("injected parser failure")

        monkeypatch.setattr(popview.mail.message, "parse_message", explode)
        server, mailbox = five
        session = await opened(server)
        await session.mark("uid-0005")
        with pytest.raises(MessageParseError) as caught:
            await session.fetch("uid-0001")
        assert caught.value.raw == mailbox.messages[0]
        assert session.connected and session.marks == {"uid-0005"}
        await session.close()
        assert "QUIT" not in verbs(server)


class TestCase51Autologout:
    async def test_next_action_reconnects_and_reapplies(
        self, five: tuple[Pop3Server, MemoryMailbox]
    ) -> None:
        """51: the server closes an idle session without a reply: the next action
        reconnects, the marks are re-applied, and the commit deletes exactly them."""
        server, mailbox = five
        session = await opened(server)
        await session.mark("uid-0003")
        server.faults.append(Fault("RETR", drop_before=True))
        fetched = await session.fetch("uid-0001")
        assert fetched.raw == mailbox.messages[0]
        assert session.last_reconnect is not None
        assert session.last_reconnect.reapplied == ("uid-0003",)
        result = await session.commit(reconnect=False)
        assert result.deleted == ("uid-0003",) and mailbox.deleted == ["uid-0003"]


class TestCase52PartialRetr:
    async def test_partial_message_is_never_cached(
        self, five: tuple[Pop3Server, MemoryMailbox], store: Store
    ) -> None:
        """52: EOF mid-RETR (twice): an error, nothing cached; a later fetch gets the
        whole message and only that is cached."""
        server, mailbox = five
        partial = b"+OK\r\nFrom: s1@example.org\r\nSubj"
        server.faults.append(Fault("RETR", replace=partial, drop_after=True, times=2))
        session = MailboxSession(embedded_account(server), POP3_PASSWORD, store=store)
        await session.open()
        with pytest.raises(Pop3ConnectionError):
            await session.fetch("uid-0001")
        assert store.cache.get_body(session.account_key, "uid-0001") is None
        fetched = await session.fetch("uid-0001")
        assert fetched.raw == mailbox.messages[0] and not fetched.from_cache
        assert store.cache.get_body(session.account_key, "uid-0001") == mailbox.messages[0]
        await session.close()


# -- the data-loss cases against a real Dovecot --------------------------------------------


def dovecot_account(dovecot: DovecotServer, user: MailUser) -> Account:
    return Account(
        name="dc", host="127.0.0.1", port=dovecot.pop3s_port, user=user.name, tls="implicit"
    )


def dovecot_session(dovecot: DovecotServer, user: MailUser, **kw: Any) -> MailboxSession:
    return MailboxSession(
        dovecot_account(dovecot, user),
        user.password,
        ssl_context=dovecot.client_context(),
        **kw,
    )


def subjects_on_disk(dovecot: DovecotServer, user: MailUser) -> list[str]:
    found = []
    for path in dovecot.files(user.name):
        for line in path.read_bytes().splitlines():
            if line.startswith(b"Subject: "):
                found.append(line[9:].decode())
    return found


@pytest.mark.dovecot
class TestDovecot:
    async def test_44_drop_keeps_both(self, dovecot: DovecotServer, dovecot_user: MailUser) -> None:
        """44 on Dovecot: mark two, drop the connection: both still on disk."""
        dovecot.seed(dovecot_user.name, [message(n) for n in range(1, 4)])
        session = dovecot_session(dovecot, dovecot_user)
        await session.open()
        await session.mark(session.key_for_number(1) or "")
        await session.mark(session.key_for_number(2) or "")
        await drop(session)
        await session.close()
        await asyncio.sleep(0.2)
        assert subjects_on_disk(dovecot, dovecot_user) == ["Message 1", "Message 2", "Message 3"]

    async def test_45_remap_after_another_client_deleted(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """45 on Dovecot: mark 3 and 4, drop, another client deletes 1, commit: DELE only
        for the re-resolved numbers 2 and 3; exactly the two marked ones are gone."""
        dovecot.seed(dovecot_user.name, [message(n) for n in range(1, 6)])
        trace: list[str] = []
        session = dovecot_session(dovecot, dovecot_user, trace=trace.append)
        await session.open()
        three, four, one = (session.key_for_number(n) or "" for n in (3, 4, 1))
        await session.mark(three)
        await session.mark(four)
        await drop(session)
        await delete_elsewhere(
            dovecot_account(dovecot, dovecot_user),
            dovecot_user.password,
            one,
            ssl_context=dovecot.client_context(),
        )
        trace.clear()
        result = await session.commit(reconnect=False)
        assert result.status == "applied" and set(result.deleted) == {three, four}
        assert [t for t in trace if t.startswith("C: DELE")] == ["C: DELE 2", "C: DELE 3"]
        assert subjects_on_disk(dovecot, dovecot_user) == ["Message 2", "Message 5"]

    async def test_48_mark_mark_unmark_commit(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """48 on Dovecot: d, d, u, commit deletes exactly the other message."""
        dovecot.seed(dovecot_user.name, [message(n) for n in range(1, 4)])
        session = dovecot_session(dovecot, dovecot_user)
        await session.open()
        first, second = session.key_for_number(1) or "", session.key_for_number(2) or ""
        await session.mark(first)
        await session.mark(second)
        await session.unmark(second)
        result = await session.commit(reconnect=False)
        assert result.deleted == (first,)
        assert subjects_on_disk(dovecot, dovecot_user) == ["Message 2", "Message 3"]

    async def test_51_reconnect_reapplies_marks(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """51 on Dovecot: the connection dies while idle; the next action reconnects,
        re-applies the mark, and the commit deletes exactly it."""
        dovecot.seed(dovecot_user.name, [message(n) for n in range(1, 4)])
        session = dovecot_session(dovecot, dovecot_user)
        await session.open()
        marked = session.key_for_number(2) or ""
        await session.mark(marked)
        await drop(session)
        await session.fetch(session.key_for_number(1) or "")
        assert session.last_reconnect is not None
        assert session.last_reconnect.reapplied == (marked,)
        result = await session.commit(reconnect=False)
        assert result.deleted == (marked,)
        assert subjects_on_disk(dovecot, dovecot_user) == ["Message 1", "Message 3"]
