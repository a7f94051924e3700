"""Fuzzing the mail layer: arbitrary and mutated messages never raise or hang.

Every example goes through parse_envelope, parse_message and render_body (the
first screen, the banner and the attachment list, as the viewer reads them).
Bounded time per message is enforced with hypothesis's per-example deadline,
set generously so a loaded CI machine does not flake; a hang or a quadratic
path blows through it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from popview.mail.envelope import parse_envelope
from popview.mail.message import parse_message
from popview.mail.render import render_body
from tests.mail_support import FORBIDDEN

pytestmark = pytest.mark.slow  # hypothesis fuzzing of the parsers

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.eml"))
SEEDS = [p.read_bytes() for p in CORPUS]

FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def view(raw: bytes) -> None:
    """Do what the list and the viewer do with a message, and check the output."""
    row = parse_envelope(raw[:65_536], number=1, uid=None, size=len(raw))
    parsed = parse_message(raw)
    for prefer_html in (False, True):
        body = render_body(parsed, prefer_html=prefer_html)
        assert body.text() == "\n".join(body.lines)  # the fast path agrees
        shown = [*body.lines[:60], *body.banner, *body.links]
        shown += [row.subject, row.sender, parsed.subject]
        shown += [a.display for a in parsed.from_ + parsed.to + row.to + row.cc]
        shown += list(row.references)
        shown += [f"{a.filename} {a.content_type}" for a in parsed.attachments]
        shown += [h.name + h.value for h in parsed.headers[:50]]
        for text in shown:
            assert not set(text) & FORBIDDEN, repr(text)
    for attachment in parsed.attachments[:5]:
        assert isinstance(attachment.data(), bytes)


HEADER_NAMES = st.sampled_from(
    [b"From", b"To", b"Subject", b"Content-Type", b"Content-Transfer-Encoding", b"Date", b"X-A"]
)
MIME_WORDS = st.sampled_from(
    [
        b"multipart/mixed; boundary=b",
        b"multipart/alternative; boundary=b",
        b"message/rfc822",
        b"text/html; charset=x-foo",
        b'text/plain; charset="utf-8\\"evil"',
        b"base64",
        b"quoted-printable",
        b"=?utf-8?b?w6k=?=",
        b"=?x?q?=1B[2J?=",
        b"--b",
        b"--b--",
        b"\x1b]52;c;x\x07",
        b"\xc2\x9b",
        b"<a href='x'>",
        b"begin 644 f",
        b"\x00",
        b"\r",
    ]
)


@st.composite
def mime_like(draw: st.DrawFn) -> bytes:
    """Messages made of MIME-shaped fragments, so the parser goes deep."""
    lines = []
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            lines.append(draw(HEADER_NAMES) + b": " + draw(MIME_WORDS))
        elif kind == 1:
            lines.append(draw(MIME_WORDS))
        elif kind == 2:
            lines.append(b"")
        else:
            lines.append(draw(st.binary(max_size=80)))
    return b"\r\n".join(lines)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A corpus mail with bytes flipped, inserted, deleted and truncated."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 12))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        op = draw(st.integers(0, 3))
        if op == 0:
            data[pos] = draw(st.integers(0, 255))
        elif op == 1:
            data[pos:pos] = draw(MIME_WORDS)
        elif op == 2:
            del data[pos : pos + draw(st.integers(1, 200))]
        else:
            del data[pos:]
    return bytes(data)


@FUZZ
@given(st.binary(max_size=4_000))
def test_arbitrary_bytes(raw: bytes) -> None:
    """Random bytes: no exception, nothing unsafe shown."""
    view(raw)


@FUZZ
@given(mime_like())
def test_mime_shaped_messages(raw: bytes) -> None:
    """MIME-shaped fragments in random order: no exception, nothing unsafe shown."""
    view(raw)


@FUZZ
@given(mutated())
def test_mutated_corpus(raw: bytes) -> None:
    """Corpus mails with random damage: no exception, nothing unsafe shown."""
    view(raw)


@FUZZ
@given(st.text(max_size=2_000))
def test_arbitrary_text_as_utf8(text: str) -> None:
    """Any Unicode text (bidi, C1, surrogate-free) sent as UTF-8 bytes."""
    view(("Subject: " + text + "\r\n\r\n" + text).encode("utf-8", "surrogatepass"))
