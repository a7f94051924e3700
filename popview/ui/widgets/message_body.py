"""The viewer's body: a read-only text area that colours quoted text and finds words.

Quoted lines (``>`` prefixes, RFC 3676 §4.5) are coloured by depth, as mutt
does; :func:`fold_quotes` replaces each run of quoted lines with one marker
line (mutt's toggle-quoted). Search selects the match, so the text area's own
selection highlight shows it and the view scrolls to it.
"""

from __future__ import annotations

import re
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.widgets import TextArea
from textual.widgets.text_area import Selection

__all__ = ["MessageBody", "find_matches", "fold_quotes", "quote_depth"]

_QUOTE = re.compile(r"^[ \t]*((?:>[ \t]?)+)")
_FOLD_MARK = re.compile(r"^\[-- \d+ quoted lines? hidden")
_DEPTHS = 3  # colours, cycled by depth


def quote_depth(line: str) -> int:
    """How many ``>`` quote this line (0 for the sender's own text)."""
    match = _QUOTE.match(line)
    return match.group(1).count(">") if match else 0


def fold_quotes(text: str) -> str:
    """``text`` with each run of quoted lines replaced by one line saying how many."""
    out: list[str] = []
    run = 0
    for line in text.split("\n"):
        if quote_depth(line):
            run += 1
            continue
        if run:
            out.append(_fold_line(run))
            run = 0
        out.append(line)
    if run:
        out.append(_fold_line(run))
    return "\n".join(out)


def _fold_line(count: int) -> str:
    noun = "line" if count == 1 else "lines"
    return f"[-- {count} quoted {noun} hidden; T shows them --]"


def find_matches(text: str, needle: str) -> list[tuple[int, int]]:
    """Every (line, column) where ``needle`` starts in ``text``, ignoring case."""
    if not needle:
        return []
    pattern = re.compile(re.escape(needle), re.IGNORECASE)
    return [
        (row, match.start())
        for row, line in enumerate(text.split("\n"))
        for match in pattern.finditer(line)
    ]


class MessageBody(TextArea):
    """The message text; quoted lines coloured by depth (when :attr:`quotes` is on)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "message-body--quote1",
        "message-body--quote2",
        "message-body--quote3",
        "message-body--fold",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, read_only=True, soft_wrap=True, show_cursor=False)
        self.quotes = True
        """Colour quoted lines (off for the raw source)."""

    def get_line(self, line_index: int) -> Text:
        """The line as Textual draws it, with the quote colour (a documented hook)."""
        line = super().get_line(line_index)
        if not self.quotes:
            return line
        plain = line.plain
        depth = quote_depth(plain)
        if depth:
            number = (depth - 1) % _DEPTHS + 1
            line.stylize(self._foreground(f"message-body--quote{number}"))
        elif _FOLD_MARK.match(plain):
            line.stylize(self._foreground("message-body--fold"))
        return line

    def _foreground(self, component: str) -> Style:
        """The component's colour and text style, without its background (so the
        selection of a search match still shows over a quote)."""
        full = self.get_component_rich_style(component)
        return Style(color=full.color, bold=full.bold, italic=full.italic)

    def select_match(self, where: tuple[int, int], length: int) -> None:
        """Select ``length`` characters at ``where`` and scroll them into view."""
        row, column = where
        self.selection = Selection((row, column), (row, column + length))
        # The text area scrolls to its cursor only when the cursor is shown (it
        # is hidden here), so scroll to the match's place in the wrapped text.
        x, y = self.wrapped_document.location_to_offset((row, column))
        self.scroll_to_region(
            Region(x, y, width=max(length, 1), height=1), animate=False, force=True, center=True
        )
