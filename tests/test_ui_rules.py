"""Rules on load, marks by pattern, and the commit dialog grouped by rule (issue 12).

Driven by Pilot against the embedded server; every check is on what the user
sees or on what the server received. Nothing is deleted before the commit:
the server's mailbox still holds every message until ``QUIT``.
"""

from __future__ import annotations

from typing import Any

import pytest
from rich.text import Text
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Input, Static

from popview.config import Config, Rule
from popview.server import Fault, MemoryMailbox, Pop3Server
from popview.store import Store
from popview.ui.app import PopviewApp
from popview.ui.screens.dialogs import ConfirmScreen, QuitScreen
from popview.ui.screens.message import MessageScreen
from popview.ui.screens.pattern_marks import PatternPrompt
from popview.ui.widgets.formatting import size_label
from tests.fixtures.embedded import POP3_PASSWORD, new_server
from tests.test_ui_app import screen_plain, static_text
from tests.ui_support import account_for, table_lines, wait_for, wait_listed

SIZE = (100, 30)


def mail(n: int, sender: str, subject: str, headers: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: alice@example.org\r\nSubject: {subject}\r\n"
        f"Date: {n:02d} Mar 2024 12:00:00 +0000\r\nMessage-ID: <m{n}@example.org>\r\n"
        f"{headers}\r\nBody of message {n}.\r\n"
    ).encode()


SPAM = "X-Spam-Flag: YES\r\n"
LIST = "List-Id: <weekly.lists.example.org>\r\n"
MESSAGES = [
    mail(1, "Pills <pills@spam.example>", "Cheap pills", SPAM),
    mail(2, "Lottery <win@spam.example>", "You won money", SPAM),
    mail(3, "Friend <friend@example.org>", "Party tonight", SPAM),
    mail(4, "Weekly <news@lists.example.org>", "Weekly digest", LIST),
    mail(5, "Bob <bob@example.org>", "Lunch on Friday?"),
    mail(6, "Carol <carol@example.org>", "[b]Report[/b] draft"),
    mail(7, "Monthly <month@lists.example.org>", "Monthly digest", LIST),
]
#: The newsletters' rule has a name that would be markup if it were ever parsed.
ADS = "[b]ads[/b]"
RULES = (
    Rule(name="friends", pattern="~f friend@example.org", action="keep"),
    Rule(name="spam", pattern="~x spam"),
    Rule(name=ADS, pattern="~x list"),
)
RULE_MARKS = {"uid-0001": "spam", "uid-0002": "spam", "uid-0004": ADS, "uid-0007": ADS}


def octets(*numbers: int) -> int:
    return sum(len(MESSAGES[n - 1]) for n in numbers)


def dele_numbers(server: Pop3Server) -> list[int]:
    return [int(c.split()[1]) for c in server.commands() if c.startswith("DELE ")]


def mailbox_of(server: Pop3Server) -> MemoryMailbox:
    mailbox = server.mailbox
    assert isinstance(mailbox, MemoryMailbox)
    return mailbox


@pytest.fixture
async def server() -> Any:
    server = new_server(list(MESSAGES))
    await server.start()
    yield server
    await server.close()


def app_with_rules(server: Pop3Server, rules: tuple[Rule, ...] = RULES) -> PopviewApp:
    return PopviewApp(Config(rules=rules), account=account_for(server), password=POP3_PASSWORD)


async def rules_done(pilot: Pilot[Any]) -> PopviewApp:
    app = pilot.app
    assert isinstance(app, PopviewApp)
    await wait_listed(pilot)
    await wait_for(pilot, lambda: "Rules marked" in static_text(app, "#status-line"))
    await wait_for(pilot, lambda: not app.pending_marks)
    return app


def dialog_text(app: PopviewApp) -> str:
    """The dialog's list, as drawn (its Static holds plain Text)."""
    body = app.screen.query_one(".dialog-body")
    widget = body if isinstance(body, Static) else body.query_one(Static)
    content = widget.render()
    return content.plain if isinstance(content, Text | Content) else str(content)


def row_of(app: PopviewApp, subject: str) -> str:
    return next(line for line in table_lines(app) if subject in line)


async def type_pattern(pilot: Pilot[Any], text: str) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PatternPrompt))
    await pilot.press(*text[:2])  # typed into the prompt's field...
    pilot.app.screen.query_one(Input).insert_text_at_cursor(text[2:])  # ...the rest pasted
    await pilot.press("enter")


class TestRulesOnLoad:
    async def test_rules_mark_exactly_the_matches_and_say_so_once(self, server: Pop3Server) -> None:
        """The rules mark the spam and the newsletters, not the friend's spam; the
        status line says what they did, each row names its rule (as plain text),
        the DELEs went out and nothing is deleted."""
        app = app_with_rules(server)
        async with app.run_test(size=SIZE) as pilot:
            app = await rules_done(pilot)
            assert app.marks == frozenset(RULE_MARKS)
            assert dict(app.mark_rules) == RULE_MARKS
            size = size_label(octets(1, 2, 4, 7))
            assert static_text(app, "#status-line") == (
                f"Rules marked 4 messages ({size}): spam 2, {ADS} 2; 1 kept by friends. "
                "Deleted only when you commit ($)."
            )
            assert sorted(dele_numbers(server)) == [1, 2, 4, 7]
            assert f"4 to delete, {size}" in static_text(app, "#header-pending")
            header = table_lines(app)[0]
            assert "Rule" in header
            assert row_of(app, "Cheap pills").startswith("D")
            assert " spam " in row_of(app, "Cheap pills")
            assert f" {ADS} " in row_of(app, "Weekly digest")  # literal, not bold "ads"
            assert "spam" not in row_of(app, "Party tonight")
            assert not row_of(app, "Party tonight").startswith("D")
            await pilot.resize_terminal(58, 30)  # too narrow for the rule: D stays
            await wait_for(pilot, lambda: "Rule" not in table_lines(app)[0])
            assert row_of(app, "Cheap pills").startswith("D")
        assert "QUIT" not in server.commands()
        assert mailbox_of(server).deleted == []

    async def test_the_viewer_and_the_preview_name_the_rule(self, server: Pop3Server) -> None:
        """Opening a rule-marked message says which rule marked it; the preview too."""
        app = app_with_rules(server)
        async with app.run_test(size=SIZE) as pilot:
            app = await rules_done(pilot)
            table = app.screen.query_one("#envelopes")
            table.move_to(app.listing.index_of("uid-0004") or 0)  # type: ignore[attr-defined]
            await pilot.press("v")
            await wait_for(pilot, lambda: f"by rule {ADS}" in screen_plain(app))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, MessageScreen))
            await wait_for(pilot, lambda: f"Marked for deletion by rule {ADS}" in screen_plain(app))

    async def test_the_dialog_groups_by_rule_and_a_user_unmark_survives_a_refresh(
        self, server: Pop3Server
    ) -> None:
        """$ lists exactly the marks, grouped by rule, the user's own last; u on a
        rule's mark, then r: the rules run again and leave it unmarked; y deletes
        exactly what the dialog listed."""
        app = app_with_rules(server)
        async with app.run_test(size=(100, 50)) as pilot:
            app = await rules_done(pilot)
            table: Any = app.screen.query_one("#envelopes")
            table.move_to(app.listing.index_of("uid-0006"))
            await pilot.press("d", "dollar_sign")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            text = screen_plain(app)
            assert "Delete 5 messages on the server?" in text
            text = dialog_text(app)
            headings = (f"{ADS} (2)", "spam (2)", "marked by you (1)")
            at = {name: text.index(name) for name in headings}
            assert at[f"{ADS} (2)"] < text.index("Weekly digest") < at["spam (2)"]
            assert at["spam (2)"] < text.index("Cheap pills") < at["marked by you (1)"]
            assert at["marked by you (1)"] < text.index("[b]Report[/b] draft")  # not markup
            assert "Party tonight" not in text and "Lunch" not in text
            await pilot.press("n")
            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))

            table.move_to(app.listing.index_of("uid-0001"))
            await pilot.press("u")
            await wait_for(pilot, lambda: "uid-0001" not in app.marks and not app.pending_marks)
            await pilot.press("r")
            await wait_for(pilot, lambda: "No new mail." in static_text(app, "#status-line"))
            await pilot.press("dollar_sign")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert "Delete 4 messages on the server?" in screen_plain(app)
            text = dialog_text(app)
            expected = {"uid-0002", "uid-0004", "uid-0006", "uid-0007"}
            assert app.session_marks == frozenset(expected)
            assert "spam (1)" in text and f"{ADS} (2)" in text and "marked by you (1)" in text
            assert "QUIT" not in server.commands()
            await pilot.press("y")
            await wait_for(pilot, lambda: len(mailbox_of(server).deleted) == 4)
        assert sorted(mailbox_of(server).deleted) == sorted(expected)

    async def test_a_refresh_runs_the_rules_on_new_mail(self, server: Pop3Server) -> None:
        """New spam arrives; r lists it and the spam rule marks it, and says so."""
        app = app_with_rules(server)
        async with app.run_test(size=SIZE) as pilot:
            app = await rules_done(pilot)
            uid = mailbox_of(server).add(mail(8, "Spammer <x@spam.example>", "Act now", SPAM))
            await pilot.press("r")
            await wait_for(
                pilot, lambda: static_text(app, "#status-line").startswith("Rules marked 1 message")
            )
            await wait_for(pilot, lambda: not app.pending_marks)
            assert dict(app.mark_rules) == {**RULE_MARKS, uid: "spam"}
            assert " spam " in row_of(app, "Act now")
        assert mailbox_of(server).deleted == []

    async def test_the_quit_dialog_says_who_marked_what(self, server: Pop3Server) -> None:
        """q with rule marks pending: the dialog counts them by rule; n deletes nothing."""
        app = app_with_rules(server)
        async with app.run_test(size=SIZE) as pilot:
            app = await rules_done(pilot)
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
            assert dialog_text(app).startswith(
                f"4 messages are marked for deletion ({ADS} 2, spam 2). Commit deletes"
            )
            await pilot.press("n")
        assert "QUIT" not in server.commands()
        assert mailbox_of(server).deleted == []


class TestRulesAcrossRuns:
    async def test_a_later_run_shows_the_rule_from_the_journal(
        self, server: Pop3Server, tmp_path: Any
    ) -> None:
        """Rules mark, popview is killed (Ctrl+C: no QUIT); the next run, without any
        rule configured, asks about the earlier marks and, kept, still names the rule
        that made each (the journal keeps it)."""
        store = Store.open(tmp_path / "cache")
        try:
            first = PopviewApp(
                Config(rules=RULES),
                account=account_for(server),
                password=POP3_PASSWORD,
                store=store,
            )
            async with first.run_test(size=SIZE) as pilot:
                await rules_done(pilot)
                await pilot.press("ctrl+c")
            await server.wait_idle()
            assert "QUIT" not in server.commands()
            second = PopviewApp(
                None, account=account_for(server), password=POP3_PASSWORD, store=store
            )
            async with second.run_test(size=SIZE) as pilot:
                # The dialog drawn, not only pushed (a warm start pushes it over the
                # cached rows, and its body composes on a later turn of the loop).
                await wait_for(
                    pilot,
                    lambda: (
                        isinstance(second.screen, ConfirmScreen)
                        and bool(second.screen.query(".dialog-body Static"))
                    ),
                )
                assert f"Marked by: {ADS} 2, spam 2" in dialog_text(second)
                await pilot.press("y")  # keep them marked
                await wait_listed(pilot)
                await wait_for(pilot, lambda: dict(second.mark_rules) == RULE_MARKS)
                assert " spam " in row_of(second, "Cheap pills")
                assert "Rule" in table_lines(second)[0]
        finally:
            store.close()
        assert mailbox_of(server).deleted == []


class TestRefreshWithoutCache:
    async def test_a_marked_row_keeps_its_headers_after_a_refresh(self, server: Pop3Server) -> None:
        """d, then r with no cache: the marked message still shows who sent it."""
        app = PopviewApp(None, account=account_for(server), password=POP3_PASSWORD)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("d")  # the newest: "Monthly digest"
            await wait_for(pilot, lambda: bool(app.marks) and not app.pending_marks)
            await pilot.press("r")
            await wait_for(pilot, lambda: "No new mail." in static_text(app, "#status-line"))
            assert "Monthly digest" in row_of(app, "Monthly")


class TestMarkByPattern:
    async def test_count_and_size_first_then_pipelined_deles_drawn_pending(
        self, server: Pop3Server
    ) -> None:
        """D and a pattern: the question gives the count and the size before any DELE;
        y draws the marks at once as pending, the keys still work, the DELEs follow
        and nothing is deleted."""
        server.faults.append(Fault(verb="DELE", delay=1.0))  # holds the batch: still pending
        app = PopviewApp(None, account=account_for(server), password=POP3_PASSWORD)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("D")
            await type_pattern(pilot, "~s digest | pills")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            size = size_label(octets(1, 4, 7))
            assert f"Mark 3 messages ({size}) matching '~s digest | pills'?" in screen_plain(app)
            assert dele_numbers(server) == []
            await pilot.press("y")
            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
            assert app.marks == {"uid-0001", "uid-0004", "uid-0007"}
            assert "(3 pending)" in static_text(app, "#header-pending")  # the DELE is slow
            await pilot.press("j")  # the app answers meanwhile
            await wait_for(pilot, lambda: not app.pending_marks)
            assert sorted(dele_numbers(server)) == [1, 4, 7]
            assert f"3 to delete, {size}" in static_text(app, "#header-pending")
        assert "QUIT" not in server.commands()
        assert mailbox_of(server).deleted == []

    async def test_a_bad_pattern_points_at_its_column_and_marks_nothing(
        self, server: Pop3Server
    ) -> None:
        """A pattern that does not parse is shown with a caret and the column; the
        prompt stays, nothing is marked, Esc leaves."""
        app = PopviewApp(None, account=account_for(server), password=POP3_PASSWORD)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("D")
            await type_pattern(pilot, "~s x | ~q")
            await wait_for(pilot, lambda: "column 8" in screen_plain(app))
            shown = app.screen.query_one("#pattern-error", Static).render()
            assert isinstance(shown, Text | Content)
            pattern, caret = shown.plain.splitlines()
            assert pattern == "~s x | ~q"
            assert caret.index("^") == 7  # under "~q"
            assert isinstance(app.screen, PatternPrompt)
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, PatternPrompt))
            assert app.marks == frozenset()
        assert dele_numbers(server) == []

    async def test_unmark_by_pattern_is_one_rset(self, server: Pop3Server) -> None:
        """Ctrl+U and a pattern unmark the matching marks: one RSET, then the other
        marks are sent again; the count and size are asked first."""
        app = app_with_rules(server)
        async with app.run_test(size=SIZE) as pilot:
            app = await rules_done(pilot)
            await pilot.press("ctrl+u")
            await type_pattern(pilot, "~x spam")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            size = size_label(octets(1, 2))
            assert f"Unmark 2 messages ({size}) matching '~x spam'?" in screen_plain(app)
            assert "RSET" not in server.commands()
            before = len(server.commands())
            await pilot.press("y")
            await wait_for(pilot, lambda: app.marks == {"uid-0004", "uid-0007"})
            await wait_for(pilot, lambda: not app.pending_marks)
            after = server.commands()[before:]
            assert after.count("RSET") == 1
            assert sorted(int(c.split()[1]) for c in after if c.startswith("DELE ")) == [4, 7]
        assert mailbox_of(server).deleted == []

    async def test_marks_the_journal_cannot_hold_are_not_made(
        self, server: Pop3Server, tmp_path: Any
    ) -> None:
        """The journal refuses every write (a full disk): D marks nothing, sends no
        DELE, and says the messages were NOT marked (journal first)."""
        store = Store.open(tmp_path / "cache")
        app = PopviewApp(None, account=account_for(server), password=POP3_PASSWORD, store=store)
        said: list[str] = []
        show = app.notify

        def notify(message: str, *args: Any, **options: Any) -> None:
            said.append(str(message))
            show(message, *args, **options)

        app.notify = notify  # type: ignore[method-assign]
        try:
            async with app.run_test(size=SIZE) as pilot:
                await wait_listed(pilot)
                db = store.journal._db
                with db._lock:  # every write now fails, as on a full or read-only disk
                    db._connection.execute("PRAGMA query_only = ON")
                await pilot.press("D")
                await type_pattern(pilot, "digest")
                await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
                await pilot.press("y")
                await wait_for(pilot, lambda: any("NOT marked" in text for text in said))
                await wait_for(pilot, lambda: not app.marks)
        finally:
            store.close()
        assert dele_numbers(server) == []
        assert "QUIT" not in server.commands()
