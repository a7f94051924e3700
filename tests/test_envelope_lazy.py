"""To, Cc and References are parsed on use: the same results as parsing them eagerly.

The listing keeps these three raw (they are not shown in the list and address
lists are the dearest thing to parse); the viewer, the thread view and the
patterns read them through properties. These tests hold the properties to what
an eager parse of the same header block gives, and to the sanitizing rule.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from popview.mail.envelope import _header_section, _ids, _raw_fields, parse_envelope
from popview.mail.headers import parse_addresses
from popview.session.payload import envelope_from_payload, envelope_payload
from tests.mail_support import FORBIDDEN

# Pieces of address lists and id lists, hostile ones included: specials, quotes,
# encoded words hiding commas or bidi controls, raw 8-bit bytes, folds, NUL.
PIECES = st.sampled_from(
    [
        b"Bob <bob@example.net>",
        b"carol@example.com",
        b", ",
        b",",
        b";",
        b'"Last, First" <lf@example.org>',
        b'"quo\\"ted" <q@x>',
        b"=?utf-8?q?Dani=C3=A8le?= <d@x>",
        b"=?utf-8?b?4oCuZXZpbA==?= <evil@x>",  # U+202E inside a name
        b"=?utf-8?q?a=2C_b?= <c@x>",  # a comma hidden in an encoded word
        b"group: a@x, b@y;",
        b"<m1@example.org>",
        b"<a b@x>",
        b"(comment) ",
        b"\xe9\xff",
        b"\x00\x1b[31m",
        b"\r\n\t",
        b" ",
        b"<",
        b">",
        b'"',
        b"[bold]",
    ]
)
VALUES = st.lists(PIECES, max_size=12).map(b"".join)


def _block(to: bytes, cc: bytes, refs: bytes) -> bytes:
    return (
        b"From: Alice <a@example.org>\r\nTo: " + to + b"\r\nCc: " + cc
        + b"\r\nReferences: " + refs + b"\r\nSubject: s\r\n\r\n"
    )  # fmt: skip


@settings(
    max_examples=300,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(to=VALUES, cc=VALUES, refs=VALUES)
def test_lazy_fields_equal_eager_parsing(to: bytes, cc: bytes, refs: bytes) -> None:
    block = _block(to, cc, refs)
    fields = _raw_fields(_header_section(block))
    row = parse_envelope(block, number=1, uid="u1", size=len(block))

    assert row.to == parse_addresses(fields.get("to", ""))
    assert row.cc == parse_addresses(fields.get("cc", ""))
    assert row.references == _ids(fields.get("references", ""), 100)
    shown = [a.display for a in row.to + row.cc] + list(row.references)
    for text in shown:
        assert not set(text) & FORBIDDEN, repr(text)
    # The cache's payload carries them unchanged to a warm start.
    rebuilt = envelope_from_payload(envelope_payload(row), number=1, uid="u1", size=len(block))
    assert rebuilt == row
    assert rebuilt is not None and (rebuilt.to, rebuilt.cc) == (row.to, row.cc)


def test_lazy_fields_on_a_plain_block() -> None:
    block = _block(
        b"Bob <bob@example.net>, carol@example.com",
        b"=?utf-8?q?Dani=C3=A8le?= <dani@example.fr>",
        b"<a@x> <b@y>\r\n\t<m0@example.net>",
    )
    row = parse_envelope(block, number=1, uid="u1", size=len(block))
    assert [a.display for a in row.to] == ["Bob <bob@example.net>", "carol@example.com"]
    assert [a.display for a in row.cc] == ["Danièle <dani@example.fr>"]
    assert row.references == ("<a@x>", "<b@y>", "<m0@example.net>")


def test_a_huge_to_is_kept_cut_to_what_is_parsed() -> None:
    """A To of 200,000 addresses costs one cut string per envelope, not a tuple."""
    block = _block(b", ".join(b"u%d@x" % n for n in range(200_000)), b"", b"")
    row = parse_envelope(block, number=1, uid="u1", size=len(block))
    assert len(row.to_raw) <= 8_192
    assert len(row.to) == 200
