"""Untrusted mail bytes to safe display data (UI-free).

The public surface, each in its own module:

* :func:`popview.mail.envelope.parse_envelope` - a ``TOP n 0`` header block
  to an :class:`~popview.mail.envelope.Envelope` for the listing;
* :func:`popview.mail.message.parse_message` - ``RETR`` bytes to a
  :class:`~popview.mail.model.ParsedMessage`;
* :func:`popview.mail.render.render_body` - the body as sanitized lines;
* :mod:`popview.sanitize` - what every string passes through;
* :mod:`popview.mail.save` - attachments and messages to disk, 0600.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from popview.mail.envelope import Envelope, parse_envelope, parse_envelopes
from popview.mail.headers import Address
from popview.sanitize import sanitize_filename, sanitize_header, sanitize_text

if TYPE_CHECKING:
    from popview.mail.message import parse_message
    from popview.mail.model import Attachment, BodySegment, HeaderField, ParsedMessage, TextPart
    from popview.mail.render import RenderedBody, render_body

__all__ = [
    "Address",
    "Attachment",
    "BodySegment",
    "Envelope",
    "HeaderField",
    "ParsedMessage",
    "RenderedBody",
    "TextPart",
    "parse_envelope",
    "parse_envelopes",
    "parse_message",
    "render_body",
    "sanitize_filename",
    "sanitize_header",
    "sanitize_text",
]


_LAZY = {
    "RenderedBody": "render",
    "render_body": "render",
    "parse_message": "message",
    "Attachment": "model",
    "BodySegment": "model",
    "HeaderField": "model",
    "ParsedMessage": "model",
    "TextPart": "model",
}


def __getattr__(name: str) -> Any:
    # The renderer pulls in lxml and inscriptis (~40 ms), the message parser the
    # email package (~15 ms): loaded on first use, so the headless ``list``,
    # which needs only the envelope, never imports them.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"popview.mail.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
