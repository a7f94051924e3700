"""Modal dialogs: confirm (bool), quit with marks pending (str), errors, a file name.

Every text that may come from a server or a mail reaches these as plain
strings and is shown as :class:`rich.text.Text`, never parsed as markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from popview.ui.files import SAVE_KINDS, SaveKind, SaveTarget, default_target
from popview.ui.mark_groups import Heading

__all__ = [
    "ConfirmScreen",
    "ErrorScreen",
    "PasswordScreen",
    "PathScreen",
    "QuitScreen",
    "SaveMessageScreen",
]


class ConfirmScreen(ModalScreen[bool]):
    """Ask yes or no; dismisses with ``True`` for yes.

    Args:
        title: The question, e.g. "Delete 2 messages?".
        lines: What the action will do, one plain line each (e.g. the subjects).
        yes: Label of the confirming button.
        no: Label of the cancelling button.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes", tooltip="Confirm"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no", tooltip="Cancel"),
    ]

    def __init__(self, title: str, lines: list[str], yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.lines = lines
        self.yes_label = yes
        self.no_label = no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(Text(self.title_text), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(_lines_text(self.lines))
            with Horizontal(classes="dialog-buttons"):
                yield Button(Text(f"{self.yes_label} (y)"), id="yes", variant="error")
                yield Button(Text(f"{self.no_label} (n)"), id="no")

    # Textual focuses this when the screen is shown; unlike a query in on_mount it
    # does not raise when the app tears the screen down mid-mount (e.g. on a crash).
    AUTO_FOCUS = "#no"

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


def _lines_text(lines: list[str]) -> Text:
    """The lines as one plain Text; a :class:`Heading` (a group: ``spam (30)``) in bold."""
    text = Text()
    for index, line in enumerate(lines):
        if index:
            text.append("\n")
        text.append(line, style="bold" if isinstance(line, Heading) else "")
    return text


class QuitScreen(ModalScreen[str]):
    """Quit with deletions pending: ``"commit"``, ``"leave"`` or ``"cancel"``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "y,c",
            "answer('commit')",
            "Commit",
            id="quit.commit",
            tooltip="Delete the marked messages, then quit",
        ),
        Binding(
            "n,l",
            "answer('leave')",
            "Leave on server",
            id="quit.leave",
            tooltip="Quit without deleting anything",
        ),
        Binding(
            "escape", "answer('cancel')", "Cancel", id="quit.cancel", tooltip="Back to the mailbox"
        ),
    ]

    def __init__(self, pending: int, groups: str = "") -> None:
        super().__init__(classes="dialog")
        self.pending = pending
        self.groups = groups
        """Who marked them, e.g. "spam 30, marked by you 3" (plain text; "" for none)."""

    def compose(self) -> ComposeResult:
        noun = "message is" if self.pending == 1 else "messages are"
        groups = f" ({self.groups})" if self.groups else ""
        with Vertical(classes="dialog-box"):
            yield Label(Text("Quit popview?"), classes="dialog-title")
            yield Static(
                Text(
                    f"{self.pending:,} {noun} marked for deletion{groups}. Commit deletes them "
                    "on the server; leave on server quits and keeps every message."
                ),
                classes="dialog-body",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Commit and quit (y)", id="commit", variant="error")
                yield Button("Leave on server (n)", id="leave", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")

    # Textual focuses this when the screen is shown; unlike a query in on_mount it
    # does not raise when the app tears the screen down mid-mount (e.g. on a crash).
    AUTO_FOCUS = "#cancel"

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")

    def action_answer(self, answer: str) -> None:
        self.dismiss(answer)


class ErrorScreen(ModalScreen[None]):
    """Show an error (title and one or two sentences) until dismissed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", id="error.close", tooltip="Close this message"),
    ]

    def __init__(self, title: str, message: str) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box error-box"):
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Static(Text(self.message), classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary")

    # Textual focuses this when the screen is shown; unlike a query in on_mount it
    # does not raise when the app tears the screen down mid-mount (e.g. on a crash).
    AUTO_FOCUS = "#ok"

    @on(Button.Pressed)
    def pressed(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


class PathScreen(ModalScreen[str]):
    """Ask for a file path (save a message or an attachment); ``""`` cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="path.cancel", tooltip="Do not save"),
    ]

    def __init__(self, title: str, default: str) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Input(value=self.default, id="path")
            yield Static(
                Text("Enter saves, Esc cancels. Existing files are not overwritten."),
                classes="dialog-hint",
            )

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss("")


class PasswordScreen(ModalScreen[str]):
    """Ask for the password alone (``popview -a NAME`` when no source has it).

    Dismisses with the typed password, or ``""`` when the user wants the full
    login form instead (Esc).

    Args:
        title: Whose password, e.g. "Password for bob@pop.example.com".
        note: Why it is asked (a failed ``password_command``, a refused
            password), shown under the field; ``None`` for nothing.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Login form", id="password.cancel", tooltip="Show the form"),
    ]

    def __init__(self, title: str, note: str | None = None) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Input(password=True, placeholder="password", id="prompt-password")
            if self.note:
                yield Static(Text(self.note), classes="dialog-error", id="prompt-note")
            yield Static(
                Text("Enter logs in, Esc shows the whole login form."), classes="dialog-hint"
            )

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        if event.value:
            self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss("")


class SaveMessageScreen(ModalScreen[SaveTarget | None]):
    """Save the whole message: as a new .eml, appended to an mbox, or into a Maildir.

    Dismisses with a :class:`~popview.ui.files.SaveTarget`, or ``None`` (Esc).

    Args:
        save_dir: The configured save folder; each kind proposes a path in it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="save.cancel", tooltip="Do not save"),
    ]

    def __init__(self, save_dir: Path) -> None:
        super().__init__(classes="dialog")
        self.save_dir = save_dir
        self.kind: SaveKind = "eml"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(Text("Save the whole message"), classes="dialog-title")
            yield OptionList(
                *(Option(Text(label), id=kind) for kind, label in SAVE_KINDS), id="save-kind"
            )
            yield Label(Text("Where (a folder for .eml, a file for mbox, a folder for Maildir)"))
            yield Input(value=str(default_target("eml", self.save_dir)), id="save-path")
            yield Static(
                Text(
                    "Up/Down pick the format, Tab moves to the path, Enter saves. "
                    "Files are created private (0600) and never overwritten."
                ),
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        kinds = self.query_one("#save-kind", OptionList)
        kinds.highlighted = 0
        kinds.focus()

    @on(OptionList.OptionHighlighted, "#save-kind")
    def kind_changed(self, event: OptionList.OptionHighlighted) -> None:
        """The highlighted format is the chosen one (no separate Space to pick it)."""
        field = self.query_one("#save-path", Input)
        previous = str(default_target(self.kind, self.save_dir))
        self.kind = SAVE_KINDS[event.option_index][0]
        if field.value.strip() in {"", previous}:
            field.value = str(default_target(self.kind, self.save_dir))

    @on(OptionList.OptionSelected, "#save-kind")
    def kind_chosen(self) -> None:
        """Enter on the format list saves, as the hint says."""
        self._save(self.query_one("#save-path", Input).value)

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self._save(event.value)

    def _save(self, path: str) -> None:
        value = path.strip()
        self.dismiss(SaveTarget(self.kind, Path(value)) if value else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
