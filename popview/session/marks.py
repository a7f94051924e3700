"""Pending deletions: the user's intent, kept by UIDL, apart from what the server knows.

RFC 1939 §5-6: ``DELE`` only marks a message; the server removes it at ``QUIT``
and forgets every mark if the connection ends any other way. So the intent lives
here and in the store's :class:`~popview.store.DeletionJournal` (written *before*
``DELE`` is sent), and :attr:`MarkBook.applied` tracks which marks the current
connection has received. After a reconnect ``applied`` is empty and every mark is
resolved again by UIDL. Session-only keys (no stable UIDL) are never journaled.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING

from popview.session.identity import MessageKey
from popview.store import JournalState

if TYPE_CHECKING:
    from popview.store import DeletionJournal

__all__ = ["MarkBook"]


class MarkBook:
    """The marks of one account, in marking order.

    Args:
        journal: The store's deletion journal, or None (marks live in memory only).
        account: The account key the journal entries belong to.
    """

    def __init__(self, journal: DeletionJournal | None, account: str) -> None:
        self._journal = journal
        self._account = account
        self._keys: dict[str, str | None] = {}
        """Marked key → the rule that marked it (None: the user did)."""
        self.applied: set[str] = set()
        """Keys ``DELE``'d on the current connection."""
        self.unverified: set[str] = set()
        """Keys of a ``QUIT`` whose outcome the next UIDL must confirm."""

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> list[str]:
        """The marked keys, in marking order."""
        return list(self._keys)

    @property
    def rules(self) -> Mapping[str, str | None]:
        """Marked key → the ``[[rules]]`` rule that marked it (None: the user did)."""
        return dict(self._keys)

    def _durable(self, keys: Iterable[str]) -> list[str]:
        return [key for key in keys if MessageKey(key).stable]

    def restore(self) -> list[str]:
        """Load what an earlier, interrupted session left in the journal.

        Pending marks become marks again (none is applied on a new
        connection); entries of a ``QUIT`` (committed or unknown) wait in
        :attr:`unverified` for the next UIDL.

        Returns:
            The restored marks.
        """
        if self._journal is None:
            return []
        restored: list[str] = []
        for entry in self._journal.entries(self._account):
            if entry.state in (JournalState.COMMITTED, JournalState.UNKNOWN):
                self.unverified.add(entry.uid)
            elif entry.uid not in self._keys:
                self._keys[entry.uid] = entry.rule
                restored.append(entry.uid)
        return restored

    def add(self, key: str, rule: str | None = None) -> None:
        """Record a mark; journaled first (durably) unless the key is session-only."""
        self.add_many([key], rule)

    def add_many(self, keys: Collection[str], rule: str | None = None) -> None:
        """Record marks, journaled first in one transaction (all or none).

        Args:
            keys: The keys to mark.
            rule: The rule that marks them, or None (the user does).
        """
        durable = self._durable(keys)
        if self._journal is not None and durable:
            self._journal.mark_many(self._account, durable, rule)
        for key in keys:
            self._keys[key] = rule
            self.unverified.discard(key)

    def sent(self, keys: Collection[str]) -> None:
        """The server acknowledged ``DELE`` for ``keys`` on this connection.

        Memory only: the acknowledgement dies with the connection, so the
        journal (intent, written before ``DELE``) has nothing to learn from it.
        """
        self.applied.update(keys)

    def discard(self, keys: Iterable[str]) -> None:
        """Forget marks in the journal and in memory (``applied`` included)."""
        gone = [key for key in keys if key in self._keys or key in self.unverified]
        if not gone:
            return
        durable = self._durable(gone)
        if self._journal is not None and durable:
            self._journal.forget(self._account, durable)
        for key in gone:
            self._keys.pop(key, None)
            self.applied.discard(key)
            self.unverified.discard(key)

    def clear(self) -> None:
        """Forget every mark, and the keys of an unverified ``QUIT`` too.

        The user asked for nothing to be deleted (unmark all, or leave on
        server): a message an unanswered ``QUIT`` did not remove must not be
        marked again when the next UIDL still lists it.
        """
        self.discard([*self._keys, *self.unverified])

    def connection_lost(self) -> None:
        """The server forgot its marks (no QUIT happened): none is applied any more."""
        self.applied.clear()

    def quit_sent(self, keys: Collection[str], *, confirmed: bool) -> None:
        """``QUIT`` was sent for ``keys``: answered ``+OK`` (confirmed) or not.

        Confirmed deletions are forgotten at once (session-only ones included);
        unconfirmed ones become :attr:`unverified`, to be checked by UIDL.
        """
        if confirmed:
            self.discard(keys)
            return
        durable = self._durable(keys)
        if self._journal is not None and durable:
            self._journal.set_state(self._account, durable, JournalState.UNKNOWN)
        for key in keys:
            self._keys.pop(key, None)
            self.applied.discard(key)
        self.unverified.update(durable)

    def verify(self, present: Collection[str]) -> tuple[list[str], list[str]]:
        """Resolve :attr:`unverified` against the UIDLs on the server now.

        Args:
            present: Every stable UIDL the new connection lists.

        Returns:
            ``(deleted, remaining)``: gone from the server (forgotten), and still
            there (marked again, as the user asked for their deletion).
        """
        deleted = sorted(uid for uid in self.unverified if uid not in present)
        remaining = sorted(uid for uid in self.unverified if uid in present)
        self.discard(deleted)
        self.unverified.clear()
        for uid in remaining:
            self.add(uid)
        return deleted, remaining
