"""What a session remembers about the server between sessions (popview.store.servers).

The capabilities from before login are remembered under the greeting: the next
session asks no CAPA before login when the greeting is the same, asks again
when it changed or when IMPLEMENTATION changed; a server found unable to
pipeline (HARDENING A.19) is never pipelined to by a later session. Everything
is asserted on what the embedded server received.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from popview.config import Account
from popview.errors import AuthError, Pop3TimeoutError
from popview.pop3 import protocol
from popview.pop3.client import Pop3Client
from popview.server import MemoryMailbox, Pop3Server
from popview.session import MailboxSession
from popview.store import ServerNotes, Store
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER
from tests.test_engine_hardening import (
    USER_PASS_CAPS,
    HalfPipeliningProxy,
    commands_per_write,
    message,
)

MakeServer = Callable[..., Awaitable[Pop3Server]]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "cache")
    yield opened
    opened.close()


def account(port: int, timeout: float = 10.0) -> Account:
    return Account(
        name="t", host="127.0.0.1", port=port, user=POP3_USER, tls="none", timeout=timeout
    )


async def open_and_close(port: int, store: Store, timeout: float = 10.0) -> None:
    session = MailboxSession(account(port, timeout), POP3_PASSWORD, store=store)
    info = await session.open()
    assert info.message_count == 2
    await session.close()


def before_login(server: Pop3Server, session: int) -> list[str]:
    """The commands a session sent before its first login command."""
    lines = server.commands(session)
    first = next(i for i, line in enumerate(lines) if line.split()[0] in ("USER", "AUTH"))
    return lines[:first]


async def serve(make_pop3_server: MakeServer, **kwargs: object) -> Pop3Server:
    return await make_pop3_server(mailbox=MemoryMailbox([message(1), message(2)]), **kwargs)


async def test_second_session_asks_no_capa_before_login(
    make_pop3_server: MakeServer, store: Store
) -> None:
    server = await serve(make_pop3_server)
    await open_and_close(server.port, store)
    await open_and_close(server.port, store)
    assert before_login(server, 1) == ["CAPA"]
    assert before_login(server, 2) == []
    # CAPA after login is still asked (RFC 2449 §6), in the flight with STAT.
    assert "CAPA" in server.commands(2)
    assert "QUIT" not in server.commands()


async def test_a_changed_greeting_makes_the_next_session_ask_capa(
    make_pop3_server: MakeServer, store: Store
) -> None:
    server = await serve(make_pop3_server, greeting=b"+OK version one\r\n")
    await open_and_close(server.port, store)
    server.greeting = b"+OK version two\r\n"
    await open_and_close(server.port, store)
    await open_and_close(server.port, store)
    assert [before_login(server, n) for n in (1, 2, 3)] == [["CAPA"], ["CAPA"], []]


async def test_an_apop_timestamp_is_not_a_changed_greeting(
    make_pop3_server: MakeServer, store: Store
) -> None:
    """The APOP timestamp is new in every greeting (RFC 1939 §7): not a change."""
    server = await serve(make_pop3_server, apop=True)
    await open_and_close(server.port, store)
    await open_and_close(server.port, store)
    assert [before_login(server, n) for n in (1, 2)] == [["CAPA"], []]


async def test_a_changed_implementation_makes_the_next_session_ask_capa(
    make_pop3_server: MakeServer, store: Store
) -> None:
    server = await serve(make_pop3_server, capabilities=[*USER_PASS_CAPS])
    await open_and_close(server.port, store)
    await open_and_close(server.port, store)
    server.capabilities = [c for c in USER_PASS_CAPS if not c.startswith("IMPL")]
    server.capabilities.append("IMPLEMENTATION test-2")
    await open_and_close(server.port, store)  # remembered CAPA, sees the new one after login
    await open_and_close(server.port, store)
    assert [before_login(server, n) for n in (1, 2, 3, 4)] == [["CAPA"], [], [], ["CAPA"]]


async def test_login_and_listing_go_in_one_write_to_a_remembered_pipelining_server(
    make_pop3_server: MakeServer, store: Store
) -> None:
    """The greeting is the remembered one and the server pipelines: USER, PASS,
    CAPA, STAT, LIST and UIDL go in one write (RFC 2449 §6.6), and the server
    answers them as a logged-in session."""
    server = await serve(make_pop3_server, capabilities=[*USER_PASS_CAPS])
    proxy = HalfPipeliningProxy(server.port, frozenset())
    await proxy.start()
    try:
        await open_and_close(proxy.port, store)
        await open_and_close(proxy.port, store)
    finally:
        await proxy.close()
    flight = proxy.writes[1][0]
    assert flight.startswith(b"USER " + POP3_USER.encode() + b"\r\nPASS ")
    assert flight.endswith(b"\r\nCAPA\r\nSTAT\r\nLIST\r\nUIDL\r\n")
    assert commands_per_write([flight]) == [6]
    assert server.commands(2)[2:] == ["CAPA", "STAT", "LIST", "UIDL"]
    # The first session asked CAPA first, then sent the login and the listing
    # together, as its fresh CAPA says PIPELINING.
    assert commands_per_write(proxy.writes[0][:2]) == [1, 6]


async def test_a_changed_greeting_takes_the_careful_path(
    make_pop3_server: MakeServer, store: Store
) -> None:
    """A greeting other than the remembered one: CAPA is asked first (the
    remembered capabilities may be stale), then the login and the listing fly
    together as that fresh CAPA allows; the next session flies at once again."""
    server = await serve(
        make_pop3_server, capabilities=[*USER_PASS_CAPS], greeting=b"+OK version one\r\n"
    )
    proxy = HalfPipeliningProxy(server.port, frozenset())
    await proxy.start()
    try:
        await open_and_close(proxy.port, store)
        server.greeting = b"+OK version two\r\n"
        await open_and_close(proxy.port, store)
        await open_and_close(proxy.port, store)
    finally:
        await proxy.close()
    assert commands_per_write(proxy.writes[1][:2]) == [1, 6]
    assert proxy.writes[1][0] == b"CAPA\r\n"
    assert commands_per_write(proxy.writes[2][:1]) == [6]


async def test_a_refused_password_in_the_flight_is_a_login_error_and_nothing_runs_logged_in(
    make_pop3_server: MakeServer, store: Store
) -> None:
    """PASS refused with the listing queued behind it: the same login error as
    ever (without the password), the queued commands were refused by the server
    as not logged in (RFC 1939 §3; test_dovecot shows a real server never logs
    such a session in), nothing was sent after them, no QUIT, and the
    connection was dropped."""
    server = await serve(make_pop3_server, capabilities=[*USER_PASS_CAPS])
    await open_and_close(server.port, store)
    wrong = "not-the-password-canary"
    session = MailboxSession(account(server.port), wrong, store=store)
    with pytest.raises(AuthError) as refused:
        await session.open()
    assert "password" in str(refused.value).lower()
    assert wrong not in str(refused.value)
    # The flight, and nothing after it: no second try, no QUIT.
    assert [line.split()[0] for line in server.commands(2)] == [
        "USER", "PASS", "CAPA", "STAT", "LIST", "UIDL",
    ]  # fmt: skip
    assert not session.connected
    assert "QUIT" not in server.commands()


async def test_a_server_found_unable_to_pipeline_is_not_pipelined_to_by_a_new_session(
    make_pop3_server: MakeServer, store: Store
) -> None:
    """A.19 across sessions: the first session's pipelined flight is half answered
    and times out; a new MailboxSession on the same store sends one command per
    write from the first byte on."""
    server = await serve(make_pop3_server, capabilities=[*USER_PASS_CAPS])
    proxy = HalfPipeliningProxy(server.port, frozenset({"USER", "CAPA"}))
    await proxy.start()
    try:
        first = MailboxSession(account(proxy.port, 1.0), POP3_PASSWORD, store=store)
        with pytest.raises(Pop3TimeoutError, match="one command at a time"):
            await first.open()
        assert any(n > 1 for n in commands_per_write(proxy.writes[0]))  # it did pipeline
        notes = store.servers.get(f"{POP3_USER}@127.0.0.1:{proxy.port}")
        assert notes is not None and notes.pipelining_broken
        await open_and_close(proxy.port, store)
        await open_and_close(proxy.port, store)
    finally:
        await proxy.close()
    for writes in proxy.writes[1:]:
        assert commands_per_write(writes) == [1] * len(writes), writes
    assert "QUIT" not in server.commands()


async def test_a_server_found_unable_to_pipeline_top_is_not_pipelined_to_by_a_new_session(
    make_pop3_server: MakeServer, store: Store
) -> None:
    """A.19 found during the listing: the pipelined TOP flight is half answered and
    times out; the break is remembered, so a new MailboxSession on the same store
    sends one command per write from the first byte on."""
    three = MemoryMailbox([message(1), message(2), message(3)])
    server = await make_pop3_server(mailbox=three, capabilities=[*USER_PASS_CAPS])
    proxy = HalfPipeliningProxy(server.port, frozenset({"TOP"}))
    await proxy.start()
    try:
        first = MailboxSession(account(proxy.port, 1.0), POP3_PASSWORD, store=store)
        await first.open()
        with pytest.raises(Pop3TimeoutError, match="one command at a time"):
            async for _ in first.list_messages():
                pass
        assert any(
            n > 1 and data.startswith(b"TOP")
            for n, data in zip(commands_per_write(proxy.writes[0]), proxy.writes[0], strict=True)
        )  # it did pipeline TOP
        notes = store.servers.get(f"{POP3_USER}@127.0.0.1:{proxy.port}")
        assert notes is not None and notes.pipelining_broken
        await first.close()
        second = MailboxSession(account(proxy.port), POP3_PASSWORD, store=store)
        await second.open()
        listed = [env async for update in second.list_messages() for env in update.envelopes]
        await second.close()
    finally:
        await proxy.close()
    assert sorted(env.subject for env in listed) == ["Message 1", "Message 2", "Message 3"]
    writes = proxy.writes[1]
    assert commands_per_write(writes) == [1] * len(writes), writes
    assert b"TOP " in b"".join(writes)  # the ones the first listing did not cache
    assert "QUIT" not in server.commands()


def test_notes_round_trip_and_forget(store: Store) -> None:
    notes = ServerNotes("+OK hi", "USER\nPIPELINING", "impl", pipelining_broken=True)
    store.servers.put("a@h:110", notes)
    assert store.servers.get("a@h:110") == notes
    assert store.servers.get("b@h:110") is None
    store.servers.forget("a@h:110")
    assert store.servers.get("a@h:110") is None


def test_a_version_2_cache_is_upgraded(tmp_path: Path) -> None:
    """A cache written before the server notes existed keeps its pins and gains them."""
    import sqlite3

    from popview.store import DB_FILENAME

    folder = tmp_path / "cache"
    with Store.open(folder) as opened:
        opened.pins.pin("a@h:995", "h", "AB:CD")
    connection = sqlite3.connect(folder / DB_FILENAME)
    connection.execute("DROP TABLE servers")
    connection.execute("ALTER TABLE journal DROP COLUMN rule")  # schema 4
    connection.execute("PRAGMA user_version = 2")
    connection.commit()
    connection.close()
    with Store.open(folder) as opened:
        assert opened.pins.pinned("a@h:995", "h") == "AB:CD"
        opened.servers.put("a@h:995", ServerNotes("+OK"))
        assert opened.servers.get("a@h:995") == ServerNotes("+OK")


async def test_the_pipelined_login_keeps_the_password_out_of_the_trace(
    make_pop3_server: MakeServer, store: Store
) -> None:
    """Rule "secrets-never-shown" on the one-write USER+PASS path: the trace shows
    ``PASS`` masked, and the server still got the right password (it logged in)."""
    server = await serve(make_pop3_server, capabilities=[*USER_PASS_CAPS])
    await open_and_close(server.port, store)
    lines: list[str] = []
    session = MailboxSession(account(server.port), POP3_PASSWORD, store=store, trace=lines.append)
    info = await session.open()
    await session.close()
    assert info.message_count == 2
    assert before_login(server, 2) == []  # the pipelined path was taken
    assert "C: PASS ***" in lines and "C: UIDL" in lines, lines
    assert not any(POP3_PASSWORD in line for line in lines), lines


async def test_a_client_whose_flight_login_is_refused_is_dropped_not_left_half_read(
    make_pop3_server: MakeServer,
) -> None:
    """Pop3Client.login with commands queued behind PASS: a refused PASS raises
    the login error and closes the connection (rule "drop-on-framing-error":
    the queued replies are unread, so it is never reused)."""
    server = await serve(make_pop3_server, capabilities=[*USER_PASS_CAPS])
    client = await Pop3Client.connect("127.0.0.1", server.port, tls="none")
    with pytest.raises(AuthError):
        await client.login(POP3_USER, "wrong", pipelined=True, capa=False, then=[protocol.stat()])
    assert client.closed
    assert [line.split()[0] for line in server.commands(1)] == ["CAPA", "USER", "PASS", "STAT"]
    assert "QUIT" not in server.commands()
