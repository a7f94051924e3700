"""Loading previews in the session worker: one pipelined ``TOP n k`` batch per request.

The preview pane (:class:`~popview.ui.widgets.preview_pane.PreviewPane`) asks
for the rows around the cursor; the worker runs :func:`load_previews`, which
fetches their header blocks and first body lines in one batch
(:meth:`~popview.session.MailboxSession.preview_blocks`, never ``RETR``),
renders them in a thread like the viewer does, and posts the result back to
the pane that asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message
from textual.message_pump import MessagePump

from popview.errors import PopviewError
from popview.mail.preview import Preview, render_preview

if TYPE_CHECKING:
    from popview.session import MailboxSession
    from popview.session.identity import MessageKey

__all__ = ["PreviewRequest", "PreviewsLoaded", "load_previews", "superseded"]

INLINE_RENDER_BYTES = 32 * 1024
"""A first answer up to this size is rendered on the event loop; bigger ones
(hostile HTML, a server ignoring ``k``) in a thread, so keys stay answered."""


@dataclass(frozen=True, eq=False)
class PreviewRequest:
    """Preview ``keys`` with ``lines`` body lines each; results go to ``reply_to``."""

    keys: tuple[MessageKey, ...]
    lines: int
    reply_to: MessagePump


class PreviewsLoaded(Message):
    """Previews are ready.

    ``failed``: keys the server refused, with why (not asked again);
    ``dropped``: keys not fetched, to ask again later (a newer request
    superseded this one, or ``error`` - the connection failed - says why).
    """

    def __init__(
        self,
        previews: Mapping[MessageKey, Preview],
        failed: Mapping[MessageKey, str],
        dropped: tuple[MessageKey, ...] = (),
        error: str = "",
    ) -> None:
        super().__init__()
        self.previews = previews
        self.failed = failed
        self.dropped = dropped
        self.error = error


def superseded(request: PreviewRequest) -> PreviewsLoaded:
    """The answer to a request the worker skipped (the cursor moved on)."""
    return PreviewsLoaded({}, {}, request.keys)


def _render_all(
    keys: tuple[MessageKey, ...], blocks: Mapping[str, bytes], lines: int, prefer_html: bool
) -> dict[MessageKey, Preview]:
    # Keyed by the request's keys, so the pane gets back the MessageKeys it asked with.
    return {
        key: render_preview(blocks[key], lines, prefer_html=prefer_html)
        for key in keys
        if key in blocks
    }


async def load_previews(
    session: MailboxSession, request: PreviewRequest, *, prefer_html: bool
) -> None:
    """Fetch, render and post the previews of ``request`` (errors are posted, then raised).

    The first key is the row under the cursor: its preview is rendered and
    posted as soon as its reply arrives (one round trip), not after the rows
    prefetched around it.
    """
    first = request.keys[0] if request.keys else None
    first_posted = False
    early: asyncio.Task[None] | None = None

    async def post_first(block: bytes) -> None:
        assert first is not None
        previews = await asyncio.to_thread(
            _render_all, (first,), {first: block}, request.lines, prefer_html
        )
        request.reply_to.post_message(PreviewsLoaded(previews, {}))

    def arrived(key: str, block: bytes) -> None:
        nonlocal first_posted, early
        if first is None or key != first or first_posted or len(request.keys) == 1:
            return
        first_posted = True
        if len(block) <= INLINE_RENDER_BYTES:
            # A usual answer renders in a millisecond or two: here, with no
            # thread hop (which costs more than that under the GIL).
            previews = _render_all((first,), {first: block}, request.lines, prefer_html)
            request.reply_to.post_message(PreviewsLoaded(previews, {}))
        else:
            early = asyncio.ensure_future(post_first(block))

    try:
        blocks = await session.preview_blocks(request.keys, request.lines, arrived)
    except PopviewError as error:
        reason = f"No preview: {error.message}"
        if early is not None:
            await early
        request.reply_to.post_message(PreviewsLoaded({}, {}, request.keys, reason))
        raise
    rest = request.keys[1:] if first_posted else request.keys
    previews = await asyncio.to_thread(_render_all, rest, blocks, request.lines, prefer_html)
    if early is not None:
        await early
    refused = (
        "No preview: the server refused TOP for this message "
        "(a message marked for deletion cannot be read until it is unmarked)."
    )
    failed = {key: refused for key in rest if key not in previews}
    request.reply_to.post_message(PreviewsLoaded(previews, failed))
