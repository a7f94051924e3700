"""parse_message: what the viewer learns from RETR bytes, for real and hostile mail."""

from __future__ import annotations

from pathlib import Path

import pytest

from popview.mail.message import parse_message
from popview.mail.model import ParsedMessage
from popview.mail.render import render_body

CORPUS = Path(__file__).parent / "corpus"


def corpus(name: str) -> ParsedMessage:
    return parse_message((CORPUS / f"{name}.eml").read_bytes())


def body_text(parsed: ParsedMessage, **kwargs: object) -> str:
    return render_body(parsed, **kwargs).text()  # type: ignore[arg-type]


class TestHeaders:
    """The header pane: decoded, sanitized, both name and address."""

    def test_viewer_headers(self) -> None:
        """From/To/Date/Subject of a plain mail, and the local date."""
        m = corpus("alternative")
        assert [a.display for a in m.from_] == ["Alice Example <alice@example.org>"]
        assert [a.display for a in m.to] == ["Bob Example <bob@example.net>"]
        assert m.subject == "Lunch on Friday?"
        assert m.date_text == "Tue, 03 Mar 2026 10:15:00 +0100"
        assert m.date is not None and m.date.utcoffset() is not None
        assert len(m.date_local) == len("2026-03-03 10:15")

    def test_reply_to_and_cc(self) -> None:
        """Reply-To and Cc are parsed like From."""
        raw = (
            b"From: a@example.org\r\nReply-To: Lists <list@example.org>\r\n"
            b"Cc: c@example.org, =?utf-8?q?D=C3=A9?= <d@example.org>\r\n\r\nbody\r\n"
        )
        m = parse_message(raw)
        assert [a.display for a in m.reply_to] == ["Lists <list@example.org>"]
        assert [a.display for a in m.cc] == ["c@example.org", "Dé <d@example.org>"]

    def test_all_headers_on_demand(self) -> None:
        """Every header in order, folded values unfolded, NUL shown as ␀."""
        m = corpus("hostile-nul")
        names = [h.name for h in m.headers]
        assert names[:3] == ["From", "To", "Subject"]
        assert dict((h.name, h.value) for h in m.headers)["Subject"] == "before␀after"

    def test_name_posing_as_address(self) -> None:
        """A display name that is an address still shows the real address."""
        m = parse_message(b'From: "ceo@bank.example" <evil@example.com>\r\n\r\nx')
        assert m.from_[0].display == "ceo@bank.example <evil@example.com>"

    def test_rich_markup_is_plain_text(self) -> None:
        """Markup-like subjects stay as typed; the UI must show them literally (D 37)."""
        m = corpus("hostile-markup")
        assert m.subject == "[/]Re: hi [link=file:///etc/passwd]x[/link] [@click=app.quit]x[/]"
        assert m.from_[0].display == "[bold red]Boss[/] <boss@example.com>"

    def test_escapes_in_headers(self) -> None:
        """Raw, encoded and 8-bit escape sequences become placeholders (D 36)."""
        m = corpus("hostile-escapes")
        shown = m.subject + m.from_[0].display + "".join(h.value for h in m.headers)
        assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
        assert m.subject == "␛[2JHi ␛]0;pwned␇␛]2;title␇ x"

    def test_bidi_in_name_and_subject(self) -> None:
        """RLO, isolates, ZWSP and BOM in From and Subject are neutralised (D 38)."""
        m = corpus("hostile-bidi")
        for text in (m.subject, m.from_[0].name):
            assert not set(text) & set("\u202e\u2066\u2069\u200b\ufeff")
        assert m.from_[0].name == "Pay\ufffdPal \ufffdSupport\ufffd"


class TestStructure:
    """Body forms, attachments and nested messages of real-world shapes."""

    def test_alternative_offers_both_forms(self) -> None:
        """multipart/alternative: plain shown, HTML available."""
        body = render_body(corpus("alternative"))
        assert body.available == ("plain", "html", "raw")
        assert body.chosen == "plain"

    def test_related_inline_image(self) -> None:
        """The inline image is an inline attachment with its Content-ID."""
        (image,) = corpus("related-inline-image").attachments
        assert (image.filename, image.content_type, image.inline) == ("logo.png", "image/png", True)
        assert image.content_id == "logo@example.com"
        assert image.data().startswith(b"\x89PNG")

    def test_forward_is_nested_with_its_attachment(self) -> None:
        """message/rfc822: shown inline, saved as .eml, its PDF listed too."""
        m = corpus("forward-rfc822")
        nested = [s.message for s in m.segments if s.message is not None]
        assert len(nested) == 1 and nested[0].subject == "Quarterly numbers"
        names = [a.filename for a in m.attachments]
        assert names == ["Quarterly numbers.eml", "q1.pdf"]
        assert m.attachments[0].data().startswith(b"From: Erin")
        assert m.attachments[1].data() == b"%PDF-1.4\n% fake but harmless\n"

    def test_fifty_attachments(self) -> None:
        """All 50 are listed, in order, each decodable."""
        atts = corpus("fifty-attachments").attachments
        assert len(atts) == 50
        assert atts[9].filename == "scan-10.txt"
        assert atts[9].data() == b"scan number 10\n"

    def test_calendar_invite_is_an_attachment(self) -> None:
        """text/calendar is offered as invite.ics, the plain text is the body."""
        m = corpus("calendar-invite")
        (ics,) = m.attachments
        assert (ics.filename, ics.content_type) == ("invite.ics", "text/calendar")
        assert b"SUMMARY:Project kickoff" in ics.data()

    def test_uuencoded_file(self) -> None:
        """A uuencoded block becomes an attachment with the decoded bytes."""
        (uu,) = corpus("uuencode").attachments
        assert uu.filename == "hello.txt"
        assert uu.data() == b"Hello from 1995!\n" * 3

    def test_truncated_uuencode(self) -> None:
        """A cut-off block decodes as far as it goes, with a banner; name made safe."""
        m = corpus("hostile-truncated-uuencode")
        (uu,) = m.attachments
        assert uu.filename == "profile"
        assert uu.data().startswith(b"This file was cut off")
        assert any("incomplete" in d for d in m.defects)

    def test_bad_base64_attachment_decodes_partly(self) -> None:
        """Garbage base64 gives the bytes that decode, no exception (D 43)."""
        m = corpus("base64-bad-padding")
        assert m.attachments[0].data().startswith(b"Hello")
        assert "text is still here!" in body_text(m)

    def test_unclosed_boundary(self) -> None:
        """Both parts are shown and the banner says the boundary never closed."""
        m = corpus("hostile-unclosed-boundary")
        assert "Second part" in body_text(m)
        assert "A multipart section was never closed." in m.defects

    def test_hostile_attachment_names(self) -> None:
        """Traversal, hidden and empty names come out safe (D 38, 43)."""
        names = [a.filename for a in corpus("hostile-filenames").attachments]
        assert names[:6] == ["etc_passwd", "bashrc", "a_bc.txt", "rf", "part-5.bin", "part-6.bin"]
        assert all("/" not in n and not n.startswith(".") for n in names)


class TestCharsets:
    """Declared, wrong, unknown and malformed charsets (D 39)."""

    @pytest.mark.parametrize(
        ("name", "subject", "phrase"),
        [
            ("iso-2022-jp", "会議の件", "来週の会議は水曜日の午後三時からです。"),
            ("koi8-r", "Привет из Москвы", "погода отличная, приезжай."),
            ("cp1252-wrong-charset", "“Café” € menu", "“Smart quotes” cost €5 – said the café"),
            ("qp-soft-breaks", "Quoted-printable with soft line breaks", "naïve résumé."),
        ],
    )
    def test_real_world_charsets(self, name: str, subject: str, phrase: str) -> None:
        """Subject and body read correctly."""
        m = corpus(name)
        assert m.subject == subject
        assert phrase in body_text(m)

    def test_utf8_label_on_windows_1252_text(self) -> None:
        """Text labelled UTF-8 with no valid UTF-8 sequence is read as Windows-1252."""
        m = parse_message(b"Content-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9 \x93ok\x94")
        assert body_text(m) == "café “ok”"

    def test_utf8_with_one_bad_byte_stays_utf8(self) -> None:
        """Real UTF-8 with a stray byte keeps its characters, one U+FFFD for the stray."""
        m = parse_message(
            "Content-Type: text/plain; charset=utf-8\r\n\r\nnaïve ".encode() + b"\xff"
        )
        assert body_text(m) == "naïve \ufffd"

    def test_hostile_charsets_never_raise(self) -> None:
        """x-foo, utf-8\\"evil, invalid UTF-8 and unicode_escape all decode."""
        text = body_text(corpus("hostile-charsets"))
        assert "escaped quote in charset: é" in text
        assert "invalid utf-8 next to valid é: \ufffd\ufffd \ufffd end" in text
        assert "not a charset: \\x1b[2J" in text  # unicode_escape is refused, not run


def nested(depth: int) -> bytes:
    head = b"From: a@example.org\r\nSubject: deep\r\n"
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    return head + opening + b"Content-Type: text/plain\r\n\r\nbottom\r\n"


class TestLimits:
    """Depth, part count and size limits: shown as far as it goes, with a banner (D 41-43)."""

    def test_nesting_5000_deep_falls_back_to_raw(self) -> None:
        """RecursionError is caught; the raw text is shown with a banner."""
        m = parse_message(nested(5_000))
        assert "The MIME structure nests too deeply." in m.defects
        assert "bottom" in body_text(m)

    def test_nesting_beyond_the_cap(self) -> None:
        """Nesting under the recursion limit but over the cap is cut with a banner."""
        m = parse_message(nested(100))
        assert any("nesting deeper than" in d for d in m.defects)
        assert render_body(m).chosen == "raw"

    def test_ten_thousand_parts(self) -> None:
        """10,000 parts: the first are shown, the banner says the rest is not."""
        raw = (
            b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n"
            + b"--p\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n" * 10_000
            + b"--p--\r\n"
        )
        m = parse_message(raw)
        assert 0 < len(m.attachments) < 10_000
        assert any("MIME parts" in d for d in m.defects)

    def test_huge_single_line_body(self) -> None:
        """A 50 MB single line: the screen gets one capped line (D 43)."""
        m = parse_message(b"Subject: big\r\n\r\n" + b"x" * 50_000_000)
        body = render_body(m)
        first = body.lines[0]
        assert first.startswith("xxxx")
        assert first.endswith("characters]")
        assert len(first) < 5_000

    def test_million_lines(self) -> None:
        """1,000,000 short lines are all there, read lazily."""
        m = parse_message(b"Subject: long\r\n\r\n" + b"line\r\n" * 1_000_000)
        body = render_body(m)
        assert len(body.lines) >= 1_000_000
        assert body.lines[999_999] == "line"

    @pytest.mark.parametrize(
        "raw",
        [
            b"",
            b"\r\n",
            b"no colon at all",
            b"Subject: only a header",
            b"   \r\n\r\n",
            b"Content-Type: multipart/mixed\r\n\r\nno boundary",
            b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
            b"Content-Transfer-Encoding: base64\r\n\r\n====",
            b"Content-Type: message/rfc822\r\n\r\n",
            b'Content-Type: text/plain; charset="\x00\xff"\r\n\r\nx',
            b"Content-Type: text/plain" + b"; a=b" * 20_000 + b"\r\n\r\nbody",
        ],
    )
    def test_degenerate_messages(self, raw: bytes) -> None:
        """Empty, header-only and malformed messages parse and render."""
        m = parse_message(raw)
        assert isinstance(render_body(m).text(), str)
