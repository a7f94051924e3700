"""The listing's fast paths give exactly what the straightforward code gives.

The envelope parser reads 10,000 header blocks per listing, so its common cases
take shortcuts: the block decoded once and its fields found in one pass over
the text, RFC 2047 words split in one call, the usual RFC 5322 date read
directly, the first From address remembered. Each test here runs the shortcut
and the plain way (kept in the code as the fallback, or written out below as
the reference) over generated and hostile headers, and requires the same
result, which is still sanitized (rule "hostile-text").
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from popview.mail import headers
from popview.mail.charset import decode_bytes
from popview.mail.envelope import _fields, _header_section, _raw_fields, parse_envelope
from popview.mail.headers import (
    MAX_ENCODED_WORDS,
    RAW_VALUE_CAP,
    Address,
    decode_words,
    first_address,
    parse_addresses,
    parse_date,
)
from popview.sanitize import sanitize_header, sanitize_text
from tests.mail_support import FORBIDDEN

SETTINGS = settings(
    max_examples=400,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Pieces of header lines, hostile ones included: every case of the wanted
# names, look-alikes, folds, bare CR and LF, 8-bit and invalid UTF-8, NUL,
# escapes, bidi controls raw and encoded, "From " lines, malformed lines.
LINE_PIECES = st.sampled_from(
    [
        b"From: ",
        b"FROM:",
        b"fRoM \t: ",
        b"Subject: ",
        b"SUBJECT:",
        b"subject:",
        b"\xc5\xbfubject: ",  # U+017F folds to "s" in Unicode; a line that ends the header
        b"To: ",
        b"Cc:",
        b"Date: ",
        b"Message-ID: ",
        b"In-Reply-To: ",
        b"References: ",
        b"Content-Type: ",
        b"Return-Path: ",
        b"List-Id: ",
        b"X-Spam-Status: ",
        b"Authentication-Results: ",
        b"Received: ",
        b"X-Other: ",
        b"From someone Mon Mar  4",
        b"not a field",
        b"Subject",
        b": colon first",
        b"Alice <a@example.org>",
        b"=?utf-8?q?J=C3=B6rg?=",
        b"=?utf-8?b?4oCuZXZpbA==?=",
        b"na\xefve",
        b"\xc3\xa9t\xc3\xa9",
        b"\xe2\x80\xae",
        b"\xff\xfe",
        b"\x00",
        b"\x1b[31m",
        b"\r",
        b"\n",
        b"\r\n",
        b"\r\n\t",
        b"\r\n ",
        b"\n\t",
        b"\r\n\r\n",
        b" ",
        b"\t",
        b"body text",
    ]
)
BLOCKS = st.lists(LINE_PIECES, max_size=30).map(b"".join)


@SETTINGS
@given(block=BLOCKS)
@example(block=b"Subject: a\rb\r\n\r\n")
@example(block=b"X: 1\r\n\xc5\xbfubject: long s\r\nSubject: real\r\n\r\n")
@example(block=b"Subject: first\r\nSUBJECT: second\r\n\r\n")
@example(block=b"Subject: x\r\nnot a field\r\nFrom: after the end\r\n")
def test_fields_from_the_decoded_text_equal_the_bytes_path(block: bytes) -> None:
    assert _fields(block) == _raw_fields(_header_section(block))


def test_the_text_path_leaves_long_or_undecodable_blocks_to_the_bytes_path() -> None:
    """A value beyond decode_header_bytes's cut, or a block that is not UTF-8,
    is read the plain way: the cut may fall inside a character."""
    long_value = b"Subject: " + "é".encode() * (RAW_VALUE_CAP * 2 + 1) + b"\r\n\r\n"
    assert _fields(long_value) == _raw_fields(_header_section(long_value))
    latin1 = b"Subject: na\xefve\r\n\r\n"
    assert _fields(latin1)["subject"] == "naïve"


def _decode_words_reference(value: str, *, max_words: int = MAX_ENCODED_WORDS) -> str:
    """RFC 2047 decoding the plain way: one match at a time (the former code)."""
    value = value[:RAW_VALUE_CAP]
    if "=?" not in value:
        return value
    out: list[str] = []
    pending_charset: str | None = None
    pending = bytearray()
    pos = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            out.append(decode_bytes(bytes(pending), pending_charset)[0])
            pending.clear()
            pending_charset = None

    for count, match in enumerate(headers._ENCODED_WORD.finditer(value)):
        if count >= max_words:
            break
        between = value[pos : match.start()]
        if not (pending_charset is not None and not between.strip()):
            flush()
            out.append(between)
        charset, encoding, payload = match.groups()
        data = headers._decode_b(payload) if encoding in "bB" else headers._decode_q(payload)
        if charset.lower() != (pending_charset or "").lower():
            flush()
            pending_charset = charset
        pending.extend(data)
        pos = match.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


WORD_PIECES = st.sampled_from(
    [
        "=?utf-8?q?J=C3=B6rg?=",
        "=?UTF-8?Q?J=C3?=",
        "=?utf-8?b?tnJn?=",
        "=?utf-8?b?SsO=?=",
        "=?iso-8859-1?q?na=EFve?=",
        "=?ISO-8859-1?B?5w==?=",
        "=?koi8-r?b?98/T?=",
        "=?iso-2022-jp?B?GyRCJF4bKEI=?=",
        "=?utf-8*en?q?lang?=",
        "=?x-unknown?q?hi?=",
        "=?punycode?q?a?=",
        "=?utf-8?b?4oCuZXZpbA==?=",  # U+202E
        "=?us-ascii?q?=1B]52;c;aGk=3D=07?=",
        "=?utf-8?b?#$%?=",
        "=?utf-8?q??=",
        "=?utf-8?x?bad?=",
        "=?",
        "?=",
        " ",
        "  ",
        "\t",
        "\u3000",  # whitespace by str.isspace, not ASCII
        "\x85",
        "plain",
        "a,b",
        "\x1b",
        "\u202e",
    ]
)
WORDED = st.lists(WORD_PIECES, max_size=14).map("".join)


@SETTINGS
@given(value=WORDED, max_words=st.sampled_from([0, 1, 2, 3, MAX_ENCODED_WORDS]))
@example(value="=?utf-8?b?SsO=?= \t =?UTF-8?b?tnJn?= x", max_words=MAX_ENCODED_WORDS)
@example(value="=?utf-8?q?a?=\u3000=?utf-8?q?b?=", max_words=MAX_ENCODED_WORDS)
@example(value="=?utf-8?q?" + "=C3=A9" * 30 + "?= =?utf-8?b?" + "w6k=" * 40 + "?=", max_words=9)
def test_rfc2047_split_equals_one_match_at_a_time(value: str, max_words: int) -> None:
    assert decode_words(value, max_words=max_words) == _decode_words_reference(
        value, max_words=max_words
    )


DAYS = st.sampled_from(["Mon", "Tue", "Sun", "Fri"])
MONTHS = st.sampled_from(["Jan", "Feb", "Mar", "Jun", "Dec"])


@st.composite
def usual_dates(draw: st.DrawFn) -> str:
    """The usual RFC 5322 form, with values in and out of range."""
    day = draw(st.integers(0, 39))
    day_text = f"{day:02d}" if draw(st.booleans()) else str(day)
    year = draw(st.integers(1000, 9999))
    hour, minute, second = (draw(st.integers(0, 99)) for _ in range(3))
    sign = draw(st.sampled_from("+-"))
    zone = draw(st.sampled_from(["0000", "0100", "0530", "2359", "2400", "9999", "0099"]))
    return (
        f"{draw(DAYS)}, {day_text} {draw(MONTHS)} {year} "
        f"{hour:02d}:{minute:02d}:{second:02d} {sign}{zone}"
    )


@SETTINGS
@given(value=st.one_of(usual_dates(), st.text(max_size=40)))
@example(value="Mon, 04 Mar 2024 09:00:00 -0000")
@example(value="Mon, 04 Mar 2024 09:00:00 +0000")
@example(value="  Tue, 3 Mar 2026 10:15:00 +0100 ")
@example(value="Mon, 29 Feb 2023 09:00:00 +0000")
def test_the_usual_date_form_reads_as_the_email_package_reads_it(value: str) -> None:
    fast, slow = parse_date(value), headers._parse_date_slow(value.strip()[:200])
    assert fast == slow
    if fast is not None and slow is not None:
        assert (fast.isoformat(), fast.utcoffset()) == (slow.isoformat(), slow.utcoffset())


ADDRESS_PIECES = st.sampled_from(
    [
        "Alice <a@example.org>",
        "a@example.org",
        '"Last, First" <lf@example.org>',
        "=?utf-8?q?Dani=C3=A8le?= <d@x>",
        "=?utf-8?b?4oCuZXZpbA==?= <evil@x>",
        "ceo@bank.example <evil@x>",
        ", ",
        ";",
        "group: a@x, b@y;",
        "(comment)",
        "<",
        ">",
        '"',
        "\x1b[2J",
        "\u202e",
        " ",
    ]
)


@SETTINGS
@given(value=st.lists(ADDRESS_PIECES, max_size=6).map("".join))
def test_the_remembered_sender_is_the_parsed_one(value: str) -> None:
    parsed = parse_addresses(value, max_count=1)
    expected = parsed[0] if parsed else Address("", "")
    assert first_address(value) == expected
    assert first_address(value) == expected  # the second time from memory
    assert not set(expected.display) & FORBIDDEN


def test_hostile_fields_are_still_sanitized_on_the_fast_path() -> None:
    """Escapes and bidi controls, raw or encoded, in a UTF-8 block (the text path)."""
    block = (
        "From: \x1b]0;x\x07 \u202e <a@b>\r\n"
        "Subject: \x1b[2J =?utf-8?b?4oCuZXZpbA==?= \u2066x\r\n"
        "Date: Mon, 04 Mar 2024 09:00:00 +0000\r\n\r\n"
    ).encode()
    row = parse_envelope(block, number=1, uid="u", size=1)
    for text in (row.subject, row.sender, row.date_text):
        assert not set(text) & FORBIDDEN, repr(text)
    assert row.date is not None and row.date.isoformat() == "2024-03-04T09:00:00+00:00"


def _sanitize_header_reference(value: str, max_len: int) -> str:
    """The one-line sanitizing without its shortcut for clean ASCII."""
    line = " ".join(sanitize_text(value[: max_len * 4], max_len=max_len * 2).split())
    return line if len(line) <= max_len else line[: max_len - 1] + "…"


@SETTINGS
@given(
    value=st.text(st.characters(max_codepoint=0x7F), max_size=30) | st.text(max_size=30),
    max_len=st.sampled_from([1, 2, 5, 30, 2000]),
)
@example(value=" a", max_len=2000)
@example(value="a\tb", max_len=2000)
@example(value="a  b", max_len=2000)
@example(value="abc", max_len=2)
def test_clean_ascii_shortcut_of_the_header_sanitizer(value: str, max_len: int) -> None:
    assert sanitize_header(value, max_len=max_len) == _sanitize_header_reference(value, max_len)
