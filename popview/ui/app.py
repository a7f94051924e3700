"""The popview Textual app: screens, the session worker, and routing between them.

The app holds the state every screen shares — the listing, the marks, the
server info — and turns the worker's posted messages into screen updates.
Screens submit commands through :meth:`PopviewApp.submit` and never wait.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from popview.errors import printable
from popview.ui import messages as msg
from popview.ui.listing import MailboxListing
from popview.ui.screens.dialogs import ErrorScreen
from popview.ui.screens.help import HelpScreen
from popview.ui.screens.login import LoginScreen
from popview.ui.screens.mailbox import MailboxScreen
from popview.ui.screens.message import MessageScreen
from popview.ui.worker import Command, LoadMailbox, Login, SessionFactory, SessionWorker

if TYPE_CHECKING:
    from popview.config import Account, Config
    from popview.session import SessionInfo

__all__ = ["PopviewApp", "run_tui"]


class PopviewApp(App[int]):
    """A keyboard-driven POP3 reader.

    Args:
        config: The loaded configuration (accounts, settings, keymap), or ``None``.
        account: Log in to this account at once (``popview -a NAME``, the demo).
        password: The password for ``account`` when it is already known.
        session_factory: Builds the :class:`MailboxSession` (tests and the
            cache wiring pass their own).
    """

    CSS_PATH = "popview.tcss"
    TITLE = "popview"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", id="app.help", tooltip="Every key, on one page"),
        Binding(
            "ctrl+p",
            "command_palette",
            "Commands",
            show=False,
            id="app.palette",
            tooltip="Search every action",
        ),
        Binding(
            "ctrl+c",
            "quit_now",
            "Quit now",
            show=False,
            priority=True,
            id="app.quit_now",
            tooltip="Leave at once; nothing is deleted",
        ),
    ]

    def __init__(
        self,
        config: Config | None = None,
        *,
        account: Account | None = None,
        password: str | None = None,
        session_factory: SessionFactory | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.start_account = account
        self.start_password = password
        self.listing = MailboxListing()
        self.marks: frozenset[str] = frozenset()
        self.info: SessionInfo | None = None
        self.account: Account | None = None
        self.session_worker = SessionWorker(self, session_factory)
        self.loading = False

    # -- start -------------------------------------------------------------------

    def on_mount(self) -> None:
        keymap = self.config.keymap if self.config is not None else None
        if keymap:
            self.set_keymap(dict(keymap))
        self.session_worker.start()
        self.push_screen(
            LoginScreen(
                self._accounts(), preselect=self.start_account, password=self.start_password
            )
        )

    def _accounts(self) -> list[Account]:
        accounts = list(self.config.accounts.values()) if self.config is not None else []
        if self.start_account is not None and self.start_account not in accounts:
            accounts.insert(0, self.start_account)
        return accounts

    def submit(self, command: Command) -> None:
        """Hand a command to the session worker; results arrive as messages."""
        self.session_worker.submit(command)

    def login(self, account: Account, password: str) -> None:
        """Start logging in (called by the login screen)."""
        self.account = account
        self.submit(Login(account, password))

    @property
    def save_dir(self) -> Path:
        """Where saved messages and attachments go by default."""
        if self.config is not None:
            return self.config.general.save_dir
        return Path.home() / "Downloads"

    def marks_updated_locally(self) -> None:
        """A screen changed :attr:`marks` ahead of the worker's confirmation."""
        for screen in self._screens():
            if isinstance(screen, (MailboxScreen, MessageScreen)):
                screen.marks_changed(self.marks)

    def follow_viewer(self, uid: str) -> None:
        """Put the list cursor on the message the viewer showed last."""
        self._mailbox_screen(lambda s: s.table.refresh_rows(keep_uid=uid))

    # -- worker results ------------------------------------------------------------

    def on_connected(self, message: msg.Connected) -> None:
        self.info = message.info
        self.listing = MailboxListing()
        self.loading = True
        self.switch_screen(MailboxScreen(self.listing))
        self.submit(LoadMailbox())

    def on_login_failed(self, message: msg.LoginFailed) -> None:
        screen = self.screen
        if isinstance(screen, LoginScreen):
            screen.show_failure(message)
        else:
            self.push_screen(ErrorScreen(message.title, message.message))

    def on_envelopes_loaded(self, message: msg.EnvelopesLoaded) -> None:
        self.listing.add(message.envelopes)
        self._mailbox_screen(lambda s: s.envelopes_changed())

    def on_load_progress(self, message: msg.LoadProgress) -> None:
        self._mailbox_screen(lambda s: s.load_progress(message.done, message.total))

    def on_listing_finished(self, message: msg.ListingFinished) -> None:
        self.loading = False
        self.listing.keep_only(message.uids)
        self._mailbox_screen(lambda s: s.listing_finished(message.rejected))

    def on_marks_changed(self, message: msg.MarksChanged) -> None:
        self.marks = message.marks
        for screen in self._screens():
            if isinstance(screen, (MailboxScreen, MessageScreen)):
                screen.marks_changed(message.marks)

    def on_committed(self, message: msg.Committed) -> None:
        for uid in message.deleted:
            self.listing.remove(uid)
        count = len(message.deleted)
        if message.status == "applied":
            text = f"Deleted {count} message{'s' if count != 1 else ''} on the server."
        else:
            text = (
                f"Sent the deletion of {count} message(s), but the server's answer was lost; "
                "the list shows what is really there after the refresh."
            )
        self.notify(text, title="Committed", markup=False)
        self._mailbox_screen(lambda s: s.rebuild_now())

    def on_fetch_progress(self, message: msg.FetchProgress) -> None:
        screen = self.screen
        if isinstance(screen, MessageScreen):
            screen.fetch_progress(message)

    def on_fetch_failed(self, message: msg.FetchFailed) -> None:
        screen = self.screen
        if isinstance(screen, MessageScreen):
            screen.fetch_failed(message)

    def on_message_fetched(self, message: msg.MessageFetched) -> None:
        screen = self.screen
        if isinstance(screen, MessageScreen):
            screen.message_fetched(message)  # the screen drops it if stale

    def on_session_lost(self, message: msg.SessionLost) -> None:
        pending = message.marks_pending
        kept = f" {pending} pending deletion(s) are kept." if pending else ""
        text = f"Connection lost: {message.reason}{kept} The next action reconnects."
        self._mailbox_screen(lambda s: s.set_status(text))
        self.notify(text, title="Disconnected", severity="warning", markup=False)

    def on_reconnected(self, message: msg.Reconnected) -> None:
        report = message.report
        parts = [f"Reconnected; {len(report.reapplied)} deletion mark(s) re-applied."]
        if report.vanished:
            parts.append(f"{len(report.vanished)} marked message(s) are gone from the server.")
        if report.dropped_no_uidl:
            parts.append(f"{report.dropped_no_uidl} mark(s) were dropped: the server has no UIDL.")
        self.notify(" ".join(parts), title="Reconnected", markup=False)
        self._mailbox_screen(lambda s: s.set_status(""))

    def on_server_error(self, message: msg.ServerError) -> None:
        self.notify(message.message, title=message.title, severity="error", markup=False)

    def on_session_closed(self, message: msg.SessionClosed) -> None:
        self.exit(0)

    @on(Worker.StateChanged)
    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        """An unexpected worker error becomes a dialog; the loop restarts, marks kept."""
        if event.worker.group != "session" or event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        text = printable(f"{type(error).__name__}: {error}")
        self.push_screen(
            ErrorScreen(
                "Unexpected error",
                f"Something went wrong talking to the server ({text}). Nothing was deleted; "
                "the next action reconnects.",
            )
        )
        self.session_worker.start()

    # -- helpers ---------------------------------------------------------------------

    def _screens(self) -> Iterable[Screen[Any]]:
        return list(self.screen_stack)

    def _mailbox_screen(self, call: Any) -> None:
        for screen in self._screens():
            if isinstance(screen, MailboxScreen):
                call(screen)

    # -- actions ---------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_quit_now(self) -> None:
        """Ctrl+C: leave without QUIT; the server keeps every message."""
        self.exit(130)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every action of the current screen (and the app) in the command palette."""
        seen: set[str] = set()
        for node in (screen.focused, screen, self):
            if node is None:
                continue
            for binding in getattr(node, "BINDINGS", []):
                if not isinstance(binding, Binding) or not binding.description:
                    continue
                if binding.action in seen or binding.action == "command_palette":
                    continue
                seen.add(binding.action)
                yield SystemCommand(
                    binding.description,
                    binding.tooltip or binding.description,
                    partial(self.run_action, binding.action, node),
                )
        yield SystemCommand("Change theme", "Pick a colour theme", self.action_change_theme)


def run_tui(config: Config | None, *, account_name: str | None = None, demo: bool = False) -> int:
    """Run the terminal UI; the CLI's default command.

    Args:
        config: The loaded configuration (may be ``None`` for the demo).
        account_name: Go straight to this account (``popview -a NAME``).
        demo: Start the embedded server with the sample mailbox and log in to it.

    Returns:
        The process exit status.
    """
    if demo:
        from popview.demo import start_demo

        with start_demo() as server:
            app = PopviewApp(config, account=server.account, password=server.password)
            return app.run() or 0
    account = None
    password = None
    if account_name is not None and config is not None:
        account = config.account(account_name)
        password = _password_without_prompt(account)
    app = PopviewApp(config, account=account, password=password)
    return app.run() or 0


def _password_without_prompt(account: Account) -> str | None:
    """The password from a non-interactive source, or ``None`` (the login screen asks)."""
    from popview import credentials
    from popview.errors import CredentialError

    try:
        return credentials.get_password(account, prompt=None)
    except CredentialError:
        return None
