"""Mutt hands (issue 13): the pager keys, search, quotes, headers, the list's filter cursor,
the sort prompt, unbound keys, expiring status lines, the layout from 60 to 120 columns,
the save and quit dialogs, the attachment list, and the keymap checks.

Driven by Pilot against the embedded server; each test asserts what the user sees (screen
text, the row under the cursor, a notification) or what was written / sent.
"""

from __future__ import annotations

import io
import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from popview.config import Config, General, load_config
from popview.demo import sample_messages
from popview.errors import ConfigError
from popview.server import Pop3Server
from popview.ui.app import PopviewApp
from popview.ui.keymap import NOT_BOUND, binding_ids
from popview.ui.screens import mailbox as mailbox_module
from popview.ui.screens.dialogs import ConfirmScreen, PathScreen, QuitScreen, SaveMessageScreen
from popview.ui.screens.help import HelpScreen, key_table
from popview.ui.screens.mailbox import MailboxScreen
from popview.ui.screens.message import MessageScreen
from popview.ui.screens.sort_prompt import SortPrompt
from popview.ui.textual_adapter import screen_text as adapter_screen_text
from popview.ui.widgets.envelope_table import EnvelopeTable
from popview.ui.widgets.message_body import MessageBody
from tests.fixtures.embedded import POP3_PASSWORD, new_server
from tests.ui_support import account_for, open_message, wait_for, wait_listed

REPO = Path(__file__).resolve().parent.parent
SIZE = (100, 30)

_LONG_BODY = "\r\n".join(
    [f"Line {n} of the answer." for n in range(1, 41)]
    + ["", "On Monday, Ada wrote:", "> quoted one", "> quoted two", ">> older quote", ""]
    + [f"After the quote {n}, needle here." if n % 10 == 0 else f"Tail {n}" for n in range(1, 41)]
)
LONG = (
    b"Date: Sat, 16 Mar 2024 12:00:00 +0000\r\n"
    b"Return-Path: <bounce@relay.example>\r\n"
    b"Received: from relay.example by mx.example; Sat, 16 Mar 2024 12:00:00 +0000\r\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; d=relay.example; s=sel; b=abc\r\n"
    b"Subject: A long answer\r\n"
    b"To: Demo <demo@x.example>\r\n"
    b"Cc: Team <team@x.example>\r\n"
    b"From: Ada <ada@x.example>\r\n"
    b"Message-ID: <long@x.example>\r\n\r\n" + _LONG_BODY.encode() + b"\r\n"
)


def notes(app: PopviewApp) -> list[str]:
    """The notifications the app was asked to show so far, oldest first."""
    return list(getattr(app, "notes_seen", []))


@pytest.fixture
def statuses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the mailbox's status line was given, in order.

    The expiring lines live 0.3 s in these tests; on a loaded machine one can come and go
    between two looks at the screen, so what was shown is recorded as it is set.
    """
    shown: list[str] = []
    original = MailboxScreen.set_status

    def recording(self: MailboxScreen, text: str, *, expire: float | None = None) -> None:
        shown.append(text)
        original(self, text, expire=expire)

    monkeypatch.setattr(MailboxScreen, "set_status", recording)
    return shown


def screen_text(app: PopviewApp) -> str:
    """The whole screen as drawn."""
    return adapter_screen_text(app.screen)


def static_text(app: PopviewApp, selector: str) -> str:
    content = app.screen.query_one(selector, Static).render()
    return content.plain if isinstance(content, Text) else str(content)


@pytest.fixture
async def server() -> AsyncIterator[Pop3Server]:
    """Forty sample messages (plain POP3, user demo)."""
    srv = new_server(sample_messages(40))
    await srv.start()
    yield srv
    await srv.close()


@pytest.fixture
async def long_server() -> AsyncIterator[Pop3Server]:
    """Three messages: the newest is a long answer with quotes and noisy headers."""
    messages = [*sample_messages(40)[:2], LONG]
    srv = new_server(messages)
    await srv.start()
    yield srv
    await srv.close()


def app_for(server: Pop3Server, config: Config | None = None) -> PopviewApp:
    """The app logged in to ``server``; what it notifies is kept in ``notes_seen``."""
    app = PopviewApp(config, account=account_for(server), password=POP3_PASSWORD)
    seen: list[str] = []
    shown = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> None:
        seen.append(message)
        shown(message, *args, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    app.notes_seen = seen  # type: ignore[attr-defined]
    return app


async def open_uid(pilot: Pilot[Any], uid: str) -> MessageScreen:
    """Open ``uid`` from the list, wait until its body is shown, and let it settle."""
    screen = await open_message(pilot, uid)
    await pilot.pause()
    return screen


class TestPager:
    async def test_space_minus_enter_g_and_capital_g_page(self, long_server: Pop3Server) -> None:
        """Space pages down, `-` pages up (and says so at the top), Enter scrolls one line,
        `G` shows the end, `g` the top; Space at the end opens the next message."""
        app = app_for(long_server)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_uid(pilot, "uid-0003")
            body = screen.query_one(MessageBody)
            assert body.scroll_y == 0
            await pilot.press("enter")
            assert body.scroll_y == 1
            await pilot.press("space")
            page = body.scroll_y
            assert page > 5
            await pilot.press("minus")
            assert body.scroll_y < page
            await pilot.press("g", "minus")
            assert body.scroll_y == 0
            assert "Top of message is shown." in notes(app)
            await pilot.press("G")
            assert body.scroll_y == body.max_scroll_y > 0
            assert "After the quote 40" in screen_text(app)
            await pilot.press("space")
            await wait_for(pilot, lambda: screen.key == "uid-0002" and screen.forms is not None)

    async def test_search_next_previous_and_esc(self, long_server: Pop3Server) -> None:
        """`/needle` Enter selects the first match and scrolls to it; `n` and `N` move
        between matches (wrapping, and saying so); Esc ends the search, a second Esc
        goes back to the list; "Not found." for a missing word."""
        app = app_for(long_server)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_uid(pilot, "uid-0003")
            body = screen.query_one(MessageBody)
            await pilot.press("slash", *"NEEDLE", "enter")
            await pilot.pause()
            first = body.selection
            assert body.get_text_range(*first).casefold() == "needle"
            assert body.scroll_y > 0 and "needle here" in screen_text(app)
            assert "Match 1 of 4" in static_text(app, "#body-form")
            await pilot.press("n")
            await pilot.pause()
            assert body.selection.start[0] > first.start[0]
            assert "Match 2 of 4" in static_text(app, "#body-form")
            await pilot.press("N", "N")
            assert "Match 4 of 4" in static_text(app, "#body-form")
            assert "Search wrapped to bottom." in notes(app)
            await pilot.press("escape")
            assert isinstance(app.screen, MessageScreen) and not screen.search_term
            await pilot.press("n")  # no search: the next message again
            await wait_for(pilot, lambda: screen.key == "uid-0002")
            await wait_for(pilot, lambda: screen.forms is not None)
            await pilot.press("slash", *"zebra", "enter")
            assert "Not found." in notes(app)
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MailboxScreen))

    async def test_quotes_are_coloured_and_fold(self, long_server: Pop3Server) -> None:
        """Quoted lines carry the quote colour (a deeper quote another one); `T` replaces
        the quote with one line saying how many lines are hidden, and `T` shows it again."""
        app = app_for(long_server)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_uid(pilot, "uid-0003")
            body = screen.query_one(MessageBody)
            lines = body.text.split("\n")
            quoted = body.get_line(lines.index("> quoted one"))
            older = body.get_line(lines.index(">> older quote"))
            plain = body.get_line(lines.index("On Monday, Ada wrote:"))
            colour = {
                line.plain: {span.style.color for span in line.spans}  # type: ignore[union-attr]
                for line in (quoted, older, plain)
            }
            assert colour["> quoted one"] and colour[">> older quote"]
            assert colour["> quoted one"] != colour[">> older quote"]
            assert not colour["On Monday, Ada wrote:"]
            await pilot.press("T")
            assert "> quoted one" not in body.text
            assert "[-- 3 quoted lines hidden; T shows them --]" in body.text
            assert "quoted text hidden" in static_text(app, "#body-form")
            await pilot.press("T")
            assert "> quoted one" in body.text

    async def test_headers_in_mutt_order_and_h_scrolls_with_the_body(
        self, long_server: Pop3Server
    ) -> None:
        """The pane shows From, To, Cc, Subject, Date in that order, whatever the order in
        the message; `h` puts every header above the body, where Space and G scroll."""
        app = app_for(long_server)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_uid(pilot, "uid-0003")
            pane = static_text(app, "#message-headers").split("\n")
            # Then the decision signals: this Return-Path (relay.example) is not From's domain.
            assert [line.split(":")[0] for line in pane] == [
                "From", "To", "Cc", "Subject", "Date", "Signals",
            ]  # fmt: skip
            assert pane[-1] == "Signals: Return-Path domain differs from From"
            assert not any(line.startswith("Return-Path") for line in pane)
            await pilot.press("h")
            body = screen.query_one(MessageBody)
            assert body.text.startswith("Date: Sat, 16 Mar 2024")
            assert "DKIM-Signature: v=1" in body.text and "Line 1 of the answer." in body.text
            assert static_text(app, "#message-headers").startswith("From: Ada")
            await pilot.press("G")
            assert body.scroll_y == body.max_scroll_y > 0
            await pilot.press("h")
            assert body.text.startswith("Line 1 of the answer.")

    async def test_b_a_o_and_capital_u_say_why_they_do_nothing(self, server: Pop3Server) -> None:
        """On a plain message without marks, `b`, `a`, `o` and `U` each say why nothing
        happened; a key bound nowhere says "Key is not bound."; `U` unmarks from the viewer."""
        app = app_for(server)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_uid(pilot, "uid-0002")
            await pilot.press("b", "a", "o", "U", "x")
            assert notes(app) == [
                "This message has no HTML version to switch to.",
                "This message has no attachments.",
                "This message has no attachments.",
                "Nothing is marked for deletion.",
                NOT_BOUND,
            ]
            await pilot.press("d")  # marks, shows the next message
            await wait_for(pilot, lambda: bool(app.marks))
            await pilot.press("U")
            await wait_for(pilot, lambda: not app.marks)
            assert server.commands()[-1] == "RSET"
            assert screen.key == "uid-0001"


class TestAttachments:
    async def test_j_k_move_and_focus_stays_after_a_save(
        self, server: Pop3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """In the attachment list `j`/`k` move; after saving one, the list keeps the focus
        and `o` offers to open the attachment that is highlighted, not another one."""
        monkeypatch.setenv("POPVIEW_OPENER", "true")
        app = app_for(server, Config(general=General(save_dir=tmp_path)))
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_uid(pilot, "uid-0006")
            assert screen.parsed is not None
            names = [a.filename for a in screen.parsed.attachments]
            options = screen.query_one("#attachments")
            await pilot.press("a", "j", "j", "k")
            assert options.highlighted == 1  # type: ignore[attr-defined]
            await pilot.press("enter")  # Enter on an attachment saves it
            await wait_for(pilot, lambda: isinstance(app.screen, PathScreen))
            await pilot.press("enter")
            await wait_for(pilot, lambda: (tmp_path / names[1]).exists())
            await wait_for(pilot, lambda: app.screen is screen)
            await pilot.pause()
            assert options.has_focus
            await pilot.press("j", "o")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert names[2] in app.screen.title_text  # type: ignore[attr-defined]
            await pilot.press("n")

    async def test_attachments_title_is_readable(self, server: Pop3Server) -> None:
        """The attachments panel title is drawn in the text colour, bold, not in the
        border's navy over grey: its brightness stands apart from the background."""
        app = app_for(server)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_uid(pilot, "uid-0006")
            options = screen.query_one("#attachments")
            title = options.styles.border_title_color
            _, background = options.background_colors
            assert abs(title.brightness - background.brightness) > 0.5
            assert options.styles.border_title_style.bold


class TestSaveDialog:
    async def test_enter_on_the_format_list_saves_and_down_chooses(
        self, server: Pop3Server, tmp_path: Path
    ) -> None:
        """Enter on the format list saves (.eml); Down then Enter saves as mbox, not .eml."""
        app = app_for(server, Config(general=General(save_dir=tmp_path)))
        async with app.run_test(size=SIZE) as pilot:
            await open_uid(pilot, "uid-0002")
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, SaveMessageScreen))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, MessageScreen))
            await wait_for(pilot, lambda: any(tmp_path.glob("*.eml")))
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, SaveMessageScreen))
            await pilot.press("down", "enter")
            await wait_for(pilot, lambda: (tmp_path / "popview.mbox").exists())
        assert len(list(tmp_path.glob("*.eml"))) == 1
        mbox = tmp_path / "popview.mbox"
        assert mbox.read_bytes().startswith(b"From ")
        assert stat.S_IMODE(mbox.stat().st_mode) == 0o600

    async def test_a_save_that_fails_says_why_in_one_line(
        self, server: Pop3Server, tmp_path: Path
    ) -> None:
        """A save folder that cannot be made (a file stands in its way) is one error toast
        with the system's reason; nothing is written and the viewer stays open."""
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file, not a folder")
        app = app_for(server, Config(general=General(save_dir=blocker / "saved")))
        async with app.run_test(size=SIZE) as pilot:
            await open_uid(pilot, "uid-0002")
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, SaveMessageScreen))
            await pilot.press("enter")
            await wait_for(pilot, lambda: any(n.startswith("Could not save") for n in notes(app)))
            assert isinstance(app.screen, MessageScreen)
        (note,) = [n for n in notes(app) if n.startswith("Could not save")]
        assert note == "Could not save: Not a directory."
        assert blocker.read_text() == "a file, not a folder"


class TestList:
    async def test_filter_enter_opens_the_first_match_and_esc_keeps_it_visible(
        self, server: Pop3Server
    ) -> None:
        """From a row that does not match, `/tabs` Enter puts the cursor on the first match
        (not on the same row number); `/Lunch` Enter from the 8th row then Enter opens the
        match; Esc brings every row back with that row on screen under the cursor."""
        app = app_for(server)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await wait_listed(pilot)
            table = screen.table
            table.move_to(1)  # "Reminder: dentist", not a match: the first match gets the cursor
            await pilot.press("slash", *"tabs", "enter")
            await pilot.pause()
            assert app.listing.index_of(table.current_key or "") == 0
            assert len(app.listing.rows) > 2
            await pilot.press("escape")
            table.move_to(7)
            await pilot.press("slash", *"Lunch", "enter")
            await pilot.pause()
            uid = table.current_key
            assert uid is not None and "Lunch" in app.listing.envelopes[uid].subject
            assert app.listing.index_of(uid) == 0
            await pilot.press("escape")
            await pilot.pause()
            await pilot.pause()
            assert table.current_key == uid and len(app.listing.rows) == 40
            top = int(table.scroll_offset.y)
            visible = table.scrollable_content_region.height - 1
            assert top <= table.cursor < top + visible
            assert any(
                "Lunch on Thursday?" in strip.text
                for strip in table.render_lines(table.region.reset_offset)
            )
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, MessageScreen))
            assert app.screen.key == uid  # type: ignore[attr-defined]

    async def test_sort_prompt_and_reverse(self, server: Pop3Server, statuses: list[str]) -> None:
        """`o` asks (d/f/s/z); `s` sorts by subject; `O d` puts the oldest first; Esc at
        the prompt keeps the order. The "Sorted by" line goes away by itself."""
        monkeypatch_seconds = 0.3
        mailbox_module.STATUS_SECONDS = monkeypatch_seconds
        try:
            app = app_for(server)
            async with app.run_test(size=SIZE) as pilot:
                await wait_listed(pilot)
                await pilot.press("o")
                await wait_for(pilot, lambda: isinstance(app.screen, SortPrompt))
                assert "(d)ate, (f)rom, (s)ubject, si(z)e" in screen_text(app)
                await pilot.press("s")
                await wait_for(pilot, lambda: isinstance(app.screen, MailboxScreen))
                await wait_for(pilot, lambda: "Sorted by subject" in statuses)
                envs = app.listing.envelopes
                dates = [envs[r.key].date for r in app.listing.rows]
                await pilot.press("O")
                await wait_for(pilot, lambda: isinstance(app.screen, SortPrompt))
                assert "Reverse sort by" in screen_text(app)
                await pilot.press("d")
                await pilot.pause()
                dates = [envs[r.key].date for r in app.listing.rows]
                assert dates == sorted(dates)  # type: ignore[type-var]
                await pilot.press("o", "escape")
                await wait_for(pilot, lambda: isinstance(app.screen, MailboxScreen))
                assert [envs[r.key].date for r in app.listing.rows] == dates
                await wait_for(pilot, lambda: static_text(app, "#status-line") == "")
        finally:
            mailbox_module.STATUS_SECONDS = 4.0

    async def test_unbound_keys_and_refresh_result_expire(
        self, server: Pop3Server, statuses: list[str]
    ) -> None:
        """A key bound nowhere says "Key is not bound."; `$` with nothing marked says there
        is nothing to commit; `r` ends with "No new mail." and that line goes away; so do
        "Thread view" / "Flat view"."""
        mailbox_module.STATUS_SECONDS = 0.3
        try:
            app = app_for(server)
            async with app.run_test(size=SIZE) as pilot:
                await wait_listed(pilot)
                await pilot.press("x", "dollar_sign", "j")
                # `$` is answered by the worker once its queue is empty (PrepareCommit).
                await wait_for(pilot, lambda: len(notes(app)) >= 2)
                assert notes(app) == [NOT_BOUND, "Commit: nothing to do right now."]
                await pilot.press("r")
                await wait_for(pilot, lambda: "No new mail." in statuses)
                await wait_for(pilot, lambda: static_text(app, "#status-line") == "")
                await pilot.press("t")
                await wait_for(pilot, lambda: statuses[-1] == "Thread view")
                await wait_for(pilot, lambda: static_text(app, "#status-line") == "")
        finally:
            mailbox_module.STATUS_SECONDS = 4.0


class TestLayout:
    @pytest.mark.parametrize("width", [60, 80, 120])
    async def test_pending_quit_help_and_subject_are_the_last_to_go(
        self, server: Pop3Server, width: int
    ) -> None:
        """With marks pending, the header shows the whole pending count and the footer
        q Quit and ? Help; the subject column is wider than the date column."""
        app = app_for(server)
        async with app.run_test(size=(width, 24)) as pilot:
            await wait_listed(pilot)
            await pilot.press("d", "d")
            await wait_for(pilot, lambda: len(app.marks) == 2)
            await pilot.pause()
            lines = screen_text(app).split("\n")
            assert re.search(r"2 to delete, [0-9.]+ KB$", lines[0].rstrip())
            assert "q Quit" in lines[-1] and "? Help" in lines[-1]
            header = lines[1]
            subject_w = header.index("Date") - header.index("Subject")
            assert subject_w >= 2 * len("2024-03-15")
            row = next(line for line in lines if "Draft of the release notes" in line)
            assert "Draft of the release" in row
            if width < 110:
                assert "2024-03-15 09:" not in row  # the compact date
            else:
                assert "2024-03-15" in row

    @pytest.mark.parametrize(("answer", "quit_sent"), [("n", False), ("y", True)])
    async def test_quit_dialog_answers_y_and_n(
        self, server: Pop3Server, answer: str, quit_sent: bool
    ) -> None:
        """With marks pending, `q` asks; `y` commits (QUIT), `n` leaves everything on the
        server (no QUIT)."""
        app = app_for(server)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("d")
            await wait_for(pilot, lambda: bool(app.marks))
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
            assert "Commit and quit (y)" in screen_text(app)
            await pilot.press(answer)
            await wait_for(pilot, lambda: app.return_code is not None)
        assert ("QUIT" in server.commands()) is quit_sent
        assert "DELE 40" in server.commands()


class TestHelpAndKeymap:
    async def test_help_spells_ctrl_keys_alike(self, server: Pop3Server) -> None:
        """The help lists Ctrl+S and Ctrl+T (not "ctrl+t" beside "Ctrl+S"), and the new
        pager keys with their names."""
        app = app_for(server)
        async with app.run_test(size=(100, 40)) as pilot:
            await wait_listed(pilot)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            console = Console(width=100, record=True, file=io.StringIO())
            console.print(key_table({}))  # what the help screen shows
            text = console.export_text()
        assert "Ctrl+S" in text and "Ctrl+T" in text and "ctrl+" not in text
        assert "Space" in text and "message.search" in text and "sort.size" in text

    async def test_example_config_keymap_loads_and_works(self, server: Pop3Server) -> None:
        """config.example.toml's [keymap] names real ids; its `delete` key marks a row."""
        config = load_config(REPO / "config.example.toml")
        assert config.keymap and set(config.keymap) <= binding_ids()
        app = app_for(server, config)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("delete")
            await wait_for(pilot, lambda: bool(app.marks))

    def test_unknown_keymap_id_is_an_error_naming_the_valid_ones(self, tmp_path: Path) -> None:
        path = tmp_path / "config.toml"
        path.write_text('[keymap]\nmark_deleted = "d"\n', encoding="utf-8")
        path.chmod(0o600)
        config = load_config(path)
        with pytest.raises(ConfigError) as caught:
            PopviewApp(config)
        message = caught.value.message
        assert "'mark_deleted'" in message and str(path) in message
        assert "mailbox.mark" in message and "message.search" in message


class TestZalgo:
    async def test_zalgo_name_and_subject_stay_one_row(self) -> None:
        """HARDENING F.65: a From name and Subject of thousands of combining marks show as
        one row of the table's width, each letter with at most MAX_COMBINING marks, and the
        rows around it are untouched."""
        from email.header import Header

        from popview.sanitize import MAX_COMBINING

        zalgo = "".join(ch + "\u0301\u0336\u1dc4" * 700 for ch in "Zalgo")
        name = Header(zalgo, "utf-8").encode(maxlinelen=10_000)
        raw = (
            f"From: {name} <z@x.example>\r\nSubject: {name}\r\n"
            "Date: Sat, 16 Mar 2024 12:00:00 +0000\r\nMessage-ID: <z@x.example>\r\n\r\nboo\r\n"
        ).encode()
        srv = new_server([*sample_messages(40)[:2], raw])
        await srv.start()
        try:
            app = app_for(srv)
            async with app.run_test(size=(80, 24)) as pilot:
                screen = await wait_listed(pilot)
                table = screen.table
                strips = [table.render_line(y) for y in range(4)]
                width = table.scrollable_content_region.width
                assert all(strip.cell_length == width for strip in strips)
                zalgo_row = strips[1].text
                assert zalgo_row.count("\u0301") <= 2 * len("Zalgo")
                assert "Z" + "\u0301\u0336\u1dc4" + "\u0301" * (MAX_COMBINING - 3) in zalgo_row
                assert "Welcome to the team!" in strips[2].text
                assert "Reminder: dentist" in strips[3].text
        finally:
            await srv.close()


class TestReadState:
    async def test_opened_is_read_n_marks_unread_filter_and_next_visit(
        self, server: Pop3Server, tmp_path: Path
    ) -> None:
        """Unread rows show "O"; opening a message makes its row read (blank) and that
        survives the next visit (kept in the store by UIDL); `N` marks it unread again;
        the filter "~R" shows the read ones, "~U" the unread ones."""
        from popview.store import Store

        def flag(app: PopviewApp, uid: str) -> str:
            table = app.screen.query_one(EnvelopeTable)
            index = app.listing.index_of(uid)
            assert index is not None
            return table.render_line(index + 1 - int(table.scroll_offset.y)).text[1]

        store = Store.open(tmp_path / "cache")
        try:
            app = PopviewApp(None, account=account_for(server), password=POP3_PASSWORD, store=store)
            async with app.run_test(size=SIZE) as pilot:
                await wait_listed(pilot)
                assert flag(app, "uid-0040") == "O"
                await open_uid(pilot, "uid-0039")
                await pilot.press("escape")
                await wait_for(pilot, lambda: isinstance(app.screen, MailboxScreen))
                assert flag(app, "uid-0039") == " " and flag(app, "uid-0040") == "O"
                await pilot.press("slash", *"~R", "enter")
                await pilot.pause()
                assert [r.key for r in app.listing.rows] == ["uid-0039"]
                await pilot.press("escape", "slash", *"~u reminder", "enter")
                await pilot.pause()
                assert "uid-0039" not in {r.key for r in app.listing.rows}
                assert app.listing.rows
                await pilot.press("escape")
            assert store.read.read_uids(app.info.account_key) == {"uid-0039"}  # type: ignore[union-attr]

            app = PopviewApp(None, account=account_for(server), password=POP3_PASSWORD, store=store)
            async with app.run_test(size=SIZE) as pilot:
                screen = await wait_listed(pilot)
                assert flag(app, "uid-0039") == " "
                screen.table.move_to(app.listing.index_of("uid-0039") or 0)
                await pilot.press("N")
                assert flag(app, "uid-0039") == "O"
                assert "Marked as unread." in static_text(app, "#status-line")
            assert store.read.read_uids(app.info.account_key) == frozenset()  # type: ignore[union-attr]
        finally:
            store.close()


class TestThreads:
    async def test_z_collapses_the_thread_and_capital_z_all(self, server: Pop3Server) -> None:
        """In the thread view `z` on a reply hides the thread's replies, leaves the cursor
        on its root and shows how many are hidden; `z` again shows them; `Z` collapses
        every thread and `Z` again expands all. Outside the thread view `z` says so."""
        app = app_for(server)
        async with app.run_test(size=SIZE) as pilot:
            screen = await wait_listed(pilot)
            await pilot.press("z")
            assert "Threads collapse in the thread view (t)." in notes(app)
            await pilot.press("t")
            await pilot.pause()
            total = len(app.listing.rows)
            reply = next(i for i, r in enumerate(app.listing.rows) if r.depth > 0)
            root = app.listing.thread_root(reply)
            root_uid = app.listing.rows[root].key
            screen.table.move_to(reply + 1)
            await pilot.press("z")
            await pilot.pause()
            hidden = app.listing.hidden_replies[root_uid]
            assert hidden >= 2 and len(app.listing.rows) == total - hidden
            assert screen.table.current_key == root_uid
            row = screen.table.render_line(screen.table.cursor + 1).text
            assert f"(+{hidden}) Proposal: switch the office" in row
            await pilot.press("z")
            assert len(app.listing.rows) == total
            await pilot.press("Z")
            assert all(r.depth == 0 for r in app.listing.rows)
            await pilot.press("Z")
            assert len(app.listing.rows) == total
