"""The preview pane's text: the first lines of a body from ``TOP n k``, never ``RETR``.

``TOP n k`` (RFC 1939 §7) returns the header block and the first ``k`` lines
of the *raw* body, so a preview is a truncated message: a base64 part cut at
a line boundary, an HTML document without its end, a multipart without its
closing boundary. It goes through the viewer's own parsing and rendering
(:func:`~popview.mail.message.parse_message`,
:func:`~popview.mail.render.render_body`: charset, transfer encoding, the first
text part, HTML as text, every line sanitized), which all accept that.

Servers do not all obey ``k``: some send the whole message, some fewer lines,
some the header block alone. The preview shows at most ``k`` display lines
of whatever came, and says so when no body line came at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from popview.mail.message import parse_message
from popview.mail.render import render_body

__all__ = ["MAX_PREVIEW_BYTES", "Preview", "render_preview"]

MAX_PREVIEW_BYTES = 256 * 1024
"""Bytes of a ``TOP`` answer looked at (a server that ignores ``k`` may send it all)."""

NO_BODY = "(the server sent no body lines for this message)"


@dataclass(frozen=True, slots=True)
class Preview:
    """What the pane shows for one message.

    Attributes:
        lines: Sanitized display lines, at most the number asked for.
        note: "" normally; otherwise why there is nothing (or little) to show.
    """

    lines: tuple[str, ...]
    note: str = ""


def render_preview(top_answer: bytes, lines: int, *, prefer_html: bool = False) -> Preview:
    """Render the answer to ``TOP n lines`` as preview lines; never raises.

    Args:
        top_answer: The header block, the empty line and the body lines (or a
            whole cached message: the result is the same).
        lines: How many display lines to keep.
        prefer_html: Show the HTML alternative when there is one (as the viewer).

    Returns:
        The lines, leading and trailing blank lines dropped.
    """
    parsed = parse_message(top_answer[:MAX_PREVIEW_BYTES])
    body = render_body(parsed, prefer_html)
    shown: list[str] = []
    for index in range(min(len(body.lines), lines * 4 + 50)):
        line = body.lines[index].rstrip()
        if not shown and not line:
            continue  # leading blank lines (a preamble, an HTML head) waste the pane
        shown.append(line)
        if len(shown) >= lines:
            break
    while shown and not shown[-1]:
        shown.pop()
    if not shown:
        return Preview((), NO_BODY)
    return Preview(tuple(shown))
