"""The cached rows on screen before the server answers, then reconciled with it.

The product serves the message list "instantly from a local cache on the next
visit": the rows the session reads during the login are painted at once, shown
as the cache's, and nothing that needs the server is done for them until the
server's LIST and UIDL are in (a cached row has no message number in this
session, RFC 1939 §4). Driven by Pilot against the embedded server, with a real
sqlite store; the server's ``LIST`` reply is held with a fault, so every check
made while it is held is made before the server has listed anything.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Static

from popview.config import Account
from popview.server import Fault, MemoryMailbox, Pop3Server
from popview.session import MailboxSession
from popview.session.cached_rows import unconfirmed_rows
from popview.session.envelope_stream import checked
from popview.session.types import Listed
from popview.store import Store
from popview.ui.app import PopviewApp
from popview.ui.screens.dialogs import ConfirmScreen
from popview.ui.screens.login import LoginScreen
from popview.ui.screens.mailbox import FROM_CACHE, WAIT_FOR_SERVER, MailboxScreen
from popview.ui.widgets.envelope_table import EnvelopeTable
from tests.fixtures.embedded import POP3_PASSWORD, new_server
from tests.ui_support import account_for, table_lines, wait_for, wait_listed

SIZE = (100, 30)


def mail(n: int) -> bytes:
    return (
        f"From: Sender {n} <s{n}@example.org>\r\nSubject: Subject number {n}\r\n"
        f"Date: {n:02d} Mar 2024 12:00:00 +0000\r\n\r\nbody {n}\r\n"
    ).encode()


def shown(app: PopviewApp) -> str:
    return "\n".join(table_lines(app))


def status(app: PopviewApp) -> str:
    screen = next(s for s in app.screen_stack if isinstance(s, MailboxScreen))
    return str(screen.query_one("#status-line", Static).render())


def badge(app: PopviewApp) -> str:
    return str(app.screen.query_one("#header-tls", Static).render())


def app_for(server: Pop3Server, store: Store) -> PopviewApp:
    """The app on ``server``'s account, with the password given and ``store`` as its cache."""
    return PopviewApp(None, account=account_for(server), password=POP3_PASSWORD, store=store)


async def first_visit(server: Pop3Server, cache: Path) -> None:
    """List everything once, so the cache holds every envelope."""
    with Store.open(cache) as store:
        app = app_for(server, store)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("q")
            await wait_for(pilot, lambda: app.return_code is not None)


def hold_list(server: Pop3Server) -> tuple[asyncio.Event, Fault]:
    """Hold the server's LIST reply (and so everything pipelined after it)."""
    release = asyncio.Event()
    fault = Fault(verb="LIST", hold=release, times=1)
    server.faults.append(fault)
    return release, fault


async def cached_rows_up(pilot: Pilot[Any]) -> PopviewApp:
    app = pilot.app
    assert isinstance(app, PopviewApp)
    await wait_for(pilot, lambda: isinstance(app.screen, MailboxScreen) and bool(app.listing.rows))
    await pilot.pause()
    return app


class TestCachedRowsFirst:
    async def test_painted_before_list_then_confirmed(self, tmp_path: Path) -> None:
        server = new_server([mail(n) for n in range(1, 4)])
        await server.start()
        try:
            await first_visit(server, tmp_path)
            release, held = hold_list(server)
            with Store.open(tmp_path) as store:
                app = app_for(server, store)
                async with app.run_test(size=SIZE) as pilot:
                    app = await cached_rows_up(pilot)
                    # On screen while the server still holds its LIST reply.
                    assert held.fired == 1 and not release.is_set()
                    for n in range(1, 4):
                        assert f"Subject number {n}" in shown(app)
                    assert status(app) == FROM_CACHE
                    # Rule "tls-by-default": this account logs in in clear; the
                    # badge says so while the login is in the air too.
                    assert "UNENCRYPTED" in badge(app) and "CHECKING" in badge(app)
                    release.set()
                    await wait_listed(pilot)
                    assert status(app) == ""
                    assert badge(app).strip() == "UNENCRYPTED"
                    assert all(f"Subject number {n}" in shown(app) for n in range(1, 4))
        finally:
            release.set()
            await server.close()

    async def test_row_gone_from_server_disappears_and_new_one_appears(
        self, tmp_path: Path
    ) -> None:
        mailbox = MemoryMailbox([mail(n) for n in range(1, 4)])
        server = new_server(mailbox)
        await server.start()
        try:
            new_top = asyncio.Event()
            await first_visit(server, tmp_path)
            # Between the visits another client deleted message 1; message 4 arrived.
            mailbox.expunge([item.key for item in mailbox.load() if item.uid == "uid-0001"])
            mailbox.add(mail(4))
            release, _held = hold_list(server)
            # The new message's TOP is held too: the server has listed, the list loads.
            server.faults.append(Fault(verb="TOP", arg="3", hold=new_top, times=1))
            with Store.open(tmp_path) as store:
                app = app_for(server, store)
                async with app.run_test(size=SIZE) as pilot:
                    app = await cached_rows_up(pilot)
                    assert "Subject number 1" in shown(app)  # the cache still has it
                    assert "Subject number 4" not in shown(app)
                    release.set()
                    # Gone as soon as the server's LIST/UIDL are in, not at the end.
                    await wait_for(pilot, lambda: status(app) == "")
                    await pilot.pause()
                    assert app.loading and "Subject number 1" not in shown(app)
                    assert "Subject number 2" in shown(app)
                    new_top.set()
                    await wait_listed(pilot)
                    assert "Subject number 1" not in shown(app)
                    assert "Subject number 4" in shown(app)
                    assert sorted(app.listing.envelopes) == ["uid-0002", "uid-0003", "uid-0004"]
        finally:
            release.set()
            new_top.set()
            await server.close()

    async def test_a_row_listed_under_another_size_goes_at_once(self, tmp_path: Path) -> None:
        """The server lists a cached UIDL under another size: the UIDL now names other
        content, so its cached row goes as soon as the server has listed (nothing,
        the commit dialog included, may describe the old message); the listing then
        brings the message as it is."""
        mailbox = MemoryMailbox([mail(n) for n in range(1, 3)])
        server = new_server(mailbox)
        await server.start()
        top = asyncio.Event()
        release = asyncio.Event()
        try:
            await first_visit(server, tmp_path)
            mailbox.expunge([item.key for item in mailbox.load() if item.uid == "uid-0002"])
            replaced = b"From: Other <o@example.org>\r\nSubject: A replaced message\r\n\r\nx\r\n"
            mailbox.add(replaced, uid="uid-0002")
            release, _held = hold_list(server)
            server.faults.append(Fault(verb="TOP", hold=top, times=1))  # its TOP, held
            with Store.open(tmp_path) as store:
                app = app_for(server, store)
                async with app.run_test(size=SIZE) as pilot:
                    app = await cached_rows_up(pilot)
                    assert "Subject number 2" in shown(app)
                    release.set()
                    await wait_for(pilot, lambda: status(app) == "")
                    await pilot.pause()
                    assert "Subject number 2" not in shown(app)
                    assert "Subject number 1" in shown(app)
                    top.set()
                    await wait_listed(pilot)
                    assert "A replaced message" in shown(app)
        finally:
            release.set()
            top.set()
            await server.close()

    async def test_keys_that_need_the_server_wait_for_it(self, tmp_path: Path) -> None:
        """d (and Enter, v, u) on a cached row is refused with a status line until the
        server has listed; then d marks the message under its number in THIS
        session, not the number it had when it was cached."""
        mailbox = MemoryMailbox([mail(n) for n in range(1, 4)])
        server = new_server(mailbox)
        await server.start()
        try:
            await first_visit(server, tmp_path)
            # Message 1 went away: uid-0003 was message 3 when cached, is message 2 now.
            mailbox.expunge([item.key for item in mailbox.load() if item.uid == "uid-0001"])
            release, _held = hold_list(server)
            first = len(server.commands())
            with Store.open(tmp_path) as store:
                app = app_for(server, store)
                async with app.run_test(size=SIZE) as pilot:
                    app = await cached_rows_up(pilot)
                    table = app.screen.query_one(EnvelopeTable)
                    table.move_to(app.listing.index_of("uid-0003") or 0)
                    assert table.current_key == "uid-0003"
                    read_before = set(app.listing.read)
                    for key in ("d", "enter", "v", "u", "N"):
                        await pilot.press(key)
                        assert isinstance(app.screen, MailboxScreen)  # no viewer opened
                        assert status(app) == WAIT_FOR_SERVER
                    assert not app.marks
                    # N too: the read flag is kept per account, which is not known yet.
                    assert app.listing.read == read_before
                    release.set()
                    await wait_listed(pilot)
                    assert not app.marks  # the refused d was not queued for later
                    sent = server.commands()[first:]
                    # Nothing was deleted, read or previewed (TOP n 0 is the listing's).
                    assert not [c for c in sent if c.startswith(("DELE", "RETR"))]
                    assert not [c for c in sent if c.startswith("TOP") and not c.endswith(" 0")]
                    table.move_to(app.listing.index_of("uid-0003") or 0)
                    await pilot.press("d")
                    await wait_for(pilot, lambda: "uid-0003" in app.session_marks)
                    deles = [c for c in server.commands()[first:] if c.startswith("DELE")]
                    assert deles == ["DELE 2"]
                    # The commit dialog lists exactly what QUIT then deletes.
                    await pilot.press("dollar_sign")
                    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
                    dialog = app.screen
                    assert isinstance(dialog, ConfirmScreen)
                    listed = "\n".join(dialog.lines)
                    assert "Subject number 3" in listed and "Subject number 2" not in listed
                    await pilot.press("y")
                    # uid-0001 went between the visits; the commit deletes uid-0003 only.
                    await wait_for(pilot, lambda: len(mailbox.deleted) > 1)
                    assert mailbox.deleted == ["uid-0001", "uid-0003"]
        finally:
            release.set()
            await server.close()

    async def test_failed_login_goes_back_to_the_form(self, tmp_path: Path) -> None:
        server = new_server([mail(n) for n in range(1, 3)])
        await server.start()
        try:
            await first_visit(server, tmp_path)
            release = asyncio.Event()
            server.faults.append(Fault(verb="AUTH", hold=release, err_code="AUTH", times=1))
            with Store.open(tmp_path) as store:
                app = app_for(server, store)
                async with app.run_test(size=SIZE) as pilot:
                    app = await cached_rows_up(pilot)
                    release.set()
                    await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
                    login = app.screen
                    text = str(login.query_one("#login-status", Static).render())
                    assert "injected" in text
                    assert not app.listing.rows and not app.loading
        finally:
            release.set()
            await server.close()

    async def test_rows_read_after_a_failed_login_are_not_painted(self, tmp_path: Path) -> None:
        """The cache's reading thread may report rows after the login has failed (a
        refused connection answers before a large cache is read): they must not
        cover the form and its error with rows nobody will confirm. The reading
        thread's own callback is called after the failure, as it would be."""
        server = new_server([mail(n) for n in range(1, 3)])
        await server.start()
        try:
            await first_visit(server, tmp_path)
            rows = list(app_rows_of(tmp_path, server))
            port = server.port
        finally:
            await server.close()  # nothing listens now: the login fails at once
        sessions: list[MailboxSession] = []

        def factory(account: Account, password: Any) -> MailboxSession:
            sessions.append(MailboxSession(account, password, store=store))
            return sessions[-1]

        with Store.open(tmp_path) as store:
            account = Account(name="d", host="127.0.0.1", port=port, tls="none", user="alice")
            app = PopviewApp(None, account=account, password=POP3_PASSWORD, store=store,
                             session_factory=factory)  # fmt: skip
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(
                    pilot,
                    lambda: (
                        isinstance(app.screen, LoginScreen)
                        and "connect" in str(app.screen.query_one("#login-status", Static).render())
                    ),
                )
                callback = sessions[-1].on_cached
                assert callback is not None
                assert callback(rows) is False  # the thread is told to stop
                await pilot.pause()
                await pilot.pause()
                assert isinstance(app.screen, LoginScreen) and not app.listing.rows
                assert not app.from_cache

    async def test_q_while_checking_leaves_without_a_word_to_the_server(
        self, tmp_path: Path
    ) -> None:
        server = new_server([mail(n) for n in range(1, 3)])
        await server.start()
        try:
            await first_visit(server, tmp_path)
            release, _held = hold_list(server)
            first = len(server.commands())
            with Store.open(tmp_path) as store:
                app = app_for(server, store)
                async with app.run_test(size=SIZE) as pilot:
                    app = await cached_rows_up(pilot)
                    await pilot.press("q")
                    await wait_for(pilot, lambda: app.return_code is not None)
                    assert app.return_code == 0
            assert "QUIT" not in server.commands()[first:]
        finally:
            release.set()
            await server.close()


def app_rows_of(cache: Path, server: Pop3Server) -> list[Listed]:
    """The account's cached rows as the reading thread reports them."""
    with Store.open(cache) as store:
        key = f"{account_for(server).user}@127.0.0.1:{server.port}"
        return unconfirmed_rows(checked(store.cache.get_envelopes(key)))
