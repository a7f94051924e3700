"""The listing pipeline: cached envelopes at once, then pipelined ``TOP n 0`` for the rest.

Where the speed comes from (docs/architecture.md, "The listing pipeline"): the cache
answers for every message it knows (checked against the LIST size) with the
envelope fields it stored as JSON (:mod:`popview.session.payload`), so a warm
start parses nothing; only the others get ``TOP n 0``, newest first, written in
pipelined windows by the client. Header blocks are parsed in batches on one
worker thread *while* the next replies are read, so neither the network nor the
parser waits for the other and the event loop stays free for keys; a small
first batch and a flush every 100 ms put the first rows on screen at once. The same
thread writes the new envelopes to the cache, a few thousand rows per
transaction.

The cached rows themselves are read while the login is in the air
(:func:`prefetch_cached`): opening the mailbox starts the read before it connects, so
the sqlite read and the payload decoding (about 0.2 s for 10,000 rows) overlap
the round trips of the greeting and the login instead of following them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import AsyncGenerator, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from popview.errors import Pop3ServerError, StoreError
from popview.mail.envelope import Envelope, parse_envelope
from popview.pop3 import protocol
from popview.session.index import MessageIndex, MessageRef
from popview.session.payload import EnvelopeTail, envelope_payload, envelope_tail, with_identity
from popview.session.types import Listed, ListingUpdate
from popview.store import CachedEnvelope

if TYPE_CHECKING:
    from popview.pop3.client import Pop3Client
    from popview.store import MailCache

__all__ = [
    "BATCH_SIZE",
    "STORE_BATCH",
    "Known",
    "Prefetched",
    "checked",
    "header_block",
    "prefetch_cached",
    "read_ahead_uids",
    "rebuilt",
    "stream_listing",
]

BATCH_SIZE = 250
"""Envelopes parsed (and streamed to the caller) per batch, after the first."""

FIRST_BATCH = 50
"""Envelopes in the first parsed batch, so the first screen shows after 50 TOPs."""

FLUSH_INTERVAL = 0.1
"""Seconds after which replies that arrived are parsed and streamed even if the
batch is not full (a slow link, or one late reply, does not hold them back)."""

INLINE_FIRST_BYTES = 256 * 1024
"""The first batch is parsed on the event loop when its replies hold at most this
many bytes (50 usual header blocks, a few milliseconds); a bigger one goes to the
thread like the rest, so hostile blocks never stall the loop."""

REPLIES_PER_STEP = 32
"""``TOP`` replies taken in one step of the event loop; the app's keys run between."""

CACHED_BATCH = 2000
"""Envelopes rebuilt from the cache per streamed batch."""

STORE_BATCH = 2500
"""New envelopes written to the cache per transaction."""

PIPELINE_WINDOW = 4000
"""``TOP n 0`` commands in flight (about 50 KB of commands per window).

The client refills the window when half of it is answered, so about 2,000
replies (1 MB of typical header blocks) are in flight per round trip: at
100 ms RTT a window of 1,000 made round trips, not the link, the limit
(measured: 10,000 TOPs took 1.9 s at 1,000, 0.9 s at 4,000)."""

_T = TypeVar("_T")
_Item = tuple[MessageRef, bytes, bool]  # message, TOP block, whether to cache it
_Rows = list[CachedEnvelope]


class Known(NamedTuple):
    """A cached envelope as the listing takes it: its size and checked fields."""

    size: int
    """The LIST size the cache recorded (the entry is used only under the same size)."""
    fields: EnvelopeTail | CachedEnvelope
    """Its payload checked into envelope fields
    (:func:`~popview.session.payload.envelope_tail`), or, when the payload is
    missing, of another version or malformed, the whole row: its header block is
    then parsed (and stored again with a payload)."""


Prefetched = concurrent.futures.Future[dict[str, Known] | None]
"""Every cached envelope of an account by UID, read ahead with its envelope fields
checked; ``None`` if the read failed."""


def prefetch_cached(
    cache: MailCache, account: str, first: Callable[[MailCache, str], None] | None = None
) -> Prefetched:
    """Start reading every cached envelope of ``account`` on a thread of its own.

    :func:`~popview.session.opening.open_mailbox` calls this before it
    connects, so the read overlaps the login's round trips (sqlite releases the
    GIL while it reads, and the event loop is idle while it waits for the
    server). The rows are checked against the server's LIST sizes only when
    the listing takes them, as :meth:`~popview.store.MailCache.get_envelopes`
    would check them. ``first`` runs on the reading thread before the whole
    read (:mod:`popview.session.cached_rows` shows the newest rows from there).
    """
    executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="popview-prefetch"
    )
    try:
        return executor.submit(_read_cached, cache, account, first)
    finally:
        executor.shutdown(wait=False)


def _read_cached(
    cache: MailCache, account: str, first: Callable[[MailCache, str], None] | None = None
) -> dict[str, Known] | None:
    if first is not None:
        first(cache, account)
    # The cache is an accelerator: a failed read ahead is read again by the listing.
    try:
        payloads = cache.get_payloads(account)
        # Checked here, while the login is in the air: what is left for after
        # LIST is one tuple per row (numbers and sizes belong to the connection).
        # Only the fields are kept: neither the decoded payloads nor the header
        # blocks (25 MB for 10,000) are held, or freed, by the listing.
        known: dict[str, Known] = {}
        unusable: dict[str, int] = {}
        for uid, (size, payload) in payloads.items():
            tail = envelope_tail(payload)
            if tail is None:
                unusable[uid] = size
            else:
                known[uid] = Known(size, tail)
        del payloads
        if unusable:  # their header blocks are parsed: read those rows whole
            known.update(checked(cache.get_envelopes(account, unusable)))
    except StoreError:
        return None
    return known


def read_ahead_uids(prefetched: Prefetched | None) -> Collection[str] | None:
    """Every envelope UID the read ahead found in the cache, or ``None`` when it
    did not finish, failed or was not made (for
    :meth:`~popview.store.MailCache.prune`'s ``cached_uids``)."""
    if prefetched is None or not prefetched.done() or prefetched.cancelled():
        return None
    if prefetched.exception() is not None:
        return None
    every = prefetched.result()
    return None if every is None else every.keys()


def checked(rows: Mapping[str, CachedEnvelope]) -> dict[str, Known]:
    """Cached rows with their payloads checked into envelope fields."""
    return {uid: Known(row.size, envelope_tail(row.payload) or row) for uid, row in rows.items()}


def rebuilt(
    known: Known, *, number: int, uid: str | None, size: int | None
) -> tuple[Envelope, bool]:
    """The envelope of a cached row, and whether its header block had to be parsed
    (its payload is missing, of another version or malformed)."""
    fields = known.fields
    if isinstance(fields, CachedEnvelope):
        return parse_envelope(fields.headers, number=number, uid=uid, size=size), True
    return with_identity(fields, number=number, uid=uid, size=size), False


def header_block(data: bytes) -> bytes:
    """Cut a ``TOP n 0`` block (CRLF line endings) after its header section.

    The section ends at the first empty line (RFC 5322 §2.1). A server that
    sends body lines anyway (HARDENING A.15) must not fill the cache.
    """
    if data.startswith(b"\r\n"):
        return b"\r\n"
    end = data.find(b"\r\n\r\n")
    return data if end < 0 else data[: end + 4]


def _parse(items: list[_Item]) -> tuple[list[Listed], _Rows]:
    """Parse ``TOP n 0`` blocks (on the worker thread, or on the loop for a small
    first batch: ``INLINE_FIRST_BYTES``); return keyed envelopes and cache rows.
    Each block is cut after its header section here, not as each reply is read."""
    envelopes: list[Listed] = []
    rows: _Rows = []
    for ref, block, keep in items:
        headers = header_block(block)
        envelope = parse_envelope(headers, number=ref.number, uid=ref.uid, size=ref.size)
        envelopes.append(Listed(ref.key, envelope))
        if keep and ref.uid is not None and ref.size is not None:
            rows.append(CachedEnvelope(ref.uid, ref.size, headers, envelope_payload(envelope)))
    return envelopes, rows


def _rebuild(items: list[tuple[MessageRef, Known]]) -> tuple[list[Listed], _Rows]:
    """Envelopes from cached payloads; entries without a usable one are parsed and
    returned as rows to store again with a payload (older caches upgrade themselves)."""
    envelopes: list[Listed] = []
    upgraded: _Rows = []
    # The usual row is payload.with_identity written in line, and the Listed built
    # the same way, with no Python call: 10,000 rows after UIDL in 14 ms, not 23.
    new = tuple.__new__
    for ref, known in items:
        fields = known.fields
        if isinstance(fields, CachedEnvelope):  # no usable payload: rebuilt() parses
            envelope, _ = rebuilt(known, number=ref.number, uid=ref.uid, size=ref.size)
            payload = envelope_payload(envelope)
            upgraded.append(CachedEnvelope(fields.uid, fields.size, fields.headers, payload))
        else:
            envelope = new(Envelope, (ref.number, ref.uid, ref.size, *fields))
        envelopes.append(new(Listed, (ref.key, envelope)))
    return envelopes, upgraded


def _put(cache: MailCache | None, account: str, rows: _Rows) -> None:
    if cache is None or not rows:
        return
    # The cache is an accelerator: failing to write it must not fail the listing.
    with contextlib.suppress(StoreError):
        cache.put_envelopes(account, rows)


async def stream_listing(
    client: Pop3Client | None,
    index: MessageIndex,
    *,
    account: str,
    cache: MailCache | None,
    use_top: bool,
    rejected: Sequence[str] = (),
    rejected_count: int | None = None,
    on_top_refused: Callable[[], None] | None = None,
    batch_size: int = BATCH_SIZE,
    limit: int | None = None,
    window: int = PIPELINE_WINDOW,
    prefetched: Prefetched | None = None,
) -> AsyncGenerator[ListingUpdate, None]:
    """Yield the listing of ``index`` in batches.

    Args:
        client: The open connection (None only when nothing needs fetching).
        index: The messages of this connection.
        account: Account key for the cache.
        cache: The envelope cache, or None.
        use_top: Whether to send ``TOP n 0`` for envelopes the cache lacks.
        rejected: Junk LIST/UIDL rows to report with the first batch.
        rejected_count: How many rows were junk in all (default: ``len(rejected)``).
        on_top_refused: Called once when the server answers ``TOP`` with ``-ERR``.
        batch_size: Envelopes per parsed batch (the first is smaller).
        limit: Only the ``limit`` newest messages.
        window: Commands in flight when pipelining.
        prefetched: ``cache``'s rows of ``account``, read ahead by
            :func:`prefetch_cached` on this connection (else read here).
    """
    worker = _Worker()
    try:
        stream = _stream(
            client,
            index,
            worker,
            account=account,
            cache=cache,
            use_top=use_top,
            rejected=rejected,
            rejected_count=len(rejected) if rejected_count is None else rejected_count,
            on_top_refused=on_top_refused,
            batch_size=batch_size,
            limit=limit,
            window=window,
            prefetched=prefetched,
        )
        async with contextlib.aclosing(stream) as updates:
            async for update in updates:
                yield update
        for write in worker.writes:
            await asyncio.wrap_future(write)
    finally:
        worker.close()


class _Worker:
    """One worker thread, so batches parse in order and never contend with each
    other for the GIL; cache writes queue behind them on the same thread."""

    def __init__(self) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="popview-listing"
        )
        self._loop = asyncio.get_running_loop()
        self.writes: list[concurrent.futures.Future[None]] = []
        """Queued cache writes (plain futures: they may finish after the loop closed)."""

    def run(self, function: Callable[..., _T], *args: object) -> asyncio.Future[_T]:
        """Queue ``function(*args)`` on the thread."""
        return self._loop.run_in_executor(self._executor, function, *args)

    def write(self, cache: MailCache | None, account: str, rows: _Rows) -> None:
        """Queue a cache write of ``rows``."""
        if cache is not None and rows:
            self.writes.append(self._executor.submit(_put, cache, account, rows))

    def close(self) -> None:
        """Let queued work (cache writes) finish, then end the thread; do not wait."""
        self._executor.shutdown(wait=False)


async def _stream(
    client: Pop3Client | None,
    index: MessageIndex,
    worker: _Worker,
    *,
    account: str,
    cache: MailCache | None,
    use_top: bool,
    rejected: Sequence[str],
    rejected_count: int,
    on_top_refused: Callable[[], None] | None,
    batch_size: int,
    limit: int | None,
    window: int,
    prefetched: Prefetched | None,
) -> AsyncGenerator[ListingUpdate, None]:
    refs = index.newest_first()
    if limit is not None:
        refs = refs[:limit]
    total = len(refs)
    cached: list[tuple[MessageRef, Known]] = []
    wanted = refs
    if cache is not None and any(ref.uid is not None for ref in refs):
        known = await _cached_rows(cache, account, refs, worker, prefetched)
        # One pass: a cached row is used only under the size the server lists
        # now (a size change means the UIDL now names other content).
        wanted = []
        for ref in refs:
            entry = known.get(ref.uid) if ref.uid is not None else None
            if entry is not None and entry.size == ref.size:
                cached.append((ref, entry))
            else:
                wanted.append(ref)
    done = 0
    first = True
    pending: _Rows = []

    def save(rows: _Rows, *, flush: bool = False) -> None:
        pending.extend(rows)
        if pending and (flush or len(pending) >= STORE_BATCH):
            worker.write(cache, account, pending.copy())
            pending.clear()

    for start in range(0, len(cached), CACHED_BATCH):
        envelopes, upgraded = await worker.run(_rebuild, cached[start : start + CACHED_BATCH])
        save(upgraded)
        done += len(envelopes)
        yield ListingUpdate(
            tuple(envelopes),
            done,
            total,
            from_cache=True,
            rejected=tuple(rejected) if first else (),
            rejected_count=rejected_count if first else 0,
        )
        first = False
    save([], flush=True)
    if first:
        yield ListingUpdate(
            (), 0, total, from_cache=True, rejected=tuple(rejected), rejected_count=rejected_count
        )
    if not wanted:
        return
    if not use_top or client is None:
        envelopes, _ = await worker.run(_parse, [(ref, b"", False) for ref in wanted])
        yield ListingUpdate(
            tuple(envelopes), total, total, missing=tuple(ref.key for ref in wanted)
        )
        return
    tops = _TopReader(
        client, wanted, worker, on_top_refused, batch_size=batch_size, window=window,
        keep=cache is not None,
    )  # fmt: skip
    try:
        async with contextlib.aclosing(tops.batches()) as batches:
            async for envelopes, rows, gone in batches:
                save(rows)
                done += len(envelopes)
                yield ListingUpdate(tuple(envelopes), done, total, missing=gone)
    finally:
        save([], flush=True)


async def _cached_rows(
    cache: MailCache,
    account: str,
    refs: Sequence[MessageRef],
    worker: _Worker,
    prefetched: Prefetched | None,
) -> Mapping[str, Known]:
    """The cached rows of ``refs`` by UID: those read ahead (every row of the
    account), else read now, only those listed with the size they were cached
    under. The caller still checks each row's size against the LIST size."""
    every = await asyncio.wrap_future(prefetched) if prefetched is not None else None
    if every is not None:
        return every
    sizes = {ref.uid: ref.size for ref in refs if ref.uid is not None and ref.size is not None}
    rows = await worker.run(cache.get_envelopes, account, sizes)
    return await worker.run(checked, rows)


_Parsed = tuple[list[Listed], _Rows]


class _TopReader:
    """Pipelined ``TOP n 0`` for ``wanted``, read by a task of its own, parsed in batches.

    The reader task appends each reply to the open batch and hands the batch to
    the worker thread when it holds ``FIRST_BATCH`` replies (the first one, so
    the first screen does not wait for a full batch) or ``batch_size`` (later
    ones, large enough that parsing keeps up), or ``FLUSH_INTERVAL`` after its
    first reply (a timer: a late reply or a slow link, HARDENING A.3, does not
    hold back the envelopes before it). Each handed-over batch goes into a
    queue, in order; :meth:`batches` yields them as their parsing finishes,
    while the reader goes on reading.
    """

    def __init__(
        self,
        client: Pop3Client,
        wanted: list[MessageRef],
        worker: _Worker,
        on_top_refused: Callable[[], None] | None,
        *,
        batch_size: int,
        window: int,
        keep: bool,
    ) -> None:
        self._client = client
        self._keep = keep  # build cache rows (payloads) only when there is a cache
        self._wanted = wanted
        self._worker = worker
        self._on_top_refused = on_top_refused
        self._batch_size = batch_size
        self._window = window
        self._batch: list[_Item] = []
        self._missing: list[str] = []
        self._parsed: asyncio.Queue[tuple[asyncio.Future[_Parsed], tuple[str, ...]] | None]
        self._parsed = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._submitted = False
        self._timer: asyncio.TimerHandle | None = None

    def _submit(self) -> None:
        """Hand the open batch to the worker thread."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._batch:
            return
        future: asyncio.Future[_Parsed]
        first = not self._submitted
        if first and sum(len(block) for _, block, _ in self._batch) <= INLINE_FIRST_BYTES:
            # The first rows on screen wait for this batch alone. On the thread it
            # waits for the interpreter lock behind the reading of the replies that
            # follow it (about 40 ms at 100 ms RTT, for 3 ms of parsing).
            future = self._loop.create_future()
            try:
                future.set_result(_parse(self._batch))
            except Exception as error:  # raised where a thread's would be: batches()
                future.set_exception(error)
        else:
            future = self._worker.run(_parse, self._batch)
        self._parsed.put_nowait((future, tuple(self._missing)))
        self._batch, self._missing = [], []
        self._submitted = True

    async def _read(self) -> None:
        """The reader task: every reply into the open batch, batches to the worker."""
        # A window of thousands of commands: at 100 ms RTT the link, not round
        # trips, is the limit (the client writes each window with one send).
        # Cancelled at once if the caller stops early: the client then drops the
        # connection (replies left unread) before the engine looks at it.
        wanted = self._wanted
        commands = (protocol.top(ref.number, 0) for ref in wanted)
        replies = self._client.pipeline(commands, window=self._window)
        refused = False
        try:
            async with contextlib.aclosing(replies):
                position = 0
                async for reply in replies:
                    ref = wanted[position]
                    position += 1
                    if isinstance(reply, Pop3ServerError):
                        # HARDENING A.15: the row still appears; headers come with the message.
                        if not refused and self._on_top_refused is not None:
                            self._on_top_refused()
                        refused = True
                        self._batch.append((ref, b"", False))
                        self._missing.append(ref.key)
                    else:
                        # Cut to its header section with the batch (_parse).
                        self._batch.append((ref, reply.data, self._keep))
                    if len(self._batch) == 1:
                        self._timer = self._loop.call_later(FLUSH_INTERVAL, self._submit)
                    first = min(FIRST_BATCH, self._batch_size)
                    if len(self._batch) >= (self._batch_size if self._submitted else first):
                        self._submit()
                    if position % REPLIES_PER_STEP == 0:
                        # Replies already whole in the buffer come without a wait: let
                        # the loop run between every few dozen (a key press in the app
                        # waits for one such step, about a millisecond, not for them all).
                        await asyncio.sleep(0)
            self._submit()
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self._parsed.put_nowait(None)  # the end, or what ended it is in the task

    async def batches(self) -> AsyncGenerator[tuple[list[Listed], _Rows, tuple[str, ...]], None]:
        """Parsed batches in order: envelopes, cache rows, keys whose TOP was refused."""
        reader = asyncio.ensure_future(self._read())
        try:
            while (item := await self._parsed.get()) is not None:
                future, gone = item
                if reader.done() and reader.exception() is not None:
                    break  # the reading failed: raise that now, not after more parsing
                envelopes, rows = await future
                yield envelopes, rows, gone
            await reader  # raises what ended the reading (timeout, lost link)
        finally:
            if not reader.done():
                reader.cancel()
            await asyncio.wait({reader})
            if not reader.cancelled():
                reader.exception()  # retrieved: it was raised above, or the caller left
            while not self._parsed.empty():
                left = self._parsed.get_nowait()
                if left is not None:
                    left[0].cancel()
