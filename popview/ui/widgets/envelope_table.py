"""A virtual table of envelopes: renders only the rows on screen.

The stock DataTable builds a row object per message and re-sorts its own copy;
with 100,000 messages every filter keystroke would rebuild all of them. This
widget draws lines straight from :class:`~popview.ui.list_model.MailboxListing`
(Textual's line API), so a filter, a sort or a new mark costs one refresh of the
visible lines. Cells are :class:`rich.text.Text` built from sanitized plain
strings, never markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from popview.mail.envelope import Envelope
from popview.mail.signals import badge
from popview.session.identity import MessageKey
from popview.ui.list_model import MailboxListing, Row
from popview.ui.textual_adapter import resize_virtual
from popview.ui.widgets.formatting import compact_date, human_size, short_date, single_line

__all__ = ["EnvelopeTable"]

_MARK_W = 4  # D(eleted) N(ew) @(attachment) and the first signal badge (S ! ≠ L)
_DATE_W = 16
_COMPACT_DATE_W = 10
_SIZE_W = 6
_RULE_W = 10  # the rule that marked the row (when rules are configured)
_FULL_DATE_FROM = 110  # narrower than this, the date is compact (the subject keeps the room)
_SIZE_FROM = 70  # narrower than this, the size column goes
_RULE_FROM = 60  # narrower than this, the rule column goes (the viewer still names it)
_LINES_KEPT = 1000  # rows kept drawn: several screens of any terminal


class EnvelopeTable(ScrollView, can_focus=True):
    """The mailbox list. Line 0 is the column header; rows follow."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "envelope-table--header",
        "envelope-table--cursor",
        "envelope-table--deleted",
        "envelope-table--mark",
        "envelope-table--new",
        "envelope-table--rule",
        "envelope-table--unread",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "down,j", "cursor_down", "Down", show=False, id="list.down", tooltip="Next message"
        ),
        Binding("up,k", "cursor_up", "Up", show=False, id="list.up", tooltip="Previous message"),
        Binding("home,g", "first", "First", show=False, id="list.first", tooltip="First message"),
        Binding("end,G", "last", "Last", show=False, id="list.last", tooltip="Last message"),
        Binding(
            "pagedown",
            "page_down",
            "Page down",
            show=False,
            id="list.page_down",
            tooltip="One screen down",
        ),
        Binding(
            "pageup", "page_up", "Page up", show=False, id="list.page_up", tooltip="One screen up"
        ),
        Binding("enter", "select", "Open", id="list.open", tooltip="Read the message"),
    ]

    class Selected(Message):
        """The user opened a row (Enter or a double click)."""

        def __init__(self, key: MessageKey) -> None:
            super().__init__()
            self.key = key

    class CursorMoved(Message):
        """The row under the cursor changed (the preview pane follows it)."""

    def __init__(self, listing: MailboxListing, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.listing = listing
        self.marks: frozenset[str] = frozenset()
        self.mark_rules: Mapping[str, str] = {}
        """Of the marks, those a rule made: key → the rule's name (from the session)."""
        self.rule_column = False
        """Show the Rule column (rules are configured, or a rule's mark is held)."""
        self.cursor = 0
        self._cuts: list[int] = []
        self._reported_key: MessageKey | None = None
        self._drawn: tuple[object, ...] | None = None
        """What :meth:`refresh_rows` last drew (see :meth:`_window`)."""
        self._lines: dict[tuple[object, ...], Strip] = {}
        """Rows drawn before, by everything that decides their look (see :meth:`render_line`)."""
        self._line_context: tuple[object, ...] | None = None
        self._base = Style()

    # -- data ------------------------------------------------------------------

    def refresh_rows(self, keep_key: MessageKey | None = None) -> None:
        """Call after the listing's rows changed; keeps the cursor on ``keep_key``."""
        if keep_key is not None:
            index = self.listing.index_of(keep_key)
            if index is not None:
                self.cursor = index
        self.cursor = max(0, min(self.cursor, len(self.listing.rows) - 1))
        # Rows added below the window (envelopes streaming in, older than those on
        # screen) change only the scrollbar: no layout of the screen, no repaint.
        resize_virtual(self, Size(self.scrollable_content_region.width, len(self.listing.rows) + 1))
        self._scroll_cursor_into_view()
        # A scroll is clamped to the old virtual size until the next layout: after
        # Esc restores 300 rows from 1, scroll again once they are laid out.
        self.call_after_refresh(self._scroll_cursor_into_view)
        window = self._window()
        if window != self._drawn:
            self._drawn = window
            self.refresh()

    def _window(self) -> tuple[object, ...]:
        """What the rows on screen show: their keys, envelopes, depth, and the cursor."""
        top = int(self.scroll_offset.y)
        rows = self.listing.rows[top : top + max(self.size.height, 1)]
        envelopes = self.listing.envelopes
        hidden = self.listing.hidden_replies
        return (
            top,
            self.cursor,
            self.size,
            # The envelopes themselves (compared by value), not their ids: an id
            # can be reused by a later envelope once the drawn one is freed.
            tuple((row, envelopes.get(row.key), hidden.get(row.key)) for row in rows),
        )

    def set_marks(
        self,
        marks: frozenset[str],
        rules: Mapping[str, str] | None = None,
        *,
        rule_column: bool = False,
    ) -> None:
        """Restyle marked rows (they stay in the list until committed).

        Args:
            marks: The marks as drawn.
            rules: Of the marks, those a rule made (key → rule name).
            rule_column: Show the Rule column (from 60 columns on).
        """
        self.marks = marks
        self.mark_rules = rules or {}
        self.rule_column = rule_column
        self.refresh()

    @property
    def seen_before(self) -> frozenset[str]:
        """UIDs the previous visit listed; an empty set (first visit) marks nothing new."""
        return self.listing.seen_before

    @seen_before.setter
    def seen_before(self, keys: frozenset[str]) -> None:
        self.listing.seen_before = keys
        self.refresh()

    def is_new(self, key: MessageKey) -> bool:
        """Whether ``key`` arrived since the last visit (needs a stable UIDL)."""
        return self.listing.is_new(key)

    def new_count(self) -> int:
        """How many listed messages are new since the last visit (kept by the listing)."""
        return self.listing.new_count

    @property
    def current_key(self) -> MessageKey | None:
        """The key under the cursor, or ``None`` for an empty list."""
        rows = self.listing.rows
        return rows[self.cursor].key if 0 <= self.cursor < len(rows) else None

    def move_to(self, index: int) -> None:
        """Put the cursor on row ``index`` (clamped) and scroll to it."""
        before, top = self.cursor, self.scroll_offset.y
        self.cursor = max(0, min(index, len(self.listing.rows) - 1))
        self._scroll_cursor_into_view()
        if self.scroll_offset.y == top:
            # Only the two cursor lines change (line 0 is the column header).
            self.refresh_line(before + 1)
            self.refresh_line(self.cursor + 1)
        else:
            self.refresh()
        # What is on screen now: a batch streaming in next repaints nothing more
        # unless it changes these rows.
        self._drawn = self._window()

    def _report_cursor(self) -> None:
        key = self.current_key
        if key != self._reported_key:
            self._reported_key = key
            self.post_message(self.CursorMoved())

    def _scroll_cursor_into_view(self) -> None:
        self._report_cursor()
        visible = max(self.scrollable_content_region.height - 1, 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    # -- actions -----------------------------------------------------------------

    def action_cursor_down(self) -> None:
        self.move_to(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(len(self.listing.rows) - 1)

    def action_page_down(self) -> None:
        self.move_to(self.cursor + max(self.scrollable_content_region.height - 2, 1))

    def action_page_up(self) -> None:
        self.move_to(self.cursor - max(self.scrollable_content_region.height - 2, 1))

    def action_select(self) -> None:
        key = self.current_key
        if key is not None:
            self.post_message(self.Selected(key))

    def on_click(self, event: Click) -> None:
        row = event.y + int(self.scroll_offset.y) - 1
        if event.y >= 1 and 0 <= row < len(self.listing.rows):
            self.move_to(row)
            if event.chain >= 2:
                self.action_select()

    def on_resize(self) -> None:
        self._drawn = None
        self.virtual_size = Size(self.scrollable_content_region.width, len(self.listing.rows) + 1)

    # -- rendering -----------------------------------------------------------------

    def _widths(self, width: int) -> tuple[int, int, int, int, int]:
        """Widths of Rule, From, Subject, Date and Size for the current widget width.

        The layout degrades from the right: first the date becomes compact,
        then the size goes, then the rule, and the subject keeps whatever is
        left (at least twice the sender's width).
        """
        date_w = _DATE_W if width >= _FULL_DATE_FROM else _COMPACT_DATE_W
        size_w = _SIZE_W if width >= _SIZE_FROM else 0
        rule_w = _RULE_W if self.rule_column and width >= _RULE_FROM else 0
        gaps = 2 + bool(size_w) + bool(rule_w)
        rest = max(width - _MARK_W - rule_w - date_w - size_w - gaps - 1, 10)
        from_w = max(min(24, rest // 3), 6)
        return rule_w, from_w, rest - from_w, date_w, size_w

    @staticmethod
    def _date(env_date: datetime | None, date_w: int) -> str:
        return short_date(env_date) if date_w == _DATE_W else compact_date(env_date)

    def _cells(self, cells: list[tuple[str, int, str]], style: Style) -> Text:
        line = Text(style=style, no_wrap=True, overflow="ellipsis", end="")
        self._cuts = []
        for index, (value, width, justify) in enumerate(cells):
            cell = Text(value, no_wrap=True, overflow="ellipsis", end="")
            cell.truncate(width, overflow="ellipsis", pad=True)
            if justify == "right":
                cell = Text(value[-width:].rjust(width), end="")
            if index:
                line.append(" ")
            self._cuts.append(len(line))
            line.append_text(cell)
        return line

    def render_lines(self, crop: Region) -> list[Strip]:
        self._check_context()
        return super().render_lines(crop)

    def _check_context(self) -> None:
        """The widget's style once per repaint, not per line. Rows drawn before are
        drawn again from ``_lines``: a scroll by one row (``j`` at the bottom, while
        envelopes stream in) repaints every line on screen, each one drawn before.
        Another theme, the focus, or a new day (compact dates say "today") draws
        them afresh."""
        base = self.rich_style
        context = (base, self.has_focus, self.app.theme, date.today())
        if context != self._line_context:
            self._line_context = context
            self._lines.clear()
        self._base = base

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        rule_w, from_w, subject_w, date_w, size_w = self._widths(width)
        if y == 0:
            style = self.get_component_rich_style("envelope-table--header")
            header = [("", _MARK_W, "")]
            if rule_w:
                header.append(("Rule", rule_w, ""))
            header += [
                ("From", from_w, ""),
                ("Subject", subject_w, ""),
                ("Date", date_w, ""),
            ]
            if size_w:
                header.append(("Size", size_w, "right"))
            text = self._cells(header, style)
            return self._strip(text, width, style)
        if self._line_context is None:
            self._check_context()  # a line asked for outside a repaint
        index = y - 1 + int(self.scroll_offset.y)
        rows = self.listing.rows
        base = self._base
        if not 0 <= index < len(rows):
            return Strip.blank(width, base)
        row = rows[index]
        env = self.listing.envelopes.get(row.key)
        if env is None:  # removed (committed) since the last rebuild
            return Strip.blank(width, base)
        deleted = row.key in self.marks
        flag = self.listing.flag(row.key)
        hidden = self.listing.hidden_replies.get(row.key)
        rule = single_line(self.mark_rules.get(row.key, ""), 60) if deleted else ""
        # The envelope by value (its fields are the cells), and all else that
        # changes the row's look: the mark, the cursor, the flag, the widths.
        look = (row, env, hidden, deleted, index == self.cursor, flag, rule, width, rule_w)
        strip = self._lines.get(look)
        if strip is None:
            if len(self._lines) >= _LINES_KEPT:
                self._lines.clear()
            strip = self._lines[look] = self._row_line(
                index, row, env, deleted, flag, hidden, rule, width
            )
        return strip

    def _row_line(
        self,
        index: int,
        row: Row,
        env: Envelope,
        deleted: bool,
        flag: str,
        hidden: int | None,
        rule: str,
        width: int,
    ) -> Strip:
        rule_w, from_w, subject_w, date_w, size_w = self._widths(width)
        style = self._base
        if deleted:
            style = style + self.get_component_rich_style("envelope-table--deleted")
        if index == self.cursor:
            style = style + self.get_component_rich_style("envelope-table--cursor")
        attachment = env.has_attachment
        mark = ("D" if deleted else " ") + flag + ("@" if attachment else " ")
        mark += badge(env.signals)[:1] or " "
        sender = single_line(env.from_name or env.from_addr, 200)
        subject = single_line(env.subject, 400)
        if row.depth:
            subject = "  " * min(row.depth - 1, 8) + "└ " + subject
        if hidden:
            subject = f"(+{hidden}) {subject}"
        # The rule: the user's own config, still sanitized and never markup (a Text cell).
        cells = [(mark, _MARK_W, "")]
        if rule_w:
            cells.append((rule, rule_w, ""))
        cells += [
            (sender, from_w, ""),
            (subject, subject_w, ""),
            (self._date(env.date, date_w), date_w, ""),
        ]
        if size_w:
            cells.append((human_size(env.size), size_w, "right"))
        text = self._cells(cells, style)
        if deleted:
            text.stylize(self.get_component_rich_style("envelope-table--mark"), 0, 1)
        if rule and rule_w:
            start = _MARK_W + 1
            rule_style = self.get_component_rich_style("envelope-table--rule")
            text.stylize(rule_style, start, start + rule_w)
        if flag != " ":
            text.stylize(self.get_component_rich_style("envelope-table--new"), 1, 2)
        if flag != " ":
            text.stylize(self.get_component_rich_style("envelope-table--unread"), 1)
        return self._strip(text, width, style)

    def _strip(self, text: Text, width: int, style: Style) -> Strip:
        # One segment (at least) per cell: an SVG export stretches each segment
        # to its cell width, so wide (CJK) text stays in its column there too.
        console = self.app.console
        segments: list[Segment] = []
        for piece in text.divide(self._cuts):
            # Text.render leaves the base style to the caller; apply it under the spans.
            segments.extend(Segment.apply_style(piece.render(console), style))
        return Strip(segments).adjust_cell_length(width, style)
