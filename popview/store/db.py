"""The sqlite database behind the store: opening it privately, its schema, transactions.

The database file is created empty with mode 0600 (``O_CREAT | O_EXCL``)
*before* sqlite opens it, inside a 0700 directory. sqlite creates its side
files (``-wal``, ``-shm``, ``-journal``) with the permissions of the database
file they belong to (its unix VFS copies the main file's mode and owner), so
they are 0600 from their first instant too; the tests check this under
umask 022. WAL journaling is used so that a headless ``popview list`` can
read while the TUI writes.

Every sqlite error leaves this module as a :class:`popview.errors.StoreError`
saying which file and what to do.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from popview.errors import StoreError
from popview.store.files import PRIVATE_FILE_MODE, create_private_file, ensure_private_dir

__all__ = ["DB_FILENAME", "SCHEMA_VERSION", "Database"]

log = logging.getLogger(__name__)

DB_FILENAME = "popview.sqlite3"
"""Name of the database file inside the cache directory."""

SCHEMA_VERSION = 5
"""``PRAGMA user_version`` of the schema this code writes."""

_SIDE_SUFFIXES = ("-wal", "-shm", "-journal")

# Every table is keyed by (account, uid): account is "user@host:port", uid the
# server's UIDL. A UIDL is only ever a bound sqlite parameter, never part of a
# path (HARDENING A.13).
_SCHEMA_V1 = """
CREATE TABLE envelopes (
    account    TEXT NOT NULL,
    uid        TEXT NOT NULL,
    size       INTEGER NOT NULL,
    headers    BLOB NOT NULL,
    payload    TEXT,
    stored_at  REAL NOT NULL,
    PRIMARY KEY (account, uid)
) WITHOUT ROWID;

CREATE TABLE bodies (
    account    TEXT NOT NULL,
    uid        TEXT NOT NULL,
    size       INTEGER NOT NULL,
    data       BLOB NOT NULL,
    stored_at  REAL NOT NULL,
    PRIMARY KEY (account, uid)
);

CREATE TABLE journal (
    account    TEXT NOT NULL,
    uid        TEXT NOT NULL,
    marked_at  REAL NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'committed', 'unknown')),
    PRIMARY KEY (account, uid)
) WITHOUT ROWID;

CREATE TABLE pins (
    account     TEXT NOT NULL,
    host        TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    pinned_at   REAL NOT NULL,
    PRIMARY KEY (account, host)
) WITHOUT ROWID;

CREATE TABLE seen (
    account    TEXT NOT NULL,
    uid        TEXT NOT NULL,
    PRIMARY KEY (account, uid)
) WITHOUT ROWID;
"""

# v2: messages the user has read here (POP3 has no flags, RFC 1939 §1; kept
# locally by UIDL, as Thunderbird does). Absent means unread.
_SCHEMA_V2 = """
CREATE TABLE read_messages (
    account    TEXT NOT NULL,
    uid        TEXT NOT NULL,
    read_at    REAL NOT NULL,
    PRIMARY KEY (account, uid)
) WITHOUT ROWID;
"""

# v3: what a server said about itself, per account (popview.store.servers).
_SCHEMA_V3 = """
CREATE TABLE servers (
    account            TEXT NOT NULL PRIMARY KEY,
    greeting           TEXT NOT NULL,
    capa               TEXT,
    implementation     TEXT,
    pipelining_broken  INTEGER NOT NULL DEFAULT 0,
    seen_at            REAL NOT NULL
) WITHOUT ROWID;
"""

# v4: the name of the [[rules]] rule that made a mark (NULL: the user made it).
_SCHEMA_V4 = """
ALTER TABLE journal ADD COLUMN rule TEXT;
"""

# v5: no "sent" state any more. A DELE the server acknowledged is known only to the
# connection that sent it (the server forgets it when that connection ends), so
# the journal keeps intent alone; an older cache's "sent" marks are pending ones.
_SCHEMA_V5 = """
UPDATE journal SET state = 'pending' WHERE state = 'sent';
"""

# Index i upgrades user_version i to i + 1.
_MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1, _SCHEMA_V2, _SCHEMA_V3, _SCHEMA_V4, _SCHEMA_V5)


class Database:
    """One sqlite connection, serialised by a lock so any thread may use it.

    Use :meth:`open`; the store's parts (:mod:`popview.store.cache`,
    :mod:`popview.store.journal`, :mod:`popview.store.pins`) run their SQL
    through :meth:`transaction` and :meth:`fetch`.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection = connection
        self._lock = threading.RLock()
        self.path = path
        """The database file."""

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> Database:
        """Open (creating it privately if needed) the database in ``directory``.

        Args:
            directory: The cache directory; created 0700 if missing.

        Returns:
            The open database, schema up to date.

        Raises:
            StoreError: The directory or file is not private and cannot be
                made so, the file is damaged or from a newer popview, or
                sqlite fails.
        """
        folder = ensure_private_dir(directory)
        path = folder / DB_FILENAME
        if not create_private_file(path):
            _check_existing(path)
        try:
            connection = sqlite3.connect(
                path, timeout=5.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise _store_error(path, exc) from exc
        database = cls(connection, path)
        try:
            database._configure()
            database._migrate()
        except BaseException:
            connection.close()
            raise
        return database

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a block of statements atomically (``BEGIN IMMEDIATE`` … ``COMMIT``).

        Yields:
            The connection, to execute statements on.

        Raises:
            StoreError: Any sqlite error; the transaction is rolled back.
        """
        with self._lock:
            try:
                self._connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _store_error(self.path, exc) from exc
            try:
                yield self._connection
                self._connection.execute("COMMIT")
            except BaseException as exc:
                if self._connection.in_transaction:
                    self._connection.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _store_error(self.path, exc) from exc
                raise

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read query and return all rows.

        Raises:
            StoreError: Any sqlite error.
        """
        with self._lock:
            try:
                return self._connection.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _store_error(self.path, exc) from exc

    def run(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        """Call ``work(connection)`` inside :meth:`transaction` and return its result."""
        with self.transaction() as connection:
            return work(connection)

    def _configure(self) -> None:
        try:
            # WAL: readers do not block the writer (CLI and TUI at once). On a
            # filesystem without shared memory sqlite keeps its default
            # rollback journal, which is created with the same 0600 mode.
            self._connection.execute("PRAGMA journal_mode=WAL").fetchall()
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.execute("PRAGMA busy_timeout=5000")
            self._connection.execute("PRAGMA secure_delete=ON")
            # Anything temporary sqlite makes (sorts, indexes of a query) stays
            # in memory: no temp file in /tmp, whose mode would not be ours.
            self._connection.execute("PRAGMA temp_store=MEMORY")
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from exc

    def _migrate(self) -> None:
        version = self.fetch("PRAGMA user_version")[0][0]
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise StoreError(
                f"The cache {self.path} was written by a newer popview (schema {version}, "
                f"this one knows {SCHEMA_VERSION}). Upgrade popview, or pick another cache "
                "directory."
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            script = _MIGRATIONS[target - 1]
            with self.transaction() as connection:
                for statement in script.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                # PRAGMA takes no parameters; target is an int we chose.
                connection.execute(f"PRAGMA user_version = {int(target)}")
            log.info("cache %s upgraded to schema %d", self.path, target)


def _check_existing(path: Path) -> None:
    """Refuse a database file that is not a private regular file of ours."""
    try:
        info = path.lstat()
    except OSError as exc:
        raise StoreError(f"Cannot open the cache {path}: {exc.strerror or exc}.") from exc
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(
            f"The cache {path} is not a regular file (a symlink or device?). "
            "Remove it; popview will make a new one."
        )
    if info.st_uid != os.geteuid():
        raise StoreError(
            f"The cache {path} belongs to another user (uid {info.st_uid}). "
            "Remove it or pick another cache directory."
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        # Left by something else (a copy, an old version): narrow it and its
        # side files before sqlite copies its mode to new ones.
        log.warning("cache %s was readable by others; making it private", path)
        for candidate in (path, *(Path(f"{path}{suffix}") for suffix in _SIDE_SUFFIXES)):
            try:
                candidate.chmod(PRIVATE_FILE_MODE)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreError(
                    f"The cache {candidate} is readable by others and cannot be made "
                    f"private: {exc.strerror or exc}."
                ) from exc


def _store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """Turn a sqlite error into a StoreError that says what to do."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return StoreError(
            f"The cache {path} is busy (another popview is writing to it). Try again."
        )
    if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
        return StoreError(
            f"The cache {path} is damaged ({text}). Move it away and popview will "
            "make a new one; deletion marks recorded in it will be lost."
        )
    if isinstance(exc, sqlite3.OperationalError) and ("disk" in text or "full" in text):
        return StoreError(f"Cannot write the cache {path}: {text}. Free some disk space.")
    return StoreError(f"Cache error in {path}: {text}.")
