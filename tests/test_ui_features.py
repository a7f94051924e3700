"""The app's wiring to the local cache, certificate trust, ``-a NAME``, and the viewer's
save/open actions, driven by Pilot against the embedded server.

Each test asserts what the user sees, what the server received, or the files written.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Static

from popview.config import Account
from popview.demo import sample_messages
from popview.pop3.tls import normalize_fingerprint
from popview.server import Pop3Server
from popview.store import Store
from popview.ui.app import PopviewApp
from popview.ui.screens.dialogs import ConfirmScreen, PasswordScreen
from popview.ui.screens.login import LoginScreen
from tests.test_ui_support import (
    PASSWORD,
    USER,
    account_for,
    make_server,
    table_lines,
    wait_for,
    wait_listed,
)

SIZE = (100, 30)


def static_text(app: PopviewApp, selector: str) -> str:
    """The plain text of a Static on the current screen."""
    content = app.screen.query_one(selector, Static).render()
    return content.plain if isinstance(content, Text) else str(content)


NEW_MESSAGE = (
    b"From: Newcomer <new@x.example>\r\nSubject: Arrived between visits\r\n"
    b"Date: Sat, 16 Mar 2024 12:00:00 +0000\r\nMessage-ID: <new@x.example>\r\n\r\nhello\r\n"
)


@pytest.fixture
async def server() -> AsyncIterator[Pop3Server]:
    """Forty sample messages on a loopback server (plain POP3, user demo)."""
    srv = make_server(sample_messages(40))
    await srv.start()
    yield srv
    await srv.close()


async def visit(server: Pop3Server, cache: Path) -> tuple[list[str], list[str]]:
    """Run the app once with the cache in ``cache``; return its table lines and commands."""
    store = Store.open(cache)
    before = server.sessions_opened
    try:
        app = PopviewApp(None, account=account_for(server), password=PASSWORD, store=store)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            lines = table_lines(app)
            await pilot.press("q")
            await wait_for(pilot, lambda: app.return_code is not None)
    finally:
        store.close()
    sessions = range(before + 1, server.sessions_opened + 1)
    commands = [c for s in sessions for c in server.commands(s)]
    return lines, commands


class TestCache:
    async def test_second_visit_lists_from_cache_and_marks_new(
        self, server: Pop3Server, tmp_path: Path
    ) -> None:
        """First visit sends TOP for every message; the second sends TOP only for the one
        added in between, lists the rest from the cache, and marks only that one "N"."""
        cache = tmp_path / "cache"
        lines, commands = await visit(server, cache)
        assert sum(c.startswith("TOP ") for c in commands) == 40
        assert not any(line[1:2] == "N" for line in lines[1:])  # first visit: nothing "new"
        server.mailbox.add(NEW_MESSAGE)  # type: ignore[attr-defined]

        lines, commands = await visit(server, cache)
        assert [c for c in commands if c.startswith("TOP ")] == ["TOP 41 0"]
        assert "Arrived between visits" in lines[1] and lines[1][1] == "N"
        rows = [line for line in lines[2:] if line.strip()]
        assert rows and all(line[1] == " " for line in rows)

        lines, commands = await visit(server, cache)  # seen now: no longer "new"
        assert not any(c.startswith("TOP ") for c in commands)
        assert lines[1][1] == " "


def write_config(path: Path, server: Pop3Server, cache: Path) -> Path:
    """A config file with one plain-POP3 account "work" for ``server`` (no password)."""
    path.write_text(
        f'[general]\ncache_dir = "{cache}"\n\n'
        f'[accounts.work]\nhost = "127.0.0.1"\nport = {server.port}\ntls = "none"\n'
        'user = "demo"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


class TestAccountOption:
    """``popview -a work``: straight to the mailbox, asking only for what is missing."""

    async def test_password_from_environment_needs_no_input(
        self, server: Pop3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With POPVIEW_CONFIG and POPVIEW_PASSWORD set, the mailbox lists with no key pressed."""
        from popview.config import load_config
        from popview.ui.app import build_app, open_store

        monkeypatch.setenv(
            "POPVIEW_CONFIG", str(write_config(tmp_path / "c.toml", server, tmp_path))
        )
        monkeypatch.setenv("POPVIEW_PASSWORD", PASSWORD)
        config = load_config()
        store = open_store(config)
        assert store is not None and store.path.parent == tmp_path
        try:
            app = build_app(config, account_name="work", store=store)
            async with app.run_test(size=SIZE) as pilot:
                await wait_listed(pilot)
                assert not any(isinstance(s, PasswordScreen) for s in app.screen_stack)
                assert static_text(app, "#header-account").startswith("work")
        finally:
            store.close()
        assert server.commands().count("AUTH PLAIN ***") == 1

    async def test_missing_password_is_asked_alone(
        self, server: Pop3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without a password source only the password is asked; a wrong one is asked again."""
        from popview.config import load_config
        from popview.ui.app import build_app

        monkeypatch.setenv(
            "POPVIEW_CONFIG", str(write_config(tmp_path / "c.toml", server, tmp_path))
        )
        monkeypatch.delenv("POPVIEW_PASSWORD", raising=False)
        app = build_app(load_config(), account_name="work")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, PasswordScreen))
            assert "demo@127.0.0.1" in app.screen.title_text  # type: ignore[attr-defined]
            await pilot.press(*"nope", "enter")
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, PasswordScreen) and app.screen.note is not None,  # type: ignore[attr-defined]
            )
            await pilot.press(*PASSWORD, "enter")
            await wait_listed(pilot)
        assert server.commands().count("AUTH PLAIN ***") == 2  # the wrong one, then the right one


class TestTrustCertificate:
    """An implicit-TLS server whose (trustme) CA the client does not trust."""

    async def test_trust_shows_fingerprint_and_persists(
        self, tls_server_context: ssl.SSLContext, tmp_path: Path
    ) -> None:
        """The failure shows the SHA-256 fingerprint; Ctrl+T, then yes, pins it and logs in;
        a second run with the same cache connects without asking."""
        srv = make_server(sample_messages(5), implicit_tls=tls_server_context)
        await srv.start()
        account = Account(name="tls", host="127.0.0.1", port=srv.port, tls="implicit", user=USER)
        try:
            store = Store.open(tmp_path)
            try:
                app = PopviewApp(None, account=account, password=PASSWORD, store=store)
                async with app.run_test(size=SIZE) as pilot:
                    login = app.screen
                    assert isinstance(login, LoginScreen)
                    await wait_for(pilot, lambda: login.failed_fingerprint is not None)
                    fingerprint = login.failed_fingerprint
                    assert fingerprint is not None
                    assert fingerprint in static_text(app, "#login-status")
                    assert srv.sessions_opened <= 1 and not srv.commands()  # no login in clear
                    await pilot.press("ctrl+t")
                    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
                    assert f"SHA-256: {fingerprint}" in app.screen.lines  # type: ignore[attr-defined]
                    await pilot.press("y")
                    await wait_listed(pilot)
                pinned = store.pins.pinned(account.key, "127.0.0.1")
                assert pinned is not None
                assert normalize_fingerprint(pinned) == normalize_fingerprint(fingerprint)
            finally:
                store.close()

            store = Store.open(tmp_path)
            try:
                app = PopviewApp(None, account=account, password=PASSWORD, store=store)
                async with app.run_test(size=SIZE) as pilot:
                    await wait_listed(pilot)
                    assert app.screen.query_one("#header-tls", Static).render()
            finally:
                store.close()
        finally:
            await srv.close()

    async def test_refusing_keeps_the_login_screen(
        self, tls_server_context: ssl.SSLContext, tmp_path: Path
    ) -> None:
        """Answering no pins nothing and sends nothing more to the server."""
        srv = make_server(sample_messages(2), implicit_tls=tls_server_context)
        await srv.start()
        account = Account(name="tls", host="127.0.0.1", port=srv.port, tls="implicit", user=USER)
        store = Store.open(tmp_path)
        try:
            app = PopviewApp(None, account=account, password=PASSWORD, store=store)
            async with app.run_test(size=SIZE) as pilot:
                login = app.screen
                await wait_for(
                    pilot, lambda: getattr(login, "failed_fingerprint", None) is not None
                )
                await pilot.press("ctrl+t")
                await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
                await pilot.press("n")
                await wait_for(pilot, lambda: app.screen is login)
            assert store.pins.pinned(account.key, "127.0.0.1") is None
            assert not srv.commands()
        finally:
            store.close()
            await srv.close()
