"""The help screen: every key of every screen, built from the bindings themselves.

Generated from the ``BINDINGS`` lists with the user's ``[keymap]`` applied, so
it cannot drift from what the keys really do.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

__all__ = ["HelpScreen", "key_table"]


def _sections() -> list[tuple[str, list[Any]]]:
    from popview.ui.app import PopviewApp
    from popview.ui.screens.dialogs import QuitScreen
    from popview.ui.screens.login import LoginScreen
    from popview.ui.screens.mailbox import MailboxScreen
    from popview.ui.screens.message import MessageScreen
    from popview.ui.screens.pattern_marks import PatternPrompt
    from popview.ui.screens.sort_prompt import SortPrompt
    from popview.ui.widgets.envelope_table import EnvelopeTable

    return [
        ("Mailbox list", EnvelopeTable.BINDINGS + MailboxScreen.BINDINGS),
        ("Sort prompt (o, O)", SortPrompt.BINDINGS),
        ("Pattern prompt", PatternPrompt.BINDINGS),
        ("Message viewer", MessageScreen.BINDINGS),
        ("Quit dialog", QuitScreen.BINDINGS),
        ("Login", LoginScreen.BINDINGS),
        ("Everywhere", PopviewApp.BINDINGS),
    ]


def _display_keys(keys: str) -> str:
    names = {
        "question_mark": "?",
        "dollar_sign": "$",
        "slash": "/",
        "escape": "Esc",
        "enter": "Enter",
        "pagedown": "PgDn",
        "pageup": "PgUp",
        "home": "Home",
        "end": "End",
        "down": "↓",
        "up": "↑",
        "space": "Space",
        "minus": "-",
        "left_square_bracket": "[",
        "right_square_bracket": "]",
    }
    shown = []
    for key in (k.strip() for k in keys.split(",")):
        if key.startswith("ctrl+"):  # one spelling for every chord: Ctrl+S, Ctrl+T
            key = "Ctrl+" + names.get(key[5:], key[5:]).upper()
        shown.append(names.get(key, key))
    return " ".join(shown)


def key_table(keymap: dict[str, str]) -> Table:
    """Every binding as a table: keys, what it does, and its id for ``[keymap]``."""
    table = Table(box=None, expand=True, show_header=True, pad_edge=False)
    table.add_column(Text("Key"), no_wrap=True, style="bold")
    table.add_column(Text("Action"))
    table.add_column(Text("[keymap] id"), style="dim", no_wrap=True)
    for title, bindings in _sections():
        table.add_row(Text(title, style="bold underline"), Text(""), Text(""))
        for binding in bindings:
            if not isinstance(binding, Binding):
                continue
            keys = keymap.get(binding.id or "", binding.key)
            table.add_row(
                Text(_display_keys(keys)),
                Text(binding.tooltip or binding.description),
                Text(binding.id or ""),
            )
        table.add_row(Text(""), Text(""), Text(""))
    return table


class HelpScreen(ModalScreen[None]):
    """Every key, one page; Esc, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,q,question_mark", "close", "Close", id="help.close", tooltip="Close the help"
        ),
    ]

    def compose(self) -> ComposeResult:
        keymap = dict(getattr(getattr(self.app, "config", None), "keymap", {}) or {})
        with Vertical(id="help-box"):
            yield Label("popview keys", id="help-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(key_table(keymap), id="help-table")

    def action_close(self) -> None:
        self.dismiss(None)
