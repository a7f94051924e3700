"""The local store: a private sqlite database of envelopes, bodies, marks and pins.

Open it with :meth:`Store.open` and use its parts::

    with Store.open() as store:
        store.cache.put_envelopes("bob@mail.example:995", envelopes)
        store.journal.mark("bob@mail.example:995", uid)
        store.pins.pinned("bob@mail.example:995", "mail.example")
        store.read.set_read("bob@mail.example:995", [uid])

Everything is keyed by the account key ``"user@host:port"`` and the server's
UIDL. The directory is 0700 and every file in it 0600 from creation on
(:mod:`popview.store.files`).
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path

from platformdirs import user_cache_path

from popview.store.cache import MAX_BODY_BYTES, CachedEnvelope, MailCache
from popview.store.db import DB_FILENAME, Database
from popview.store.journal import DeletionJournal, JournalEntry, JournalState
from popview.store.pins import CertificatePins
from popview.store.read import ReadState
from popview.store.servers import ServerMemory, ServerNotes

__all__ = [
    "CACHE_DIR_ENV",
    "DB_FILENAME",
    "CachedEnvelope",
    "CertificatePins",
    "DeletionJournal",
    "JournalEntry",
    "JournalState",
    "MailCache",
    "ReadState",
    "ServerMemory",
    "ServerNotes",
    "Store",
    "default_cache_dir",
]

CACHE_DIR_ENV = "POPVIEW_CACHE_DIR"
"""Environment variable naming the cache directory (tests use it)."""


def default_cache_dir() -> Path:
    """Return ``$POPVIEW_CACHE_DIR`` if set, else the platform cache directory."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return user_cache_path("popview", appauthor=False)


class Store(AbstractContextManager["Store"]):
    """The open store; close it (or use ``with``) when done.

    Attributes:
        cache: Envelopes, bodies and last-seen UIDs.
        journal: The deletion journal.
        pins: Pinned certificate fingerprints.
        read: Which messages the user has read (POP3 has no flags).
        servers: What each account's server said about itself.
    """

    def __init__(self, database: Database, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._db = database
        self.cache = MailCache(database, max_body_bytes=max_body_bytes)
        self.journal = DeletionJournal(database)
        self.pins = CertificatePins(database)
        self.read = ReadState(database)
        self.servers = ServerMemory(database)

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str] | None = None,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> Store:
        """Open the store in ``directory`` (default: :func:`default_cache_dir`).

        The directory is created 0700 and the database 0600 if missing.

        Args:
            directory: Where the database lives (the config's
                ``general.cache_dir``); ``None`` for the default.
            max_body_bytes: Bodies larger than this are not cached.

        Raises:
            StoreError: The store cannot be opened; the message says why and
                what to do.
        """
        folder = Path(directory).expanduser() if directory is not None else default_cache_dir()
        return cls(Database.open(folder), max_body_bytes=max_body_bytes)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._db.path

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __exit__(self, *_exc_info: object) -> None:
        self.close()
