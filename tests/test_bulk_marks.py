"""Marking many messages at once (``mark_many``): rules and patterns mark this way.

Against the embedded server, with real sqlite, the server's transcript and, where
the number of round trips matters, a recording proxy in front of it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from popview.errors import Pop3ConnectionError
from popview.server import Fault, MemoryMailbox, Pop3Server
from popview.session import MailboxSession
from popview.store import Store
from tests.fixtures.embedded import POP3_PASSWORD
from tests.store_support import journal_marks
from tests.test_engine_hardening import HalfPipeliningProxy, commands_per_write
from tests.test_session import MakeServer, account_for, message, opened, verbs

COUNT = 200


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened_store = Store.open(tmp_path / "cache")
    yield opened_store
    opened_store.close()


@pytest.fixture
def big_mailbox() -> MemoryMailbox:
    return MemoryMailbox([message(n) for n in range(1, COUNT + 1)])


@pytest.fixture
async def big_server(make_pop3_server: MakeServer, big_mailbox: MemoryMailbox) -> Pop3Server:
    return await make_pop3_server(mailbox=big_mailbox)


@pytest.fixture
async def proxy(big_server: Pop3Server) -> AsyncIterator[HalfPipeliningProxy]:
    recording = HalfPipeliningProxy(big_server.port, frozenset())
    await recording.start()
    yield recording
    await recording.close()


def dele_numbers(server: Pop3Server, session: int | None = None) -> list[int]:
    return [int(line.split()[1]) for line in server.commands(session) if line.startswith("DELE")]


class TestMarkMany:
    async def test_journal_first_then_pipelined_dele_then_commit_deletes_exactly_them(
        self, big_server: Pop3Server, proxy: HalfPipeliningProxy, big_mailbox: MemoryMailbox,
        store: Store,
    ) -> None:  # fmt: skip
        """150 marks by one rule: all journaled with the rule's name, 150 DELEs in a
        handful of writes (not one round trip each), and QUIT deletes those 150."""
        session = MailboxSession(account_for(proxy), POP3_PASSWORD, store=store)
        info = await session.open()
        keys = [f"uid-{n:04d}" for n in range(1, 151)]
        result = await session.mark_many(keys, rule="newsletters")
        assert result.marked == tuple(keys) and result.gone == () and result.refused == ()
        assert session.marks == frozenset(keys) and session.pending_marks == frozenset()
        assert set(session.mark_rules.values()) == {"newsletters"}
        entries = store.journal.entries(info.account_key)
        assert {e.uid for e in entries} == set(keys) and {e.rule for e in entries} == {
            "newsletters"
        }
        assert sorted(dele_numbers(big_server)) == list(range(1, 151))
        writes = [w for w in proxy.writes[0] if w.startswith(b"DELE")]
        # All in one flight (a TCP read may split it): not one round trip each (150),
        # nor one per half window (a window of 64 refilled at 32: 4 flights).
        assert len(writes) <= 2, commands_per_write(writes)
        result_commit = await session.commit(reconnect=False, expected=keys)
        assert result_commit.status == "applied"
        assert sorted(big_mailbox.deleted) == sorted(keys)

    async def test_already_marked_gone_and_refused(
        self, big_server: Pop3Server, store: Store
    ) -> None:
        """Marked before: no second DELE. Not on the server: reported gone. DELE
        refused: reported, neither marked nor journaled, the others stay marked."""
        session = await opened(big_server, store)
        await session.mark("uid-0001")
        big_server.faults.append(Fault("DELE", arg="3", err_code="SYS/TEMP"))
        result = await session.mark_many(["uid-0001", "uid-0002", "uid-0003", "no-such"])
        assert result.marked == ("uid-0002",)
        assert result.gone == ("no-such",) and result.refused == ("uid-0003",)
        assert session.marks == {"uid-0001", "uid-0002"}
        assert journal_marks(store.journal, session.account_key) == {"uid-0001", "uid-0002"}
        assert dele_numbers(big_server) == [1, 2, 3]
        await session.close()

    async def test_offline_marks_are_journaled_then_sent_by_the_next_connection(
        self, make_pop3_server: MakeServer, big_server: Pop3Server, big_mailbox: MemoryMailbox,
        store: Store,
    ) -> None:  # fmt: skip
        """The server goes away: the marks are journaled and pending, the error is
        raised; when it is back, one connection sends them and a commit deletes them."""
        session = await opened(big_server, store)
        port = big_server.port
        await big_server.close()
        with pytest.raises(Pop3ConnectionError):
            await session.mark_many(["uid-0004", "uid-0005"], rule="old")
        assert session.pending_marks == {"uid-0004", "uid-0005"}
        assert journal_marks(store.journal, session.account_key) == {"uid-0004", "uid-0005"}
        assert "QUIT" not in verbs(big_server)
        back = await make_pop3_server(mailbox=big_mailbox, port=port)
        result = await session.commit(reconnect=False, expected=["uid-0004", "uid-0005"])
        assert result.status == "applied"
        assert sorted(dele_numbers(back)) == [4, 5]
        assert sorted(big_mailbox.deleted) == ["uid-0004", "uid-0005"]

    async def test_a_rule_does_not_mark_again_what_the_user_unmarked(
        self, big_server: Pop3Server
    ) -> None:
        """Unmarked by the user after a rule marked it: the rule (run again on a
        refresh) leaves it alone; the user can still mark it by hand."""
        session = await opened(big_server)
        await session.mark_many(["uid-0001", "uid-0002"], rule="spam")
        await session.unmark("uid-0002")
        again = await session.mark_many(["uid-0001", "uid-0002"], rule="spam")
        assert again.marked == () and session.marks == {"uid-0001"}
        by_hand = await session.mark_many(["uid-0002"])
        assert by_hand.marked == ("uid-0002",) and session.mark_rules["uid-0002"] is None
        await session.unmark_all()
        assert (await session.mark_many(["uid-0001"], rule="spam")).marked == ()
        await session.close()

    async def test_unmark_many_is_one_rset(self, big_server: Pop3Server) -> None:
        """Unmarking 3 of 5 marks: one RSET, then the 2 others DELE'd again."""
        session = await opened(big_server)
        await session.mark_many([f"uid-{n:04d}" for n in range(1, 6)])
        before = len(big_server.commands())
        await session.unmark_many(["uid-0002", "uid-0003", "uid-0005"])
        assert big_server.commands()[before:] == ["RSET", "DELE 1", "DELE 4"]
        assert session.marks == {"uid-0001", "uid-0004"}
        await session.close()

    async def test_the_rule_name_survives_a_restart(
        self, big_server: Pop3Server, store: Store
    ) -> None:
        """Closed without commit: the next run restores the marks with their rule."""
        first = await opened(big_server, store)
        await first.mark_many(["uid-0007"], rule="old")
        await first.mark("uid-0008")
        await first.close()
        second = await opened(big_server, store)
        assert dict(second.mark_rules) == {"uid-0007": "old", "uid-0008": None}
        await second.close(discard_marks=True)
