"""The app's wiring to the local cache, certificate trust, ``-a NAME``, and the viewer's
save/open actions, driven by Pilot against the embedded server.

Each test asserts what the user sees, what the server received, or the files written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Static

from popview.demo import sample_messages
from popview.server import Pop3Server
from popview.store import Store
from popview.ui.app import PopviewApp
from popview.ui.screens.dialogs import PasswordScreen
from tests.test_ui_support import (
    PASSWORD,
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
