"""The message viewer: headers, the rendered body, defects, attachments.

The viewer asks the worker for the message and shows what the envelope
already knows while ``RETR`` streams (with a progress bar for big messages).
A result for a message the viewer no longer shows is dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option
from textual.widgets.text_area import Selection

from popview.mail.signals import describe
from popview.ui.keymap import explain_unbound_key
from popview.ui.screens.message_files import (
    ask_open_attachment,
    ask_save_attachment,
    ask_save_message,
)
from popview.ui.widgets.attachment_list import AttachmentList
from popview.ui.widgets.footer import KeyFooter
from popview.ui.widgets.formatting import human_size, short_date, single_line
from popview.ui.widgets.message_body import MessageBody, find_matches, fold_quotes
from popview.ui.worker import Fetch, Mark, Unmark, UnmarkAll

if TYPE_CHECKING:
    from popview.mail.message import ParsedMessage
    from popview.mail.model import Attachment
    from popview.session.identity import MessageKey
    from popview.ui.app import PopviewApp
    from popview.ui.messages import FetchFailed, FetchProgress, MessageFetched
    from popview.ui.rendering import RenderedForms

__all__ = ["MessageScreen"]

_FORM_LABEL = {"plain": "plain text", "html": "HTML (as text)", "raw": "raw source"}
#: The headers the pane shows, in this order (mutt's default weeding).
_SHORT_HEADERS = ("from", "to", "cc", "subject", "date")


class MessageScreen(Screen[None]):
    """Read one message; ``n``/``p`` move through the list without leaving."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,q",
            "back",
            "Back",
            id="message.back",
            tooltip="Back to the list (Esc first ends a search)",
        ),
        Binding(
            "n",
            "next",
            "Next",
            id="message.next",
            tooltip="Next message in the list; the next match while searching",
        ),
        Binding(
            "N",
            "previous_match",
            "Previous match",
            show=False,
            id="message.previous_match",
            tooltip="Previous match of the search",
        ),
        Binding(
            "space",
            "page_down",
            "Page down",
            show=False,
            id="message.page_down",
            tooltip="Next page; at the end, the next message",
        ),
        Binding(
            "minus",
            "page_up",
            "Page up",
            show=False,
            id="message.page_up",
            tooltip="Previous page",
        ),
        Binding(
            "enter",
            "line_down",
            "Line down",
            show=False,
            id="message.line_down",
            tooltip="Scroll one line down",
        ),
        Binding("g", "top", "Top", show=False, id="message.top", tooltip="Top of the message"),
        Binding(
            "G", "bottom", "Bottom", show=False, id="message.bottom", tooltip="End of the message"
        ),
        Binding(
            "slash",
            "search",
            "Search",
            id="message.search",
            tooltip="Search in this message (then n / N: next / previous match)",
        ),
        Binding(
            "T",
            "toggle_quotes",
            "Quotes",
            show=False,
            id="message.quotes",
            tooltip="Hide or show quoted text",
        ),
        Binding(
            "p",
            "previous",
            "Previous",
            show=False,  # the footer is full; n/p is in the help
            id="message.previous",
            tooltip="Previous message in the list",
        ),
        Binding(
            "d",
            "mark",
            "Delete",
            id="message.mark",
            tooltip="Mark for deletion and show the next message",
        ),
        Binding("u", "unmark", "Undelete", id="message.unmark", tooltip="Unmark this message"),
        Binding(
            "U",
            "unmark_all",
            "Undelete all",
            show=False,
            id="message.unmark_all",
            tooltip="Unmark every message",
        ),
        Binding(
            "h",
            "all_headers",
            "Headers",
            id="message.headers",
            tooltip="Show every header, or only the usual ones",
        ),
        Binding("v", "raw", "Source", id="message.raw", tooltip="Show the raw message source"),
        Binding(
            "b",
            "switch_form",
            "Plain/HTML",
            id="message.switch",
            tooltip="Switch between the plain-text and HTML versions",
        ),
        Binding(
            "a",
            "attachments",
            "Attachments",
            id="message.attachments",
            tooltip="Go to the attachments list",
        ),
        Binding(
            "s",
            "save",
            "Save",
            id="message.save",
            tooltip="Save the selected attachment, or the whole message (.eml, mbox, Maildir)",
        ),
        Binding(
            "o",
            "open_attachment",
            "Open",
            id="message.open",
            tooltip="Open the selected attachment with the system's program (asks first)",
        ),
    ]

    def __init__(self, key: MessageKey) -> None:
        super().__init__()
        self.key = key
        self.parsed: ParsedMessage | None = None
        self.forms: RenderedForms | None = None
        self.form = "plain"
        self.before_raw = "plain"
        self.all_headers = False
        self.picking_attachment = False
        self.hide_quotes = False
        self.search_term = ""
        self.matches: list[tuple[int, int]] = []
        self.match_index = -1

    @property
    def popview(self) -> PopviewApp:
        return cast("PopviewApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static("", id="message-headers")
        yield Static("", id="defects")
        yield ProgressBar(id="fetch-progress", show_eta=False)
        yield MessageBody(id="body")
        yield AttachmentList(id="attachments")
        yield Input(placeholder="Search in this message", id="search")
        yield Static("", id="body-form")
        yield KeyFooter()

    @property
    def body(self) -> MessageBody:
        return self.query_one(MessageBody)

    def on_mount(self) -> None:
        self.body.cursor_blink = False
        self.query_one("#search").display = False
        self._load(self.key)

    def on_key(self, event: events.Key) -> None:
        explain_unbound_key(self, event)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.unavailable_reason(action) is None

    def unavailable_reason(self, action: str) -> str | None:
        """Why ``action`` does nothing now (its key then says so), or ``None``."""
        if action == "switch_form" and not (
            self.forms is not None and {"plain", "html"} <= set(self.forms.available)
        ):
            return "This message has no HTML version to switch to."
        if action in {"attachments", "open_attachment"} and not (
            self.parsed is not None and self.parsed.attachments
        ):
            return "This message has no attachments."
        if action == "mark" and self.key in self.popview.marks:
            return "This message is already marked for deletion."
        if action == "unmark" and self.key not in self.popview.marks:
            return "This message is not marked for deletion."
        if action == "unmark_all" and not self.popview.marks:
            return "Nothing is marked for deletion."
        if action == "previous_match" and not self.search_term:
            return "No search: press / first."
        return None

    # -- loading -------------------------------------------------------------------

    def _load(self, key: MessageKey) -> None:
        self.key = key
        self.picking_attachment = False
        self._end_search()
        self.parsed = None
        self.forms = None
        self.query_one("#defects").display = False
        self.query_one("#attachments").display = False
        bar = self.query_one("#fetch-progress", ProgressBar)
        bar.display = False
        bar.update(total=None, progress=0)
        self._show_envelope_headers()
        self.body.load_text("Loading…")
        self.query_one("#body-form", Static).update("")
        self.refresh_bindings()
        self.popview.submit(Fetch(key))

    def _show_envelope_headers(self) -> None:
        env = self.popview.listing.envelopes.get(self.key)
        text = Text()
        if env is not None:
            self._header_line(text, "From", env.sender)
            self._header_line(text, "Date", short_date(env.date))
            self._header_line(text, "Subject", env.subject)
        self._set_headers(text)

    @staticmethod
    def _header_line(text: Text, name: str, value: str) -> None:
        if text:
            text.append("\n")
        text.append(f"{name}: ", style="bold")
        text.append(single_line(value, 1000))

    def _set_headers(self, text: Text) -> None:
        env = self.popview.listing.envelopes.get(self.key)
        if env is not None and (env.signals or env.spam_score is not None):
            # Read from the header block the list already has (issue 12).
            self._header_line(text, "Signals", describe(env.signals, env.spam_score, env.list_id))
        marked = self.key in self.popview.marks
        if marked:
            rule = self.popview.mark_rules.get(self.key)
            text.append("\n")
            # A rule's name is the user's own config: still sanitized, still plain Text.
            by = f" by rule {single_line(rule, 60)}" if rule else ""
            text.append(f"Marked for deletion{by}", style="bold reverse")
        self.query_one("#message-headers", Static).update(text)

    def fetch_progress(self, event: FetchProgress) -> None:
        """Move the progress bar while ``RETR`` streams (only for this message)."""
        if event.key != self.key:
            return
        bar = self.query_one("#fetch-progress", ProgressBar)
        bar.display = event.total > 64 * 1024
        bar.update(total=max(event.total, 1), progress=event.done)

    def message_fetched(self, event: MessageFetched) -> None:
        """Show a fetched message; a stale one (the user moved on) is dropped."""
        if event.key != self.key:
            return
        self.query_one("#fetch-progress").display = False
        self.popview.set_read(self.key)
        self.parsed = event.fetched.parsed if event.fetched is not None else None
        self.forms = event.forms
        self.form = event.forms.first
        self._show_headers()
        self._show_body()
        self._show_defects()
        self._show_attachments()
        self.refresh_bindings()

    def fetch_failed(self, event: FetchFailed) -> None:
        """Say why the message cannot be shown (``n``/``p``/Esc still work)."""
        if event.key != self.key:
            return
        self.query_one("#fetch-progress").display = False
        self.body.load_text(f"{event.title}: {event.message}")

    def marks_changed(self, marks: frozenset[str]) -> None:
        self._show_headers()
        self.refresh_bindings()

    # -- showing ------------------------------------------------------------------

    def _show_headers(self) -> None:
        if self.parsed is None:
            self._show_envelope_headers()
            return
        text = Text()
        fields = self.parsed.headers
        for name in _SHORT_HEADERS:  # in mutt's order, wherever the sender put them
            for field in (f for f in fields if f.name.lower() == name):
                value = field.value
                if name == "date" and self.parsed.date_local:
                    # The header as the sender wrote it, and when that was here.
                    value = f"{value}  (local: {self.parsed.date_local})"
                self._header_line(text, single_line(field.name, 80), value)
        self._set_headers(text)

    def _all_headers_text(self) -> str:
        """Every header, one per line, for the top of the body (``h``, as mutt shows them)."""
        if self.parsed is None:
            return ""
        lines = [
            f"{single_line(field.name, 80)}: {single_line(field.value, 2000)}"
            for field in self.parsed.headers
        ]
        return "\n".join(lines) + "\n\n"

    def _show_body(self) -> None:
        if self.forms is None:
            return
        body = self.body
        text = self.forms.texts.get(self.form, "")
        raw = self.form == "raw"
        if self.hide_quotes and not raw:
            text = fold_quotes(text)
        if self.all_headers and not raw:
            text = self._all_headers_text() + text
        body.quotes = not raw
        body.load_text(text)
        body.scroll_home(animate=False)
        self._end_search()
        self._show_hint()

    def _show_hint(self) -> None:
        if self.forms is None:
            return
        if self.search_term and self.matches:
            hint = (
                f"Match {self.match_index + 1} of {len(self.matches)} for "
                f"{single_line(self.search_term, 60)!r}: n next, N previous, Esc ends the search"
            )
        else:
            others = [_FORM_LABEL[f] for f in self.forms.available if f != self.form]
            hint = f"Showing {_FORM_LABEL[self.form]}"
            if others:
                hint += f"; also available: {', '.join(others)}"
            if self.hide_quotes and self.form != "raw":
                hint += "; quoted text hidden (T shows it)"
        self.query_one("#body-form", Static).update(Text(hint))

    def _show_defects(self) -> None:
        banner = self.forms.banner if self.forms is not None else ()
        defects = self.query_one("#defects", Static)
        defects.display = bool(banner)
        if banner:
            defects.update(Text("Problems with this message: " + "; ".join(banner)))

    def _show_attachments(self) -> None:
        options = self.query_one("#attachments", OptionList)
        options.clear_options()
        attachments = self.parsed.attachments if self.parsed is not None else ()
        options.display = bool(attachments)
        options.border_title = (
            f"Attachments ({len(attachments)}): a to select, s to save, o to open"
        )
        for index, att in enumerate(attachments):
            label = Text(f"{att.filename}  ({att.content_type}, {human_size(att.size)})")
            options.add_option(Option(label, id=str(index)))

    # -- actions -------------------------------------------------------------------

    def action_back(self) -> None:
        if self.search_term:  # Esc first ends the search, as in a pager
            self._end_search()
            self._show_hint()
            return
        self.app.pop_screen()
        self.popview.follow_viewer(self.key)

    # -- paging (mutt's pager keys) ---------------------------------------------------

    def action_page_down(self) -> None:
        body = self.body
        if body.scroll_y >= body.max_scroll_y:
            self._step(1)  # Space at the end goes on to the next message, as in mutt
            return
        body.scroll_page_down(animate=False)

    def action_page_up(self) -> None:
        body = self.body
        if body.scroll_y <= 0:
            self.popview.notify("Top of message is shown.", markup=False, timeout=3)
            return
        body.scroll_page_up(animate=False)

    def action_line_down(self) -> None:
        body = self.body
        if body.scroll_y >= body.max_scroll_y:
            self.popview.notify("Bottom of message is shown.", markup=False, timeout=3)
            return
        body.scroll_down(animate=False)

    def action_top(self) -> None:
        self.body.scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.body.scroll_end(animate=False)

    def action_toggle_quotes(self) -> None:
        self.hide_quotes = not self.hide_quotes
        self._show_body()

    # -- search -----------------------------------------------------------------

    def action_search(self) -> None:
        field = self.query_one("#search", Input)
        field.value = self.search_term
        field.display = True
        field.focus()

    @on(Input.Submitted, "#search")
    def search_submitted(self, event: Input.Submitted) -> None:
        event.input.display = False
        self.body.focus()
        term = event.value
        if not term:
            self._end_search()
            self._show_hint()
            return
        self.search_term = term
        self.matches = find_matches(self.body.text, term)
        self.match_index = -1
        if not self.matches:
            self.popview.notify("Not found.", markup=False, timeout=3)
            self.search_term = ""
            self._show_hint()
            return
        self._go_to_match(1)

    def _go_to_match(self, delta: int) -> None:
        count = len(self.matches)
        target = self.match_index + delta
        if target >= count:
            target = 0
            self.popview.notify("Search wrapped to top.", markup=False, timeout=3)
        elif target < 0:
            target = count - 1
            self.popview.notify("Search wrapped to bottom.", markup=False, timeout=3)
        self.match_index = target
        self.body.select_match(self.matches[target], len(self.search_term))
        self._show_hint()

    def _end_search(self) -> None:
        self.search_term = ""
        self.matches = []
        self.match_index = -1
        if self.is_mounted:
            self.query_one("#search").display = False
            body = self.body
            body.selection = Selection()

    def action_previous_match(self) -> None:
        if self.search_term:
            self._go_to_match(-1)

    def _step(self, delta: int) -> None:
        rows = self.popview.listing.rows
        index = self.popview.listing.index_of(self.key)
        if index is None:
            return
        target = index + delta
        if 0 <= target < len(rows):
            self._load(rows[target].key)
        else:
            self.popview.notify(
                "This is the last message." if delta > 0 else "This is the first message.",
                markup=False,
            )

    def action_next(self) -> None:
        if self.search_term:
            self._go_to_match(1)
            return
        self._step(1)

    def action_previous(self) -> None:
        self._step(-1)

    def action_mark(self) -> None:
        if self.key not in self.popview.marks:
            self.popview.submit(Mark(self.key))
            self.popview.marks_updated_locally()
        self._step(1)

    def action_unmark(self) -> None:
        if self.key in self.popview.marks:
            self.popview.submit(Unmark(self.key))
            self.popview.marks_updated_locally()

    def action_unmark_all(self) -> None:
        if self.popview.marks:
            self.popview.submit(UnmarkAll())
            self.popview.marks_updated_locally()

    def action_all_headers(self) -> None:
        """Every header above the body, scrolling with it (mutt's ``h``)."""
        self.all_headers = not self.all_headers
        self._show_body()

    def action_raw(self) -> None:
        if self.forms is None:
            return
        if self.form == "raw":
            self.form = self.before_raw
        else:
            self.before_raw = self.form
            self.form = "raw"
        self._show_body()

    def action_switch_form(self) -> None:
        if self.forms is None:
            return
        self.form = "html" if self.form != "html" and "html" in self.forms.texts else "plain"
        self._show_body()

    def _picking(self) -> bool:
        """Whether the user is in the attachments list (``a``), even if the focus
        change has not been processed yet (``a`` and ``o`` typed together)."""
        return self.picking_attachment or self.query_one("#attachments").has_focus

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self.picking_attachment = event.widget.id == "attachments"

    def action_attachments(self) -> None:
        options = self.query_one("#attachments", OptionList)
        if options.display:
            self.picking_attachment = True
            options.focus()
            if options.highlighted is None:
                options.highlighted = 0

    def _selected_attachment(self) -> Attachment | None:
        """The highlighted attachment (the only one when there is just one)."""
        if self.parsed is None or not self.parsed.attachments:
            return None
        options = self.query_one("#attachments", OptionList)
        if self._picking() and options.highlighted is not None:
            return self.parsed.attachments[options.highlighted]
        if len(self.parsed.attachments) == 1:
            return self.parsed.attachments[0]
        return None

    def action_save(self) -> None:
        if self.parsed is None:
            return
        attachment = self._selected_attachment() if self._picking() else None
        if attachment is not None:
            ask_save_attachment(self.popview, attachment)
            return
        env = self.popview.listing.envelopes.get(self.key)
        ask_save_message(self.popview, self.parsed, env.from_addr if env is not None else "")

    def action_open_attachment(self) -> None:
        """Open an attachment with the system's program, after a confirmation."""
        attachment = self._selected_attachment()
        if attachment is not None:
            ask_open_attachment(self.popview, attachment)
        elif self.parsed is not None and self.parsed.attachments:
            self.popview.notify(
                "Press a, pick the attachment with the arrows, then o.", markup=False
            )

    @on(OptionList.OptionSelected, "#attachments")
    def attachment_chosen(self) -> None:
        self.action_save()
