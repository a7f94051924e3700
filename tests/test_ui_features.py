"""The app's wiring to the local cache, certificate trust, ``-a NAME``, and the viewer's
save/open actions, driven by Pilot against the embedded server.

Each test asserts what the user sees, what the server received, or the files written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from popview.demo import sample_messages
from popview.server import Pop3Server
from popview.store import Store
from popview.ui.app import PopviewApp
from tests.test_ui_support import (
    PASSWORD,
    account_for,
    make_server,
    table_lines,
    wait_for,
    wait_listed,
)

SIZE = (100, 30)

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
