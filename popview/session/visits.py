"""New since the last visit: which messages the user has not been shown before.

The fact belongs to the account's mailbox, not to a screen, so it lives here,
below the UI and the CLI: the TUI marks new rows with it, ``popview list
--new`` prints only them and the pattern term ``~N`` matches them. A visit is a
complete listing in the TUI; the CLI reads the last visit but does not record
one (a cron job running ``popview list`` must not make mail look old). Only
stable UIDLs count: a message without one cannot be recognised in a later
session, so it is never "new".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from popview.errors import StoreError
from popview.session.identity import MessageKey

if TYPE_CHECKING:
    from popview.mail.envelope import Envelope
    from popview.store.cache import MailCache

__all__ = ["Visits", "arrived_since"]


def arrived_since(previous: frozenset[str], key: str | None) -> bool:
    """The one decision of "new since the last visit": ``key`` is a stable UIDL the
    previous visit did not list. On a first visit (``previous`` empty) nothing is new,
    and a message without a stable UIDL (``None``, or a session-only key) never is."""
    return bool(previous) and key is not None and key not in previous and MessageKey(key).stable


class Visits:
    """The stable UIDLs the previous visit listed, and the record of this one.

    Args:
        cache: The store's cache, or None (then nothing is ever new).
        account: The account key.
    """

    def __init__(self, cache: MailCache | None, account: str) -> None:
        self._cache = cache
        self._account = account
        self.previous: frozenset[str] = self._read()
        """What the previous visit listed (empty: first visit, or no cache)."""

    def _read(self) -> frozenset[str]:
        if self._cache is None:
            return frozenset()
        try:
            return self._cache.seen_uids(self._account)
        except StoreError:
            return frozenset()  # the cache is an accelerator: without it nothing is new

    def is_new(self, key: str) -> bool:
        """Whether ``key`` arrived since the previous visit (needs a stable UIDL and a
        previous visit: on a first visit nothing is called new)."""
        return arrived_since(self.previous, key)

    def is_new_envelope(self, envelope: Envelope) -> bool:
        """The pattern term ``~N``: :meth:`is_new` for a listed envelope (its ``uid``
        is the stable UIDL, or None when it has none: never new)."""
        return arrived_since(self.previous, envelope.uid)

    def remember(self, keys: Iterable[str]) -> None:
        """Record this visit: ``keys`` is every message the listing showed."""
        if self._cache is None:
            return
        stable = [key for key in keys if MessageKey(key).stable]
        # The cache is an accelerator: failing, the next visit just shows less as new.
        with contextlib.suppress(StoreError):
            self._cache.set_seen_uids(self._account, stable)
