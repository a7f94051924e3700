"""The cached rows of an account as soon as they are read, before the server answers.

:func:`~popview.session.envelope_stream.prefetch_cached` reads every cached
envelope of the account on a thread while the login is in the air. A UI that
wants to paint them at once (docs/architecture.md, "The listing pipeline")
passes a callback to :class:`~popview.session.MailboxSession` (``on_cached``);
it is called on the reading thread with the rows rebuilt as envelopes: first the
newest :data:`FIRST_ROWS` (a screenful and more, rebuilt in a few milliseconds),
then the rest in parts of :data:`LATER_ROWS` (10,000 rows take about 0.1 s more),
so the first screen does not wait for the whole mailbox.

These rows are *unconfirmed*: keyed by the UIDL the cache stored them under, with
the size the cache recorded and no message number (``0``, which no POP3 message
has: numbers are only valid in the connection that listed them, RFC 1939 §4).
Nothing may be sent to the server for them; the session's own listing replaces
them once LIST and UIDL are in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from popview.errors import StoreError
from popview.session.envelope_stream import Known, Prefetched, checked, rebuilt
from popview.session.identity import MessageKey, is_valid_uidl
from popview.session.payload import tail_date
from popview.session.types import Listed

if TYPE_CHECKING:
    from popview.store import MailCache


__all__ = [
    "FIRST_ROWS",
    "LATER_ROWS",
    "NO_NUMBER",
    "CachedRowsCallback",
    "CachedRowsReport",
    "unconfirmed_rows",
]

NO_NUMBER = 0
"""The message number of an unconfirmed row: none (POP3 numbers start at 1)."""

FIRST_ROWS = 200
"""Rows reported first: the newest, more than a screen of them."""

LATER_ROWS = 2000
"""Rows per report after the first (a part of 2,000 is added to a list in ~10 ms)."""

_OLDEST = datetime.min.replace(tzinfo=UTC)

CachedRowsCallback = Callable[[Sequence[Listed]], bool]
"""Called with the cached rows, unconfirmed, on the thread that read them: the
newest :data:`FIRST_ROWS` first, then the rest in parts. It returns whether it
wants more: once the server has listed, the session's own listing shows them,
and building them twice would only take CPU from it."""


def unconfirmed_rows(cached: Mapping[str, Known]) -> list[Listed]:
    """The cached envelopes as rows keyed by their UIDL, without a message number.

    Only a valid UIDL is ever cached, so each key is a stable one; a row that
    is not (a damaged cache) is left out rather than given a key of its own.
    """
    rows: list[Listed] = []
    for uid, known in cached.items():
        if not is_valid_uidl(uid):
            continue
        envelope, _ = rebuilt(known, number=NO_NUMBER, uid=uid, size=known.size)
        rows.append(Listed(MessageKey(uid), envelope))
    return rows


def _newest_first(
    cached: Mapping[str, Known],
) -> tuple[dict[str, Known], dict[str, Known]]:
    """``cached`` cut in two: the newest :data:`FIRST_ROWS` by Date, and the rest.

    Ordering needs only each row's checked date (a row without one sorts oldest),
    not the whole envelope."""
    if len(cached) <= FIRST_ROWS:
        return dict(cached), {}

    def date(uid: str) -> datetime:
        fields = cached[uid].fields
        found = tail_date(fields) if isinstance(fields, tuple) else None
        return _aware(found) if found is not None else _OLDEST

    newest = set(sorted(cached, key=date, reverse=True)[:FIRST_ROWS])
    first = {uid: cached[uid] for uid in newest}
    rest = {uid: entry for uid, entry in cached.items() if uid not in newest}
    return first, rest


def _chunks(rows: dict[str, Known]) -> list[dict[str, Known]]:
    """``rows`` in parts of :data:`LATER_ROWS` (each is added to the list in one go
    on the UI's event loop, so a part must stay short for the keys)."""
    items = list(rows.items())
    return [dict(items[i : i + LATER_ROWS]) for i in range(0, len(items), LATER_ROWS)]


def _aware(value: datetime) -> datetime:
    # A Date without a zone is read as UTC (so naive and aware dates compare).
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class CachedRowsReport:
    """Report an account's cached rows to ``callback``, unconfirmed: the newest
    :data:`FIRST_ROWS` as soon as the cache can pick them (:meth:`first`, on the
    reading thread before the whole read: one query ordered by date, so the first
    screen waits neither for 10,000 payloads to be decoded nor for their fields to
    be checked), then the rest once the whole read is done (:meth:`rest`).

    Nothing more is reported once ``callback`` returns False (the session is open:
    its own listing shows them). The rows are rebuilt on the reading thread, so the
    event loop only receives them.
    """

    def __init__(self, callback: CachedRowsCallback) -> None:
        self._callback = callback
        self._shown: set[str] = set()
        self._done = False

    def first(self, cache: MailCache, account: str) -> None:
        """Report the newest rows (the ``first`` hook of
        :func:`~popview.session.envelope_stream.prefetch_cached`)."""
        try:
            newest = cache.newest_envelopes(account, FIRST_ROWS)
        except StoreError:  # e.g. an sqlite without JSON: the whole read reports them
            return
        self._report(checked(newest))

    def rest(self, prefetched: Prefetched) -> None:
        """Report the rows :meth:`first` did not, once ``prefetched`` has read them all
        (all of them, newest first, if it reported none). Nothing is reported when
        the read failed or found nothing (the listing then reads or fetches them)."""

        def done(future: Prefetched) -> None:
            if future.cancelled() or future.exception() is not None:
                return
            cached = future.result()
            if not cached:
                return
            if self._shown:
                parts = _chunks({uid: k for uid, k in cached.items() if uid not in self._shown})
            else:
                newest, others = _newest_first(cached)
                parts = [newest, *_chunks(others)]
            for part in parts:
                self._report(part)

        prefetched.add_done_callback(done)

    def _report(self, part: Mapping[str, Known]) -> None:
        if self._done:
            return
        rows = unconfirmed_rows(part)
        if not rows:
            return
        if self._callback(rows):
            self._shown.update(part)
        else:
            self._done = True
