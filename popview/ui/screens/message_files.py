"""The viewer's file actions: save the message or an attachment, open an attachment.

Each action asks first (a folder, a save format, or a confirmation naming the
program that will open the file) and reports the outcome as a notification;
the writing itself is in :mod:`popview.ui.files` (0600, atomic, never
overwriting). A file from mail is opened only after the user confirmed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from popview.mail.save import save_attachment
from popview.ui.files import SaveTarget, opener_command, save_message
from popview.ui.screens.dialogs import ConfirmScreen, PathScreen, SaveMessageScreen
from popview.ui.widgets.formatting import human_size, single_line

if TYPE_CHECKING:
    from popview.mail.message import ParsedMessage
    from popview.mail.model import Attachment
    from popview.ui.app import PopviewApp

__all__ = ["ask_open_attachment", "ask_save_attachment", "ask_save_message"]


def ask_save_attachment(app: PopviewApp, attachment: Attachment) -> None:
    """Ask for a folder (default: the save folder), then save ``attachment`` there."""

    def save_to(answer: str | None) -> None:
        if answer:
            _saved(app, lambda: save_attachment(attachment, Path(answer).expanduser()))

    app.push_screen(PathScreen(f"Save {attachment.filename} in folder", str(app.save_dir)), save_to)


def ask_save_message(app: PopviewApp, parsed: ParsedMessage, sender: str) -> None:
    """Ask where and how (.eml, mbox, Maildir), then save the whole message."""

    def save_to(target: SaveTarget | None) -> None:
        if target is not None:
            _saved(
                app,
                lambda: save_message(
                    target, parsed.raw, subject=parsed.subject, sender=sender, when=parsed.date
                ),
            )

    app.push_screen(SaveMessageScreen(app.save_dir), save_to)


def ask_open_attachment(app: PopviewApp, attachment: Attachment) -> None:
    """Say which program will open ``attachment`` and open it only on a yes."""
    command = " ".join(opener_command())
    name = single_line(attachment.filename, 120)

    def answered(yes: bool | None) -> None:
        if yes:
            _opened(app, attachment)

    app.push_screen(
        ConfirmScreen(
            f"Open {name} with {single_line(command, 60)}?",
            [
                f"{attachment.content_type}, {human_size(attachment.size)}",
                "",
                "It is first saved to a private folder (only you can read it), which "
                "popview removes when it exits.",
                "A file from mail can be harmful: open it only if you expected it.",
            ],
            yes="Open",
        ),
        answered,
    )


def _opened(app: PopviewApp, attachment: Attachment) -> None:
    try:
        path = app.opener.open(attachment)
    except FileNotFoundError:
        app.notify(
            f"No program to open files ({' '.join(opener_command())} is not installed). "
            "Save the attachment with s instead, or set POPVIEW_OPENER.",
            title="Cannot open",
            severity="error",
            markup=False,
        )
        return
    except OSError as error:
        _notify_os_error(app, "open", "Cannot open", error)
        return
    app.notify(f"Opened {path.name}", title="Opened", markup=False)


def _saved(app: PopviewApp, write: Callable[[], Path]) -> None:
    try:
        path = write()
    except OSError as error:
        _notify_os_error(app, "save", "Save failed", error)
        return
    app.notify(f"Saved {path}", title="Saved", markup=False)


def _notify_os_error(app: PopviewApp, verb: str, title: str, error: OSError) -> None:
    """Say why a file could not be opened or saved, in one line (the OS's own words)."""
    app.notify(
        f"Could not {verb}: {single_line(str(error.strerror or error), 200)}.",
        title=title,
        severity="error",
        markup=False,
    )
