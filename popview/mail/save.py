"""Write attachments and messages to disk: 0600 files, no overwrite, atomically.

Every file is created with ``os.open(O_CREAT | O_EXCL, 0o600)``: it never
exists with wider permissions, not even for a moment, and an existing file
(or a symlink planted in its place) is never followed or replaced. A saved
file appears under its final name in one step: the bytes go to a temporary
name first and are then hard-linked into place (``link`` fails rather than
overwriting). Names always come from :func:`sanitize_filename`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from popview.mail.model import Attachment
from popview.sanitize import sanitize_filename

__all__ = [
    "append_mbox",
    "deliver_maildir",
    "save_all_attachments",
    "save_attachment",
    "save_bytes",
    "save_eml",
]

_MAX_SUFFIX = 1_000
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_MBOX_FROM = re.compile(rb"^(>*From )", re.MULTILINE)


def _ensure_dir(directory: Path) -> None:
    # Directories popview creates are 0700, parents included (Path.mkdir gives
    # missing parents the umask's mode); an existing one is used as it is.
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # created meanwhile: fine
            os.mkdir(path, 0o700)


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, _FILE_FLAGS, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def _candidates(name: str) -> Iterable[str]:
    yield name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    for n in range(1, _MAX_SUFFIX):
        yield f"{stem}-{n}{suffix}"


def save_bytes(data: bytes, directory: Path, name: str, *, unique: bool = True) -> Path:
    """Write ``data`` as a new 0600 file in ``directory``; never overwrites.

    Args:
        data: The bytes to write.
        directory: Target directory (created 0700 if missing).
        name: Wanted file name; it is sanitized again here.
        unique: Add ``-1``, ``-2``... when the name is taken. With ``False``
            an existing name raises :class:`FileExistsError`.

    Returns:
        The path written.

    Raises:
        FileExistsError: The name is taken (and ``unique`` is false), or no
            free name was found.
        OSError: The directory is not writable, the disk is full...
    """
    _ensure_dir(directory)
    safe = sanitize_filename(name)
    tmp = directory / f".popview-{secrets.token_hex(8)}.tmp"
    _write_new(tmp, data)
    try:
        for candidate in _candidates(safe) if unique else (safe,):
            target = directory / candidate
            try:
                os.link(tmp, target, follow_symlinks=False)
            except FileExistsError:
                continue
            except OSError:
                # No hard links on this filesystem: create the name directly.
                try:
                    _write_new(target, data)
                except FileExistsError:
                    continue
            return target
        raise FileExistsError(f"{safe} already exists in {directory}")
    finally:
        tmp.unlink(missing_ok=True)


def save_attachment(attachment: Attachment, directory: Path, *, unique: bool = True) -> Path:
    """Save one attachment under its sanitized name; see :func:`save_bytes`."""
    return save_bytes(attachment.data(), directory, attachment.filename, unique=unique)


def save_all_attachments(attachments: Iterable[Attachment], directory: Path) -> list[Path]:
    """Save every attachment, giving duplicates ``-1``, ``-2``... suffixes."""
    return [save_attachment(attachment, directory) for attachment in attachments]


def save_eml(raw: bytes, directory: Path, subject: str = "") -> Path:
    """Save the whole message as ``<subject>.eml`` (0600, never overwriting)."""
    name = sanitize_filename(subject, default="message")
    return save_bytes(raw, directory, f"{name[:100]}.eml")


def append_mbox(
    raw: bytes, path: Path, *, sender: str = "MAILER-DAEMON", when: datetime | None = None
) -> None:
    """Append the message to an mbox file (mboxrd quoting), creating it 0600.

    Args:
        raw: The message bytes.
        path: The mbox file.
        sender: Envelope sender for the ``From `` line.
        when: Date for the ``From `` line (now if ``None``).
    """
    _ensure_dir(path.parent)
    body = raw.replace(b"\r\n", b"\n")
    # mboxrd: every line starting with zero or more ">" then "From " gets one
    # more ">", so the reader can undo it exactly.
    body = _MBOX_FROM.sub(rb">\1", body)
    if not body.endswith(b"\n"):
        body += b"\n"
    stamp = (when or datetime.now(UTC)).strftime("%a %b %d %H:%M:%S %Y")
    safe_sender = re.sub(r"[^!-~]", "_", sender)[:200] or "MAILER-DAEMON"
    record = f"From {safe_sender} {stamp}\n".encode("ascii") + body + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, record)
        os.fsync(fd)
    finally:
        os.close(fd)


def deliver_maildir(raw: bytes, maildir: Path) -> Path:
    """Deliver the message into a Maildir: written to ``tmp/``, linked into ``new/``.

    Returns:
        The path of the message in ``new/``.
    """
    for sub in ("tmp", "new", "cur"):
        _ensure_dir(maildir / sub)
    host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:64] or "localhost"
    unique = f"{int(time.time())}.P{os.getpid()}R{secrets.token_hex(8)}.{host}"
    tmp = maildir / "tmp" / unique
    _write_new(tmp, raw)
    target = maildir / "new" / unique
    try:
        os.link(tmp, target, follow_symlinks=False)
    finally:
        tmp.unlink(missing_ok=True)
    return target
