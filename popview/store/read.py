"""Which messages the user has read, per account: POP3 keeps no flags, popview does.

RFC 1939 has no read/unread state, so popview keeps it locally by the message's
stable key (its UIDL), as Thunderbird does for POP3. A message without a
stable UIDL cannot be recognised on the next visit; the UI keeps its state in
memory only. Rows of messages that left the server are removed with the rest
of the cache (:meth:`popview.store.cache.MailCache.prune`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from popview.store.db import Database

__all__ = ["ReadState"]


class ReadState:
    """Read messages by (account, UIDL).

    Args:
        database: The open database.
    """

    def __init__(self, database: Database) -> None:
        self._db = database

    def read_uids(self, account: str) -> frozenset[str]:
        """Every UIDL of ``account`` the user has read."""
        rows = self._db.fetch("SELECT uid FROM read_messages WHERE account = ?", (account,))
        return frozenset(str(row[0]) for row in rows)

    def set_read(self, account: str, uids: Iterable[str], read: bool = True) -> None:
        """Record ``uids`` as read (or, with ``read=False``, as unread again)."""
        keys = [(account, uid) for uid in uids]
        with self._db.transaction() as connection:
            if read:
                now = time.time()
                connection.executemany(
                    "INSERT OR REPLACE INTO read_messages (account, uid, read_at) VALUES (?, ?, ?)",
                    [(account, uid, now) for account, uid in keys],
                )
            else:
                connection.executemany(
                    "DELETE FROM read_messages WHERE account = ? AND uid = ?", keys
                )
