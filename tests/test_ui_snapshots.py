"""Snapshot tests of each screen at 100x30 (pytest-textual-snapshot).

Deterministic: the cursor does not blink, the time zone is UTC, the sample
mail is generated from a fixed seed and base date, and the header names the
server by the demo's label instead of its random port (as ``popview --demo``
does). Each SVG was looked at before it was accepted (``--snapshot-update``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from popview.config import Account, Config, General
from popview.demo import DEMO_LABEL, sample_mailbox
from popview.server import ServerThread
from popview.ui.app import PopviewApp
from popview.ui.screens.message import MessageScreen
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER
from tests.ui_support import wait_for, wait_listed

pytestmark = pytest.mark.slow  # each renders the app and compares an SVG

SIZE = (100, 30)


@pytest.fixture(autouse=True)
def still_clock_and_cursor(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No cursor blink (through Input's public ``cursor_blink``), and dates shown in UTC."""
    made = Input.__init__

    def still_input(self: Input, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        self.cursor_blink = False

    monkeypatch.setattr(Input, "__init__", still_input)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def demo_thread(make_pop3_server_thread: Callable[..., ServerThread]) -> ServerThread:
    """The demo's generated sample mailbox on the shared embedded-server fixture."""
    return make_pop3_server_thread(mailbox=sample_mailbox())


def app_for(thread: ServerThread) -> PopviewApp:
    account = Account(name="demo", host="127.0.0.1", port=thread.port, tls="none", user=POP3_USER)
    return PopviewApp(None, account=account, password=POP3_PASSWORD, server_label=DEMO_LABEL)


async def listed(pilot: Pilot[Any]) -> None:
    await wait_listed(pilot)


async def open_uid(pilot: Pilot[Any], uid: str) -> None:
    await wait_listed(pilot)
    app = pilot.app
    assert isinstance(app, PopviewApp)
    index = app.listing.index_of(uid)
    app.screen.query_one("#envelopes").move_to(index)  # type: ignore[attr-defined]
    await pilot.press("enter")
    await wait_for(pilot, lambda: getattr(app.screen, "forms", None) is not None)
    assert isinstance(app.screen, MessageScreen)
    await pilot.pause()


class TestScreens:
    def test_login(self, snap_compare: Any) -> None:
        """The empty login form: TLS choices, masked password."""
        assert snap_compare(PopviewApp(None), terminal_size=SIZE)

    def test_login_unencrypted_warning(self, snap_compare: Any) -> None:
        """Choosing "none" shows the UNENCRYPTED warning under the choice."""

        async def pick_none(pilot: Pilot[Any]) -> None:
            pilot.app.screen.query_one("#tls").value = "none"  # type: ignore[attr-defined]
            await pilot.pause()

        assert snap_compare(PopviewApp(None), terminal_size=SIZE, run_before=pick_none)

    def test_mailbox(self, snap_compare: Any, demo_thread: ServerThread) -> None:
        """The listed mailbox: header with UNENCRYPTED badge, table, footer."""
        assert snap_compare(app_for(demo_thread), terminal_size=SIZE, run_before=listed)

    def test_mailbox_marks_and_filter(self, snap_compare: Any, demo_thread: ServerThread) -> None:
        """Two rows marked (restyled, still listed) and a filter on "review"."""

        async def mark_and_filter(pilot: Pilot[Any]) -> None:
            await wait_listed(pilot)
            await pilot.press("slash", *"review", "enter", "d", "d")
            await wait_for(pilot, lambda: len(pilot.app.marks) == 2)  # type: ignore[attr-defined]
            await pilot.pause()

        assert snap_compare(app_for(demo_thread), terminal_size=SIZE, run_before=mark_and_filter)

    def test_threads(self, snap_compare: Any, demo_thread: ServerThread) -> None:
        """The thread view indents replies under their parent."""

        async def threads(pilot: Pilot[Any]) -> None:
            await wait_listed(pilot)
            await pilot.press("t", "slash", *"tabs", "enter")
            await pilot.pause()

        assert snap_compare(app_for(demo_thread), terminal_size=SIZE, run_before=threads)

    def test_viewer_attachments(self, snap_compare: Any, demo_thread: ServerThread) -> None:
        """A message with three attachments (one with a non-ASCII name)."""

        async def run(pilot: Pilot[Any]) -> None:
            await open_uid(pilot, "uid-0292")

        assert snap_compare(app_for(demo_thread), terminal_size=SIZE, run_before=run)

    def test_viewer_html(self, snap_compare: Any, demo_thread: ServerThread) -> None:
        """The HTML newsletter rendered as text, after `b`."""

        async def run(pilot: Pilot[Any]) -> None:
            await open_uid(pilot, "uid-0293")
            await pilot.press("b")
            await pilot.pause()

        assert snap_compare(app_for(demo_thread), terminal_size=SIZE, run_before=run)

    def test_commit_confirm(self, snap_compare: Any, demo_thread: ServerThread) -> None:
        """`$` lists what will be deleted."""

        async def run(pilot: Pilot[Any]) -> None:
            await wait_listed(pilot)
            await pilot.press("d", "d", "dollar_sign")
            await pilot.pause()

        assert snap_compare(app_for(demo_thread), terminal_size=SIZE, run_before=run)

    def test_quit_with_marks(self, snap_compare: Any, demo_thread: ServerThread) -> None:
        """`q` with marks: commit / leave on server / cancel."""

        async def run(pilot: Pilot[Any]) -> None:
            await wait_listed(pilot)
            await pilot.press("d", "q")
            await pilot.pause()

        assert snap_compare(app_for(demo_thread), terminal_size=SIZE, run_before=run)

    def test_help(self, snap_compare: Any, demo_thread: ServerThread) -> None:
        """`?` shows every key with its keymap id."""

        async def run(pilot: Pilot[Any]) -> None:
            await wait_listed(pilot)
            await pilot.press("question_mark")
            await pilot.pause()

        assert snap_compare(app_for(demo_thread), terminal_size=SIZE, run_before=run)

    def test_server_info(self, snap_compare: Any, demo_thread: ServerThread) -> None:
        """`i` shows the capabilities and the plaintext warning."""

        async def run(pilot: Pilot[Any]) -> None:
            await wait_listed(pilot)
            await pilot.press("i")
            await pilot.pause()

        assert snap_compare(app_for(demo_thread), terminal_size=SIZE, run_before=run)

    def test_save_message_dialog(self, snap_compare: Any, demo_thread: ServerThread) -> None:
        """`s` in the viewer: .eml, mbox or Maildir, and the path."""

        async def run(pilot: Pilot[Any]) -> None:
            await open_uid(pilot, "uid-0292")
            await pilot.press("s")
            await pilot.pause()

        app = app_for(demo_thread)
        app.config = Config(general=General(save_dir=Path("/home/you/Downloads")))
        assert snap_compare(app, terminal_size=SIZE, run_before=run)

    @pytest.mark.parametrize("width", [80, 120])
    def test_mailbox_marks_pending_at_width(
        self, snap_compare: Any, demo_thread: ServerThread, width: int
    ) -> None:
        """Marks pending at 80 and 120 columns: the pending count, q Quit and ? Help stay;
        at 80 the date is compact and the subject keeps the room."""

        async def run(pilot: Pilot[Any]) -> None:
            await wait_listed(pilot)
            await pilot.press("d", "d")
            await wait_for(pilot, lambda: len(pilot.app.marks) == 2)  # type: ignore[attr-defined]
            await pilot.pause()

        assert snap_compare(app_for(demo_thread), terminal_size=(width, 30), run_before=run)

    def test_sort_prompt(self, snap_compare: Any, demo_thread: ServerThread) -> None:
        """`O` asks for the reversed order at the bottom of the list."""

        async def run(pilot: Pilot[Any]) -> None:
            await wait_listed(pilot)
            await pilot.press("O")
            await pilot.pause()

        assert snap_compare(app_for(demo_thread), terminal_size=SIZE, run_before=run)

    @pytest.mark.parametrize("width", [80, 120])
    def test_viewer_search_and_quote(
        self, snap_compare: Any, demo_thread: ServerThread, width: int
    ) -> None:
        """A reply: the quoted line coloured, the second match of "the" selected, the
        match count and n / N / Esc in the line under the body."""

        async def run(pilot: Pilot[Any]) -> None:
            await open_uid(pilot, "uid-0124")  # a "Re: Proposal" reply with a quote
            await pilot.press("slash", *"the", "enter", "n")
            await pilot.pause()

        assert snap_compare(app_for(demo_thread), terminal_size=(width, 30), run_before=run)
