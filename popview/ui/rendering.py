"""Turning a parsed message into the texts the viewer can switch between.

Runs in a thread (the worker calls it with :func:`asyncio.to_thread`): HTML
rendering of a big newsletter and sanitizing a long body take long enough to
stall keys otherwise. The work itself is :func:`popview.mail.render.render_body`;
this module asks it for every form once, so switching is instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from popview.mail.render import render_body

if TYPE_CHECKING:
    from popview.mail.message import ParsedMessage

__all__ = ["RenderedForms", "render_forms"]


@dataclass(frozen=True)
class RenderedForms:
    """Every form of one body, ready to show.

    Attributes:
        texts: ``"plain"``/``"html"``/``"raw"`` -> the sanitized text.
        first: The form to show first (plain when there is one).
        banner: Defects and rendering notes, sanitized.
    """

    texts: dict[str, str]
    first: str
    banner: tuple[str, ...]

    @property
    def available(self) -> tuple[str, ...]:
        return tuple(self.texts)


def render_forms(parsed: ParsedMessage, prefer_html: bool = False) -> RenderedForms:
    """Render ``parsed`` in each available form (never raises).

    Args:
        parsed: The parsed message.
        prefer_html: Show HTML first when the message has both.

    Returns:
        The texts and which to show first.
    """
    first = render_body(parsed, prefer_html=prefer_html)
    texts = {first.chosen: first.text()}
    for mode in first.available:
        if mode not in texts:
            texts[mode] = render_body(parsed, mode=mode).text()
    ordered = {mode: texts[mode] for mode in first.available}
    return RenderedForms(texts=ordered, first=first.chosen, banner=first.banner)
