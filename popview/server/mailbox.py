"""Mail stores the embedded server can serve: in memory, or a Maildir on disk.

A :class:`Mailbox` hands the server a snapshot of its messages when a session
logs in (RFC 1939 §4: the maildrop is locked and its state fixed for the
session) and removes the messages a session marked when it QUITs (RFC 1939
§6, the UPDATE state). Nothing else ever removes a message.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Mailbox", "MaildirMailbox", "MemoryMailbox", "StoredMessage"]

# RFC 1939 §7: a unique-id is 1 to 70 characters in the range 0x21 to 0x7E.
_VALID_UID = re.compile(r"[\x21-\x7e]{1,70}")


@dataclass(frozen=True)
class StoredMessage:
    """One message as a mailbox holds it.

    Attributes:
        key: The mailbox's own handle for the message (an index, a path...),
            given back to :meth:`Mailbox.expunge`.
        uid: The unique-id served by UIDL.
        data: The raw message bytes, line endings as stored.
    """

    key: object
    uid: str
    data: bytes


class Mailbox(ABC):
    """What the server needs from a mail store."""

    @property
    @abstractmethod
    def lock_key(self) -> str:
        """A name for the maildrop; two sessions cannot hold the same one."""

    @abstractmethod
    def load(self) -> list[StoredMessage]:
        """Return the messages, in the order they are numbered (1, 2, ...).

        Raises:
            OSError: The store cannot be read.
        """

    @abstractmethod
    def expunge(self, keys: Sequence[object]) -> None:
        """Remove the messages with these keys (RFC 1939 §6, UPDATE state).

        Raises:
            OSError: A message could not be removed.
        """


_lock_serial = itertools.count(1)


class MemoryMailbox(Mailbox):
    """Messages held in a list, for tests.

    Args:
        messages: Raw RFC 5322 messages. Bare LF line endings are fine: the
            server sends every message with CRLF.
        uids: UIDL values, one per message; default ``uid-0001``,
            ``uid-0002``... They are served as given, even invalid ones (for
            testing a client against a broken server).

    Attributes:
        deleted: UIDs of the messages removed at QUIT, in removal order.
        deleted_messages: The removed messages' bytes, same order.
    """

    def __init__(self, messages: Iterable[bytes] = (), uids: Iterable[str] | None = None) -> None:
        data = list(messages)
        if uids is None:
            uid_list = [f"uid-{n:04d}" for n in range(1, len(data) + 1)]
        else:
            uid_list = list(uids)
            if len(uid_list) != len(data):
                raise ValueError(f"{len(data)} messages but {len(uid_list)} uids")
        self._serial = itertools.count(1)
        self._items: list[StoredMessage] = [
            StoredMessage(next(self._serial), uid, msg)
            for uid, msg in zip(uid_list, data, strict=True)
        ]
        self._next_uid = len(data) + 1
        self._lock_key = f"memory:{next(_lock_serial)}"
        self.deleted: list[str] = []
        self.deleted_messages: list[bytes] = []

    @property
    def messages(self) -> list[bytes]:
        """The messages still in the mailbox (a copy), in order."""
        return [item.data for item in self._items]

    @property
    def uids(self) -> list[str]:
        """The UIDs of the messages still in the mailbox, in order."""
        return [item.uid for item in self._items]

    def add(self, message: bytes, uid: str | None = None) -> str:
        """Deliver a new message; sessions that log in later will see it.

        Returns:
            The message's UID.
        """
        if uid is None:
            uid = f"uid-{self._next_uid:04d}"
            self._next_uid += 1
        self._items.append(StoredMessage(next(self._serial), uid, message))
        return uid

    @property
    def lock_key(self) -> str:
        """A name unique to this mailbox object."""
        return self._lock_key

    def load(self) -> list[StoredMessage]:
        """Return a snapshot of the messages."""
        return list(self._items)

    def expunge(self, keys: Sequence[object]) -> None:
        """Remove the messages with these keys."""
        gone = set(keys)
        kept: list[StoredMessage] = []
        for item in self._items:
            if item.key in gone:
                self.deleted.append(item.uid)
                self.deleted_messages.append(item.data)
            else:
                kept.append(item)
        self._items = kept


class MaildirMailbox(Mailbox):
    """A Maildir directory: messages are the files in ``new/`` and ``cur/``.

    Messages are numbered in file-name order (Maildir names start with the
    delivery time). The UID is the file name without its ``:2,...`` info
    suffix, or a SHA-1 of it when that is not a valid RFC 1939 unique-id.
    Files are only ever removed at QUIT.

    Args:
        path: The Maildir (the directory holding ``new/``, ``cur/``, ``tmp/``).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @property
    def lock_key(self) -> str:
        """The Maildir's resolved path."""
        return f"maildir:{self.path.resolve()}"

    def load(self) -> list[StoredMessage]:
        """Read every message file.

        Raises:
            OSError: The Maildir is missing or unreadable.
        """
        if not self.path.is_dir():
            raise FileNotFoundError(f"not a Maildir: {self.path}")
        files: list[Path] = []
        for sub in ("new", "cur"):
            folder = self.path / sub
            if folder.is_dir():
                files.extend(
                    p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                )
        files.sort(key=lambda p: (p.name, p.parent.name))
        return [StoredMessage(path, _maildir_uid(path.name), path.read_bytes()) for path in files]

    def expunge(self, keys: Sequence[object]) -> None:
        """Unlink the message files; one already gone is not an error."""
        for key in keys:
            if isinstance(key, Path):
                key.unlink(missing_ok=True)


def _maildir_uid(name: str) -> str:
    base = name.split(":", 1)[0]
    if _VALID_UID.fullmatch(base):
        return base
    return hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest()  # noqa: S324
