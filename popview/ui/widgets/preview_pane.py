"""The preview pane under the list: the first lines of the message at the cursor.

Toggled with ``v``. The lines come from ``TOP n k`` (never ``RETR``), are
rendered like the viewer renders, and are kept per message key, so moving
back to a row shows it at once. Moving the cursor asks for the rows around
it in one pipelined batch, so the next rows are usually there before the
cursor reaches them. Text is shown as :class:`rich.text.Text`, never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.widgets import Static

from popview.mail.preview import Preview
from popview.session.identity import MessageKey
from popview.ui.preview import PreviewRequest, PreviewsLoaded

__all__ = ["PreviewPane"]

PREFETCH_BEFORE = 3
PREFETCH_AFTER = 12
_MAX_CACHED = 2000


class PreviewPane(Static):
    """Shows the preview of one message; asks for missing ones through ``submit``.

    Args:
        lines: Body lines per preview (``general.preview_lines``).
        submit: Queues a :class:`PreviewRequest` on the session worker.
    """

    def __init__(
        self, lines: int, submit: Callable[[PreviewRequest], None], *, id: str | None = None
    ) -> None:
        super().__init__("", id=id)
        self.lines = lines
        self._submit = submit
        self.cache: dict[MessageKey, Preview] = {}
        self.failed: dict[MessageKey, str] = {}
        self._pending: set[MessageKey] = set()
        self._unkept: tuple[MessageKey, Preview] | None = None
        self.current: MessageKey | None = None
        self.last_error = ""
        """Why the last batch failed (shown until the cursor moves and it is asked again)."""
        self.note = ""
        """A line above the preview: whether (and by which rule) the message is marked."""

    def set_note(self, note: str) -> None:
        """Show ``note`` (plain text) above the preview; "" shows none."""
        if note != self.note:
            self.note = note
            self._draw()

    def show(self, key: MessageKey | None, around: Sequence[MessageKey] = ()) -> None:
        """Show ``key``'s preview (or "Loading…") and prefetch ``around`` in one batch."""
        self.current = key
        self.last_error = ""
        if self._unkept is not None and self._unkept[0] != key:
            self._unkept = None
        wanted = [
            other
            for other in dict.fromkeys([*(() if key is None else (key,)), *around])
            if other not in self.cache
            and other not in self._pending
            and other not in self.failed
            and (other == key or other.stable)
        ]
        if wanted and self.display:
            # Asked before drawing: the worker shares this event loop, and a
            # request queued first goes out before the repaint, not after it.
            self._pending.update(wanted)
            self._submit(PreviewRequest(tuple(wanted), self.lines, self))
        self._draw()

    def forget(self) -> None:
        """Drop every kept preview (the message numbers may mean other messages now)."""
        self.cache.clear()
        self.failed.clear()
        self._pending.clear()
        self._unkept = None

    def on_previews_loaded(self, event: PreviewsLoaded) -> None:
        for key, preview in event.previews.items():
            self._pending.discard(key)
            if not key.stable:
                # No UIDL: the key names a message number, which a reconnection may
                # give to another message. Shown if current, never kept.
                if key == self.current:
                    self._unkept = (key, preview)
                continue
            self.cache[key] = preview
        self._pending.difference_update(event.dropped)
        self.last_error = event.error
        for key, reason in event.failed.items():
            self._pending.discard(key)
            self.failed[key] = reason
        while len(self.cache) > _MAX_CACHED:
            self.cache.pop(next(iter(self.cache)))
        self._draw()

    def _draw(self) -> None:
        key = self.current
        if key is None:
            self.update(Text("No message selected.", style="dim"), layout=False)
            return
        preview = self.cache.get(key)
        if preview is None and self._unkept is not None and self._unkept[0] == key:
            preview = self._unkept[1]
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.note:
            text.append(self.note, style="bold reverse")
            text.append("\n")
        if preview is None:
            reason = self.failed.get(key) or self.last_error or "Loading preview…"
            text.append(reason, style="dim")
            self.update(text, layout=False)
            return
        text.append("\n".join(preview.lines))
        if preview.note:
            text.append(preview.note, style="dim")
        # Its height is fixed (popview.tcss): a new preview repaints the pane
        # alone, and the list above keeps its size as the cursor moves.
        self.update(text, layout=False)
