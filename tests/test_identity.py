"""One message identity (issue 9): the key is made once, in popview.session.identity,
and the session, the app and the CLI carry that same key.

Against the embedded server and a real sqlite store; the app driven by Pilot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from popview.demo import sample_messages
from popview.server import MemoryMailbox, Pop3Server, default_capabilities
from popview.session import MailboxSession, MessageKey
from popview.session.identity import is_valid_uidl, message_keys
from popview.session.index import MessageIndex
from popview.store import Store
from popview.ui.app import PopviewApp
from popview.ui.screens.dialogs import ConfirmScreen
from popview.ui.textual_adapter import screen_text
from tests.fixtures.embedded import POP3_PASSWORD as PASSWORD
from tests.fixtures.embedded import POP3_USER as USER
from tests.ui_support import account_for, wait_for, wait_listed

NO_UIDL = [c for c in default_capabilities() if c != "UIDL"]


@pytest.fixture
def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = Store.open(tmp_path / "cache")
    yield opened
    opened.close()


async def serve(mailbox: MemoryMailbox, capabilities: list[str] | None = None) -> Pop3Server:
    server = Pop3Server(
        mailbox, users={USER: PASSWORD}, host="127.0.0.1", capabilities=capabilities
    )
    await server.start()
    return server


class TestTheOneRule:
    def test_stable_means_valid_and_listed_once(self) -> None:
        """RFC 1939 §7: 1-70 characters in 0x21-0x7E, unique in the listing; the rest
        get a session-only key that names the connection and is never a valid UIDL."""
        rows = [(1, "ok"), (2, "dup"), (3, "dup"), (4, "a b"), (5, "x" * 71), (6, "é")]
        keys = message_keys(range(1, 8), rows, generation=4)
        assert keys[1] == (MessageKey("ok"), "ok") and keys[1][0].stable
        for number in (2, 3, 4, 5, 6, 7):
            key, uid = keys[number]
            assert uid is None and not key.stable and not is_valid_uidl(key)
            assert key == MessageKey.session_only(number, 4)
        assert MessageKey.session_only(2, 4) != MessageKey.session_only(2, 5)

    def test_no_uidl_at_all(self) -> None:
        keys = message_keys([1, 2], None, generation=1)
        assert all(uid is None and not key.stable for key, uid in keys.values())


class TestEnvelopeCarriesNoSessionKey:
    @pytest.mark.parametrize("uids", [None, ["a", "a", "ok"]])
    async def test_envelope_uid_is_the_uidl_or_none(self, uids: list[str] | None) -> None:
        """Without UIDL, and with a duplicated UIDL: the envelope says what the server
        said (a stable UIDL or nothing); the key it is listed under is the session's,
        the same the session finds the message by."""
        mailbox = MemoryMailbox(sample_messages(3), uids=uids)
        server = await serve(mailbox, None if uids else NO_UIDL)
        session = MailboxSession(account_for(server), PASSWORD)
        try:
            await session.open()
            listed = [m async for update in session.list_messages() for m in update.messages]
            assert len(listed) == 3
            for key, envelope in listed:
                assert isinstance(key, MessageKey)
                assert session.key_for_number(envelope.number) == key
                assert envelope.uid == (key if key.stable else None)
                if envelope.uid is not None:
                    assert is_valid_uidl(envelope.uid)
            assert [k.stable for k, _ in sorted(listed, key=lambda m: m[1].number)] == (
                [False, False, True] if uids else [False, False, False]
            )
        finally:
            await session.close()
            await server.close()


class TestJournalFromAnEarlierRun:
    async def test_marks_written_before_message_keys_still_resolve(self, store: Store) -> None:
        """A journal row an earlier popview wrote (a plain UIDL string) is found by the
        key the session makes now: restored, kept, and committed."""
        mailbox = MemoryMailbox(sample_messages(4))
        server = await serve(mailbox)
        account = account_for(server)
        account_key = f"{account.user}@{account.host}:{account.port}"
        store.journal.mark(account_key, "uid-0002")
        session = MailboxSession(account, PASSWORD, store=store)
        try:
            await session.open()
            assert session.restored_marks == {"uid-0002"}
            await session.keep_restored(True)
            assert session.marks == {MessageKey("uid-0002")}
            result = await session.commit(reconnect=False, expected=list(session.marks))
            assert list(result.deleted) == ["uid-0002"]
        finally:
            await session.close()
            await server.close()
        assert mailbox.deleted == ["uid-0002"]


class TestAppOnANoUidlServer:
    async def test_the_row_the_mark_and_the_dialog_name_one_key(self) -> None:
        """No UIDL: `d` on the top row marks the session's key for it (the row's key
        is that same key, not a UI-made ``#N``); the commit dialog lists that one
        message and `y` deletes exactly it."""
        mailbox = MemoryMailbox(sample_messages(3))
        server = await serve(mailbox, NO_UIDL)
        app = PopviewApp(None, account=account_for(server), password=PASSWORD)  # type: ignore[arg-type]
        try:
            async with app.run_test(size=(120, 30)) as pilot:
                screen = await wait_listed(pilot)
                row_key = app.listing.rows[screen.table.cursor].key
                assert isinstance(row_key, MessageKey) and not row_key.stable
                await pilot.press("d")
                await wait_for(pilot, lambda: app.marks == {row_key})
                await wait_for(pilot, lambda: "DELE 3" in server.commands())
                await pilot.press("dollar_sign")
                await wait_for(
                    pilot,
                    lambda: (
                        isinstance(app.screen, ConfirmScreen) and "(y)" in screen_text(app.screen)
                    ),
                )
                assert "Delete 1 message on the server?" in screen_text(app.screen)
                await pilot.press("y")
                await wait_for(pilot, lambda: len(mailbox.deleted) == 1)
        finally:
            await server.close()
        assert mailbox.deleted == ["uid-0003"]  # the newest, the top row


def _reference_keys(
    numbers: list[int], uids: list[tuple[int, str]] | None, generation: int
) -> dict[int, tuple[MessageKey, str | None]]:
    """The rule of RFC 1939 §7 as a loop: a listed message's first UIDL row is
    its id; stable if valid and no other listed message has it."""
    uid_of: dict[int, str] = {}
    for number, uid in uids or ():
        if number in numbers:
            uid_of.setdefault(number, uid)
    ids = list(uid_of.values())
    keys: dict[int, tuple[MessageKey, str | None]] = {}
    for number in sorted(set(numbers)):
        uid = uid_of.get(number)
        if uid is not None and ids.count(uid) == 1 and is_valid_uidl(uid):
            keys[number] = (MessageKey(uid), uid)
        else:
            keys[number] = (MessageKey.session_only(number, generation), None)
    return keys


# Ids at the edges of validity: 70/71 characters, blanks, controls, DEL, non-ASCII.
_edge_ids = st.sampled_from(["", "x" * 70, "x" * 71, "a b", "a\tb", "a\x00", "a\x7f", "é", "~!"])
_ids = st.one_of(st.text("abcdef0123", min_size=1, max_size=6), _edge_ids)


class TestTheOneRuleOverWholeListings:
    """message_keys decides a whole listing at once when every id is good; the
    result is always the row-by-row rule's."""

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(st.integers(1, 30), max_size=30),
        st.one_of(st.none(), st.lists(st.tuples(st.integers(1, 35), _ids), max_size=35)),
    )
    def test_any_listing(self, numbers: list[int], uids: list[tuple[int, str]] | None) -> None:
        expected = _reference_keys(numbers, uids, 3)
        assert message_keys(numbers, uids, 3) == expected
        index = MessageIndex([(number, 1) for number in numbers], uids, generation=3)
        assert [ref.number for ref in index.newest_first()] == sorted(expected, reverse=True)
        assert index.stable_uids() == {uid for _key, uid in expected.values() if uid is not None}
        assert index.unstable_count == (
            0 if uids is None else len(expected) - len(index.stable_uids())
        )

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.text("abc", min_size=1, max_size=4), max_size=30), st.data())
    def test_every_message_with_an_id(self, ids: list[str], data: st.DataObject) -> None:
        """Every listed message has one id: all stable unless one repeats or is bad."""
        edge = data.draw(st.one_of(st.none(), _edge_ids))
        rows = list(enumerate([*ids, *([] if edge is None else [edge])], start=1))
        numbers = [number for number, _ in rows]
        assert message_keys(numbers, rows, 3) == _reference_keys(numbers, rows, 3)

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.tuples(st.integers(1, 20), st.one_of(st.none(), st.integers(-5, 99)))))
    def test_index_sizes(self, sizes: list[tuple[int, int | None]]) -> None:
        """The index keeps each number's first LIST size, a negative one as 0."""
        index = MessageIndex(sizes, None)
        first: dict[int, int | None] = {}
        for number, size in sizes:
            first.setdefault(number, None if size is None else max(size, 0))
        assert [(ref.number, ref.size) for ref in index] == sorted(first.items())
        assert index.total_size == sum(size or 0 for size in first.values())
