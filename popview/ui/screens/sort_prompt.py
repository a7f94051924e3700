"""The sort prompt (`o`, and `O` for the reverse order), as mutt asks it.

One line at the bottom of the screen: "Sort by (d)ate (f)rom (s)ubject si(z)e";
the next key chooses, Esc keeps the current order. Dismisses with the chosen
sort key of :data:`~popview.ui.list_model.SORT_KEYS`, or ``None``.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["SortPrompt"]


class SortPrompt(ModalScreen[str | None]):
    """Ask which order; ``reverse`` only changes the wording.

    Args:
        reverse: The prompt is for the reversed order (`O`).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "choose('date')", "Date", id="sort.date", tooltip="Sort by date"),
        Binding("f", "choose('from')", "From", id="sort.from", tooltip="Sort by sender"),
        Binding("s", "choose('subject')", "Subject", id="sort.subject", tooltip="Sort by subject"),
        Binding("z", "choose('size')", "Size", id="sort.size", tooltip="Sort by size"),
        Binding("escape", "choose('')", "Cancel", id="sort.cancel", tooltip="Keep the order"),
    ]

    def __init__(self, reverse: bool = False) -> None:
        super().__init__(classes="sort-prompt")
        self.reverse = reverse

    def compose(self) -> ComposeResult:
        verb = "Reverse sort" if self.reverse else "Sort"
        yield Static(
            Text(f"{verb} by (d)ate, (f)rom, (s)ubject, si(z)e?  Esc keeps the order."),
            id="sort-question",
        )

    def action_choose(self, key: str) -> None:
        self.dismiss(key or None)
