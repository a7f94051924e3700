"""Render a parsed message body as safe plain-text lines.

The viewer picks text/plain first and HTML only when there is no plain part
(or the user prefers HTML); it can switch to any available form, including
the raw source. HTML becomes layout-aware text through inscriptis (Apache-2.0)
over an lxml tree parsed with the network off and every external resource
refused: images are shown by their alt text, links as numbered footnotes,
nothing is ever fetched.

Lines are sanitized and capped *when they are read* (:class:`BodyLines`), so
a 50 MB single-line body or a million lines costs no more than the screen
that shows them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import lxml.etree
import lxml.html
from inscriptis.html_engine import Inscriptis
from inscriptis.model.config import ParserConfig
from inscriptis.model.tag import CustomHtmlTagHandlerMapping

from popview.mail.charset import decode_bytes
from popview.mail.model import BodySegment, ParsedMessage, TextPart
from popview.sanitize import sanitize_text

__all__ = ["MAX_HTML_CHARS", "MAX_LINE_CHARS", "BodyLines", "RenderedBody", "render_body"]

#: Characters of one displayed line; the rest is replaced by a marker.
MAX_LINE_CHARS = 4_000
#: HTML characters converted to text; a longer document is cut first.
MAX_HTML_CHARS = 2_000_000
MAX_LINES = 2_000_000
_MAX_LINKS = 500
_MAX_LINK_CHARS = 2_000

PLAIN, HTML, RAW = "plain", "html", "raw"
# Characters sanitize_text turns into a line break in multiline mode.
_SEPARATORS = re.compile("[\r\x85\u2028\u2029]")


class BodyLines(Sequence[str]):
    """The body's lines, sanitized and capped on access.

    Holds the unsanitized lines; ``lines[i]`` returns a line with no control,
    bidi or format character (TAB kept) and at most ``MAX_LINE_CHARS``
    characters, ending in a "[+N characters]" marker when it was longer.
    """

    def __init__(self, raw_lines: list[str]) -> None:
        self._raw = raw_lines

    def __len__(self) -> int:
        return len(self._raw)

    def _clean(self, line: str) -> str:
        extra = len(line) - MAX_LINE_CHARS
        text = sanitize_text(line[:MAX_LINE_CHARS], multiline=True, max_len=MAX_LINE_CHARS)
        text = text.replace("\n", " ")
        return f"{text} [+{extra} characters]" if extra > 0 else text

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self._clean(line) for line in self._raw[index]]
        return self._clean(self._raw[index])

    def __iter__(self) -> Iterator[str]:
        return (self._clean(line) for line in self._raw)

    def joined(self) -> str:
        """All lines joined with LF; the same lines as iterating, faster.

        Short lines without Unicode line separators are sanitized in one pass
        over the joined text (a million lines: 0.1 s instead of 2 s).
        """
        if not self._raw:
            return ""
        if max(map(len, self._raw)) <= MAX_LINE_CHARS:
            whole = "\n".join(self._raw)
            if not _SEPARATORS.search(whole):
                return sanitize_text(whole, multiline=True, max_len=len(whole) + 1)
        return "\n".join(self)


@dataclass(frozen=True, eq=False)
class RenderedBody:
    """What the viewer shows in its body pane.

    Attributes:
        lines: The body, one display line each (lazy, sanitized).
        chosen: ``"plain"``, ``"html"`` or ``"raw"``.
        available: The forms the user can switch to.
        banner: Sanitized problem lines to show above the body.
        links: Link targets of the HTML form, numbered from 1 (sanitized).
    """

    lines: BodyLines
    chosen: str
    available: tuple[str, ...]
    banner: tuple[str, ...] = ()
    links: tuple[str, ...] = ()

    def text(self) -> str:
        """The whole body as one string (for ``popview show`` and tests)."""
        return self.lines.joined()


class _NoResources(lxml.etree.Resolver):  # type: ignore[misc]
    """Answers every external entity/DTD request with nothing."""

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        return self.resolve_string("", context)


def _html_parser() -> lxml.html.HTMLParser:
    parser = lxml.html.HTMLParser(
        encoding="utf-8",
        no_network=True,  # libxml2 never opens a socket
        remove_comments=True,
        remove_pis=True,
        default_doctype=False,
        huge_tree=False,  # keep libxml2's depth and size limits
    )
    parser.resolvers.add(_NoResources())
    return parser


_TAG = re.compile(r"<[^>]{0,2000}>")
_UNSAFE_SCHEMES = ("javascript:", "data:", "vbscript:")


def html_to_text(html: str, first: int = 1) -> tuple[str, list[str], list[str]]:
    """Convert HTML to text with numbered link footnotes.

    Args:
        html: The decoded HTML.
        first: Number of this document's first footnote.

    Returns:
        ``(text, links, notes)``: ``links`` in footnote order (unsanitized),
        ``notes`` for the banner.
    """
    notes: list[str] = []
    if len(html) > MAX_HTML_CHARS:
        notes.append(f"The HTML part was cut at {MAX_HTML_CHARS:,} characters.")
        html = html[:MAX_HTML_CHARS]
    links: list[str] = []
    stack: list[str] = []

    def a_start(state: Any, attrs: dict[str, str]) -> None:
        stack.append(str(attrs.get("href", "") or "").strip())

    def a_end(state: Any) -> None:
        href = stack.pop() if stack else ""
        if not href or href.startswith("#") or href.lower().startswith(_UNSAFE_SCHEMES):
            return
        if href not in links:
            if len(links) >= _MAX_LINKS:
                return
            links.append(href)
        state.tags[-1].write(f"[{links.index(href) + first}]")

    config = ParserConfig(
        display_images=True,  # alt text only; images are never loaded
        display_links=False,
        custom_html_tag_handler_mapping=CustomHtmlTagHandlerMapping(
            start_tag_mapping={"a": a_start}, end_tag_mapping={"a": a_end}
        ),
    )
    try:
        tree = lxml.html.document_fromstring(html.encode("utf-8", "replace"), parser=_html_parser())
        text = str(Inscriptis(tree, config).get_text())
    except Exception:  # lxml/inscriptis on hostile input; RecursionError included
        notes.append("The HTML could not be laid out; its text is shown without markup.")
        text = _TAG.sub(" ", html)
        links = []
    return text.strip("\n"), links, notes


def _pick(segment: BodySegment, mode: str) -> TextPart | None:
    if mode == HTML:
        return segment.html or segment.plain
    return segment.plain or segment.html


def _render_message(
    parsed: ParsedMessage, mode: str, out: list[str], links: list[str], notes: list[str]
) -> None:
    for segment in parsed.segments:
        if out and out[-1] != "":
            out.append("")
        if segment.message is not None:
            inner = segment.message
            out.append("---------- Forwarded message ----------")
            for label, value in (
                ("From", ", ".join(a.display for a in inner.from_)),
                ("Date", inner.date_text),
                ("Subject", inner.subject),
                ("To", ", ".join(a.display for a in inner.to)),
            ):
                if value:
                    out.append(f"{label}: {value}")
            out.append("")
            _render_message(inner, mode, out, links, notes)
            out.append("---------- End of forwarded message ----------")
            continue
        part = _pick(segment, mode)
        if part is None:
            continue
        if part.content_type == "text/html":
            text, found, html_notes = html_to_text(part.text, len(links) + 1)
            notes.extend(html_notes)
            links.extend(found)
        else:
            text = part.text
        out.extend(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
        if len(out) > MAX_LINES:
            del out[MAX_LINES:]
            notes.append(f"The body was cut at {MAX_LINES:,} lines.")
            return


def _available(parsed: ParsedMessage) -> tuple[str, ...]:
    forms: list[str] = []
    stack = [parsed]
    while stack:
        current = stack.pop()
        for segment in current.segments:
            if segment.plain is not None and PLAIN not in forms:
                forms.append(PLAIN)
            if segment.html is not None and HTML not in forms:
                forms.append(HTML)
            if segment.message is not None:
                stack.append(segment.message)
    return (*sorted(forms, key=(PLAIN, HTML).index), RAW)


def render_body(
    parsed: ParsedMessage, prefer_html: bool = False, mode: str | None = None
) -> RenderedBody:
    """Render ``parsed`` for display; never raises.

    Args:
        parsed: From :func:`popview.mail.message.parse_message`.
        prefer_html: Show the HTML alternative when there is one.
        mode: Force ``"plain"``, ``"html"`` or ``"raw"`` (the user switched).

    Returns:
        The lines to show, which form was chosen and which exist.
    """
    available = _available(parsed)
    chosen = mode if mode in available else (HTML if prefer_html else PLAIN)
    if chosen not in available:
        chosen = available[0]
    notes: list[str] = []
    links: list[str] = []
    out: list[str] = []
    if chosen == RAW:
        text, _ = decode_bytes(parsed.raw, None)
        out = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:MAX_LINES]
    else:
        try:
            _render_message(parsed, chosen, out, links, notes)
        except RecursionError:
            notes.append("The message nests too deeply to render; showing what was reached.")
    if links:
        out.extend(["", "Links:"])
        out.extend(
            f"[{i}] {sanitize_text(link, max_len=_MAX_LINK_CHARS)}"
            for i, link in enumerate(links, 1)
        )
    banner = tuple(
        sanitize_text(line, max_len=300) for line in (*parsed.defects, *dict.fromkeys(notes))
    )
    return RenderedBody(
        lines=BodyLines(out),
        chosen=chosen,
        available=available,
        banner=banner,
        links=tuple(sanitize_text(link, max_len=_MAX_LINK_CHARS) for link in links),
    )
