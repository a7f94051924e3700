"""docs/hardening.md cases checked in the Textual app (Pilot, in-loop embedded server).

The gaps tests/HARDENING_MAP.md listed for the app: a drip-fed reply and a
silent server (A.3, A.4: the deadline fires, keys work meanwhile, quitting
leaves no thread behind), server ``-ERR`` text with markup in notifications,
dialogs and the viewer (D.37), bidi characters in a From name (D.38), the
canary password after a forced crash (C.35), the wording after a drop with
marks pending (E.44), Ctrl+C and ``app.exit()`` with marks pending (E.47) and
a message cut short by EOF (E.52).

Every test asserts what the user sees (the screen, a dialog, a notification,
the viewer) or what the server received (its transcript and mailbox). Timeouts
are short deadlines given to the account; they bound a wait, nothing is timed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import io
import logging
import os
import re
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import textual.constants
from rich.console import Console
from rich.text import Text
from textual.command import CommandPalette
from textual.content import Content
from textual.notifications import Notification, Notify
from textual.widgets import Static

from popview.demo import sample_messages
from popview.server import GREETING, Fault, MemoryMailbox, Pop3Server, ServerThread
from popview.session import MailboxSession
from popview.session.policy import RESP_CODE_SENTENCES
from popview.store import Store
from popview.ui.app import PopviewApp
from popview.ui.screens.dialogs import ErrorScreen
from popview.ui.screens.help import HelpScreen
from popview.ui.screens.login import LoginScreen
from popview.ui.screens.mailbox import MailboxScreen
from popview.ui.screens.message import MessageScreen
from popview.ui.textual_adapter import screen_text as adapter_screen_text
from popview.ui.worker import Login
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER, new_server
from tests.pty_support import PtySession, popview_on_pty
from tests.ui_support import (
    account_for,
    table_lines,
    wait_for,
    wait_listed,
)

SIZE = (100, 30)
REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
"""Bound on a cold start of Python and Textual on a busy machine (pty tests)."""
CANARY = "s3cret-canary-UI-77"
"""The password of the C.35 tests: grep everything the user or a log could see for it."""
HOSTILE_ERR = "[bold red]x [@click=app.quit]y[/] [link=file:///etc/passwd]z[/link]"
"""Server text that would be a style, an action and a link if parsed as markup."""


@pytest.fixture
async def server(make_pop3_server: Callable[..., Awaitable[Pop3Server]]) -> Pop3Server:
    """Five sample messages (the newest, number 5, is on top) on a loopback server."""
    return await make_pop3_server(mailbox=MemoryMailbox(sample_messages(5)))


def app_for(server: Pop3Server, timeout: float = 30.0, **kwargs: Any) -> PopviewApp:
    """The app logging in to ``server`` at once, with a command deadline of ``timeout``."""
    account = dataclasses.replace(account_for(server), timeout=timeout)
    password = kwargs.pop("password", POP3_PASSWORD)
    return PopviewApp(None, account=account, password=password, **kwargs)


def rendered(widget: Static) -> Text | Content:
    """What the widget renders (Textual 8 keeps a Static's text as Content)."""
    content = widget.render()
    assert isinstance(content, Text | Content), type(content)
    return content


def screen_text(app: PopviewApp) -> str:
    """Every line on screen as the user reads it (dialogs, toasts and what is behind)."""
    return adapter_screen_text(app.screen)


async def assert_on_screen(pilot: Any, app: PopviewApp, text: str) -> None:
    """Each word of ``text`` is on screen as typed (a dialog or a toast wraps lines).

    Waits for the next frames first: a screen just pushed may not be composited yet
    (seen on a loaded CI machine, where the screen read back empty).
    """
    words = text.split()
    # On a timeout, report the missing word below, with the screen.
    with contextlib.suppress(AssertionError):
        await wait_for(pilot, lambda: all(word in screen_text(app) for word in words))
    screen = screen_text(app)
    for word in words:
        assert word in screen, (word, screen)


class Notes:
    """A ``message_hook`` for ``run_test``: keeps every notification the app was asked to show."""

    def __init__(self) -> None:
        self.seen: list[Notification] = []

    def __call__(self, message: object) -> None:
        if isinstance(message, Notify):
            self.seen.append(message.notification)


def body_text(app: PopviewApp) -> str:
    screen = app.screen
    assert isinstance(screen, MessageScreen), screen
    return str(screen.query_one("#body").text)  # type: ignore[attr-defined]


def mailbox_status(app: PopviewApp) -> str:
    for screen in app.screen_stack:
        if isinstance(screen, MailboxScreen):
            return screen.status_text
    return ""


def new_non_daemon_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]


def no_markup_applied(text: Text | Content) -> None:
    """No span of the rendered text is a link or carries a click action."""
    for span in text.spans:
        style = span.style
        if isinstance(style, str):
            assert "link" not in style and "@click" not in style, span
            continue
        assert style.link is None, span
        assert not style.meta, span  # [@click=...] would be a meta action


# -- A. responsiveness under a bad server ---------------------------------------------------


@pytest.mark.slow  # waits for real deadlines to fire
class TestDripAndSilence:
    """A.3 and A.4: the whole-command deadline fires; keys work while the worker waits."""

    async def test_a03_drip_fed_retr_hits_the_deadline_while_keys_work(
        self, server: Pop3Server
    ) -> None:
        """RETR answered one byte per 0.9 s (each byte beats a 1 s read timeout): while
        it drips, ``?`` opens help; then the 2 s deadline fires, the viewer says
        "Timed out" (no partial message), the connection is dropped without QUIT,
        and the next key reconnects."""
        app = app_for(server, timeout=2.0)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            server.faults.append(Fault(verb="RETR", chunk_size=1, chunk_delay=0.9, times=None))
            await pilot.press("enter")
            await wait_for(pilot, lambda: "RETR 5" in server.commands())
            viewer = app.screen
            assert isinstance(viewer, MessageScreen)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            # The help opened while the worker still waited on the drip.
            assert viewer.forms is None and "Timed out" not in str(viewer.query_one("#body").text)  # type: ignore[attr-defined]
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is viewer)
            await wait_for(pilot, lambda: "Timed out" in body_text(app), tries=1000)
            assert viewer.forms is None  # nothing of the partial reply is shown as a message
            assert "Connection lost" in mailbox_status(app)
            await wait_for(pilot, lambda: server.active_sessions == 0, tries=1000)
            server.faults.clear()
            opened = server.sessions_opened
            await pilot.press("escape", "d")  # back to the list, mark: a new connection
            await wait_for(pilot, lambda: server.sessions_opened > opened)
            await wait_for(pilot, lambda: "DELE 5" in server.commands(server.sessions_opened))
            assert app.marks == frozenset({"uid-0005"})
        assert "QUIT" not in server.commands()

    async def test_a04_silent_server_times_out_and_keys_work_meanwhile(self) -> None:
        """The server accepts and never greets: while the login waits, Ctrl+P opens the
        command palette and Esc closes it; the greeting deadline then shows an error
        on the login screen; nothing was sent; Esc quits."""
        srv = new_server(sample_messages(3), faults=[Fault(verb=GREETING, silent=True, stall=True)])
        await srv.start()
        try:
            app = app_for(srv, timeout=2.0)
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: srv.sessions_opened == 1)
                login = app.screen
                assert isinstance(login, LoginScreen)
                status = login.query_one("#login-status", Static)
                await pilot.press("ctrl+p")
                await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
                assert "error" not in status.classes  # still waiting for the greeting
                await pilot.press("escape")
                await wait_for(pilot, lambda: app.screen is login)
                await wait_for(pilot, lambda: "error" in status.classes, tries=1000)
                shown = rendered(status).plain
                assert shown.startswith("Timed out") and "did not greet" in shown
                await pilot.press("escape")
                await wait_for(pilot, lambda: app.return_code is not None)
            assert srv.commands() == []  # not even CAPA: no USER, no PASS
        finally:
            await srv.close()

    async def test_a04_quit_while_waiting_leaves_no_thread(self) -> None:
        """Esc while the login waits on a silent server: the app exits at once, the
        socket is closed (the server sees EOF), no command was sent, and no
        non-daemon thread started by the app is still alive."""
        before = set(threading.enumerate())
        srv = new_server(sample_messages(3), faults=[Fault(verb=GREETING, silent=True, stall=True)])
        await srv.start()
        try:
            app = app_for(srv, timeout=30.0)
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: srv.sessions_opened == 1)
                assert isinstance(app.screen, LoginScreen)
                await pilot.press("escape")
                await wait_for(pilot, lambda: app.return_code is not None)
            await asyncio.wait_for(srv.wait_idle(), 10)  # the client closed its socket
            assert srv.commands() == []
            assert new_non_daemon_threads(before) == []
        finally:
            await srv.close()


# -- C.35: the canary password after a forced crash ---------------------------------------------


class TestCanary:
    """C.35: after a forced exception the password is on no screen, dialog or log."""

    async def test_worker_crash_after_login_leaks_nothing(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The session logs in with the canary, then raises RuntimeError inside the
        worker: a dialog says so and the app keeps running; the canary is on no
        screen, in no notification, no log record (DEBUG) and not in Textual's log."""
        textual_log = tmp_path / "textual.log"
        monkeypatch.setattr(textual.constants, "LOG_FILE", str(textual_log))
        caplog.set_level(logging.DEBUG)
        srv = new_server(sample_messages(3), users={POP3_USER: CANARY})
        await srv.start()

        class CrashingSession(MailboxSession):
            async def open(self) -> Any:
                await super().open()
                raise RuntimeError("forced crash after login")

        try:
            app = app_for(srv, password=CANARY, session_factory=lambda a, p: CrashingSession(a, p))
            notes = Notes()
            async with app.run_test(size=SIZE, notifications=True, message_hook=notes) as pilot:
                await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
                dialog = app.screen
                assert isinstance(dialog, ErrorScreen)
                assert "RuntimeError: forced crash after login" in dialog.message
                seen = [screen_text(app), dialog.message]
                seen += [str(n.message) + str(n.title) for n in notes.seen]
                await pilot.press("escape")
                await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
                seen.append(screen_text(app))
            assert any(c.startswith(("PASS", "AUTH")) for c in srv.commands())  # it logged in
        finally:
            await srv.close()
        for text in seen:
            assert CANARY not in text
        assert all(CANARY not in r.getMessage() for r in caplog.records)
        assert CANARY not in caplog.text
        assert textual_log.exists()  # the log was written, so the check below means something
        assert CANARY not in textual_log.read_text(encoding="utf-8")

    async def test_crash_screen_does_not_show_the_password(self) -> None:
        """An unhandled exception while the login is handed to the worker (forced by
        making ``SessionWorker.submit`` raise for the Login command): the app exits
        with Textual's traceback; that rendered traceback holds no canary."""
        srv = new_server(sample_messages(3), users={POP3_USER: CANARY})
        await srv.start()
        try:
            app = app_for(srv, password=CANARY)
            submit = app.session_worker.submit

            def failing_submit(command: Any) -> None:
                if isinstance(command, Login):
                    raise RuntimeError("forced crash in the login path")
                submit(command)

            app.session_worker.submit = failing_submit  # type: ignore[method-assign]
            # Textual prints the crash screen on its public error console at exit.
            app.error_console = Console(file=io.StringIO(), width=120, color_system=None)
            with pytest.raises(RuntimeError, match="forced crash in the login path"):
                async with app.run_test(size=SIZE) as pilot:
                    await pilot.pause()
        finally:
            await srv.close()
        crash_screen = app.error_console.file.getvalue()  # type: ignore[attr-defined]
        assert "forced crash in the login path" in crash_screen  # the traceback was rendered
        assert "Traceback" in crash_screen
        assert CANARY not in crash_screen


# -- D. hostile text from the server -----------------------------------------------------------


class TestHostileServerText:
    """D.37 and D.38 in notifications, dialogs, the viewer and the table."""

    async def test_d37_err_text_in_notification_and_viewer_is_literal(
        self, server: Pop3Server
    ) -> None:
        """RETR answered ``-ERR`` with markup: the viewer and the error notification show
        the text as typed, with no style, link or action; clicking the viewer and the
        toast quits nothing."""
        app = app_for(server)
        notes = Notes()
        async with app.run_test(size=SIZE, notifications=True, message_hook=notes) as pilot:
            await wait_listed(pilot)
            server.faults.append(
                Fault(verb="RETR", replace=f"-ERR {HOSTILE_ERR}\r\n".encode(), times=None)
            )
            await pilot.press("enter")
            await wait_for(pilot, lambda: HOSTILE_ERR in body_text(app))
            await wait_for(pilot, lambda: any(HOSTILE_ERR in str(n.message) for n in notes.seen))
            (note,) = [n for n in notes.seen if HOSTILE_ERR in str(n.message)]
            assert note.markup is False
            await wait_for(pilot, lambda: bool(app.screen.query("Toast")))
            toast = rendered(app.screen.query("Toast").last(Static))
            assert HOSTILE_ERR in toast.plain
            no_markup_applied(toast)
            no_markup_applied(rendered(app.screen.query_one("#message-headers", Static)))
            await assert_on_screen(pilot, app, HOSTILE_ERR)
            await pilot.click("#message-headers")
            await pilot.click("Toast")
            await pilot.pause()
            assert app.return_code is None
            assert isinstance(app.screen, MessageScreen)

    async def test_d37_err_text_in_the_error_dialog_is_literal(self) -> None:
        """The greeting is ``-ERR`` with markup while the command palette is open: the
        login failure becomes an error dialog whose text is the markup as typed,
        unstyled; clicking it and pressing Enter close it without quitting."""
        srv = new_server(sample_messages(3), greeting=f"-ERR {HOSTILE_ERR}\r\n".encode())
        await srv.start()
        gate = asyncio.Event()

        class GatedSession(MailboxSession):
            async def open(self) -> Any:
                await gate.wait()  # the palette is open before the server answers
                return await super().open()

        try:
            app = app_for(srv, session_factory=lambda a, p: GatedSession(a, p))
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause()
                await pilot.press("ctrl+p")
                await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
                gate.set()
                await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
                dialog = app.screen
                assert isinstance(dialog, ErrorScreen)
                assert HOSTILE_ERR in dialog.message
                body = dialog.query_one(".dialog-body", Static)
                text = rendered(body)
                assert HOSTILE_ERR in text.plain
                no_markup_applied(text)
                assert not list(text.spans)  # not even the bold red of "[bold red]"
                await assert_on_screen(pilot, app, HOSTILE_ERR)
                await pilot.click(".dialog-body")
                await pilot.pause()
                assert app.return_code is None and app.screen is dialog
                await pilot.press("enter")
                await wait_for(pilot, lambda: app.screen is not dialog)
                assert app.return_code is None
            assert srv.commands() == []  # A.2: nothing is sent after an -ERR greeting
        finally:
            await srv.close()

    async def test_d38_bidi_in_from_keeps_the_columns_in_order(self) -> None:
        """From name and Subject carrying RLO/LRI/PDI/ZWSP/BOM: the row reads From,
        then Subject, then Date, left to right, with no bidi control on screen."""
        hostile = (
            b"From: =?utf-8?b?"
            + base64.b64encode("Mallory \u202eTRATS\u2066x\u2069 \u200b".encode())
            + b"?= <m@x.example>\r\n"
            b"Subject: =?utf-8?b?"
            + base64.b64encode("\ufeffInvoice \u202e42 fdp.exe".encode())
            + b"?=\r\nDate: Fri, 15 Mar 2024 09:00:00 +0000\r\n\r\nhi\r\n"
        )
        plain = (
            b"From: Bob <b@x.example>\r\nSubject: plain\r\n"
            b"Date: Thu, 14 Mar 2024 09:00:00 +0000\r\n\r\nhi\r\n"
        )
        srv = new_server([plain, hostile])
        await srv.start()
        try:
            app = app_for(srv)
            async with app.run_test(size=SIZE) as pilot:
                await wait_listed(pilot)
                lines = table_lines(app)
        finally:
            await srv.close()
        (row,) = [line for line in lines if "Mallory" in line]
        bidi = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200e\u200f\ufeff"
        assert not any(c in row for c in bidi), row
        start_from = row.index("Mallory")
        start_subject = row.index("Invoice")
        start_date = row.index("2024-03-15")
        assert start_from < row.index("TRATS") < start_subject < start_date, row
        assert row.index("fdp.exe") < start_date, row


# -- E. data loss and session integrity in the app --------------------------------------------


class TestLoginScreenAt30Lines:
    """A refused login is explained where a 100x30 terminal shows it."""

    async def test_refused_login_error_is_in_view(self) -> None:
        """PASS/AUTH refused with the worst-case form (account picker and the
        UNENCRYPTED warning): "Login failed" and the server's words are on screen
        at 100x30, inside the form's visible part, above the footer."""
        srv = new_server(
            sample_messages(3),
            faults=[Fault(verb=verb, err_code="AUTH", times=None) for verb in ("AUTH", "PASS")],
        )
        await srv.start()
        try:
            app = app_for(srv)
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(
                    pilot,
                    lambda: (
                        isinstance(app.screen, LoginScreen)
                        and "Login failed"
                        in str(app.screen.query_one("#login-status", Static).render())
                    ),
                )
                await pilot.pause()
                assert app.screen.query_one("#tls-warning").display  # the tallest form
                assert app.screen.query("#account")
                shown = screen_text(app)
                assert "Login failed" in shown, shown
                assert "injected" in shown, shown  # what the server said
                status = app.screen.query_one("#login-status", Static)
                form = app.screen.query_one("#login-form")
                visible = form.content_region
                assert visible.contains_region(status.region), (status.region, visible)
                assert status.region.bottom < SIZE[1] - 1  # above the footer
        finally:
            await srv.close()


class TestRespCodeSentences:
    """A.17 in the app: the login screen shows the session's one sentence per code."""

    @pytest.mark.parametrize("code", ["IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM", "AUTH"])
    async def test_login_code_sentence_on_screen(self, code: str) -> None:
        srv = new_server(
            sample_messages(3),
            faults=[Fault(verb=verb, err_code=code, times=None) for verb in ("AUTH", "PASS")],
        )
        await srv.start()
        try:
            app = app_for(srv)
            async with app.run_test(size=(160, 40)) as pilot:
                await assert_on_screen(pilot, app, RESP_CODE_SENTENCES[code])
        finally:
            await srv.close()


class TestRejectedRows:
    """A.12 in the app: the notice counts every junk row, not only the ones kept."""

    async def test_a12_notice_gives_the_total_of_rejected_rows(self) -> None:
        """A LIST of 3 good rows and 150 junk rows: the three messages are listed and
        the warning says 150 malformed rows were skipped (the engine keeps only the
        first 100 for display)."""
        body = "\r\n".join(["1 100", "2 100", "3 100", *(f"junk {n}" for n in range(150))])
        srv = new_server(
            sample_messages(3),
            faults=[
                Fault(verb="LIST", arg=None, replace=f"+OK\r\n{body}\r\n.\r\n".encode(), times=None)
            ],
        )
        await srv.start()
        try:
            app = app_for(srv)
            notes = Notes()
            async with app.run_test(size=SIZE, notifications=True, message_hook=notes) as pilot:
                await wait_listed(pilot)
                await wait_for(
                    pilot, lambda: any("malformed" in str(n.message) for n in notes.seen)
                )
                (note,) = [n for n in notes.seen if "malformed" in str(n.message)]
                assert "150 malformed row(s)" in str(note.message)
                assert len(app.listing.rows) == 3
        finally:
            await srv.close()


class TestMarksAndDrops:
    """E.44, E.47, E.52: what the app says and what the server gets."""

    async def test_e44_drop_with_two_marks_never_says_deleted(self, server: Pop3Server) -> None:
        """``d``, ``d``, then every command drops the connection: the UI says the two
        deletions are pending/kept, never "deleted"; no QUIT; all five remain."""
        app = app_for(server)
        notes = Notes()
        async with app.run_test(size=SIZE, notifications=True, message_hook=notes) as pilot:
            await wait_listed(pilot)
            await pilot.press("d", "d")
            await wait_for(pilot, lambda: app.marks == frozenset({"uid-0005", "uid-0004"}))
            await wait_for(pilot, lambda: "DELE 4" in server.commands())
            server.faults.append(Fault(verb="*", drop_before=True, times=None))
            await pilot.press("r")
            await wait_for(pilot, lambda: "Connection lost" in mailbox_status(app))
            await pilot.pause()
            said = [mailbox_status(app), screen_text(app)]
            said += [f"{n.title}: {n.message}" for n in notes.seen]
            for text in said:
                assert not re.search(r"\bdeleted\b", text, re.IGNORECASE), text
            assert "2 pending deletion(s) are kept" in mailbox_status(app)
            assert "2 to delete" in screen_text(app)
            assert app.marks == frozenset({"uid-0005", "uid-0004"})
        assert "QUIT" not in server.commands()
        assert len(server.mailbox.messages) == 5  # type: ignore[union-attr]

    @pytest.mark.parametrize("how", ["ctrl+c", "app.exit()"])
    async def test_e47_exit_with_marks_pending_sends_no_quit(
        self, server: Pop3Server, how: str
    ) -> None:
        """Two marks, then Ctrl+C (exit status 130) or ``app.exit()``: the socket is
        closed without QUIT, so the server deletes nothing."""
        app = app_for(server)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            await pilot.press("d", "d")
            await wait_for(pilot, lambda: "DELE 4" in server.commands())
            if how == "ctrl+c":
                await pilot.press("ctrl+c")
            else:
                app.exit()
            await wait_for(pilot, lambda: app.return_code is not None)
        await asyncio.wait_for(server.wait_idle(), 10)
        if how == "ctrl+c":
            assert app.return_value == 130  # popview exits with status 130
        assert "QUIT" not in server.commands()
        assert len(server.mailbox.messages) == 5  # type: ignore[union-attr]
        assert server.mailbox.deleted == []  # type: ignore[union-attr]

    async def test_e52_eof_mid_retr_shows_an_error_caches_nothing_then_refetches(
        self, server: Pop3Server, tmp_path: Path
    ) -> None:
        """RETR cut short by EOF (twice: the engine's one retry too): the viewer shows the
        error and none of the partial bytes, the cache holds nothing for the message;
        opening it again fetches and shows the whole message, now cached."""
        store = Store.open(tmp_path / "cache")
        partial = b"+OK\r\nFrom: partial@example.org\r\nSubject: PARTIAL-MARK\r\n\r\nhalf a bo"
        try:
            app = app_for(server, store=store)
            async with app.run_test(size=SIZE) as pilot:
                await wait_listed(pilot)
                assert app.info is not None
                key = app.info.account_key
                server.faults.append(Fault(verb="RETR", replace=partial, drop_after=True, times=2))
                await pilot.press("enter")
                viewer = app.screen
                assert isinstance(viewer, MessageScreen)
                await wait_for(pilot, lambda: "Connection lost" in body_text(app))
                assert viewer.forms is None
                assert "PARTIAL-MARK" not in screen_text(app) and "half a bo" not in body_text(app)
                assert store.cache.get_body(key, "uid-0005") is None
                await pilot.press("escape")
                await wait_for(pilot, lambda: isinstance(app.screen, MailboxScreen))
                await pilot.press("enter")
                await wait_for(pilot, lambda: getattr(app.screen, "forms", None) is not None)
                whole = server.mailbox.messages[4]  # type: ignore[union-attr]
                assert store.cache.get_body(key, "uid-0005") == whole
                assert "PARTIAL-MARK" not in screen_text(app)
                assert body_text(app).strip()
            assert [c for c in server.commands() if c.startswith("RETR")] == ["RETR 5"] * 3
            assert "QUIT" not in server.commands()
        finally:
            store.close()


# -- the same on a real terminal (the app as a process on a pty) ----------------------------


@pytest.fixture
def run_on_pty(tmp_path: Path) -> Iterator[Callable[..., PtySession]]:
    """Factory: ``popview --host ... --tls none`` on a 100x30 pty; killed after the test."""
    with popview_on_pty(tmp_path, POP3_USER, POP3_PASSWORD) as start:
        yield start


@pytest.mark.slow  # the app as a process on a pty
class TestOnATerminal:
    """A.4 and E.47 with the app as a real process: it must exit, and send no QUIT."""

    def test_a04_escape_on_a_silent_server_ends_the_process(
        self,
        make_pop3_server_thread: Callable[..., ServerThread],
        run_on_pty: Callable[..., PtySession],
    ) -> None:
        """The server never greets; Esc while "Connecting…": the process exits with
        status 0 (no thread keeps it alive), the socket is closed, nothing was sent."""
        server = make_pop3_server_thread(faults=[Fault(verb=GREETING, silent=True, stall=True)])
        app = run_on_pty(server, lines=45)  # at 30 lines the form's status is below the fold
        app.wait_for("Connecting to 127.0.0.1", timeout=START_TIMEOUT)
        app.send("escape")
        assert app.wait_exit(30) == 0
        server.wait_idle()
        assert server.commands() == []

    def test_e47_window_close_with_marks_pending_sends_no_quit(
        self,
        make_pop3_server_thread: Callable[..., ServerThread],
        run_on_pty: Callable[..., PtySession],
    ) -> None:
        """Two marks, then the terminal goes away (SIGHUP to the app's process group, as
        closing the window does): the process ends, the server got no QUIT and
        still holds all three messages. The test ignores SIGHUP while it starts the
        app (as ``nohup`` does): popview must end on it all the same."""
        server = make_pop3_server_thread()
        previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            app = run_on_pty(server)
        finally:
            signal.signal(signal.SIGHUP, previous)
        app.wait_for("Lunch on Friday?", "no deletions pending", timeout=START_TIMEOUT)
        app.send("dd")
        app.wait_for("2 to delete")
        app.wait_until(
            lambda _: sum(c.startswith("DELE") for c in server.commands()) == 2, "both DELE sent"
        )
        os.killpg(app.process.pid, signal.SIGHUP)
        app.wait_exit(30)
        server.wait_idle()
        assert "QUIT" not in server.commands()
        mailbox = server.server.mailbox
        assert isinstance(mailbox, MemoryMailbox)
        assert len(mailbox.messages) == 3 and mailbox.deleted == []
