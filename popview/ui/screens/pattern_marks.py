"""Marking and unmarking by pattern (mutt's delete-pattern): ``D`` and ``Ctrl+U`` on the list.

A prompt takes a pattern (:mod:`popview.mail.pattern`); a bad one is shown
with a caret under its position and marks nothing. A good one is matched over
every listed message (not only the filtered rows), and a confirmation says how
many and how large before anything happens. Confirmed, one
:class:`~popview.ui.worker.MarkMany` (or ``UnmarkMany``) goes to the worker,
which stays the only one to change the marks; the rows are drawn as pending at
once, from the worker's queue. Nothing is deleted until the user commits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from popview.mail.pattern import MatchContext, PatternError, compile_pattern, parse_pattern
from popview.session.identity import MessageKey
from popview.ui.mark_groups import describe_marks, marked_size
from popview.ui.screens.dialogs import ConfirmScreen
from popview.ui.widgets.formatting import single_line, size_label
from popview.ui.worker import MarkMany, UnmarkMany

if TYPE_CHECKING:
    from popview.ui.app import PopviewApp

__all__ = ["PatternPrompt", "ask_pattern_marks", "pattern_problem"]

_HINT = (
    'word or "two words" (From, Subject), ~f ~s ~t TEXT, ~z >5M, ~d >30d, ~A, ~N, ~x spam; '
    "a b (and), a | b, !a. Enter goes on (asks before marking), Esc cancels."
)


def pattern_problem(text: str, error: PatternError) -> Text:
    """The pattern with a caret under the column ``error`` points at, and why."""
    shown = single_line(text, 200)
    caret = " " * min(error.position, len(shown)) + "^"
    return Text(f"{shown}\n{caret} {error.reason} (column {error.position + 1})")


class PatternPrompt(ModalScreen[str | None]):
    """Ask for a pattern; dismisses with its text once it parses, ``None`` on Esc.

    Args:
        title: What the pattern is for, e.g. "Mark for deletion the messages matching".
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="pattern.cancel", tooltip="Mark nothing"),
    ]

    def __init__(self, title: str) -> None:
        super().__init__(classes="dialog")
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Input(placeholder="~x spam | ~s viagra", id="pattern")
            yield Static("", classes="dialog-error", id="pattern-error")
            yield Static(Text(_HINT), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Changed)
    def changed(self) -> None:
        self.query_one("#pattern-error", Static).update("")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        problem = self.query_one("#pattern-error", Static)
        if not text:
            problem.update(Text("Type a pattern (Esc cancels)."))
            return
        try:
            parse_pattern(text)
        except PatternError as error:
            problem.update(pattern_problem(text, error))
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _matching(app: PopviewApp, text: str, *, marked: bool) -> list[MessageKey]:
    """The listed messages ``text`` matches that are (``marked``) or are not marked."""
    listing = app.listing
    # An envelope's uid is the raw UIDL; only a stable one is a key that can be new.
    test = compile_pattern(
        text, MatchContext(is_new=lambda e: listing.is_new(MessageKey(e.uid or "")))
    )
    marks = app.marks
    return [key for key, env in listing.envelopes.items() if (key in marks) == marked and test(env)]


def ask_pattern_marks(app: PopviewApp, *, mark: bool, say: Callable[[str], None]) -> None:
    """Ask for a pattern, then confirm and queue the marks (``mark``) or unmarks.

    Args:
        app: The app (its listing, its marks as drawn, the worker).
        mark: Mark the matching messages (``D``), or unmark them (``Ctrl+U``).
        say: Shows a result in the status line.
    """
    verb = "Mark" if mark else "Unmark"
    title = "Mark for deletion the messages matching" if mark else "Unmark the messages matching"

    def confirmed(keys: tuple[MessageKey, ...], line: str, yes: bool | None) -> None:
        if not yes:
            return
        app.submit(MarkMany(keys) if mark else UnmarkMany(keys))
        app.marks_updated_locally()  # drawn at once, as pending, from the queue
        say(line)

    def chosen(text: str | None) -> None:
        if not text:
            return
        keys = tuple(_matching(app, text, marked=not mark))
        quoted = f"'{single_line(text, 60)}'"
        if not keys:
            none = "No message" if mark else "No marked message"
            app.notify(f"{none} matches {quoted}.", markup=False)
            return
        count = len(keys)
        noun = "message" if count == 1 else "messages"
        size = size_label(marked_size(app.listing, keys))
        # Said when queued, so in the present tense: the worker may yet refuse
        # (a journal that cannot hold them says "NOT marked").
        done = (
            f"Marking {count:,} {noun} ({size}) matching {quoted}; nothing is deleted until "
            "you commit ($)."
            if mark
            else f"Unmarking {count:,} {noun} ({size}) matching {quoted}."
        )
        app.push_screen(
            ConfirmScreen(
                f"{verb} {count:,} {noun} ({size}) matching {quoted}?",
                describe_marks(app.listing, keys, app.mark_rules),
                yes=verb,
            ),
            lambda yes: confirmed(keys, done, yes),
        )

    app.push_screen(PatternPrompt(title), chosen)
