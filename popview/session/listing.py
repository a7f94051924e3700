"""The listing pipeline: cached envelopes at once, then pipelined ``TOP n 0`` for the rest.

Where the speed comes from (ARCHITECTURE.md, "The listing pipeline"): the cache
answers for every message it knows (checked against the LIST size); only the
others get ``TOP n 0``, newest first, written in pipelined windows by the client;
header blocks are parsed in batches in a worker thread *while* the next replies
are read, so neither the network nor the parser waits for the other and the
event loop stays free for keys.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

from popview.errors import Pop3ServerError, StoreError
from popview.mail.envelope import Envelope, parse_envelopes
from popview.pop3 import protocol
from popview.session.index import MessageIndex, MessageRef
from popview.session.types import ListingUpdate

if TYPE_CHECKING:
    from popview.pop3.client import Pop3Client
    from popview.store import MailCache

__all__ = ["BATCH_SIZE", "header_block", "stream_listing"]

BATCH_SIZE = 250
"""Envelopes parsed (and streamed to the caller) per batch."""

PIPELINE_WINDOW = 1000
"""``TOP n 0`` commands in flight (about 12 KB of commands per window)."""

_Block = tuple[bytes, int, str | None, int]


def header_block(data: bytes) -> bytes:
    """Cut a ``TOP n 0`` reply at the end of its header section.

    A server that sends body lines anyway (HARDENING A.15) must not fill the cache.
    """
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = data.find(separator)
        if end >= 0:
            return data[: end + len(separator)]
    return data


def _block(ref: MessageRef, headers: bytes) -> _Block:
    return (headers, ref.number, ref.key, ref.size)


async def _parse(blocks: list[_Block]) -> list[Envelope]:
    return await asyncio.to_thread(parse_envelopes, blocks)


async def stream_listing(
    client: Pop3Client | None,
    index: MessageIndex,
    *,
    account: str,
    cache: MailCache | None,
    use_top: bool,
    rejected: Sequence[str] = (),
    on_top_refused: Callable[[], None] | None = None,
    batch_size: int = BATCH_SIZE,
    limit: int | None = None,
    window: int = PIPELINE_WINDOW,
) -> AsyncGenerator[ListingUpdate, None]:
    """Yield the listing of ``index`` in batches.

    Args:
        client: The open connection (None only when nothing needs fetching).
        index: The messages of this connection.
        account: Account key for the cache.
        cache: The envelope cache, or None.
        use_top: Whether to send ``TOP n 0`` for envelopes the cache lacks.
        rejected: Junk LIST/UIDL rows to report with the first batch.
        on_top_refused: Called once when the server answers ``TOP`` with ``-ERR``.
        batch_size: Envelopes per parsed batch.
        limit: Only the ``limit`` newest messages.
        window: Commands in flight when pipelining.
    """
    refs = index.newest_first()
    if limit is not None:
        refs = refs[:limit]
    total = len(refs)
    cached_blocks: list[_Block] = []
    if cache is not None:
        sizes = {ref.uid: ref.size for ref in refs if ref.uid is not None}
        known = cache.get_envelopes(account, sizes) if sizes else {}
        cached_blocks = [
            _block(ref, known[ref.uid].headers)
            for ref in refs
            if ref.uid is not None and ref.uid in known
        ]
    done = 0
    first = True
    for start in range(0, len(cached_blocks), batch_size * 8):
        envelopes = await _parse(cached_blocks[start : start + batch_size * 8])
        done += len(envelopes)
        yield ListingUpdate(
            tuple(envelopes),
            done,
            total,
            from_cache=True,
            rejected=tuple(rejected) if first else (),
        )
        first = False
    if first:
        yield ListingUpdate((), 0, total, from_cache=True, rejected=tuple(rejected))
    have = {block[2] for block in cached_blocks}
    wanted = [ref for ref in refs if ref.key not in have]
    if not wanted:
        return
    if not use_top or client is None:
        envelopes = await _parse([_block(ref, b"") for ref in wanted])
        yield ListingUpdate(
            tuple(envelopes), total, total, missing=tuple(ref.key for ref in wanted)
        )
        return
    parsing: deque[tuple[asyncio.Task[list[Envelope]], tuple[str, ...]]] = deque()
    batch: list[_Block] = []
    missing: list[str] = []
    to_store: list[tuple[str, int, bytes]] = []
    refused = False

    def submit() -> None:
        nonlocal batch, missing
        task = asyncio.ensure_future(_parse(batch))
        parsing.append((task, tuple(missing)))
        batch, missing = [], []

    async def finished(wait: bool) -> AsyncIterator[ListingUpdate]:
        nonlocal done
        while parsing and (wait or parsing[0][0].done()):
            task, gone = parsing.popleft()
            envelopes = await task
            done += len(envelopes)
            yield ListingUpdate(tuple(envelopes), done, total, missing=gone)

    try:
        # A window of hundreds of commands: at 100 ms RTT the link, not round trips,
        # is the limit (the client writes each window with one send).
        replies = client.pipeline((protocol.top(ref.number, 0) for ref in wanted), window=window)
        position = 0
        async for reply in replies:
            ref = wanted[position]
            position += 1
            if isinstance(reply, Pop3ServerError):
                # HARDENING A.15: the row still appears; headers come with the message.
                if not refused and on_top_refused is not None:
                    on_top_refused()
                refused = True
                batch.append(_block(ref, b""))
                missing.append(ref.key)
            else:
                headers = header_block(reply.body())
                batch.append(_block(ref, headers))
                if ref.uid is not None:
                    to_store.append((ref.uid, ref.size, headers))
            if len(batch) >= batch_size:
                submit()
                _store(cache, account, to_store)
                to_store = []
                async for update in finished(wait=False):
                    yield update
        if batch:
            submit()
        _store(cache, account, to_store)
        async for update in finished(wait=True):
            yield update
    finally:
        for task, _ in parsing:
            task.cancel()


def _store(cache: MailCache | None, account: str, rows: list[tuple[str, int, bytes]]) -> None:
    if cache is None or not rows:
        return
    from popview.store import CachedEnvelope

    # The cache is an accelerator: failing to write it must not fail the listing.
    with contextlib.suppress(StoreError):
        cache.put_envelopes(
            account, (CachedEnvelope(uid, size, headers) for uid, size, headers in rows)
        )
