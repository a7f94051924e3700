"""The mailbox list draws each row once and keeps it: what it paints must stay
what a row drawn afresh shows, whatever changed (popview/ui/widgets/envelope_table.py).

Each test changes one thing that decides a row's look (the cursor, a mark, the
rule that made it, the read flag, the envelope, a collapsed thread's count, the
width, the theme, the focus, the day) and compares the lines the table paints
with the same lines drawn with nothing kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Input

from popview.mail.envelope import Envelope
from popview.session.identity import MessageKey
from popview.ui.list_model import MailboxListing
from popview.ui.widgets import envelope_table, formatting
from popview.ui.widgets.envelope_table import EnvelopeTable

_NOW = datetime.now(UTC)


def envelope(n: int, *, subject: str | None = None, reply_to: int | None = None) -> Envelope:
    return Envelope(
        number=n,
        uid=f"u{n}",
        size=1000 * n,
        from_name=f"Sender {n}",
        from_addr=f"s{n}@example.org",
        subject=subject if subject is not None else f"Subject {n}",
        date=_NOW - timedelta(minutes=n),  # today: the compact date shows the time
        message_id=f"<m{n}@x>",
        in_reply_to=f"<m{reply_to}@x>" if reply_to is not None else "",
    )


def keyed(envelopes: Iterable[Envelope]) -> list[tuple[MessageKey, Envelope]]:
    return [(MessageKey(env.uid or ""), env) for env in envelopes]


class TableApp(App[None]):
    CSS_PATH = "../popview/ui/popview.tcss"  # the app's own styles: cursor, marks, flags

    def __init__(self, listing: MailboxListing) -> None:
        super().__init__()
        self.listing = listing

    def compose(self) -> ComposeResult:
        yield EnvelopeTable(self.listing, id="table")
        yield Input(id="other")


def painted(table: EnvelopeTable) -> list[tuple[str, list[Any]]]:
    """The lines the compositor gets from the table, with their styles."""
    strips = table.render_lines(Region(0, 0, table.size.width, table.size.height))
    return [(strip.text, [segment.style for segment in strip]) for strip in strips]


def afresh(table: EnvelopeTable) -> list[tuple[str, list[Any]]]:
    """The same lines drawn with no row kept (by this table, nor by Textual)."""
    table._lines.clear()
    table.refresh()
    return painted(table)


def listing_of(count: int) -> MailboxListing:
    listing = MailboxListing()
    listing.add(keyed(envelope(n) for n in range(1, count + 1)))
    listing.rebuild()
    return listing


async def check(
    change: Callable[[App[None], EnvelopeTable, Pilot[None]], Any],
    *,
    listing: MailboxListing | None = None,
    size: tuple[int, int] = (100, 12),
) -> tuple[list[tuple[str, list[Any]]], list[tuple[str, list[Any]]]]:
    """Paint, make ``change``, paint again: (before, after); after must be what a
    table with nothing kept paints."""
    app = TableApp(listing or listing_of(40))
    async with app.run_test(size=size) as pilot:
        table = app.query_one(EnvelopeTable)
        table.focus()
        await pilot.pause()
        before = painted(table)
        assert table._lines, "rows are kept once painted"
        result = change(app, table, pilot)
        if hasattr(result, "__await__"):
            await result
        await pilot.pause()
        after = painted(table)
        assert after == afresh(table)
        return before, after


def rows_text(lines: list[tuple[str, list[Any]]]) -> list[str]:
    return [text for text, _ in lines]


async def test_the_cursor_moves_to_a_row_drawn_before() -> None:
    async def down(app: App[None], table: EnvelopeTable, pilot: Pilot[None]) -> None:
        table.action_cursor_down()

    before, after = await check(down)
    assert before[1][1] != after[1][1] and before[2][1] != after[2][1]


async def test_the_cursor_row_moves_and_a_scroll_by_one_redraws_every_line() -> None:
    async def down(app: App[None], table: EnvelopeTable, pilot: Pilot[None]) -> None:
        for _ in range(15):  # past the bottom of an 11-row window: it scrolls
            table.action_cursor_down()

    before, after = await check(down)
    assert rows_text(after)[1] != rows_text(before)[1]  # scrolled


async def test_a_mark_shows_at_once() -> None:
    async def mark(app: App[None], table: EnvelopeTable, pilot: Pilot[None]) -> None:
        table.set_marks(frozenset({table.listing.rows[2].key}))

    before, after = await check(mark)
    assert after[3][0].startswith("D") and not before[3][0].startswith("D")


async def test_the_rule_that_made_a_mark_shows_at_once() -> None:
    async def rule(app: App[None], table: EnvelopeTable, pilot: Pilot[None]) -> None:
        table.set_marks(table.marks, {table.listing.rows[2].key: "newsletters"}, rule_column=True)

    async def marked(app: App[None], table: EnvelopeTable, pilot: Pilot[None]) -> None:
        table.set_marks(frozenset({table.listing.rows[2].key}), {}, rule_column=True)
        await pilot.pause()
        painted(table)  # drawn marked, with an empty Rule column
        await rule(app, table, pilot)

    before, after = await check(marked)
    assert "newslett" in after[3][0] and "newslett" not in before[3][0]


async def test_a_row_read_loses_its_flag() -> None:
    async def read(app: App[None], table: EnvelopeTable, pilot: Pilot[None]) -> None:
        table.listing.read.add(table.listing.rows[1].key)
        table.refresh()

    before, after = await check(read)
    assert before[2][0][1] == "O" and after[2][0][1] == " "


async def test_a_new_envelope_under_the_same_key_is_drawn() -> None:
    async def replace(app: App[None], table: EnvelopeTable, pilot: Pilot[None]) -> None:
        table.listing.add(keyed([envelope(3, subject="Confirmed by the server")]))
        table.listing.rebuild()
        table.refresh_rows()

    _, after = await check(replace)
    assert "Confirmed by the server" in "".join(rows_text(after))


async def test_a_collapsed_thread_shows_how_many_replies_it_hides() -> None:
    listing = MailboxListing()
    listing.add(keyed([envelope(1), envelope(2, reply_to=1), envelope(3, reply_to=1)]))
    listing.threaded = True
    listing.rebuild()

    async def collapse(app: App[None], table: EnvelopeTable, pilot: Pilot[None]) -> None:
        root = table.listing.index_of("u1") or 0
        table.listing.toggle_thread(root)
        table.refresh_rows()

    _, after = await check(collapse, listing=listing)
    assert "(+2)" in "".join(rows_text(after))


async def test_the_thread_view_indents_the_replies() -> None:
    listing = MailboxListing()
    listing.add(keyed([envelope(1), envelope(2, reply_to=1), envelope(3, reply_to=1)]))
    listing.rebuild()

    async def threads(app: App[None], table: EnvelopeTable, pilot: Pilot[None]) -> None:
        table.listing.threaded = True
        table.listing.rebuild()
        table.refresh_rows()

    before, after = await check(threads, listing=listing)
    assert "└" in "".join(rows_text(after)) and "└" not in "".join(rows_text(before))


async def test_a_narrower_terminal_lays_the_rows_out_again() -> None:
    async def narrow(app: App[None], table: EnvelopeTable, pilot: Pilot[None]) -> None:
        await pilot.resize_terminal(60, 12)

    before, after = await check(narrow)
    assert len(after[1][0]) < len(before[1][0])


async def test_another_theme_and_the_focus_restyle_the_rows() -> None:
    async def theme(app: App[None], table: EnvelopeTable, pilot: Pilot[None]) -> None:
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"

    before, after = await check(theme)
    assert [s for _, s in after] != [s for _, s in before]

    async def blur(app: App[None], table: EnvelopeTable, pilot: Pilot[None]) -> None:
        app.query_one("#other", Input).focus()

    before, after = await check(blur)
    assert before[1][1] != after[1][1]  # the cursor row, drawn blurred


async def test_a_new_day_redraws_the_compact_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    tomorrow = _NOW + timedelta(days=1)

    class Tomorrow(date):
        @classmethod
        def today(cls) -> date:
            return tomorrow.astimezone().date()

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return tomorrow.astimezone(tz)

    async def next_day(app: App[None], table: EnvelopeTable, pilot: Pilot[None]) -> None:
        monkeypatch.setattr(envelope_table, "date", Tomorrow)
        monkeypatch.setattr(formatting, "datetime", Later)
        table.refresh()

    before, after = await check(next_day, size=(80, 12))  # compact dates below 110 columns
    assert rows_text(after) != rows_text(before)  # "HH:MM" became "Mon DD"
