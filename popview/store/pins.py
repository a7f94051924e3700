"""Pinned certificate fingerprints, per account and host (trust on first use).

The store keeps the fingerprint text as given; compare pins with
:func:`popview.pop3.tls.normalize_fingerprint`, which accepts every form.
"""

from __future__ import annotations

import time

from popview.store.db import Database

__all__ = ["CertificatePins"]


class CertificatePins:
    """SHA-256 fingerprints the user chose to trust.

    Args:
        database: The open database.
    """

    def __init__(self, database: Database) -> None:
        self._db = database

    def pinned(self, account: str, host: str) -> str | None:
        """Return the fingerprint pinned for ``host`` in ``account``, or ``None``."""
        rows = self._db.fetch(
            "SELECT fingerprint FROM pins WHERE account = ? AND host = ?", (account, host)
        )
        return str(rows[0][0]) if rows else None

    def pin(self, account: str, host: str, fingerprint: str) -> None:
        """Trust ``fingerprint`` for ``host`` in ``account`` (replacing any earlier pin)."""
        with self._db.transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO pins (account, host, fingerprint, pinned_at)"
                " VALUES (?, ?, ?, ?)",
                (account, host, fingerprint, time.time()),
            )
