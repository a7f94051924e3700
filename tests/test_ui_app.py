"""The terminal app driven by Pilot against the embedded POP3 server (same event loop).

Each test asserts what the user sees on screen or what the server received.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

import pytest
from rich.text import Text
from textual.widgets import Static

from popview.config import Config
from popview.demo import sample_messages
from popview.server import Fault, MemoryMailbox, Pop3Server
from popview.session import MailboxSession
from popview.ui.app import UI_SWITCH_INTERVAL, PopviewApp, build_app
from popview.ui.screens.dialogs import ConfirmScreen, ErrorScreen, QuitScreen
from popview.ui.screens.help import HelpScreen
from popview.ui.screens.login import LoginScreen
from popview.ui.screens.mailbox import MailboxScreen
from popview.ui.screens.message import MessageScreen
from popview.ui.screens.server_info import ServerInfoScreen
from popview.ui.textual_adapter import screen_text
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER, new_server
from tests.ui_support import (
    account_for,
    subject_of,
    table_lines,
    wait_for,
    wait_listed,
)

SIZE = (100, 30)


@pytest.fixture
async def server(make_pop3_server: Callable[..., Awaitable[Pop3Server]]) -> Pop3Server:
    """Forty sample messages (newest is number 40) on a loopback server."""
    return await make_pop3_server(mailbox=MemoryMailbox(sample_messages(40)))


def demo_app(server: Pop3Server, **kwargs: object) -> PopviewApp:
    return PopviewApp(None, account=account_for(server), password=POP3_PASSWORD, **kwargs)  # type: ignore[arg-type]


def screen_plain(app: PopviewApp) -> str:
    """The text of the whole screen as drawn (tables included)."""
    return screen_text(app.screen)


def static_text(app: PopviewApp, selector: str) -> str:
    widget = app.screen.query_one(selector, Static)
    content = widget.render()
    return content.plain if isinstance(content, Text) else str(content)


class TestMailboxList:
    async def test_lists_every_message_newest_first(self, server: Pop3Server) -> None:
        """The table fills with all 40 messages, the newest on top, with an UNENCRYPTED badge."""
        app = demo_app(server)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            lines = table_lines(app)
            assert "From" in lines[0] and "Subject" in lines[0]
            newest = subject_of(sample_messages(40)[-1])
            assert newest in lines[1]
            assert static_text(app, "#header-tls").strip() == "UNENCRYPTED"
            assert static_text(app, "#header-counts").startswith("40 messages")
            assert "TOP 40 0" in server.commands()

    async def test_rows_show_before_a_late_top(self) -> None:
        """The oldest message's TOP is answered late (held until the test has looked):
        the other rows are on screen, with "40 messages, 39 listed" in the header,
        while the listing still runs."""
        answer_top = asyncio.Event()
        srv = new_server(sample_messages(40), faults=[Fault("TOP", arg="1", hold=answer_top)])
        await srv.start()
        try:
            app = demo_app(srv)
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(
                    pilot,
                    lambda: isinstance(app.screen, MailboxScreen) and len(app.listing.rows) == 39,
                )
                await pilot.pause()
                assert app.loading
                assert static_text(app, "#header-counts").startswith("40 messages, 39 listed")
                newest = subject_of(sample_messages(40)[-1])
                assert newest in table_lines(app)[1]
                answer_top.set()
                await wait_listed(pilot)
                assert static_text(app, "#header-counts").startswith("40 messages")
                assert len(app.listing.rows) == 40
        finally:
            await srv.close()

    async def test_first_rows_are_drawn_when_they_arrive(self) -> None:
        """A cold start: the list was just drawn empty (as at its mount), then the
        first envelopes come. They are on screen once their message is handled, not
        when the rebuild's coalescing delay has passed (that delay only spaces
        rebuilds of a list that already shows rows)."""
        answer_tops, answer_last = asyncio.Event(), asyncio.Event()
        srv = new_server(
            sample_messages(40),
            faults=[
                Fault("TOP", hold=answer_tops, times=1),
                # The oldest is asked last: held, the listing is still running.
                Fault("TOP", arg="1", hold=answer_last),
            ],
        )
        await srv.start()
        try:
            app = demo_app(srv)
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: isinstance(app.screen, MailboxScreen))
                screen = app.screen
                assert isinstance(screen, MailboxScreen)
                await wait_for(pilot, lambda: srv.faults[0].fired == 1)
                screen.rebuild_now()  # drawn empty just now
                assert not app.listing.envelopes
                answer_tops.set()
                await wait_for(pilot, lambda: bool(app.listing.envelopes))
                await pilot.pause()  # handles what is queued; no timer has had its time
                newest = subject_of(sample_messages(40)[-1])
                assert app.loading and newest in table_lines(app)[1]
                answer_last.set()
                await wait_listed(pilot)
        finally:
            answer_tops.set()
            answer_last.set()
            await srv.close()

    async def test_filter_sort_and_threads(self, server: Pop3Server) -> None:
        """`/` narrows to matching From/Subject, Esc restores; `t` indents replies; `o` sorts."""
        app = demo_app(server)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("slash", *"terminal times")
            await pilot.pause()
            shown = [line for line in table_lines(app)[1:] if line.strip()]
            assert shown and all("The Terminal Times" in line for line in shown)
            assert "shown" in static_text(app, "#header-counts")
            await pilot.press("enter", "escape")
            await pilot.pause()
            assert len(app.listing.rows) == 40
            await pilot.press("t")
            await pilot.pause()
            assert any("└ Re: Proposal" in line for line in table_lines(app))
            await pilot.press("t", "o", "f")
            await pilot.pause()
            assert "Sorted by sender" in static_text(app, "#status-line")
            senders = [app.listing.envelopes[r.key].from_name.casefold() for r in app.listing.rows]
            assert senders == sorted(senders)


class TestDeletion:
    async def test_d_d_u_commit_deletes_exactly_the_second(self, server: Pop3Server) -> None:
        """`d`, `d`, back to the first and `u`, then `$` and yes: only the second is deleted."""
        app = demo_app(server)
        messages = sample_messages(40)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("d", "d", "k", "k", "u")
            await wait_for(pilot, lambda: app.marks == frozenset({"uid-0039"}))
            assert "1 to delete" in static_text(app, "#header-pending")
            lines = table_lines(app)
            assert lines[2].startswith("D") and not lines[1].startswith("D")
            await pilot.press("dollar_sign")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await wait_for(pilot, lambda: len(server.mailbox.messages) == 39)  # type: ignore[attr-defined]
        assert "QUIT" in server.commands()
        remaining = server.mailbox.messages  # type: ignore[attr-defined]
        assert messages[38] not in remaining
        assert messages[39] in remaining and messages[37] in remaining

    async def test_quit_leave_on_server_sends_no_quit(self, server: Pop3Server) -> None:
        """`d` then `q` and "leave on server": the app exits, the server got no QUIT."""
        app = demo_app(server)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("d")
            await wait_for(pilot, lambda: "DELE 40" in server.commands())
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
            await pilot.press("l")
            await wait_for(pilot, lambda: app.return_code is not None)
        assert "QUIT" not in server.commands()
        assert len(server.mailbox.messages) == 40  # type: ignore[attr-defined]

    async def test_quit_commit_deletes_the_marked(self, server: Pop3Server) -> None:
        """`d` then `q` and "commit": QUIT goes out and the marked message is gone."""
        app = demo_app(server)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("d", "q")
            await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
            await pilot.press("c")
            await wait_for(pilot, lambda: app.return_code is not None)
        assert server.commands()[-1] == "QUIT"
        assert len(server.mailbox.messages) == 39  # type: ignore[attr-defined]

    async def test_unmark_all(self, server: Pop3Server) -> None:
        """`U` sends RSET and clears every mark on screen."""
        app = demo_app(server)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("d", "d", "d", "U")
            await wait_for(pilot, lambda: server.commands()[-1] == "RSET")
            await pilot.pause()
            assert app.marks == frozenset()
            assert "no deletions pending" in static_text(app, "#header-pending")


class TestViewer:
    async def test_open_attachments_headers_raw_and_next(self, server: Pop3Server) -> None:
        """A message with attachments lists them; `h` shows all headers, `v` the source."""
        app = demo_app(server)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            index = app.listing.index_of("uid-0006")  # sample #5: "Documents for review"
            assert index is not None
            app.screen.query_one("#envelopes").move_to(index)  # type: ignore[attr-defined]
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, MessageScreen))
            screen = app.screen
            assert isinstance(screen, MessageScreen)
            await wait_for(pilot, lambda: screen.forms is not None)
            assert "RETR 6" in server.commands()
            labels = [
                str(screen.query_one("#attachments").get_option_at_index(i).prompt)  # type: ignore[attr-defined]
                for i in range(screen.query_one("#attachments").option_count)  # type: ignore[attr-defined]
            ]
            assert any("report-5.csv" in label for label in labels)
            assert "Message-ID" not in static_text(app, "#message-headers")
            await pilot.press("h")  # every header, above the body (mutt's h)
            assert "Message-ID" in screen.query_one("#body").text  # type: ignore[attr-defined]
            await pilot.press("v")
            assert "Content-Type: multipart/mixed" in screen.query_one("#body").text  # type: ignore[attr-defined]
            await pilot.press("n")
            await wait_for(pilot, lambda: screen.key == "uid-0005" and screen.forms is not None)
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MailboxScreen))

    async def test_html_newsletter_switches(self, server: Pop3Server) -> None:
        """A newsletter opens as plain text; `b` switches to its HTML rendered as text."""
        app = demo_app(server)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            index = app.listing.index_of("uid-0038")  # sample #37: newsletter
            app.screen.query_one("#envelopes").move_to(index)  # type: ignore[attr-defined]
            await pilot.press("enter")
            await wait_for(pilot, lambda: getattr(app.screen, "forms", None) is not None)
            body = app.screen.query_one("#body")
            assert "Headlines: Why TUIs are back" in body.text  # type: ignore[attr-defined]
            await pilot.press("b")
            assert "The Terminal Times" in body.text  # type: ignore[attr-defined]
            assert "Showing HTML" in static_text(app, "#body-form")


class TestHostileText:
    async def test_markup_in_subject_shows_literally(self) -> None:
        """Subjects with Rich/Textual markup are shown as typed, and nothing is triggered."""
        hostile = [
            b"From: [bold red]Mallory[/] <m@x.example>\r\nSubject: [bold red]x\r\n"
            b"Date: Fri, 15 Mar 2024 09:00:00 +0000\r\n\r\nhi\r\n",
            b"From: e@x.example\r\nSubject: [@click=app.quit]y[/] \x1b[31mred\r\n"
            b"Date: Fri, 15 Mar 2024 10:00:00 +0000\r\n\r\nhi\r\n",
        ]
        srv = new_server(hostile)
        await srv.start()
        try:
            app = demo_app(srv)
            async with app.run_test(size=SIZE) as pilot:
                await wait_listed(pilot)
                text = "\n".join(table_lines(app))
                assert "[bold red]x" in text and "[bold red]Mallory[/]" in text
                assert "[@click=app.quit]y[/]" in text and "\x1b" not in text
                await pilot.press("enter")
                await wait_for(pilot, lambda: getattr(app.screen, "forms", None) is not None)
                headers = static_text(app, "#message-headers")
                assert "[@click=app.quit]y[/]" in headers and "\x1b" not in headers
                await pilot.click("#message-headers")
                assert app.return_code is None  # the "link" did not quit the app
        finally:
            await srv.close()


class TestErrors:
    async def test_worker_error_becomes_dialog(self, server: Pop3Server) -> None:
        """An unexpected exception in the worker shows a dialog; the app keeps running."""

        class BrokenFetch(MailboxSession):
            async def fetch(self, uid, progress=None):  # type: ignore[no-untyped-def, override]
                raise RuntimeError("boom")

        app = demo_app(server, session_factory=lambda a, p: BrokenFetch(a, p))
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
            assert "RuntimeError: boom" in app.screen.message  # type: ignore[attr-defined]
            await pilot.press("escape", "escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MailboxScreen))
            await pilot.press("d")  # the restarted worker still serves commands
            await wait_for(pilot, lambda: "DELE 40" in server.commands())
        assert "QUIT" not in server.commands()

    async def test_connection_drop_is_a_status_and_reconnects(self, server: Pop3Server) -> None:
        """RETR keeps failing: "Connection lost" shows; the next action reconnects, marks kept."""
        app = demo_app(server)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("d")  # marks 40, the cursor moves to 39
            await wait_for(pilot, lambda: "DELE 40" in server.commands())
            # Every RETR drops the line, so the engine's own retry fails too.
            server.faults.append(Fault(verb="RETR", drop_before=True, times=None))
            await pilot.press("enter")
            await wait_for(pilot, lambda: "Connection lost" in static_text_any(app))
            assert "closed the connection" in app.screen.query_one("#body").text  # type: ignore[attr-defined]
            server.faults.clear()
            opened = server.sessions_opened
            await pilot.press("escape", "d")
            await wait_for(pilot, lambda: server.sessions_opened > opened and len(app.marks) == 2)
            last = server.sessions_opened
            await wait_for(pilot, lambda: "DELE 39" in server.commands(last))
            assert "DELE 40" in server.commands(last)  # the first mark was re-applied
        assert "QUIT" not in server.commands()

    async def test_wrong_password_is_inline(self, server: Pop3Server) -> None:
        """A refused login stays on the login screen with a plain-words error."""
        app = PopviewApp(None, account=account_for(server), password="wrong")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "error" in app.screen.query_one("#login-status").classes)
            assert isinstance(app.screen, LoginScreen)
            assert static_text(app, "#login-status")
            assert "wrong" not in static_text(app, "#login-status")


def static_text_any(app: PopviewApp) -> str:
    """Status line of the mailbox screen wherever it is in the stack."""
    for screen in app.screen_stack:
        if isinstance(screen, MailboxScreen):
            return screen.status_text
    return ""


class TestInterpreter:
    async def test_the_listing_thread_yields_the_lock_sooner_while_the_app_runs(
        self, server: Pop3Server
    ) -> None:
        """While the app runs, a thread holding the interpreter lock (the listing's
        parser) gives it up after 1 ms, not Python's 5, so each turn of the app's loop
        waits less for it (a key press takes several); the caller's interval comes back
        when the app ends (README, bench_ui.py)."""
        before = sys.getswitchinterval()
        app = demo_app(server)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            assert sys.getswitchinterval() == pytest.approx(UI_SWITCH_INTERVAL) != before
        assert sys.getswitchinterval() == before


class TestHelpInfoKeymap:
    async def test_help_and_server_info(self, server: Pop3Server) -> None:
        """`?` lists every key with its id; `i` shows the server facts and UNENCRYPTED."""
        app = demo_app(server)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            # Keys with their ids for [keymap] (the first screenful: the list's keys).
            await wait_for(pilot, lambda: "mailbox.mark" in screen_plain(app))
            assert "list.open" in screen_plain(app)
            await pilot.press("escape", "i")
            await wait_for(pilot, lambda: isinstance(app.screen, ServerInfoScreen))
            await wait_for(pilot, lambda: "Encryption" in screen_plain(app))
            assert "UNENCRYPTED: password and mail cross the network" in screen_plain(app)
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MailboxScreen))

    async def test_keymap_rebinds_by_id(self, server: Pop3Server) -> None:
        """`[keymap] "mailbox.mark" = "x"` makes `x` mark for deletion."""
        config = Config(keymap={"mailbox.mark": "x"})
        app = PopviewApp(config, account=account_for(server), password=POP3_PASSWORD)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("x")
            await wait_for(pilot, lambda: "DELE 40" in server.commands())


class TestTrace:
    async def test_trace_gets_the_commands_but_never_the_password(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`popview -a demo --trace FILE`: build_app's trace receives every command the
        server got (USER, PASS, TOP, DELE) with the password masked as `PASS ***`."""
        srv = new_server(sample_messages(3), capabilities=["TOP", "UIDL", "USER", "PIPELINING"])
        await srv.start()
        monkeypatch.setenv("POPVIEW_PASSWORD", POP3_PASSWORD)
        lines: list[str] = []
        config = Config(accounts={"demo": account_for(srv)})
        app = build_app(config, account_name="demo", trace=lines.append)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await wait_listed(pilot)
                await pilot.press("d")
                await wait_for(pilot, lambda: "DELE 3" in srv.commands())
        finally:
            await srv.close()
        sent = [line.removeprefix("C: ") for line in lines if line.startswith("C: ")]
        assert "PASS ***" in sent and f"USER {POP3_USER}" in sent
        assert {"TOP 3 0", "TOP 1 0", "DELE 3"} <= set(sent)
        assert all(POP3_PASSWORD not in line for line in lines)
        assert any(line.startswith("S: +OK") for line in lines)
