"""render_body: the lines the viewer shows, compared with reviewed renderings."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from popview.mail.message import parse_message
from popview.mail.render import MAX_HTML_CHARS, MAX_LINE_CHARS, html_to_text, render_body
from tests.corpus.expected import corpus_files, render_for_review

CORPUS = Path(__file__).parent / "corpus"


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.stem)
def test_corpus_matches_reviewed_rendering(path: Path) -> None:
    """Each corpus mail renders exactly as reviewed by eye (see corpus/REVIEW.md)."""
    expected = path.with_suffix(".expected.txt").read_text(encoding="utf-8")
    assert render_for_review(path.read_bytes()) == expected


def test_every_corpus_file_is_reviewed() -> None:
    """REVIEW.md has a line for every corpus file."""
    review = (CORPUS / "REVIEW.md").read_text(encoding="utf-8")
    missing = [p.name for p in corpus_files() if f"`{p.name}`" not in review]
    assert missing == []


class TestChoosingTheForm:
    """Plain first, HTML on request or when alone, raw always available."""

    def test_prefer_html(self) -> None:
        """The HTML alternative is chosen when preferred."""
        body = render_body(parse_message((CORPUS / "alternative.eml").read_bytes()), True)
        assert body.chosen == "html"
        assert "shall we try the new café on Friday?" in body.text()

    def test_switch_to_raw(self) -> None:
        """Raw mode shows the source, still sanitized."""
        parsed = parse_message((CORPUS / "hostile-escapes.eml").read_bytes())
        body = render_body(parsed, mode="raw")
        assert body.chosen == "raw"
        assert "Content-Transfer-Encoding: 8bit" in body.text()
        assert "\x1b" not in body.text()

    def test_unavailable_mode_falls_back(self) -> None:
        """Asking for HTML on a plain-only mail shows plain."""
        parsed = parse_message((CORPUS / "koi8-r.eml").read_bytes())
        assert render_body(parsed, mode="html").chosen == "plain"

    def test_html_only_is_shown_as_html(self) -> None:
        """With no plain part, HTML is rendered without asking."""
        parsed = parse_message((CORPUS / "newsletter-html.eml").read_bytes())
        assert render_body(parsed).chosen == "html"


class TestHtml:
    """HTML to text: layout kept, links as footnotes, nothing active."""

    def test_links_are_numbered_footnotes(self) -> None:
        """Each distinct link gets one number; repeated links reuse it."""
        text, links, _ = html_to_text(
            '<a href="https://a.example/">A</a> <a href="https://b.example/">B</a>'
            ' <a href="https://a.example/">again</a>'
        )
        assert text == "A[1] B[2] again[1]"
        assert links == ["https://a.example/", "https://b.example/"]

    def test_script_and_javascript_links_are_inert(self) -> None:
        """Scripts are not shown; javascript: and data: links get no footnote."""
        text, links, _ = html_to_text(
            "<script>alert(1)</script><a href='javascript:x()'>j</a>"
            "<a href='data:text/html,x'>d</a><a href='#top'>t</a>"
        )
        assert "alert" not in text
        assert links == []

    def test_escape_sequences_inside_html(self) -> None:
        """ESC written as an entity or raw in HTML is still made visible."""
        parsed = parse_message(
            b"Content-Type: text/html\r\n\r\n<p>&#27;[2J x \x1b]0;t\x07 &#x9b;</p>"
            b"<a href='https://x.example/\x1b[2J'>l</a>"
        )
        text = render_body(parsed).text()
        assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text
        assert "␛[2J" in text

    def test_huge_html_is_cut_with_a_banner(self) -> None:
        """HTML beyond the cap is cut before layout and the banner says so."""
        html = "<p>" + "word " * (MAX_HTML_CHARS // 5 + 10) + "</p>"
        parsed = parse_message(b"Content-Type: text/html\r\n\r\n" + html.encode())
        body = render_body(parsed)
        assert any("HTML part was cut" in line for line in body.banner)

    def test_deeply_nested_html(self) -> None:
        """50,000 nested divs render without RecursionError escaping."""
        html = "<div>" * 50_000 + "deep" + "</div>" * 50_000
        parsed = parse_message(b"Content-Type: text/html\r\n\r\n" + html.encode())
        assert isinstance(render_body(parsed).text(), str)


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback server that records every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    seen.append(conn.recv(4096))
                except OSError:
                    seen.append(b"")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join(2)
    server.close()


def test_nothing_remote_is_ever_fetched(listener: tuple[int, list[bytes]]) -> None:
    """DTDs, entities, images, CSS imports, iframes, XInclude: no connection is made."""
    port, seen = listener
    url = f"http://127.0.0.1:{port}"
    html = f"""<?xml version="1.0"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "{url}/dtd" [
  <!ENTITY ext SYSTEM "{url}/entity">
  <!ENTITY file SYSTEM "file:///etc/passwd">
]>
<html xmlns:xi="http://www.w3.org/2001/XInclude"><head>
<link rel="stylesheet" href="{url}/css"><style>@import url("{url}/import");</style>
<meta http-equiv="refresh" content="0; url={url}/refresh">
</head><body background="{url}/bg">&ext; &file;
<img src="{url}/pixel.gif"><img srcset="{url}/set 2x"><iframe src="{url}/frame"></iframe>
<svg><image href="{url}/svg"/></svg><xi:include href="{url}/xinclude"/>
<object data="{url}/object"></object><video poster="{url}/poster"></video>
<p>visible text</p></body></html>"""
    raw = b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html.encode()
    text = render_body(parse_message(raw), prefer_html=True).text()
    newsletter = parse_message((CORPUS / "newsletter-html.eml").read_bytes())
    render_body(newsletter).text()
    assert "visible text" in text
    assert "root:" not in text  # the file entity was not expanded
    assert seen == []


@pytest.mark.parametrize(
    "body",
    [
        b"plain ascii\r\nlines",
        b"esc \x1b[2J\r\ncr\rmid",
        "sep\u2028x\u0085y".encode(),
        b"z" * 5_000,
    ],
)
def test_text_is_the_lines_joined(body: bytes) -> None:
    """RenderedBody.text() (one-pass sanitizing) equals the lines the viewer reads."""
    rendered = render_body(parse_message(b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body))
    assert rendered.text() == "\n".join(rendered.lines)


def test_line_cap_marker() -> None:
    """A line longer than the cap ends with a marker saying how much is hidden."""
    parsed = parse_message(b"\r\n" + b"y" * (MAX_LINE_CHARS + 123))
    assert render_body(parsed).lines[0].endswith(" [+123 characters]")
