"""The popview Textual app: screens, the session worker, and routing between them.

The app holds the state every screen shares — the listing, the marks, the
server info — and turns the worker's posted messages into screen updates.
Screens submit commands through :meth:`PopviewApp.submit` and never wait.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from popview.errors import StoreError, printable
from popview.session import DEFAULT_KEEPALIVE, PasswordSource
from popview.session.identity import MessageKey
from popview.ui import messages as msg
from popview.ui.bootstrap import build_app, open_store, run_tui  # re-exported: the CLI runs these
from popview.ui.files import AttachmentOpener
from popview.ui.keymap import check_keymap
from popview.ui.list_model import MailboxListing
from popview.ui.mark_groups import group_summary
from popview.ui.screens.dialogs import ConfirmScreen, ErrorScreen
from popview.ui.screens.help import HelpScreen
from popview.ui.screens.login import LoginScreen
from popview.ui.screens.mailbox import CONNECTION_LOST, MailboxScreen
from popview.ui.screens.message import MessageScreen
from popview.ui.textual_adapter import CrashScreenWithoutLocals
from popview.ui.worker import (
    Command,
    Login,
    ResolveRestored,
    SessionFactory,
    SessionWorker,
    TrustCertificate,
)

if TYPE_CHECKING:
    from popview.config import Account, Config
    from popview.pop3.predial import DialAhead
    from popview.session import MailboxSession, SessionInfo
    from popview.store import Store

__all__ = ["PopviewApp", "build_app", "open_store", "run_tui"]

UI_SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the interpreter lock while the app waits for it
(Python's default is 0.005), for as long as the app runs."""


class PopviewApp(CrashScreenWithoutLocals, App[int]):
    """A keyboard-driven POP3 reader.

    Args:
        config: The loaded configuration (accounts, settings, keymap), or ``None``.
        account: Log in to this account at once (``popview -a NAME``, the demo).
        password: The password for ``account`` when it is already known.
        session_factory: Builds the :class:`MailboxSession` (tests pass their
            own); by default one attached to ``store``.
        store: The local cache (envelopes, bodies, journal, certificate pins,
            the keys seen on the last visit), or ``None`` to run without one.
        server_label: Shown instead of ``host:port`` in the header and the
            server info (the demo names its loopback server this way).
        trace: Called with each POP3 protocol line (``--trace FILE``); secrets
            are masked before it sees them (``PASS ***``).
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
        store: Store | None = None,
        server_label: str | None = None,
        trace: Callable[[str], None] | None = None,
        dialled: DialAhead | None = None,
    ) -> None:
        super().__init__()
        self._dialled = dialled
        """A connection opened ahead to ``account``'s server, for the first session."""
        self._switch_interval = sys.getswitchinterval()  # given back on unmount
        if config is not None and config.keymap:
            check_keymap(config.keymap, str(config.path) if config.path else "the configuration")
        self.trace = trace
        self.config = config
        self.start_account = account
        self.start_password = password
        self.store = store
        self.server_label = server_label
        self.listing = MailboxListing()
        self.session_marks: frozenset[str] = frozenset()
        """The marks as the session last reported them (its snapshot, not a copy
        the UI edits); :attr:`marks` adds the marks still queued."""
        self.session_pending: frozenset[str] = frozenset()
        self.session_rules: Mapping[str, str] = {}
        """Of the session's marks, those a rule made (key → rule), as last reported."""
        self.info: SessionInfo | None = None
        self.connected = False
        """Whether the session has a connection now (from its last snapshot)."""
        self.message_count: int | None = None
        """Messages on the server now (None before the session's first report)."""
        self.total_size = 0
        self.account: Account | None = None
        self.password_problem: str | None = None
        """Why no configured source gave the password (shown when asking for it)."""
        self.seen_before: frozenset[str] = frozenset()
        """UIDs the previous visit listed; rows outside it are "new since last visit"."""
        self.opener = AttachmentOpener()
        """Opens attachments from a private temporary folder (removed on exit)."""
        prefer_html = config.general.prefer_html if config is not None else False
        self.session_worker = SessionWorker(
            self,
            session_factory or self._new_session,
            prefer_html=prefer_html,
            rules=config.rules if config is not None else (),
        )
        self.loading = False
        self.from_cache = False
        """The list shows the cache's rows, read during the login and not yet
        confirmed by the server: nothing that needs the server is done for them."""
        self._cached_logins: set[int] = set()
        """The worker's logins whose cached rows were shown."""
        self._login_screen: LoginScreen | None = None
        """The login screen kept (installed) under the cached rows: back to it if
        the login fails."""

    def _new_session(self, account: Account, password: Any) -> MailboxSession:
        from popview.session import MailboxSession

        keepalive = self.config.general.keepalive if self.config is not None else None
        dialled, self._dialled = self._dialled, None  # the first session's, or nobody's
        return MailboxSession(
            account,
            password,
            store=self.store,
            # One setting, one meaning: 0 is "off" here as in the engine (obs. 6).
            keepalive_interval=DEFAULT_KEEPALIVE if keepalive is None else keepalive,
            trace=self.trace,
            dialled=dialled,
        )

    # -- start -------------------------------------------------------------------

    def on_mount(self) -> None:
        # The listing parses on a thread; while it holds the interpreter lock, each
        # turn of this loop (a key press takes several before it is painted) waits
        # up to the switch interval for it. 1 ms instead of 5 cuts the tail of the
        # key-to-screen time while envelopes stream in (README, bench_ui.py).
        sys.setswitchinterval(UI_SWITCH_INTERVAL)
        keymap = self.config.keymap if self.config is not None else None
        if keymap:
            self.set_keymap(dict(keymap))
        self.session_worker.start()
        self.push_screen(
            LoginScreen(
                self._accounts(),
                preselect=self.start_account,
                password=self.start_password,
                ask_password=self.start_account is not None,
                password_note=self.password_problem,
            )
        )

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)
        self.opener.cleanup()
        if self._dialled is not None:  # never logged in: nobody adopted it
            self._dialled.close()

    def _accounts(self) -> list[Account]:
        accounts = list(self.config.accounts.values()) if self.config is not None else []
        if self.start_account is not None and self.start_account not in accounts:
            accounts.insert(0, self.start_account)
        return accounts

    def submit(self, command: Command) -> None:
        """Hand a command to the session worker; results arrive as messages."""
        self.session_worker.submit(command)

    def login(self, account: Account, password: PasswordSource) -> None:
        """Start logging in (called by the login screen)."""
        self.account = account
        self.submit(Login(account, _secret_for(account, password)))

    def trust_and_login(self, account: Account, password: PasswordSource, fingerprint: str) -> None:
        """Pin ``fingerprint`` for ``account`` (kept in the store), then log in."""
        self.account = account
        self.submit(TrustCertificate(account, _secret_for(account, password), fingerprint))

    @property
    def save_dir(self) -> Path:
        """Where saved messages and attachments go by default."""
        if self.config is not None:
            return self.config.general.save_dir
        return Path.home() / "Downloads"

    @property
    def marks(self) -> frozenset[str]:
        """What the screens draw as marked: the session's marks, with the marks and
        unmarks still in the worker's queue applied (derived, never stored)."""
        return self.session_worker.with_queued(self.session_marks)[0]

    @property
    def pending_marks(self) -> frozenset[str]:
        """Marks not on the server yet: queued, or waiting for a connection."""
        shown, queued = self.session_worker.with_queued(self.session_marks)
        return queued | (self.session_pending & shown)

    @property
    def mark_rules(self) -> Mapping[str, str]:
        """Which rule made each drawn mark (key → rule name; the user's marks are not
        in it): the session's record, with the queued commands applied."""
        return self.session_worker.rules_with_queued(self.session_rules)

    @property
    def has_rules(self) -> bool:
        """Whether rules can mark here: a mark rule is configured, or a rule's mark is
        held (a journal from an earlier run)."""
        rules = self.config.rules if self.config is not None else ()
        return any(rule.action == "mark" for rule in rules) or bool(self.session_rules)

    def marks_updated_locally(self) -> None:
        """A screen queued a mark or an unmark: draw it now (as pending)."""
        for screen in self._screens():
            if isinstance(screen, (MailboxScreen, MessageScreen)):
                screen.marks_changed(self.marks)

    def follow_viewer(self, key: MessageKey) -> None:
        """Put the list cursor on the message the viewer showed last."""
        self._mailbox_screen(lambda s: s.table.refresh_rows(keep_key=key))

    # -- worker results ------------------------------------------------------------

    def on_cached_rows_read(self, message: msg.CachedRowsRead) -> None:
        """Paint the cached rows while the login is still in the air (the product's
        "served instantly from a local cache"), shown as the cache's, unconfirmed."""
        if message.login != self.session_worker.logins:
            return  # read for an earlier login attempt
        if self.from_cache:  # the rest of them, after the newest
            self.listing.add(message.rows)
            self._mailbox_screen(lambda s: s.envelopes_changed())
            return
        login = self.screen
        if not isinstance(login, LoginScreen) or self.info is not None:
            return  # the server answered first, or the user is busy on the form
        if message.login in self._cached_logins:
            return  # this login's rows were shown and left (its login failed)
        self._cached_logins.add(message.login)
        self.seen_before = message.seen_before
        listing = MailboxListing()
        listing.read = set(self._read_uids(message.account_key))
        listing.add(message.rows)
        self.listing = listing
        self.loading = True
        self.from_cache = True
        # Kept (installed), not destroyed: a failed login goes back to it as it was.
        self._login_screen = login
        self.install_screen(login, name="login")
        self.switch_screen(MailboxScreen(listing))

    def on_connected(self, message: msg.Connected) -> None:
        self.info = message.info
        self.seen_before = message.seen_before
        self.loading = True
        if self.from_cache:
            self._confirm_cached(message.listed)
        else:
            self.listing = MailboxListing()
            self.listing.read = set(self._read_uids(message.info.account_key))
            self.switch_screen(MailboxScreen(self.listing))
        # The worker lists the mailbox by itself right after the login.

    def _confirm_cached(self, listed: Mapping[MessageKey, int | None] | None) -> None:
        """The server listed its messages: the cached rows it no longer has go, and
        so do those it lists under another size (their UIDL names other content: the
        session's listing brings them back as they are); the others are now the
        session's (its listing replaces them as it streams)."""
        self.from_cache = False
        self._forget_login_screen()
        if listed is not None:
            gone = [
                key
                for key, envelope in self.listing.envelopes.items()
                if key not in listed or listed[key] != envelope.size
            ]
            for key in gone:
                self.listing.remove(key)
        self._mailbox_screen(lambda s: s.confirmed())

    def _forget_login_screen(self) -> Screen[Any] | None:
        login, self._login_screen = self._login_screen, None
        if login is not None:
            self.uninstall_screen(login)
        return login

    def on_login_failed(self, message: msg.LoginFailed) -> None:
        if self.from_cache:
            # Back to the form the login started from; the cached rows go.
            self.from_cache = False
            self.loading = False
            self.listing = MailboxListing()
            login = self._forget_login_screen()
            while len(self.screen_stack) > 2 and not isinstance(self.screen, MailboxScreen):
                self.pop_screen()  # a dialog (help, sort) over the cached rows
            if login is not None:
                self.switch_screen(login)
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
        self.listing.keep_only(message.keys)
        self._mailbox_screen(lambda s: s.listing_finished(message.rejected_count))

    def on_marks_changed(self, message: msg.MarksChanged) -> None:
        self.session_marks = message.marks
        self.session_pending = message.pending
        self.session_rules = message.rules
        marks = self.marks
        for screen in self._screens():
            if isinstance(screen, (MailboxScreen, MessageScreen)):
                screen.marks_changed(marks)

    def on_session_state(self, message: msg.SessionState) -> None:
        if message.info is not None:
            self.info = message.info
        self.connected = message.connected
        self.message_count = message.message_count
        self.total_size = message.total_size
        self._mailbox_screen(lambda s: s.state_changed())

    def on_commit_ready(self, message: msg.CommitReady) -> None:
        self._mailbox_screen(
            lambda s: s.commit_ready(message.purpose, message.marks, message.rules)
        )

    def on_rules_applied(self, message: msg.RulesApplied) -> None:
        self._mailbox_screen(lambda s: s.rules_applied(message))

    def on_marks_differ(self, message: msg.MarksDiffer) -> None:
        self.notify(message.message, title="Marks changed", severity="warning", markup=False)
        self._mailbox_screen(lambda s: s.ask_again())

    def on_marks_restored(self, message: msg.MarksRestored) -> None:
        count = len(message.marks)
        who = group_summary(message.marks, message.rules)  # "spam 3, marked by you 1"

        def answered(keep: bool | None) -> None:
            self.submit(ResolveRestored(keep=bool(keep)))
            word = "kept; commit with $ to delete them" if keep else "discarded"
            self.notify(f"{count} earlier mark(s) {word}.", title="Earlier marks", markup=False)

        self.push_screen(
            ConfirmScreen(
                f"{count} message{'s' if count != 1 else ''} marked for deletion by an earlier "
                "run that ended without a commit",
                [
                    "popview was closed (Ctrl+C, a crash, or killed) before these marks",
                    "were committed. Nothing was deleted. Keep them marked, or discard them?",
                    *([f"Marked by: {who}"] if who else []),
                    *sorted(message.marks)[:20],
                ],
                yes="Keep marked",
                no="Discard",
            ),
            answered,
        )

    def on_committed(self, message: msg.Committed) -> None:
        deleted = frozenset(message.deleted)
        for key in [key for key in self.listing.envelopes if key in deleted]:
            self.listing.remove(key)
        count = len(message.deleted)
        if message.status == "applied":
            text = f"Deleted {count} message{'s' if count != 1 else ''} on the server."
        else:
            text = (
                f"Sent the deletion of {count} message(s), but the server's answer was lost; "
                "the list shows what is really there after the refresh."
            )
        self.notify(text, title="Committed", markup=False)
        self._mailbox_screen(lambda s: s.set_status(""))
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
        kept = (
            f" {pending} pending deletion(s) are kept; they are applied when the link is back."
            if pending
            else ""
        )
        text = f"{CONNECTION_LOST} {message.reason}{kept} The next action reconnects."
        self._mailbox_screen(lambda s: s.set_status(text))
        self.notify(text, title="Disconnected", severity="warning", markup=False)

    def on_reconnected(self, message: msg.Reconnected) -> None:
        report = message.report
        # Only the "Connection lost" state goes: a result said meanwhile (what the
        # rules marked on a refresh, "No new mail.") stays.
        self._mailbox_screen(lambda s: s.connection_back())
        if not (report.reapplied or report.vanished or report.dropped_no_uidl):
            return  # e.g. the reconnect after a commit: nothing to tell
        parts = [f"Reconnected; {len(report.reapplied)} deletion mark(s) re-applied."]
        if report.vanished:
            parts.append(f"{len(report.vanished)} marked message(s) are gone from the server.")
        if report.dropped_no_uidl:
            parts.append(f"{report.dropped_no_uidl} mark(s) were dropped: the server has no UIDL.")
        self.notify(" ".join(parts), title="Reconnected", markup=False)

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

    # -- read / unread (kept in the store: POP3 has no flags) ---------------------------

    def set_read(self, key: MessageKey, read: bool = True) -> None:
        """Record ``key`` as read (opened) or unread again, and show it in the list."""
        if (key in self.listing.read) == read:
            return
        if read:
            self.listing.read.add(key)
        else:
            self.listing.read.discard(key)
        if self.store is not None and self.info is not None and key.stable:
            with contextlib.suppress(StoreError):  # shown anyway; kept when the cache works
                self.store.read.set_read(self.info.account_key, [key], read)
        self._mailbox_screen(lambda s: s.read_changed())

    def _read_uids(self, account_key: str) -> frozenset[str]:
        if self.store is None:
            return frozenset()
        try:
            return self.store.read.read_uids(account_key)
        except StoreError:
            return frozenset()

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


def _secret_for(account: Account, password: PasswordSource) -> str | Callable[[], Any]:
    """The password typed, or for an OAuth2 account its credential (no password at all)."""
    if getattr(account, "oauth2", None) is None:
        return password
    from popview.credentials import get_credential

    return lambda: get_credential(account)
