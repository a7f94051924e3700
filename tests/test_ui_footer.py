"""The footer (popview/ui/widgets/footer.py) follows the keys that apply right now.

It recomposes only when what it draws changed; these tests show that it still
changes when a key appears or goes away on the same screen, and that it stays the
same widget set when nothing changed. Driven by Pilot against the embedded server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from popview.demo import sample_messages
from popview.server import Pop3Server
from popview.ui.app import PopviewApp
from popview.ui.textual_adapter import FooterKey, screen_text
from popview.ui.widgets.footer import KeyFooter
from tests.fixtures.embedded import POP3_PASSWORD, new_server
from tests.ui_support import account_for, wait_for, wait_listed

SIZE = (120, 30)


@pytest.fixture
async def server() -> AsyncIterator[Pop3Server]:
    srv = new_server(sample_messages(5))
    await srv.start()
    yield srv
    await srv.close()


def footer_line(app: PopviewApp) -> str:
    """The bottom line of the screen as drawn: the footer."""
    return screen_text(app.screen).rstrip("\n").split("\n")[-1]


async def test_commit_and_undelete_all_appear_with_a_mark_and_go_with_it(
    server: Pop3Server,
) -> None:
    """No mark: no "$ Commit", no "U Undelete all" (their check_action hides them).
    `d` shows both, right after the first keys; `U` takes both away again."""
    app = PopviewApp(None, account=account_for(server), password=POP3_PASSWORD)
    async with app.run_test(size=SIZE) as pilot:
        await wait_listed(pilot)
        line = footer_line(app)
        assert line.startswith(" q Quit") and "? Help" in line
        assert "Commit" not in line and "Undelete all" not in line
        await pilot.press("d")
        await wait_for(pilot, lambda: "$ Commit" in footer_line(app))
        assert "U Undelete all" in footer_line(app)
        assert footer_line(app).index("? Help") < footer_line(app).index("$ Commit")
        await pilot.press("U")
        await wait_for(pilot, lambda: "Commit" not in footer_line(app))
        assert "Undelete all" not in footer_line(app) and "q Quit" in footer_line(app)


async def test_a_second_mark_keeps_the_same_footer_keys(server: Pop3Server) -> None:
    """A second `d` asks the footer to refresh (the marks changed) but changes no key it
    draws: its key widgets are the same objects afterwards, not removed and mounted again."""
    app = PopviewApp(None, account=account_for(server), password=POP3_PASSWORD)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_listed(pilot)
        footer = screen.query_one(KeyFooter)
        await pilot.press("d")
        await wait_for(pilot, lambda: "$ Commit" in footer_line(app))
        before = list(footer.query(FooterKey))
        await pilot.press("d")
        await wait_for(pilot, lambda: len(app.marks) == 2)
        await pilot.pause()
        assert "$ Commit" in footer_line(app)
        assert list(footer.query(FooterKey)) == before
