"""A helper for tests that read the deletion journal: the marks it still holds."""

from __future__ import annotations

from popview.store import DeletionJournal, JournalState


def journal_marks(journal: DeletionJournal, account: str) -> frozenset[str]:
    """The UIDs ``account`` has marked and no ``QUIT`` was sent for, in ``journal``."""
    return frozenset(entry.uid for entry in journal.entries(account, [JournalState.PENDING]))
