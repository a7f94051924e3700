"""MailboxSession against the embedded server: real sockets, real sqlite, transcript checks."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from popview.config import Account
from popview.errors import (
    AuthError,
    Pop3ConnectionError,
    Pop3ServerError,
    PopviewError,
    StoreError,
    TLSVerificationError,
)
from popview.pop3.client import Pop3Client
from popview.pop3.tls import fingerprint_of
from popview.server import Fault, MemoryMailbox, Pop3Server, default_capabilities
from popview.session import (
    LoginDelayError,
    MailboxInUseError,
    MailboxSession,
    MessageGoneError,
    MessageKey,
    PermanentServerError,
    TemporaryServerError,
)
from popview.session.payload import PAYLOAD_TAG
from popview.session.policy import RESP_CODE_SENTENCES
from popview.store import Store
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER
from tests.store_support import journal_marks

MakeServer = Callable[..., Awaitable[Pop3Server]]


def message(n: int, subject: str | None = None) -> bytes:
    return (
        f"From: Sender {n} <s{n}@example.org>\r\nTo: alice@example.org\r\n"
        f"Subject: {subject or f'Message {n}'}\r\nMessage-ID: <m{n}@example.org>\r\n"
        f"Date: Mon, 04 Mar 2024 09:{n % 60:02d}:00 +0000\r\n\r\nBody of {n}.\r\n"
    ).encode()


def account_for(server: Pop3Server, **changes: Any) -> Account:
    fields: dict[str, Any] = {"tls": "none", **changes}
    return Account(name="test", host="127.0.0.1", port=server.port, user=POP3_USER, **fields)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "cache")
    yield opened
    opened.close()


async def listing(session: MailboxSession) -> list[Any]:
    envelopes: list[Any] = []
    async for update in session.list_messages():
        envelopes.extend(update.envelopes)
    return envelopes


async def opened(server: Pop3Server, store: Store | None = None) -> MailboxSession:
    """A session on ``server`` (caching in ``store`` if given), logged in."""
    session = MailboxSession(account_for(server), POP3_PASSWORD, store=store)
    await session.open()
    return session


async def warm_cache(server: Pop3Server, store: Store) -> None:
    """One whole session that lists ``server``'s mailbox, so ``store`` caches its envelopes."""
    session = await opened(server, store)
    await listing(session)
    await session.close()


async def listed_keys(session: MailboxSession) -> list[MessageKey]:
    """The keys the session lists its messages under."""
    return [listed.key async for update in session.list_messages() for listed in update.messages]


def verbs(server: Pop3Server, session: int | None = None) -> list[str]:
    return [line.split(" ")[0] for line in server.commands(session)]


class TestOpen:
    async def test_open_reads_stat_list_uidl_after_login(self, pop3_server: Pop3Server) -> None:
        """Open logs in, re-reads CAPA, then asks STAT, LIST and UIDL; nothing else."""
        session = MailboxSession(account_for(pop3_server), POP3_PASSWORD)
        info = await session.open()
        assert info.message_count == 3
        assert not info.encrypted and info.tls is None
        assert info.degraded == ()
        assert pop3_server.commands() == [
            "CAPA", "AUTH PLAIN ***", "CAPA", "STAT", "LIST", "UIDL",
        ]  # fmt: skip
        await session.close()
        assert "QUIT" not in verbs(pop3_server)

    async def test_implicit_tls_reports_encryption(
        self, pop3_server_implicit_tls: Pop3Server, tls_client_context: ssl.SSLContext
    ) -> None:
        """Over POP3S the session says it is encrypted and gives the TLS details."""
        account = account_for(pop3_server_implicit_tls, tls="implicit")
        session = MailboxSession(account, POP3_PASSWORD, ssl_context=tls_client_context)
        info = await session.open()
        assert info.encrypted and info.tls is not None
        assert info.tls.version.startswith("TLS")
        await session.close()

    async def test_password_callable_is_asked_once(self, pop3_server: Pop3Server) -> None:
        """A password source is called lazily, once, even across a reconnect."""
        calls = []

        async def ask() -> str:
            calls.append(1)
            return POP3_PASSWORD

        session = MailboxSession(account_for(pop3_server), ask)
        await session.open()
        await session.refresh()
        assert len(calls) == 1
        await session.close()

    async def test_wrong_password_is_asked_again(self, pop3_server: Pop3Server) -> None:
        """After AuthError the next open asks the password source again."""
        answers = iter(["wrong", POP3_PASSWORD])
        session = MailboxSession(account_for(pop3_server), lambda: next(answers))
        with pytest.raises(AuthError):
            await session.open()
        await session.open()
        assert session.connected
        await session.close()


class TestListing:
    async def test_first_listing_sends_top_newest_first(
        self, pop3_server: Pop3Server, store: Store
    ) -> None:
        """Cold cache: one TOP n 0 per message, highest number first; envelopes decoded."""
        session = await opened(pop3_server, store)
        envelopes = await listing(session)
        assert [c for c in pop3_server.commands() if c.startswith("TOP")] == [
            "TOP 3 0", "TOP 2 0", "TOP 1 0",
        ]  # fmt: skip
        subjects = {env.uid: env.subject for env in envelopes}
        assert subjects["uid-0001"] == "Lunch on Friday?"
        assert subjects["uid-0003"] == "Report Übersicht"
        await session.close()

    async def test_warm_listing_uses_cache_and_tops_only_new_mail(
        self, make_pop3_server: MakeServer, store: Store
    ) -> None:
        """Second run: cached envelopes come first, TOP goes only to the new message."""
        mailbox = MemoryMailbox([message(1), message(2)])
        server = await make_pop3_server(mailbox=mailbox)
        await warm_cache(server, store)
        mailbox.add(message(3))
        second = await opened(server, store)
        updates = [u async for u in second.list_messages()]
        assert updates[0].from_cache and len(updates[0].envelopes) == 2
        assert [e.subject for e in updates[-1].envelopes] == ["Message 3"]
        tops = [c for c in server.commands(server.sessions_opened) if c.startswith("TOP")]
        assert tops == ["TOP 3 0"]
        await second.close()

    async def test_size_change_invalidates_cache_entry(
        self, make_pop3_server: MakeServer, store: Store
    ) -> None:
        """A cached envelope whose LIST size changed is fetched again."""
        server = await make_pop3_server(mailbox=MemoryMailbox([message(1)]))
        await warm_cache(server, store)
        key = f"{POP3_USER}@127.0.0.1:{server.port}"
        cached = store.cache.get_envelopes(key)["uid-0001"]
        from popview.store import CachedEnvelope

        store.cache.put_envelopes(key, [CachedEnvelope("uid-0001", cached.size + 5, b"X: y\r\n")])
        second = await opened(server, store)
        envelopes = await listing(second)
        assert envelopes[0].subject == "Message 1"
        assert "TOP 1 0" in server.commands(server.sessions_opened)
        await second.close()

    async def test_second_listing_on_a_connection_reads_the_cache_again(
        self, make_pop3_server: MakeServer, store: Store
    ) -> None:
        """The rows read ahead while logging in serve the first listing only: a
        second listing on the same connection finds what the first one cached."""
        server = await make_pop3_server(mailbox=MemoryMailbox([message(1), message(2)]))
        session = await opened(server, store)
        await listing(session)
        again = [u async for u in session.list_messages()]
        assert sum(len(u.envelopes) for u in again if u.from_cache) == 2
        assert verbs(server).count("TOP") == 2  # the first listing's only
        await session.close()

    async def test_a_failed_read_ahead_is_read_again_by_the_listing(
        self, make_pop3_server: MakeServer, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The cache read while logging in fails: the listing reads it itself
        (the cache is an accelerator, never a reason to send TOP again)."""
        server = await make_pop3_server(mailbox=MemoryMailbox([message(1), message(2)]))
        await warm_cache(server, store)
        real = store.cache.get_envelopes
        reads: list[str] = []

        def failing(account: str) -> Any:
            reads.append("read ahead")
            raise StoreError("disk I/O error")

        def read_by_listing(account: str, sizes: Any = None) -> Any:
            reads.append("listing")
            return real(account, sizes)

        monkeypatch.setattr(store.cache, "get_payloads", failing)
        monkeypatch.setattr(store.cache, "get_envelopes", read_by_listing)
        session = await opened(server, store)
        assert [e.subject for e in await listing(session)] == ["Message 2", "Message 1"]
        assert "TOP" not in verbs(server, server.sessions_opened)
        assert reads == ["read ahead", "listing"]
        await session.close()

    async def test_prune_drops_entries_that_left_the_server(
        self, make_pop3_server: MakeServer, store: Store
    ) -> None:
        """After listing, cache entries whose UIDL is gone are removed."""
        mailbox = MemoryMailbox([message(1), message(2)])
        server = await make_pop3_server(mailbox=mailbox)
        session = await opened(server, store)
        await listing(session)
        await session.mark("uid-0001")
        await session.commit()
        await listing(session)
        key = f"{POP3_USER}@127.0.0.1:{server.port}"
        assert set(store.cache.get_envelopes(key)) == {"uid-0002"}
        await session.close()

    async def test_many_messages_stream_in_batches(self, make_pop3_server: MakeServer) -> None:
        """600 messages arrive in several batches with growing progress."""
        server = await make_pop3_server(mailbox=MemoryMailbox([message(n) for n in range(600)]))
        session = await opened(server)
        updates = [u async for u in session.list_messages()]
        fetched = [u for u in updates if not u.from_cache]
        assert len(fetched) >= 3
        assert [u.done for u in fetched] == sorted(u.done for u in fetched)
        assert fetched[-1].done == 600
        assert len({e.uid for u in updates for e in u.envelopes}) == 600
        await session.close()

    @pytest.mark.parametrize("filler", [0, 8000])
    async def test_only_a_small_first_batch_is_parsed_on_the_event_loop(
        self, make_pop3_server: MakeServer, monkeypatch: pytest.MonkeyPatch, filler: int
    ) -> None:
        """The first 50 envelopes are parsed on the loop when their header blocks
        are small (a few milliseconds, and the first rows wait for nothing else);
        50 blocks of 8 KB (400 KB, over INLINE_FIRST_BYTES) go to the listing's
        thread like every later batch, so hostile headers cannot stall the loop."""
        from popview.session import envelope_stream

        big = b"X-Filler: " + b"\r\n x".join([b"y" * 78] * (filler // 80)) + b"\r\n"
        mails = [message(n).replace(b"\r\n\r\n", b"\r\n" + big + b"\r\n", 1) for n in range(120)]
        server = await make_pop3_server(mailbox=MemoryMailbox(mails))
        threads: list[str] = []
        parse = envelope_stream.parse_envelope

        def spied(*args: Any, **kwargs: Any) -> Any:
            threads.append(threading.current_thread().name)
            return parse(*args, **kwargs)

        monkeypatch.setattr(envelope_stream, "parse_envelope", spied)
        session = await opened(server)
        envelopes = await listing(session)
        await session.close()
        assert len(envelopes) == 120 and len(threads) == 120
        on_loop = [name == threading.current_thread().name for name in threads]
        assert on_loop == [filler == 0] * envelope_stream.FIRST_BATCH + [False] * 70

    async def test_envelopes_stream_before_a_late_top(self, make_pop3_server: MakeServer) -> None:
        """40 messages (fewer than a batch), the oldest TOP answered late - held until
        the other 39 envelopes have arrived (or 10 s, so that a listing that waits for
        every reply fails here instead of hanging) - then the listing completes."""
        answer_top = asyncio.Event()
        server = await make_pop3_server(
            mailbox=MemoryMailbox([message(n) for n in range(1, 41)]),
            faults=[Fault("TOP", arg="1", hold=answer_top)],
        )
        session = await opened(server)
        asyncio.get_running_loop().call_later(10, answer_top.set)
        early: list[str | None] = []
        updates = []
        streamed = False
        async for update in session.list_messages():
            updates.append(update)
            if update.done < update.total:
                early.extend(e.uid for e in update.envelopes)
            if len(early) == 39 and not answer_top.is_set():
                answer_top.set()
                streamed = True  # the 39 came while TOP 1 was still unanswered
        assert streamed
        assert len(early) == 39 and "uid-0001" not in early
        assert updates[-1].done == 40
        assert [e.uid for u in updates for e in u.envelopes][-1] == "uid-0001"
        assert len({e.uid for u in updates for e in u.envelopes}) == 40
        await session.close()

    async def test_limit_lists_only_the_newest(self, pop3_server: Pop3Server) -> None:
        """limit=1 asks TOP only for the newest message."""
        session = await opened(pop3_server)
        envelopes = [e async for u in session.list_messages(limit=1) for e in u.envelopes]
        assert [e.number for e in envelopes] == [3]
        assert [c for c in pop3_server.commands() if c.startswith("TOP")] == ["TOP 3 0"]
        await session.close()


RICH = (
    b"From: =?utf-8?q?Dami=C3=A1n?= <damian@example.com>\r\n"
    b"To: Alice <alice@example.org>, bob@example.net\r\n"
    b"Cc: =?iso-8859-1?q?J=F6rg?= <joerg@example.de>\r\n"
    b"Subject: =?utf-8?b?UmVwb3J0IMOcYmVyc2ljaHQ=?= \x1b[31m red\r\n"
    b"Date: Wed, 06 Mar 2024 18:30:00 -0500\r\n"
    b"Message-ID: <report-3@example.com>\r\n"
    b"In-Reply-To: <q-1@example.org>\r\n"
    b"References: <q-0@example.org>\r\n <q-1@example.org>\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b--\r\n"
)


class TestEnvelopeCache:
    """A warm start rebuilds envelopes from the cached payload instead of parsing."""

    async def _list_twice(
        self, server: Pop3Server, store: Store
    ) -> tuple[list[Any], list[Any], list[Any]]:
        runs: list[list[Any]] = []
        for _ in range(2):
            session = await opened(server, store)
            runs.append([u async for u in session.list_messages()])
            await session.close()
        cold, warm = runs
        return (
            [e for u in cold for e in u.envelopes],
            [e for u in warm for e in u.envelopes],
            warm,
        )

    async def test_body_lines_sent_with_top_are_not_cached(
        self, make_pop3_server: MakeServer, store: Store
    ) -> None:
        """HARDENING A.15: a server that answers ``TOP n 0`` with body lines gets its
        row listed from the headers, and the cache keeps the header section only."""
        with_body = b"+OK\r\n" + message(2, "Has a body")[:-2] + b"\r\nsecret body line\r\n.\r\n"
        server = await make_pop3_server(
            mailbox=MemoryMailbox([message(1), message(2, "Has a body")]),
            faults=[Fault(verb="TOP", arg="2", replace=with_body)],
        )
        session = await opened(server, store)
        envelopes = await listing(session)
        await session.close()
        assert sorted(e.subject for e in envelopes) == ["Has a body", "Message 1"]
        cached = store.cache.get_envelopes(session.account_key)
        assert len(cached) == 2
        assert all(row.headers.endswith(b"\r\n\r\n") for row in cached.values())
        assert not any(b"secret body line" in row.headers for row in cached.values())

    async def test_warm_envelopes_equal_cold_ones(
        self, make_pop3_server: MakeServer, store: Store
    ) -> None:
        """Every field (addresses, aware date, references, attachment hint, the
        sanitized subject) comes back from the cache exactly as parsed."""
        server = await make_pop3_server(mailbox=MemoryMailbox([RICH, message(2), b"X: y\r\n"]))
        cold, warm, updates = await self._list_twice(server, store)
        assert all(u.from_cache for u in updates)
        assert sorted(warm, key=lambda e: e.number) == sorted(cold, key=lambda e: e.number)
        rich = next(e for e in warm if e.number == 1)
        assert rich.subject.startswith("Report Übersicht") and "\x1b" not in rich.subject
        assert rich.date is not None and rich.date.utcoffset() is not None
        assert [a.addr for a in rich.to] == ["alice@example.org", "bob@example.net"]
        assert rich.references == ("<q-0@example.org>", "<q-1@example.org>")
        assert rich.has_attachment

    async def test_cold_listing_stores_versioned_payloads(
        self, pop3_server: Pop3Server, store: Store
    ) -> None:
        """After a cold listing every cached envelope carries a current payload."""
        session = await opened(pop3_server, store)
        await listing(session)
        await session.close()
        cached = store.cache.get_envelopes(session.account_key)
        assert len(cached) == 3
        assert {entry.payload["v"] for entry in cached.values() if entry.payload} == {PAYLOAD_TAG}
        assert all(entry.payload is not None for entry in cached.values())

    async def test_payload_is_used_without_parsing(
        self, make_pop3_server: MakeServer, store: Store
    ) -> None:
        """A payload that disagrees with its header block wins: proof the headers
        were not parsed again."""
        from popview.session.payload import envelope_payload
        from popview.store import CachedEnvelope

        server = await make_pop3_server(mailbox=MemoryMailbox([message(1)]))
        cold, _warm, _ = await self._list_twice(server, store)
        key = f"{POP3_USER}@127.0.0.1:{server.port}"
        entry = store.cache.get_envelopes(key)["uid-0001"]
        payload = envelope_payload(cold[0]._replace(subject="From the payload"))
        store.cache.put_envelopes(
            key, [CachedEnvelope(entry.uid, entry.size, entry.headers, payload)]
        )
        session = await opened(server, store)
        assert [e.subject for e in await listing(session)] == ["From the payload"]
        assert not any(c.startswith("TOP") for c in server.commands(server.sessions_opened))
        await session.close()

    @pytest.mark.parametrize(
        "payload",
        [
            None,  # written before payloads existed
            {"v": 0, "s": "Old format"},  # another version
            {"v": 1, "s": "Before the tag"},  # the first format, without the field checksum
            {"v": PAYLOAD_TAG, "s": 5},  # damaged: wrong types
            {"v": PAYLOAD_TAG, "fn": "", "fa": "", "s": "x", "dt": "", "mid": "", "irt": "",
             "tr": [["a"]], "cr": "", "rr": "", "d": None, "att": False},
            {"v": PAYLOAD_TAG, "fn": "", "fa": "", "s": "x", "dt": "", "mid": "", "irt": "",
             "tr": "", "cr": "", "rr": "", "d": "not a date", "att": False},
        ],
    )  # fmt: skip
    async def test_unusable_payload_falls_back_to_parsing_and_upgrades(
        self, make_pop3_server: MakeServer, store: Store, payload: dict[str, Any] | None
    ) -> None:
        """A missing, older or damaged payload: the header block is parsed (no TOP
        sent), and the entry is stored again with a current payload."""
        from popview.store import CachedEnvelope

        server = await make_pop3_server(mailbox=MemoryMailbox([message(1)]))
        await self._list_twice(server, store)
        key = f"{POP3_USER}@127.0.0.1:{server.port}"
        entry = store.cache.get_envelopes(key)["uid-0001"]
        store.cache.put_envelopes(
            key, [CachedEnvelope(entry.uid, entry.size, entry.headers, payload)]
        )
        session = await opened(server, store)
        assert [e.subject for e in await listing(session)] == ["Message 1"]
        assert not any(c.startswith("TOP") for c in server.commands(server.sessions_opened))
        await session.close()
        upgraded = store.cache.get_envelopes(key)["uid-0001"].payload
        assert upgraded is not None and upgraded["v"] == PAYLOAD_TAG
        assert upgraded["s"] == "Message 1"


class TestHeaderLines:
    """The header block is cut from the reply's lines as it was from the joined body."""

    @given(
        st.lists(
            st.one_of(
                st.just(b""),
                st.binary(max_size=8).filter(lambda b: b"\n" not in b),
            ),
            max_size=12,
        )
    )
    def test_same_as_cutting_the_joined_body(self, lines: list[bytes]) -> None:
        """For any block (CRLF line endings, as the protocol core returns it), the
        header block is the lines up to and including the first empty one."""
        from popview.session.envelope_stream import header_block

        body = b"".join(line + b"\r\n" for line in lines)
        got = header_block(body)
        if b"" in lines:
            end = lines.index(b"")
            assert got == b"".join(line + b"\r\n" for line in lines[: end + 1])
        else:
            assert got == body


class TestDegraded:
    async def test_no_uidl_uses_session_keys(
        self, make_pop3_server: MakeServer, store: Store
    ) -> None:
        """Without UIDL: rows keyed for this session only, a notice, nothing cached."""
        caps = [c for c in default_capabilities() if c != "UIDL"]
        server = await make_pop3_server(capabilities=caps)
        session = MailboxSession(account_for(server), POP3_PASSWORD, store=store)
        info = await session.open()
        assert any("no UIDL" in notice for notice in info.degraded)
        assert "UIDL" not in verbs(server)
        keys = await listed_keys(session)
        assert len(keys) == 3 and not any(key.stable for key in keys)
        assert store.cache.get_envelopes(info.account_key) == {}
        await session.close()

    async def test_no_top_lists_placeholders(self, make_pop3_server: MakeServer) -> None:
        """Without TOP: rows still appear, marked missing; headers come with the message."""
        caps = [c for c in default_capabilities() if c != "TOP"]
        server = await make_pop3_server(capabilities=caps)
        session = MailboxSession(account_for(server), POP3_PASSWORD)
        info = await session.open()
        assert any("no TOP" in notice for notice in info.degraded)
        updates = [u async for u in session.list_messages()]
        assert sorted(k for u in updates for k in u.missing) == ["uid-0001", "uid-0002", "uid-0003"]
        assert "TOP" not in verbs(server)
        fetched = await session.fetch("uid-0001")
        assert fetched.envelope is not None and fetched.envelope.subject == "Lunch on Friday?"
        await session.close()

    async def test_top_refused_keeps_the_row(self, make_pop3_server: MakeServer) -> None:
        """TOP answered -ERR for one message: its row is there, with a notice."""
        server = await make_pop3_server(faults=[Fault("TOP", arg="2", err_code="")])
        session = await opened(server)
        updates = [u async for u in session.list_messages()]
        assert [k for u in updates for k in u.missing] == ["uid-0002"]
        assert len([e for u in updates for e in u.envelopes]) == 3
        assert any("refused TOP" in notice for notice in session.degraded)
        assert session.connected
        await session.close()

    async def test_duplicate_uidls_are_not_stable(self, make_pop3_server: MakeServer) -> None:
        """Duplicated UIDLs get session keys and a notice."""
        mailbox = MemoryMailbox([message(1), message(2), message(3)], uids=["a", "a", "ok"])
        server = await make_pop3_server(mailbox=mailbox)
        session = MailboxSession(account_for(server), POP3_PASSWORD)
        info = await session.open()
        assert any("no stable id" in notice for notice in info.degraded)
        keys = sorted(await listed_keys(session))
        assert keys[-1] == "ok" and not any(key.stable for key in keys[:2])
        await session.close()


class TestFetch:
    async def test_fetch_caches_the_body(self, pop3_server: Pop3Server, store: Store) -> None:
        """RETR once; a later session reads the body from the cache."""
        session = await opened(pop3_server, store)
        progress: list[tuple[int, int]] = []
        first = await session.fetch("uid-0002", progress=lambda d, t: progress.append((d, t)))
        assert not first.from_cache and b"\r\n.\r\n..\r\n.x\r\n" in first.raw
        assert progress and progress[-1][0] == len(first.raw)
        await session.close()
        second = await opened(pop3_server, store)
        again = await second.fetch("uid-0002")
        assert again.from_cache and again.raw == first.raw
        assert verbs(pop3_server).count("RETR") == 1
        await second.close()

    async def test_unknown_key_is_message_gone(self, pop3_server: Pop3Server) -> None:
        """Fetching a key not on the server says the message is gone; no RETR."""
        session = await opened(pop3_server)
        with pytest.raises(MessageGoneError):
            await session.fetch("nope")
        assert "RETR" not in verbs(pop3_server)
        await session.close()


class TestMarks:
    async def test_mark_sends_dele_after_journaling(
        self, pop3_server: Pop3Server, store: Store
    ) -> None:
        """mark: the journal holds the UIDL and the server got DELE for its number."""
        session = MailboxSession(account_for(pop3_server), POP3_PASSWORD, store=store)
        info = await session.open()
        await session.mark("uid-0002")
        assert journal_marks(store.journal, info.account_key) == {"uid-0002"}
        assert pop3_server.commands()[-1] == "DELE 2"
        assert session.marks == {"uid-0002"}
        await session.close()

    async def test_unmark_resets_then_redeletes_the_rest(
        self, pop3_server: Pop3Server, memory_mailbox: MemoryMailbox
    ) -> None:
        """unmark B after A, B: RSET then DELE A; commit deletes only A."""
        session = await opened(pop3_server)
        await session.mark("uid-0001")
        await session.mark("uid-0003")
        await session.unmark("uid-0003")
        assert pop3_server.commands()[-4:] == ["DELE 1", "DELE 3", "RSET", "DELE 1"]
        result = await session.commit(reconnect=False)
        assert result.deleted == ("uid-0001",) and result.status == "applied"
        assert memory_mailbox.deleted == ["uid-0001"]

    async def test_unmark_all_sends_rset(
        self, pop3_server: Pop3Server, memory_mailbox: MemoryMailbox
    ) -> None:
        """unmark_all: RSET; a commit then deletes nothing."""
        session = await opened(pop3_server)
        await session.mark("uid-0001")
        await session.unmark_all()
        assert pop3_server.commands()[-1] == "RSET" and session.marks == frozenset()
        result = await session.commit(reconnect=False)
        assert result.deleted == () and memory_mailbox.deleted == []

    async def test_a_marked_message_keeps_its_headers_after_a_refresh_without_cache(
        self, pop3_server: Pop3Server
    ) -> None:
        """The reconnect re-sends DELE 2 before TOP 2 0, which the server refuses
        (RFC 1939 §5): the listing gives the headers listed before, no placeholder,
        and does not say the server refuses TOP."""
        session = await opened(pop3_server)
        await listing(session)
        await session.mark("uid-0002")
        await session.refresh()
        updates = [update async for update in session.list_messages()]
        assert [key for update in updates for key in update.missing] == []
        subjects = {m.key: m.envelope.subject for update in updates for m in update.messages}
        assert subjects["uid-0002"] == "Dots"  # the sample mailbox's second message
        assert not any("refused TOP" in notice for notice in session.degraded)
        tops = [c for c in pop3_server.commands(pop3_server.sessions_opened) if c.startswith("TOP")]
        assert "TOP 2 0" in tops  # asked, and refused: the headers are the earlier ones
        await session.close()

    @pytest.mark.parametrize("forget", ["unmark_all", "leave_on_server"])
    async def test_forgetting_marks_after_an_unanswered_commit_is_not_undone(
        self, pop3_server: Pop3Server, memory_mailbox: MemoryMailbox, forget: str
    ) -> None:
        """QUIT unanswered (outcome unknown), then unmark all or close leaving the
        marks on the server: the next connection finds the message still there and
        does not mark it again."""
        session = await opened(pop3_server)
        await session.mark("uid-0001")
        pop3_server.faults.append(Fault("QUIT", drop_before=True))
        result = await session.commit(reconnect=False)
        assert result.status == "unknown"
        if forget == "unmark_all":
            await session.unmark_all()
        else:
            await session.close(discard_marks=True)
        await pop3_server.wait_idle()
        await session.open()
        assert session.marks == frozenset()
        assert "DELE" not in verbs(pop3_server, pop3_server.sessions_opened)
        await session.close()
        assert memory_mailbox.deleted == []

    async def test_close_never_quits(
        self, pop3_server: Pop3Server, memory_mailbox: MemoryMailbox, store: Store
    ) -> None:
        """close() with marks: no QUIT, nothing deleted, the marks stay journaled."""
        session = MailboxSession(account_for(pop3_server), POP3_PASSWORD, store=store)
        info = await session.open()
        await session.mark("uid-0001")
        await session.close()
        await pop3_server.wait_idle()
        assert "QUIT" not in verbs(pop3_server)
        assert memory_mailbox.deleted == []
        assert journal_marks(store.journal, info.account_key) == {"uid-0001"}

    async def test_restored_marks_are_reapplied_on_open(
        self, pop3_server: Pop3Server, store: Store
    ) -> None:
        """Marks a crashed session left in the journal are re-applied and reported."""
        first = await opened(pop3_server, store)
        await first.mark("uid-0003")
        await first.close()
        second = await opened(pop3_server, store)
        assert second.marks == {"uid-0003"}
        assert second.last_reconnect is not None
        assert second.last_reconnect.reapplied == ("uid-0003",)
        assert pop3_server.commands(pop3_server.sessions_opened)[-1] == "DELE 3"
        await second.close(discard_marks=True)
        assert journal_marks(store.journal, second.account_key) == frozenset()


class TestReconnect:
    async def test_lost_connection_reconnects_and_remaps(
        self, pop3_server: Pop3Server, memory_mailbox: MemoryMailbox
    ) -> None:
        """After a drop the next action reconnects and DELEs marks under new numbers."""
        session = MailboxSession(account_for(pop3_server), POP3_PASSWORD, keepalive_interval=1e-6)
        await session.open()
        await session.mark("uid-0002")
        await session.mark("uid-0003")
        pop3_server.faults.append(Fault("NOOP", drop_before=True))
        with pytest.raises(Pop3ConnectionError):
            await session.keepalive()
        assert not session.connected and session.marks == {"uid-0002", "uid-0003"}
        await pop3_server.wait_idle()
        other = await opened(pop3_server)
        await other.mark("uid-0001")
        await other.commit(reconnect=False)
        await pop3_server.wait_idle()
        result = await session.commit(reconnect=False)
        assert session.last_reconnect is not None
        assert session.last_reconnect.reapplied == ("uid-0002", "uid-0003")
        third = pop3_server.commands(pop3_server.sessions_opened)
        assert [c for c in third if c.startswith("DELE")] == ["DELE 1", "DELE 2"]
        assert result.status == "applied"
        assert sorted(memory_mailbox.deleted) == ["uid-0001", "uid-0002", "uid-0003"]

    async def test_vanished_mark_is_reported(
        self, pop3_server: Pop3Server, memory_mailbox: MemoryMailbox
    ) -> None:
        """A marked message another client deleted is reported vanished, no DELE for it."""
        session = await opened(pop3_server)
        await session.mark("uid-0001")
        await session.close()
        await pop3_server.wait_idle()
        other = await opened(pop3_server)
        await other.mark("uid-0001")
        await other.commit(reconnect=False)
        await pop3_server.wait_idle()
        session._opened = True  # reopen through the reconnect path
        await session.refresh()
        assert session.last_reconnect is not None
        assert session.last_reconnect.vanished == ("uid-0001",)
        assert "DELE" not in verbs(pop3_server, pop3_server.sessions_opened)
        await session.close()

    async def test_session_only_marks_are_dropped_on_reconnect(
        self, make_pop3_server: MakeServer, memory_mailbox: MemoryMailbox
    ) -> None:
        """No UIDL: marks cannot be found again; they are dropped with a count."""
        caps = [c for c in default_capabilities() if c != "UIDL"]
        server = await make_pop3_server(capabilities=caps)
        session = await opened(server)
        key = session.key_for_number(1)
        assert key is not None
        await session.mark(key)
        await session.refresh()
        assert session.last_reconnect is not None
        assert session.last_reconnect.dropped_no_uidl == 1
        assert session.marks == frozenset()
        assert "DELE" not in verbs(server, server.sessions_opened)
        await session.close()


class TestRespCodes:
    @pytest.mark.parametrize(
        ("code", "error"),
        [
            ("IN-USE", MailboxInUseError),
            ("LOGIN-DELAY", LoginDelayError),
            ("SYS/TEMP", TemporaryServerError),
            ("SYS/PERM", PermanentServerError),
            ("AUTH", AuthError),
        ],
    )
    async def test_login_codes_have_their_own_error(
        self, make_pop3_server: MakeServer, code: str, error: type[Exception]
    ) -> None:
        """A login -ERR [CODE] raises its own error; one attempt, no retry loop."""
        server = await make_pop3_server(faults=[Fault("AUTH", err_code=code)])
        session = MailboxSession(account_for(server), POP3_PASSWORD)
        with pytest.raises(error) as caught:
            await session.open()
        assert not isinstance(caught.value, AuthError) or code == "AUTH"
        assert server.sessions_opened == 1
        assert verbs(server).count("AUTH") == 1 and "QUIT" not in verbs(server)

    async def test_each_code_has_one_distinct_sentence(self, make_pop3_server: MakeServer) -> None:
        """A.17: IN-USE, LOGIN-DELAY, SYS/TEMP, SYS/PERM, AUTH (on login) and UTF8
        (on RETR) each read as their own sentence, the one in RESP_CODE_SENTENCES."""
        shown: dict[str, str] = {}
        for code in ("IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM", "AUTH"):
            server = await make_pop3_server(faults=[Fault("AUTH", err_code=code)])
            with pytest.raises(Pop3ServerError) as caught:
                await MailboxSession(account_for(server), POP3_PASSWORD).open()
            shown[code] = str(caught.value)
        server = await make_pop3_server(faults=[Fault("RETR", err_code="UTF8")])
        session = await opened(server)
        key = session.key_for_number(1)
        assert key is not None
        with pytest.raises(Pop3ServerError) as caught:
            await session.fetch(key)
        shown["UTF8"] = str(caught.value)
        await session.close()
        assert len(set(shown.values())) == 6
        for code, text in shown.items():
            assert text.startswith(RESP_CODE_SENTENCES[code]), code

    async def test_refresh_honours_capa_login_delay(self, make_pop3_server: MakeServer) -> None:
        """CAPA LOGIN-DELAY 900: refresh refuses to log in again, without connecting."""
        server = await make_pop3_server(capabilities=[*default_capabilities(), "LOGIN-DELAY 900"])
        session = MailboxSession(account_for(server), POP3_PASSWORD)
        info = await session.open()
        assert info.login_delay == 900 and info.next_login_at is not None
        with pytest.raises(LoginDelayError):
            await session.refresh()
        assert server.sessions_opened == 1
        await session.close()


async def _wait_for(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition()`` holds (the server runs on this loop)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


class TestInUseAfterOwnClose:
    """[IN-USE] right after popview's own commit/close is retried briefly, never looped."""

    async def _holder(self, server: Pop3Server) -> Pop3Client:
        holder = await Pop3Client.connect("127.0.0.1", server.port, tls="none")
        await holder.login(POP3_USER, POP3_PASSWORD)
        return holder

    async def test_commit_reconnect_waits_for_the_lock(self, make_pop3_server: MakeServer) -> None:
        """Another session takes the maildrop lock between our QUIT and the reconnect
        and lets go once our first login was refused: the commit's reconnect is
        retried, succeeds, and the marked message is gone."""
        server = await make_pop3_server(
            mailbox=MemoryMailbox([message(1), message(2)]),
            faults=[Fault("QUIT", delay=0.5)],  # the lock is free while the +OK is late
        )
        session = MailboxSession(account_for(server), POP3_PASSWORD)
        session.in_use_retry_delays = (0.05, 0.2)
        await session.open()
        await session.mark("uid-0001")

        async def hold_then_release() -> None:
            await _wait_for(lambda: "QUIT" in verbs(server, 1))
            holder = await self._holder(server)  # session 2
            # Let go only after our reconnect (session 3) was refused once.
            await _wait_for(lambda: "AUTH" in verbs(server, 3))
            await holder.quit()

        other = asyncio.ensure_future(hold_then_release())
        result = await session.commit(reconnect=True)
        await other
        assert result.status == "applied" and result.deleted == ("uid-0001",)
        assert result.reconnect_error is None
        assert session.connected
        # Ours, the holder, our refused reconnect, our retry.
        assert server.sessions_opened == 4
        assert "AUTH" in verbs(server, 3) and "STAT" not in verbs(server, 3)
        assert verbs(server, 4)[-3:] == ["STAT", "LIST", "UIDL"]
        assert [ref.key for ref in session._conn.index] == ["uid-0002"]  # type: ignore[union-attr]
        await session.close()

    async def test_retries_are_bounded(self, make_pop3_server: MakeServer) -> None:
        """A lock that is never released: two retries, then the reconnect error is
        reported (the commit itself was applied)."""
        server = await make_pop3_server(
            mailbox=MemoryMailbox([message(1), message(2)]), faults=[Fault("QUIT", delay=0.3)]
        )
        session = MailboxSession(account_for(server), POP3_PASSWORD)
        session.in_use_retry_delays = (0.01, 0.01)
        await session.open()
        await session.mark("uid-0001")
        holders: list[Pop3Client] = []

        async def hold() -> None:
            await _wait_for(lambda: "QUIT" in verbs(server, 1))
            holders.append(await self._holder(server))

        other = asyncio.ensure_future(hold())
        result = await session.commit(reconnect=True)
        await other
        assert result.status == "applied" and result.deleted == ("uid-0001",)
        assert result.reconnect_error is not None and "Another mail client" in (
            result.reconnect_error
        )
        assert server.sessions_opened == 2 + 3  # ours, the holder, 1 try + 2 retries
        await holders[0].quit()

    async def test_user_login_is_not_retried(self, make_pop3_server: MakeServer) -> None:
        """open() against a held lock fails at once with MailboxInUseError, even
        right after this session closed its own connection."""
        server = await make_pop3_server()
        session = MailboxSession(account_for(server), POP3_PASSWORD)
        session.in_use_retry_delays = (0.01, 0.01)
        await session.open()
        await session.close()
        holder = await self._holder(server)
        with pytest.raises(MailboxInUseError):
            await session.open()
        assert verbs(server, 3).count("AUTH") == 1 and server.sessions_opened == 3
        await holder.quit()


def _fingerprint_of_context_cert(ca: trustme.CA, context: ssl.SSLContext) -> str:
    """Give ``context`` a new certificate from ``ca``; return its SHA-256 fingerprint."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.configure_cert(context)
    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    return fingerprint_of(der)


class TestTrustCertificate:
    """trust_certificate pins a certificate the system does not trust; only it is accepted."""

    async def test_trust_then_reconnect_then_other_cert_refused(
        self, make_pop3_server: MakeServer, store: Store
    ) -> None:
        """First connect: TLSVerificationError with the fingerprint, nothing sent.
        Trusted: the session and a later one (pin from the store) log in. A new
        certificate on the same server is then refused, before any credential."""
        ca = trustme.CA()  # not in the system store
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        first = _fingerprint_of_context_cert(ca, server_context)
        server = await make_pop3_server(implicit_tls=server_context)
        account = account_for(server, tls="implicit")
        session = MailboxSession(account, POP3_PASSWORD, store=store)
        with pytest.raises(TLSVerificationError) as caught:
            await session.open()
        assert caught.value.fingerprint == first
        assert server.commands() == []  # no password went out

        assert session.trust_certificate(first.replace(":", "").lower()) == first
        info = await session.open()
        assert info.encrypted and info.tls is not None and info.tls.pinned
        assert info.tls.fingerprint == first
        await session.close()
        assert store.pins.pinned(session.account_key, "127.0.0.1") == first

        later = MailboxSession(account, POP3_PASSWORD, store=store)
        await later.open()  # the pin from the store, no question asked
        await later.close()

        second = _fingerprint_of_context_cert(trustme.CA(), server_context)
        assert second != first
        opened = server.sessions_opened
        changed = MailboxSession(account, POP3_PASSWORD, store=store)
        with pytest.raises(TLSVerificationError) as refused:
            await changed.open()
        assert refused.value.fingerprint == second
        assert server.sessions_opened == opened + 1
        assert server.commands(server.sessions_opened) == []

    async def test_trusted_pin_wins_over_a_stale_configured_one(
        self, make_pop3_server: MakeServer
    ) -> None:
        """Without a store, trusting holds for the session and beats a configured
        fingerprint that no longer matches (a renewed certificate)."""
        ca = trustme.CA()
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        current = _fingerprint_of_context_cert(ca, server_context)
        server = await make_pop3_server(implicit_tls=server_context)
        stale = "AB:" * 31 + "AB"
        session = MailboxSession(
            account_for(server, tls="implicit", fingerprint=stale), POP3_PASSWORD
        )
        with pytest.raises(TLSVerificationError) as caught:
            await session.open()
        assert caught.value.fingerprint == current
        session.trust_certificate(current)
        assert (await session.open()).tls is not None
        await session.close()

    def test_refuses_what_is_not_a_fingerprint_or_has_no_tls(self, store: Store) -> None:
        """A malformed fingerprint or a plaintext account: a PopviewError, nothing pinned."""
        tls = MailboxSession(
            Account(name="t", host="h", port=995, user="u", tls="implicit"), "pw", store=store
        )
        with pytest.raises(PopviewError):
            tls.trust_certificate("12:34")
        plain = MailboxSession(Account(name="t", host="h", port=110, user="u", tls="none"), "pw")
        with pytest.raises(PopviewError):
            plain.trust_certificate("AB" * 32)
        assert store.pins.pinned(tls.account_key, "h") is None


class TestKeepalive:
    async def test_noop_only_when_idle(self, pop3_server: Pop3Server) -> None:
        """keepalive sends NOOP once the interval has passed, not before."""
        session = MailboxSession(account_for(pop3_server), POP3_PASSWORD, keepalive_interval=3600)
        await session.open()
        assert await session.keepalive() is False
        session.keepalive_interval = 1e-6
        assert await session.keepalive() is True
        assert pop3_server.commands()[-1] == "NOOP"
        await session.close()

    async def test_zero_means_off(self, pop3_server: Pop3Server) -> None:
        """keepalive = 0 is "off" in the engine too (issue 9, obs. 6): never a NOOP,
        and no deadline for the worker to wake up at."""
        session = MailboxSession(account_for(pop3_server), POP3_PASSWORD, keepalive_interval=0)
        await session.open()
        assert session.seconds_until_keepalive() is None
        assert await session.keepalive() is False
        assert "NOOP" not in pop3_server.commands()
        await session.close()
