"""Cached envelopes, message bodies and last-seen UIDs, keyed by (account, UIDL).

An envelope entry keeps the raw ``TOP n 0`` header block and the LIST size,
so a caller can re-parse it with whatever envelope code it has, plus an
optional JSON object the caller built from it (for example the parsed
envelope's fields), so a warm start need not parse again.

A message body is stored only when it is known to be whole: its byte count
equals the LIST size, or the caller says it saw the terminating ``.`` line
(RFC 1939 §3). A partial message (EOF mid-RETR) is never cached
(HARDENING E.52).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from popview.errors import StoreError, printable
from popview.store.db import Database

__all__ = ["MAX_BODY_BYTES", "MAX_HEADER_BYTES", "CachedEnvelope", "MailCache"]

MAX_BODY_BYTES = 50 * 1024 * 1024
"""Default cap on one cached message body; larger messages are fetched each time."""

MAX_HEADER_BYTES = 4 * 1024 * 1024
"""Cap on one cached header block; a larger one is not cached."""


@dataclass(frozen=True)
class CachedEnvelope:
    """One message's header block as the cache keeps it."""

    uid: str
    """The server's UIDL for the message."""
    size: int
    """The message size from LIST, in octets."""
    headers: bytes
    """The raw header block (the ``TOP n 0`` reply, unstuffed)."""
    payload: dict[str, Any] | None = None
    """A JSON object the caller stored with it (for example parsed fields), or ``None``."""


class MailCache:
    """Envelopes, bodies and last-seen UIDs of every account in one database.

    Args:
        database: The open database.
        max_body_bytes: Bodies larger than this are not stored.
    """

    def __init__(self, database: Database, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._db = database
        self.max_body_bytes = max_body_bytes
        """Bodies larger than this many bytes are not stored."""

    # -- envelopes ---------------------------------------------------------

    def put_envelopes(self, account: str, envelopes: Iterable[CachedEnvelope]) -> int:
        """Store (or replace) envelopes, all in one transaction.

        Header blocks over :data:`MAX_HEADER_BYTES` are skipped.

        Args:
            account: The account key, ``"user@host:port"``.
            envelopes: The envelopes to store.

        Returns:
            How many were stored.

        Raises:
            StoreError: A payload is not JSON-serialisable, or sqlite failed.
        """
        now = time.time()
        rows = []
        for envelope in envelopes:
            if len(envelope.headers) > MAX_HEADER_BYTES:
                continue
            rows.append(
                (
                    account,
                    envelope.uid,
                    _size(envelope.size),
                    bytes(envelope.headers),
                    _encode_payload(envelope),
                    now,
                )
            )
        with self._db.transaction() as connection:
            connection.executemany(
                "INSERT OR REPLACE INTO envelopes"
                " (account, uid, size, headers, payload, stored_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def newest_envelopes(self, account: str, count: int) -> dict[str, CachedEnvelope]:
        """The ``count`` cached envelopes of ``account`` with the latest Date, read
        without decoding every payload: a screenful to show before the rest.

        The order is the payloads' ISO dates compared as text (exact for one UTC
        offset, close otherwise; a row without a date comes last): the list
        sorts them properly once they are shown.
        """
        rows = self._db.fetch(
            "SELECT uid, size, headers, payload FROM envelopes WHERE account = ? "
            "ORDER BY CASE WHEN json_valid(payload) THEN json_extract(payload, '$.d') END "
            "DESC LIMIT ?",
            (account, count),
        )
        return {
            uid: CachedEnvelope(uid, size, headers, _decode_payload(payload))
            for uid, size, headers, payload in rows
        }

    def get_envelopes(
        self, account: str, sizes: Mapping[str, int] | None = None
    ) -> dict[str, CachedEnvelope]:
        """Return the cached envelopes of ``account`` by UID.

        Args:
            account: The account key.
            sizes: The server's current ``{uid: LIST size}``. When given, only
                envelopes whose UID is in it *with the same size* are returned:
                a size change means the UIDL now names other content.

        Returns:
            ``{uid: CachedEnvelope}``.
        """
        rows = self._db.fetch(
            "SELECT uid, size, headers, payload FROM envelopes WHERE account = ?", (account,)
        )
        found: dict[str, CachedEnvelope] = {}
        for uid, size, headers, payload in rows:
            if sizes is not None and sizes.get(uid) != size:
                continue
            found[uid] = CachedEnvelope(uid, size, headers, _decode_payload(payload))
        return found

    def get_payloads(self, account: str) -> dict[str, tuple[int, dict[str, Any] | None]]:
        """Return ``{uid: (size, payload)}`` of every cached envelope of ``account``:
        what a warm listing needs, without the header blocks (read those with
        :meth:`get_envelopes` for the entries whose payload does not do)."""
        rows = self._db.fetch(
            "SELECT uid, size, payload FROM envelopes WHERE account = ?", (account,)
        )
        return {uid: (size, _decode_payload(payload)) for uid, size, payload in rows}

    # -- bodies --------------------------------------------------------------

    def put_body(
        self,
        account: str,
        uid: str,
        data: bytes,
        *,
        list_size: int | None = None,
        complete: bool = False,
    ) -> bool:
        """Store a message body if it is known to be whole and under the cap.

        Args:
            account: The account key.
            uid: The message's UIDL.
            data: The message bytes.
            list_size: The size LIST gave for the message.
            complete: The caller saw the RETR's terminating ``.`` line, so the
                message is whole even if LIST counted line endings differently
                (HARDENING A.14).

        Returns:
            ``True`` if stored; ``False`` if it may be partial or is too large.
        """
        whole = complete or (list_size is not None and len(data) == list_size)
        if not whole or len(data) > self.max_body_bytes:
            return False
        with self._db.transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO bodies (account, uid, size, data, stored_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (account, uid, len(data), bytes(data), time.time()),
            )
        return True

    def get_body(self, account: str, uid: str) -> bytes | None:
        """Return the cached body of ``uid``, or ``None``."""
        rows = self._db.fetch(
            "SELECT data FROM bodies WHERE account = ? AND uid = ?", (account, uid)
        )
        return bytes(rows[0][0]) if rows else None

    # -- last visit ------------------------------------------------------------

    def seen_uids(self, account: str) -> frozenset[str]:
        """Return the UIDs present at the last :meth:`set_seen_uids` ("new since last visit")."""
        rows = self._db.fetch("SELECT uid FROM seen WHERE account = ?", (account,))
        return frozenset(uid for (uid,) in rows)

    def set_seen_uids(self, account: str, uids: Iterable[str]) -> None:
        """Replace the remembered UIDs of ``account`` with ``uids``."""
        keys = [(account, uid) for uid in set(uids)]
        with self._db.transaction() as connection:
            connection.execute("DELETE FROM seen WHERE account = ?", (account,))
            connection.executemany("INSERT INTO seen (account, uid) VALUES (?, ?)", keys)

    # -- upkeep -------------------------------------------------------------------

    def prune(
        self,
        account: str,
        present_uids: Collection[str],
        *,
        cached_uids: Collection[str] | None = None,
    ) -> int:
        """Remove envelopes, bodies and seen-UIDs whose UIDL left the server.

        The deletion journal is left alone: the session resolves its entries
        (and tells the user about marks whose message vanished).

        Args:
            account: The account key.
            present_uids: Every UIDL the server lists now.
            cached_uids: Every envelope UID of ``account`` the caller read from
                this cache during its listing (its read ahead), if it has them:
                the envelopes to remove are then those of these not present,
                found without reading the envelope table again (a scan of
                every cached header block: 15 ms of a warm start of 10,000).
                An envelope stored after that read was stored for a message
                listed by then, and is left to the next prune.

        Returns:
            How many envelopes and bodies were removed.
        """

        present = present_uids if isinstance(present_uids, set | frozenset) else set(present_uids)

        def work(connection: sqlite3.Connection) -> int:
            # The UIDs are compared here rather than in SQL: a warm start usually
            # has nothing to remove, and then nothing is written at all (a temp
            # table of 10,000 UIDs and four DELETE scans cost 50 ms per start).
            removed = 0
            for table in ("envelopes", "bodies", "seen", "read_messages"):
                if table == "envelopes" and cached_uids is not None:
                    gone = [(account, uid) for uid in set(cached_uids).difference(present)]
                else:
                    # The table name is one of the literals above.
                    query = f"SELECT uid FROM {table} WHERE account = ?"  # noqa: S608
                    gone = [
                        (account, uid)
                        for (uid,) in connection.execute(query, (account,))
                        if uid not in present
                    ]
                if not gone:
                    continue
                cursor = connection.executemany(
                    f"DELETE FROM {table} WHERE account = ? AND uid = ?",  # noqa: S608
                    gone,
                )
                if table in ("envelopes", "bodies"):
                    removed += cursor.rowcount
            return removed

        result: int = self._db.run(work)
        return result

    def clear(self, account: str) -> None:
        """Forget every envelope, body and seen-UID of ``account`` (not its journal or pins)."""
        with self._db.transaction() as connection:
            for table in ("envelopes", "bodies", "seen"):
                connection.execute(
                    f"DELETE FROM {table} WHERE account = ?",  # noqa: S608
                    (account,),
                )


def _size(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StoreError(f"An envelope size must be a non-negative integer (got {value!r}).")
    # sqlite INTEGER is 64-bit signed; a hostile LIST size of 2**63 must not
    # overflow it (HARDENING A.14). Such a size never matches real content.
    return min(value, 2**63 - 1)


def _encode_payload(envelope: CachedEnvelope) -> str | None:
    if envelope.payload is None:
        return None
    try:
        return json.dumps(envelope.payload, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"The envelope of message {printable(envelope.uid, 80)} cannot be cached: "
            f"its payload is not JSON ({exc})."
        ) from exc


def _decode_payload(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        # The C scanner straight away (json.loads adds three Python calls per
        # row: 10,000 rows per warm start); anything but one value filling
        # the whole text is left to json.loads, which decides as before.
        value, end = _SCAN(text, 0)
        if end != len(text):
            value = json.loads(text)
    except (ValueError, StopIteration):
        try:
            value = json.loads(text)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


_SCAN: Callable[[str, int], tuple[Any, int]] = vars(json.JSONDecoder())["scan_once"]
"""The scanner json.loads runs (C), set by JSONDecoder.__init__."""
