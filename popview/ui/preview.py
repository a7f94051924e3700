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
    """Fetch, render and post the previews of ``request`` (errors are posted, then raised)."""
    try:
        blocks = await session.preview_blocks(request.keys, request.lines)
    except PopviewError as error:
        reason = f"No preview: {error.message}"
        request.reply_to.post_message(PreviewsLoaded({}, {}, request.keys, reason))
        raise
    previews = await asyncio.to_thread(
        _render_all, request.keys, blocks, request.lines, prefer_html
    )
    refused = (
        "No preview: the server refused TOP for this message "
        "(a message marked for deletion cannot be read until it is unmarked)."
    )
    failed = {key: refused for key in request.keys if key not in previews}
    request.reply_to.post_message(PreviewsLoaded(previews, failed))
