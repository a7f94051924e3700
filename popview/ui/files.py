"""Writing what the viewer shows to disk: the whole message, and attachments to open.

Every file goes through :mod:`popview.mail.save`, so it is created 0600 (its
directory 0700), atomically, and never overwrites anything. Opening an
attachment with the system's handler (``xdg-open`` on Linux, ``open`` on macOS,
or the command in ``POPVIEW_OPENER``) happens only after the user asked for it
and confirmed; the file is first written to a private temporary folder that
popview removes when it exits.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from popview.mail.save import append_mbox, deliver_maildir, save_attachment, save_eml

if TYPE_CHECKING:
    from popview.mail.model import Attachment

__all__ = [
    "OPENER_ENV",
    "SAVE_KINDS",
    "AttachmentOpener",
    "SaveKind",
    "SaveTarget",
    "opener_command",
    "save_message",
]

OPENER_ENV = "POPVIEW_OPENER"
"""Environment variable naming the command that opens a file (tests point it at a script)."""

SaveKind = Literal["eml", "mbox", "maildir"]

#: The ways to save a whole message, with the label the dialog shows.
SAVE_KINDS: tuple[tuple[SaveKind, str], ...] = (
    ("eml", "A new .eml file in a folder"),
    ("mbox", "Appended to an mbox file"),
    ("maildir", "Delivered into a Maildir"),
)


@dataclass(frozen=True)
class SaveTarget:
    """Where the user chose to save a message."""

    kind: SaveKind
    path: Path


def default_target(kind: SaveKind, save_dir: Path) -> Path:
    """The path the save dialog proposes for ``kind``."""
    if kind == "mbox":
        return save_dir / "popview.mbox"
    if kind == "maildir":
        return save_dir / "Maildir"
    return save_dir


def save_message(
    target: SaveTarget, raw: bytes, *, subject: str, sender: str, when: datetime | None
) -> Path:
    """Write the raw message as ``target`` says; return the file written.

    Raises:
        OSError: The file or its folder cannot be written.
    """
    path = target.path.expanduser()
    if target.kind == "mbox":
        append_mbox(raw, path, sender=sender or "MAILER-DAEMON", when=when)
        return path
    if target.kind == "maildir":
        return deliver_maildir(raw, path)
    return save_eml(raw, path, subject)


def opener_command(environ: dict[str, str] | None = None) -> list[str]:
    """The command that opens a file with the user's default program.

    ``POPVIEW_OPENER`` (split like a shell would, never run by one) wins;
    otherwise ``open`` on macOS and ``xdg-open`` elsewhere.
    """
    env = os.environ if environ is None else environ
    override = env.get(OPENER_ENV, "").strip()
    if override:
        return shlex.split(override)
    return ["open"] if sys.platform == "darwin" else ["xdg-open"]


class AttachmentOpener:
    """Saves attachments to one private temporary folder and opens them.

    The folder (0700, from :func:`tempfile.mkdtemp`) is made on first use and
    removed by :meth:`cleanup` when the app exits.
    """

    def __init__(self) -> None:
        self._folder: Path | None = None

    @property
    def folder(self) -> Path:
        """The private folder (created on first use)."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="popview-open-"))
        return self._folder

    def open(self, attachment: Attachment) -> Path:
        """Write ``attachment`` 0600 into the private folder, then start the opener on it.

        The opener runs in its own session with no terminal I/O (it must not
        draw over the app); a thread reaps it.

        Raises:
            OSError: The file cannot be written, or the opener cannot be started
                (``FileNotFoundError`` when it is not installed).
        """
        path = save_attachment(attachment, self.folder)
        process = subprocess.Popen(  # noqa: S603 - argv from the user's setting, no shell
            [*opener_command(), str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        threading.Thread(target=process.wait, name="popview-opener", daemon=True).start()
        return path

    def cleanup(self) -> None:
        """Remove the private folder and what was opened from it."""
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
