"""The listing's header-block parser: what each row of the mailbox list shows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from popview.mail.envelope import Envelope, parse_envelope, parse_envelopes
from popview.mail.message import parse_message
from tests.corpus.expected import corpus_files


def env(block: bytes) -> Envelope:
    return parse_envelope(block, number=7, uid="uid-7", size=1234)


BASIC = (
    b"Return-Path: <alice@example.org>\r\n"
    b"Received: from mx.example.org by pop.example.net;\r\n"
    b"\tTue, 03 Mar 2026 10:15:01 +0100\r\n"
    b"From: Alice Example <alice@example.org>\r\n"
    b"To: Bob <bob@example.net>, carol@example.com\r\n"
    b"Cc: =?utf-8?q?Dani=C3=A8le?= <dani@example.fr>\r\n"
    b"Subject: Lunch\r\n on Friday?\r\n"
    b"Date: Tue, 03 Mar 2026 10:15:00 +0100\r\n"
    b"Message-ID: <m1@example.org>\r\n"
    b"In-Reply-To: <m0@example.net>\r\n"
    b"References: <a@x> <b@y>\r\n\t<m0@example.net>\r\n"
    b"Content-Type: multipart/mixed; boundary=x\r\n"
    b"\r\n"
    b"Subject: this is the body, not a header\r\n"
)


class TestFields:
    """The columns of the list come out decoded and complete."""

    def test_every_field(self) -> None:
        """From, To, Cc, Subject (unfolded), Date, ids and the attachment hint."""
        e = env(BASIC)
        assert (e.number, e.uid, e.size) == (7, "uid-7", 1234)
        assert (e.from_name, e.from_addr) == ("Alice Example", "alice@example.org")
        assert [a.display for a in e.to] == ["Bob <bob@example.net>", "carol@example.com"]
        assert [a.display for a in e.cc] == ["Danièle <dani@example.fr>"]
        assert e.subject == "Lunch on Friday?"
        assert e.date == datetime(2026, 3, 3, 10, 15, tzinfo=timezone(timedelta(hours=1)))
        assert e.date_text == "Tue, 03 Mar 2026 10:15:00 +0100"
        assert e.message_id == "<m1@example.org>"
        assert e.in_reply_to == "<m0@example.net>"
        assert e.references == ("<a@x>", "<b@y>", "<m0@example.net>")
        assert e.has_attachment

    def test_body_after_the_blank_line_is_ignored(self) -> None:
        """A server that sends body lines with TOP n 0 cannot change the row."""
        assert env(BASIC).subject == "Lunch on Friday?"

    def test_first_occurrence_wins(self) -> None:
        """A second Subject cannot replace the first (as in email.message)."""
        assert env(b"Subject: one\r\nSubject: two\r\n\r\n").subject == "one"

    def test_sender_shows_name_and_address(self) -> None:
        """A name that looks like an address cannot hide the real one."""
        e = env(b"From: ceo@bank.example <evil@example.com>\r\n\r\n")
        assert e.sender == "ceo@bank.example <evil@example.com>"

    def test_sender_without_name(self) -> None:
        """A bare address is shown as it is."""
        assert env(b"From: a@example.org\r\n\r\n").sender == "a@example.org"

    def test_unknown_zone_date_is_utc(self) -> None:
        """'-0000' (zone unknown, RFC 5322 §3.3) still gives an aware datetime."""
        e = env(b"Date: Tue, 03 Mar 2026 10:15:00 -0000\r\n\r\n")
        assert e.date is not None and e.date.tzinfo is not None

    def test_garbage_date_is_none(self) -> None:
        """An unparsable Date leaves date None and shows the text."""
        e = env(b"Date: yesterday-ish\r\n\r\n")
        assert e.date is None
        assert e.date_text == "yesterday-ish"

    def test_plain_message_has_no_attachment_hint(self) -> None:
        """text/plain and multipart/alternative do not get the paperclip."""
        assert not env(b"Content-Type: text/plain\r\n\r\n").has_attachment
        assert not env(b"Content-Type: multipart/alternative; b=1\r\n\r\n").has_attachment

    def test_batch(self) -> None:
        """parse_envelopes keeps numbers and uids in order."""
        rows = parse_envelopes([(b"Subject: a\r\n", 1, "u1", 10), (b"Subject: b\r\n", 2, None, 20)])
        assert [(r.number, r.uid, r.subject) for r in rows] == [(1, "u1", "a"), (2, None, "b")]


class TestEncodings:
    """RFC 2047 words, raw 8-bit headers and line endings."""

    def test_split_multibyte_character_across_words(self) -> None:
        """A UTF-8 character split over two encoded words is joined back (RFC 2047 §6.2)."""
        e = env(b"Subject: =?utf-8?b?SsO=?= =?utf-8?b?tnJn?=\r\n\r\n")
        assert e.subject == "Jörg"

    def test_space_between_encoded_and_plain_words_is_kept(self) -> None:
        """Only whitespace *between* two encoded words is dropped."""
        assert env(b"Subject: =?utf-8?q?caf=C3=A9?= au lait\r\n\r\n").subject == "café au lait"

    def test_raw_utf8_and_latin1_headers(self) -> None:
        """8-bit headers: UTF-8 if valid, else Windows-1252."""
        assert env("Subject: naïve\r\n\r\n".encode()).subject == "naïve"
        assert env(b"Subject: na\xefve \x93q\x94\r\n\r\n").subject == "naïve “q”"

    def test_unknown_and_refused_charsets(self) -> None:
        """x-unknown, punycode and rot13 labels decode as text without raising (D 39)."""
        e = env(b"Subject: =?x-unknown?q?hi?= =?punycode?q?a?= =?rot13?q?b?=\r\n\r\n")
        assert e.subject == "hiab"

    def test_bad_base64_word(self) -> None:
        """Garbage and missing padding in a B word decode as far as they go."""
        assert env(b"Subject: =?utf-8?b?aGVsbG8?=\r\n\r\n").subject == "hello"
        assert env(b"Subject: =?utf-8?b?#$%?=\r\n\r\n").subject == ""

    @pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
    def test_line_endings(self, eol: bytes) -> None:
        """Bare LF, CR-only and CRLF header blocks parse the same (A 11)."""
        block = eol.join([b"From: a@example.org", b"Subject: hi", b" there", b"", b"body"])
        e = env(block)
        assert (e.from_addr, e.subject) == ("a@example.org", "hi there")


class TestHostile:
    """Hostile header blocks give a row, capped, without stalling (D 36-41)."""

    def test_escape_sequences_raw_and_encoded(self) -> None:
        """ESC and 8-bit C1, raw or inside an encoded word, never reach the row."""
        e = env(
            b"From: \x1b]0;x\x07 <a@b>\r\n"
            b"Subject: \x1b[2J =?us-ascii?q?=1B]52;c;aGk=3D=07?= \xc2\x9b2J\r\n\r\n"
        )
        assert "\x1b" not in e.subject + e.from_name
        assert "\x9b" not in e.subject
        assert e.subject == "␛[2J ␛]52;c;aGk=␇ \ufffd2J"

    def test_malformed_line_ends_the_header_like_the_viewer(self) -> None:
        """A NUL in a field name ends the header section, as email.feedparser does."""
        e = env(b"Subject: s\r\nX-A\x00B: v\r\nDate: Tue, 03 Mar 2026 10:15:00 +0100\r\n\r\n")
        assert (e.subject, e.date) == ("s", None)

    def test_nul_in_values(self) -> None:
        """NUL shows as ␀ and the rest of the value is kept (D 40)."""
        assert env(b"Subject: a\x00b\r\n\r\n").subject == "a␀b"

    def test_no_headers_and_whitespace_line(self) -> None:
        """No header fields, or a whitespace-only line, give an empty row."""
        assert env(b"\r\nbody only").subject == ""
        assert env(b"").subject == ""
        assert env(b"   \r\n\r\n").subject == ""

    def test_one_megabyte_subject_is_capped(self) -> None:
        """A 1 MB Subject yields a capped one-line subject (gh-136063 class)."""
        e = env(b"Subject: " + b"A" * 1_000_000 + b"\r\n\r\n")
        assert len(e.subject) <= 998
        assert e.subject.endswith("…")

    def test_sixteen_thousand_encoded_words(self) -> None:
        """16,000 encoded words are decoded up to a cap, the row still appears."""
        e = env(b"Subject: " + b"=?utf-8?q?ab?= " * 16_000 + b"\r\n\r\n")
        assert e.subject.startswith("abab")
        assert len(e.subject) <= 998

    def test_two_hundred_thousand_semicolons_in_to(self) -> None:
        """To with 200,000 ';' parses (capped) and the rest of the row is intact."""
        e = env(b"To: " + b";" * 200_000 + b"\r\nSubject: still here\r\n\r\n")
        assert e.subject == "still here"
        assert len(e.to) <= 200

    def test_million_angle_brackets_in_from(self) -> None:
        """'<' x 1,000,000 in From does not stall the parser (CVE-2018-1060 class)."""
        e = env(b"From: " + b"<" * 1_000_000 + b"\r\nSubject: ok\r\n\r\n")
        assert e.subject == "ok"

    def test_many_unterminated_addresses(self) -> None:
        """200k unterminated '<a@' in To parse in bounded time."""
        e = env(b"To: " + b"<a@" * 200_000 + b"\r\n\r\n")
        assert len(e.to) <= 200


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.stem)
def test_listing_agrees_with_the_viewer(path: object) -> None:
    """For every corpus mail, the list row shows what the viewer's header shows."""
    from pathlib import Path

    assert isinstance(path, Path)
    raw = path.read_bytes()
    row = env(raw)
    parsed = parse_message(raw)
    assert row.subject == parsed.subject
    if parsed.from_:
        assert row.sender == parsed.from_[0].display
    assert row.date == parsed.date
