"""The mailbox screen: the whole maildrop as a table, with marks, filter, sort, threads.

Rows fill progressively while headers stream in (the progress bar shows how
far). Rows marked for deletion are restyled, not removed, until a commit.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, ProgressBar, Static

from popview.ui.keymap import explain_unbound_key
from popview.ui.list_model import MailboxListing, split_filter
from popview.ui.mark_groups import describe_marks, group_summary, marked_size
from popview.ui.rule_marks import describe_rules
from popview.ui.screens.dialogs import ConfirmScreen, QuitScreen
from popview.ui.screens.message import MessageScreen
from popview.ui.screens.pattern_marks import ask_pattern_marks
from popview.ui.screens.server_info import ServerInfoScreen
from popview.ui.screens.sort_prompt import SortPrompt
from popview.ui.widgets.envelope_table import EnvelopeTable
from popview.ui.widgets.footer import KeyFooter
from popview.ui.widgets.formatting import single_line
from popview.ui.widgets.mailbox_header import MailboxHeader
from popview.ui.widgets.preview_pane import PREFETCH_AFTER, PREFETCH_BEFORE, PreviewPane
from popview.ui.worker import Close, Commit, Mark, PrepareCommit, Refresh, Unmark, UnmarkAll

if TYPE_CHECKING:
    from collections.abc import Mapping

    from popview.ui.app import PopviewApp
    from popview.ui.messages import RulesApplied

__all__ = ["MailboxScreen"]

_REBUILD_DELAY = 0.15  # at most one rebuild of the rows per this many seconds
_CHECKING = "Checking for new mail…"
FROM_CACHE = "From the cache: checking the server…"
"""The status line while the rows are the cache's, not yet confirmed by the server."""
WAIT_FOR_SERVER = (
    "From the cache: checking the server… This key needs the server; it works once "
    "the server has listed the messages."
)
"""Why a key that needs the server (d, u, Enter, v...) does nothing on cached rows."""
CONNECTION_LOST = "Connection lost:"
"""How the status line starts while the link is down (cleared on reconnect)."""
STATUS_SECONDS = 4.0
"""How long a result ("Sorted by sender", "No new mail.") stays under the list."""


class MailboxScreen(Screen[None]):
    """The list of messages on the server."""

    # The table has the focus from the start (on_mount focuses it too): Textual's
    # default, the first focusable widget, is the hidden filter field, and every focus
    # change restyles the screen.
    AUTO_FOCUS = "#envelopes"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "d",
            "mark",
            "Delete",
            id="mailbox.mark",
            tooltip="Mark for deletion and move to the next message",
        ),
        Binding("u", "unmark", "Undelete", id="mailbox.unmark", tooltip="Unmark this message"),
        Binding(
            "U",
            "unmark_all",
            "Undelete all",
            id="mailbox.unmark_all",
            tooltip="Unmark every message",
        ),
        Binding(
            "dollar_sign",
            "commit",
            "Commit",
            id="mailbox.commit",
            tooltip="Delete the marked messages on the server now",
        ),
        Binding("r", "refresh", "Refresh", id="mailbox.refresh", tooltip="Check for new mail"),
        Binding(
            "slash",
            "filter",
            "Filter",
            id="mailbox.filter",
            tooltip="Show only messages whose sender or subject contains a text (~U unread)",
        ),
        Binding(
            "o", "sort", "Sort", id="mailbox.sort", tooltip="Sort by date, sender, subject or size"
        ),
        Binding(
            "O",
            "sort(True)",
            "Reverse sort",
            show=False,
            id="mailbox.sort_reverse",
            tooltip="Sort in the reverse order (oldest, smallest, Z to A first)",
        ),
        Binding(
            "N",
            "toggle_read",
            "Mark unread",
            show=False,
            id="mailbox.toggle_read",
            tooltip="Mark the message as unread, or as read (mutt's toggle-new)",
        ),
        Binding(
            "t",
            "threads",
            "Threads",
            id="mailbox.threads",
            tooltip="Group replies under the message they answer",
        ),
        Binding(
            "z",
            "collapse_thread",
            "Collapse",
            show=False,
            id="mailbox.collapse",
            tooltip="In the thread view: hide or show the replies of this thread",
        ),
        Binding(
            "Z",
            "collapse_all",
            "Collapse all",
            show=False,
            id="mailbox.collapse_all",
            tooltip="In the thread view: hide every thread's replies, or show them all",
        ),
        Binding(
            "v",
            "preview",
            "Preview",
            id="mailbox.preview",
            tooltip="Show the first lines of the message under the cursor (TOP, no download)",
        ),
        Binding(
            "i",
            "server_info",
            "Server",
            id="mailbox.server_info",
            tooltip="What the server supports and how the connection is protected",
        ),
        Binding(
            "D",
            "mark_pattern",
            "Delete pattern",
            id="mailbox.mark_pattern",
            tooltip="Mark for deletion every message matching a pattern (asks first; mutt's D)",
        ),
        Binding(
            "ctrl+u",
            "unmark_pattern",
            "Undelete pattern",
            show=False,  # the footer has no room left; ? and the README list it
            id="mailbox.unmark_pattern",
            tooltip="Unmark every marked message matching a pattern (asks first)",
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            id="mailbox.clear_filter",
            tooltip="Show every message again",
        ),
        Binding(
            "q",
            "quit",
            "Quit",
            id="mailbox.quit",
            tooltip="Leave popview (asks first when deletions are pending)",
        ),
    ]

    def __init__(self, listing: MailboxListing) -> None:
        super().__init__()
        self.listing = listing
        self._rebuild_timer: Timer | None = None
        self._rebuilt_at = 0.0
        """When rows were last rebuilt with envelopes in them (``time.monotonic``)."""
        self._status_timer: Timer | None = None
        self._asking: str | None = None
        self.status_text = ""
        self._count_before_refresh: int | None = None

    @property
    def popview(self) -> PopviewApp:
        return cast("PopviewApp", self.app)

    def compose(self) -> ComposeResult:
        yield MailboxHeader(id="mailbox-header")
        yield ProgressBar(id="load-progress", show_eta=False)
        yield Input(
            placeholder="Filter on sender and subject (~U unread, ~R read, ~N new)", id="filter"
        )
        yield EnvelopeTable(self.listing, id="envelopes")
        config = self.popview.config
        lines = config.general.preview_lines if config is not None else 20
        yield PreviewPane(lines, self.popview.submit, id="preview")
        yield Static("", id="status-line")
        yield KeyFooter()

    @property
    def table(self) -> EnvelopeTable:
        return self.query_one(EnvelopeTable)

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        account = self.popview.account
        header = self.query_one(MailboxHeader)
        if self.popview.from_cache and account is not None:
            header.show_checking(account, self.popview.server_label)
            self.set_status(FROM_CACHE)
        else:
            header.update_info(
                account.name if account is not None else "",
                self.popview.info,
                self.popview.server_label,
            )
        self._draw_marks()
        self.table.seen_before = self.popview.seen_before
        self.table.focus()
        self._rebuild()

    def confirmed(self) -> None:
        """The server listed its messages: the rows are the session's from now on
        (those gone from the server were removed); the list keeps loading."""
        account = self.popview.account
        self.query_one(MailboxHeader).update_info(
            account.name if account is not None else "",
            self.popview.info,
            self.popview.server_label,
        )
        if self.status_text in (FROM_CACHE, WAIT_FOR_SERVER):
            self.set_status("")
        self.rebuild_now()

    def _needs_server(self) -> bool:
        """Refuse a key that needs the server while the rows are the cache's: a
        cached row has no message number in any session yet (RFC 1939 §4: numbers
        are only valid in the connection that listed them)."""
        if not self.popview.from_cache:
            return False
        self.set_status(WAIT_FOR_SERVER)
        return True

    def on_key(self, event: events.Key) -> None:
        explain_unbound_key(self, event)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide keys that do nothing right now (footer shows what applies)."""
        if action in {"unmark_all", "commit", "unmark_pattern"}:
            return bool(self.popview.marks)
        if action == "clear_filter":
            return bool(self.listing.filter_text) or self.query_one("#filter").display
        return True

    # -- updates from the app ------------------------------------------------------------

    def envelopes_changed(self) -> None:
        """New envelopes arrived: rebuild at once if the last rebuild is older than
        :data:`_REBUILD_DELAY` (the first batch is on screen without waiting), else
        once that much time has passed (the batches in between coalesce)."""
        if self._rebuild_timer is not None:
            return
        wait = self._rebuilt_at + _REBUILD_DELAY - time.monotonic()
        if wait <= 0:
            self._rebuild()
        else:
            self._rebuild_timer = self.set_timer(wait, self._rebuild)

    def load_progress(self, done: int, total: int) -> None:
        bar = self.query_one("#load-progress", ProgressBar)
        bar.display = done < total
        bar.update(total=max(total, 1), progress=done)

    def listing_finished(self, rejected_count: int) -> None:
        self.query_one("#load-progress", ProgressBar).display = False
        self._rebuild()
        if self.status_text == _CHECKING:
            self.set_status(self._refresh_result(), expire=STATUS_SECONDS)
        if rejected_count:
            self.popview.notify(
                f"The server listed {rejected_count} malformed row(s); they were skipped.",
                title="Listing",
                severity="warning",
                markup=False,
            )
        for notice in getattr(self.popview.info, "degraded", ()) or ():
            self.popview.notify(single_line(notice), title="Server", markup=False)

    def marks_changed(self, marks: frozenset[str]) -> None:
        # A marked message refuses TOP until unmarked (RFC 1939 DELE): ask again.
        self.query_one(PreviewPane).failed.clear()
        self._draw_marks()
        self._update_header()
        self.refresh_bindings()

    def _draw_marks(self) -> None:
        """The marks as drawn, with the rule behind each (rows and preview)."""
        app = self.popview
        rules = app.mark_rules
        self.table.set_marks(app.marks, rules, rule_column=app.has_rules)
        self._note_rule(rules)

    def _note_rule(self, rules: Mapping[str, str] | None = None) -> None:
        """Tell the preview whether (and by which rule) the row at the cursor is marked."""
        key = self.table.current_key
        note = ""
        if key is not None and key in self.popview.marks:
            rule = (self.popview.mark_rules if rules is None else rules).get(key)
            by = f" by rule {single_line(rule, 60)}" if rule else ""
            note = f"Marked for deletion{by}"
        self.query_one(PreviewPane).set_note(note)

    def rules_applied(self, report: RulesApplied) -> None:
        """Say once what the rules did on the load (on a refresh, only when they marked)."""
        if report.first or report.marked:
            self.set_status(describe_rules(report))

    def read_changed(self) -> None:
        """A message was read or marked unread: redraw (and refilter on ~U/~R/~N)."""
        if split_filter(self.listing.filter_text)[1]:
            self._rebuild()
        else:
            self.table.refresh()
        self._update_header()

    def set_status(self, text: str, *, expire: float | None = None) -> None:
        """Show ``text`` under the list; a result (``expire`` seconds) goes away by itself.

        States ("Checking for new mail…", "Connection lost…") stay until replaced.
        """
        self.status_text = text
        self.query_one("#status-line", Static).update(Text(text))
        if self._status_timer is not None:
            self._status_timer.stop()
            self._status_timer = None
        if expire is not None:
            self._status_timer = self.set_timer(expire, self._expire_status)

    def connection_back(self) -> None:
        """The session reconnected: the "Connection lost" state line goes."""
        if self.status_text.startswith(CONNECTION_LOST):
            self.set_status("")

    def _expire_status(self) -> None:
        self._status_timer = None
        self.status_text = ""
        self.query_one("#status-line", Static).update(Text(""))

    def rebuild_now(self) -> None:
        """Rebuild the rows at once (after rows were removed)."""
        if self._rebuild_timer is not None:
            self._rebuild_timer.stop()
        self._rebuild()

    def _rebuild(self) -> None:
        self._rebuild_timer = None
        # A rebuild of an empty list does not hold back the next one: the first
        # envelopes go on screen as soon as they arrive, not up to
        # _REBUILD_DELAY after the screen was mounted empty (a cold start).
        self._rebuilt_at = time.monotonic() if self.listing.envelopes else 0.0
        keep = self.table.current_key
        self.listing.rebuild()
        self.table.refresh_rows(keep_key=keep)
        self._update_header()

    def _update_header(self) -> None:
        listing = self.listing
        info = self.popview.info
        expected = info.message_count if (self.popview.loading and info is not None) else None
        marks = self.popview.marks
        self.query_one(MailboxHeader).update_counts(
            len(listing.envelopes),
            listing.total_size,
            len(listing.rows),
            len(marks),
            self.table.new_count(),
            expected=expected,
            waiting=len(self.popview.pending_marks),
            marked_size=marked_size(listing, marks),
        )

    # -- actions ----------------------------------------------------------------------

    @on(EnvelopeTable.Selected)
    def open_message(self, event: EnvelopeTable.Selected) -> None:
        if self._needs_server():
            return
        self.app.push_screen(MessageScreen(event.key))

    def action_mark(self) -> None:
        if self._needs_server():
            return
        key = self.table.current_key
        if key is None:
            return
        if key not in self.popview.marks:
            self.popview.submit(Mark(key))  # drawn at once (pending) from the queue
            self.popview.marks_updated_locally()
        self.table.action_cursor_down()

    def action_unmark(self) -> None:
        if self._needs_server():
            return
        key = self.table.current_key
        if key is not None and key in self.popview.marks:
            self.popview.submit(Unmark(key))
            self.popview.marks_updated_locally()

    def action_unmark_all(self) -> None:
        if self.popview.marks:
            self.popview.submit(UnmarkAll())
            self.popview.marks_updated_locally()

    def action_mark_pattern(self) -> None:
        if self._needs_server():
            return
        ask_pattern_marks(self.popview, mark=True, say=self._say_result)

    def action_unmark_pattern(self) -> None:
        if self._needs_server():
            return
        if self.popview.marks:
            ask_pattern_marks(self.popview, mark=False, say=self._say_result)

    def _say_result(self, text: str) -> None:
        self.set_status(text, expire=STATUS_SECONDS)

    def action_commit(self) -> None:
        if self._needs_server():
            return
        if not self.popview.marks:
            self.popview.notify("Nothing is marked for deletion.", markup=False)
            return
        self._prepare("commit")

    def _prepare(self, purpose: str) -> None:
        """Ask the worker for the marks once every queued mark has run; the dialog
        opens in :meth:`commit_ready` with exactly those (issue 9, obs. 2)."""
        self._asking = purpose
        self.set_status("Applying the marks…")
        self.popview.submit(PrepareCommit(purpose))

    def ask_again(self) -> None:
        """The engine refused a commit whose marks were not the confirmed ones."""
        self._prepare(self._asking or "commit")

    def commit_ready(
        self, purpose: str, marks: frozenset[str], rules: Mapping[str, str] | None = None
    ) -> None:
        """Open the commit (or quit) dialog listing the session's marks, ``marks``,
        grouped by the rule that made them (``rules``, read with the marks).

        The user confirms exactly this set; the worker's :class:`Commit` carries it
        and the engine sends ``QUIT`` only if the server holds exactly these.
        """
        rules = rules or {}
        self.set_status("")
        if purpose == "quit":
            self._quit_dialog(marks, rules)
            return
        if not marks:
            self.popview.notify("Nothing is marked for deletion.", markup=False)
            return
        count = len(marks)

        def answered(yes: bool | None) -> None:
            if yes:
                self.set_status(f"Deleting {count} message(s)…")
                self.popview.submit(Commit(expected=marks))

        self.app.push_screen(
            ConfirmScreen(
                f"Delete {count} message{'s' if count != 1 else ''} on the server?",
                describe_marks(self.listing, marks, rules),
                yes="Delete",
            ),
            answered,
        )

    def _refresh_result(self) -> str:
        """What ``r`` found, as mutt says it."""
        before = self._count_before_refresh
        self._count_before_refresh = None
        arrived = len(self.listing.envelopes) - before if before is not None else 0
        if arrived > 0:
            return f"{arrived} new message{'s' if arrived != 1 else ''}."
        return "No new mail."

    def state_changed(self) -> None:
        """The session reported its state: redraw the header (counts, link, TLS)."""
        account = self.popview.account
        self.query_one(MailboxHeader).update_info(
            account.name if account is not None else "",
            self.popview.info,
            self.popview.server_label,
            connected=self.popview.connected,
        )
        self._update_header()

    def action_refresh(self) -> None:
        if self._needs_server():
            return
        self._count_before_refresh = len(self.listing.envelopes)
        self.set_status(_CHECKING)
        self.popview.loading = True
        self.popview.submit(Refresh())

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        if event.value == self.listing.filter_text:
            return  # Esc already rebuilt for the cleared field
        self.listing.filter_text = event.value
        keep = self.table.current_key
        self._rebuild()
        if keep is None or self.listing.index_of(keep) is None:
            self.table.move_to(0)  # the row left the list: Enter opens the first match
        self._show_pattern_problem()

    def _show_pattern_problem(self) -> None:
        """Say where a filter pattern is wrong (it filters as plain text meanwhile)."""
        problem = self.listing.filter_error
        if problem is not None:
            self.set_status(f"Pattern: {problem} (filtering as plain text)")
        elif self.status_text.startswith("Pattern: "):
            self.set_status("")

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        if not self.listing.filter_text:
            self.query_one("#filter").display = False
        self.table.focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.value = ""
        field.display = False
        self.listing.filter_text = ""
        self._rebuild()
        self.table.focus()

    def action_sort(self, reverse: bool = False) -> None:
        """Ask for the order (mutt's prompt), then sort."""

        def chosen(key: str | None) -> None:
            if key is None:
                return
            label = self.listing.set_sort(key, reverse)
            self._rebuild()
            self.set_status(f"Sorted by {label}", expire=STATUS_SECONDS)

        self.app.push_screen(SortPrompt(reverse), chosen)

    def action_threads(self) -> None:
        self.listing.threaded = not self.listing.threaded
        self._rebuild()
        self.set_status(
            "Thread view" if self.listing.threaded else "Flat view", expire=STATUS_SECONDS
        )

    def action_collapse_thread(self) -> None:
        if not self.listing.threaded:
            self.popview.notify("Threads collapse in the thread view (t).", markup=False)
            return
        if not self.listing.rows:
            return
        root = self.listing.toggle_thread(self.table.cursor)
        self.table.refresh_rows()
        self.table.move_to(root)

    def action_collapse_all(self) -> None:
        if not self.listing.threaded:
            self.popview.notify("Threads collapse in the thread view (t).", markup=False)
            return
        keep = self.table.current_key
        if keep is not None:
            keep = self.listing.rows[self.listing.thread_root(self.table.cursor)].key
        self.listing.toggle_all_threads()
        self.table.refresh_rows(keep_key=keep)

    def action_toggle_read(self) -> None:
        if self._needs_server():  # the read flag is kept per account, once it is known
            return
        key = self.table.current_key
        if key is None:
            return
        read = not self.listing.is_read(key)
        self.popview.set_read(key, read)
        self.set_status("Marked as read." if read else "Marked as unread.", expire=STATUS_SECONDS)

    def action_preview(self) -> None:
        if self._needs_server():
            return
        pane = self.query_one(PreviewPane)
        pane.display = not pane.display
        self._follow_cursor()

    @on(EnvelopeTable.CursorMoved)
    def _follow_cursor(self) -> None:
        """Preview the row under the cursor; prefetch its neighbours in the same batch."""
        pane = self.query_one(PreviewPane)
        if not pane.display:
            return
        rows, cursor = self.listing.rows, self.table.cursor
        around = [
            row.key for row in rows[max(cursor - PREFETCH_BEFORE, 0) : cursor + PREFETCH_AFTER]
        ]
        self._note_rule()
        pane.show(self.table.current_key, around)

    def action_server_info(self) -> None:
        if self._needs_server():
            return
        app = self.popview
        known = app.message_count
        if app.info is not None:
            self.app.push_screen(
                ServerInfoScreen(
                    app.info,
                    app.server_label,
                    connected=app.connected,
                    counts=(known, app.total_size) if known is not None else None,
                )
            )

    def action_quit(self) -> None:
        if self.popview.from_cache:
            # Still logging in: leave without a word to the server (no QUIT: nothing
            # is deleted, and marks an earlier run left stay in the journal).
            self.app.exit(0)
            return
        if not self.popview.marks:
            self.popview.submit(Close(apply=False))
            return
        self._prepare("quit")

    def _quit_dialog(self, marks: frozenset[str], rules: Mapping[str, str]) -> None:
        if not marks:
            self.popview.submit(Close(apply=False))
            return

        def answered(choice: str | None) -> None:
            if choice == "commit":
                self.set_status("Deleting and quitting…")
                self.popview.submit(Close(apply=True, expected=marks))
            elif choice == "leave":
                self.popview.submit(Close(apply=False))

        self.app.push_screen(QuitScreen(len(marks), group_summary(marks, rules)), answered)
