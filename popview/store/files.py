"""Private files and directories: created 0600/0700 in one step, written atomically.

Every file popview writes goes through here (HARDENING C.32, CVE-2005-3088).
The mode is given to ``open(2)``/``mkdir(2)`` at creation, so there is no
moment where the file exists with wider permissions and is later narrowed
with ``chmod``: a umask can only remove bits from ``0o600``/``0o700``, never
add them. Content is written to a fresh ``0600`` temporary file in the same
directory, flushed to disk and renamed over the target, so a reader sees the
old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from popview.errors import StoreError

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "create_private_file",
    "ensure_private_dir",
    "write_private_file",
]

PRIVATE_FILE_MODE = 0o600
"""Mode of every file popview creates: read/write for the owner only."""

PRIVATE_DIR_MODE = 0o700
"""Mode of every directory popview creates: the owner only."""

# O_NOFOLLOW: never write through a symlink someone planted at the target name.
# O_EXCL: fail instead of opening a file that already exists (with unknown mode).
_CREATE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def ensure_private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and missing parents) with mode 0700, or check the existing one.

    A directory that already exists must belong to the current user. If it is
    open to group or others it is narrowed to 0700: it is ours, and nothing
    of ours should be readable through it.

    Args:
        path: The directory.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        StoreError: The path exists and is not a directory, belongs to another
            user, or cannot be created.
    """
    directory = Path(path)
    try:
        _make_dirs(directory)
        info = directory.stat()
    except OSError as exc:
        raise StoreError(
            f"Cannot create the directory {directory}: {exc.strerror or exc}. "
            "Check that its parent exists and is writable."
        ) from exc
    if not stat.S_ISDIR(info.st_mode):
        raise StoreError(
            f"{directory} exists but is not a directory. Move it away or pick another."
        )
    if info.st_uid != os.geteuid():
        raise StoreError(
            f"The directory {directory} belongs to another user (uid {info.st_uid}). "
            "popview keeps private data there, so it must be yours: pick another directory."
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        # An existing directory of ours that is too open: narrowing it takes
        # nothing away from anyone but others, and it holds no file yet that
        # popview created with wider modes.
        try:
            directory.chmod(PRIVATE_DIR_MODE)
        except OSError as exc:
            raise StoreError(
                f"The directory {directory} is readable by others and cannot be "
                f"made private: {exc.strerror or exc}."
            ) from exc
    return directory


def _make_dirs(directory: Path) -> None:
    """``mkdir -p`` where every directory created (parents too) gets mode 0700.

    ``Path.mkdir(parents=True)`` would create the parents with the umask's
    default (0755 under umask 022); popview's parents are made private too.
    """
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for new_dir in reversed(missing):
        # FileExistsError: another process made it meanwhile; it is checked below.
        with contextlib.suppress(FileExistsError):
            os.mkdir(new_dir, PRIVATE_DIR_MODE)


def create_private_file(path: str | os.PathLike[str]) -> bool:
    """Create ``path`` as an empty 0600 file unless it already exists.

    Uses ``O_CREAT | O_EXCL | O_NOFOLLOW`` with mode 0600, so the file is
    private from its first instant and a symlink at ``path`` is never followed.

    Args:
        path: The file to create. Its directory must exist.

    Returns:
        ``True`` if the file was created, ``False`` if it already existed.

    Raises:
        StoreError: The file could not be created for another reason.
    """
    try:
        fd = os.open(path, _CREATE_FLAGS, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    except OSError as exc:
        raise StoreError(f"Cannot create {os.fspath(path)}: {exc.strerror or exc}.") from exc
    os.close(fd)
    return True


def write_private_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` atomically with ``data``, as a 0600 file.

    Writes to a new 0600 temporary file in the same directory (created with
    ``O_EXCL``), ``fsync`` s it, renames it over ``path`` and ``fsync`` s the
    directory. A crash leaves either the old content or the new, never a mix
    and never a file readable by others.

    Args:
        path: The file to write. Its directory must exist (see
            :func:`ensure_private_dir`).
        data: The complete new content.

    Raises:
        StoreError: The file could not be written.
    """
    target = Path(path)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(temp, _CREATE_FLAGS, PRIVATE_FILE_MODE)
    except OSError as exc:
        raise StoreError(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise StoreError(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: not every OS allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
