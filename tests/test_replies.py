"""LIST and UIDL blocks parsed whole (HARDENING A.12, A.13): the block parsers
(:func:`~popview.pop3.replies.scan_list`, :func:`~popview.pop3.replies.scan_uidl`)
take a fast path over an all-good block and otherwise sort rows one at a time;
these tests feed bytes on which the two could differ and check that the result
is always the row-by-row one (``parse_list``/``parse_uidl`` over the lines).
"""

from __future__ import annotations

from dataclasses import astuple
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from popview.pop3.replies import block_lines, parse_list, parse_uidl, scan_list, scan_uidl
from popview.session.rows import ListRows, Rejects, UidlRows

# Numbers at the edges of what a row may hold: the fast path reads at most 18
# digits without a leading zero, the row parser up to 19 digits (below 2**63).
EDGE_NUMBERS = [0, 1, 9, 10**17, 10**18 - 1, 10**18, 2**63 - 1, 2**63, 10**19, 10**20]


def _number() -> st.SearchStrategy[bytes]:
    plain = st.one_of(st.integers(0, 40), st.sampled_from(EDGE_NUMBERS), st.integers(0, 10**21))
    zeros = st.sampled_from([b"", b"", b"", b"0", b"00"])
    return st.builds(lambda z, n: z + str(n).encode(), zeros, plain)


# Bytes that may sit anywhere in a row: separators, blanks the fast path must not
# take for separators, bare CR, non-ASCII digits, invalid UTF-8, escapes.
NASTY = [b" ", b"  ", b"\t", b"\x0b", b"\x0c", b"\x1c", b"\r", b"\xc2\x85", b"\xc2\xa0",
         b"\xe2\x80\xa8", b"\xd9\xa2", b"\xff", b"\xc3", b"\x1b[2J", b"+", b"-", b","]  # fmt: skip
_nasty = st.sampled_from(NASTY)
_word = st.one_of(_number(), st.text("abcXYZ019:/-.!~", min_size=1, max_size=8).map(str.encode))


def _row(value: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """A row: mostly ``number SP value``, with junk glued on or in between."""
    good = st.builds(lambda n, v: n + b" " + v, _number(), value)
    noisy = st.lists(st.one_of(_word, _nasty), max_size=6).map(b"".join)
    tail = st.builds(lambda row, t: row + t, good, st.one_of(_nasty, _word))
    return st.one_of(good, good, noisy, tail, st.just(b""))


def _block(rows: list[bytes]) -> bytes:
    return b"".join(row + b"\r\n" for row in rows)


_max = st.one_of(st.none(), st.integers(0, 50))
_size = st.one_of(_number(), st.builds(lambda n: str(n).encode(), st.integers(0, 10**20)))
_uid = st.one_of(
    st.text("abcdefABCDEF0123456789!~<>", min_size=1, max_size=12).map(str.encode),
    st.lists(st.one_of(_word, _nasty), max_size=4).map(b"".join),
)


def _good_rows(value: st.SearchStrategy[bytes]) -> st.SearchStrategy[list[bytes]]:
    """Rows the fast path reads, numbers repeating or above the STAT count at times."""
    number = st.integers(1, 60).map(lambda n: str(n).encode())
    return st.lists(st.builds(lambda n, v: n + b" " + v, number, value), max_size=40)


def _plain_size() -> st.SearchStrategy[bytes]:
    return st.integers(0, 10**18 - 1).map(lambda n: str(n).encode())


def _plain_uid() -> st.SearchStrategy[bytes]:
    return st.text("abcdef0123456789!~<>@.", min_size=1, max_size=20).map(str.encode)


def _as_rows(block: bytes) -> list[bytes]:
    return block_lines(block)


def _agree(parse: Any, scan: Any, block: bytes, max_number: int | None) -> None:
    """The fast block scan gives what the row-by-row parser gives."""
    expected = parse(_as_rows(block), max_number)
    found, rejected = scan(block, max_number)
    assert [astuple(entry) for entry in expected.entries] == list(found.items())
    assert list(expected.rejected) == rejected


class TestFastAndRowByRowAgree:
    """Whatever the block, the whole-block parsers give the row-by-row result."""

    @settings(max_examples=400, deadline=None)
    @given(st.lists(_row(_size), max_size=25).map(_block), _max)
    @example(b"1 100\r\n2 200 \r\n", None)  # a trailing blank
    @example(b"1 100 x\r\n2 200\r\n", None)  # text after the size is allowed
    @example(b"1000000000000000000 5\r\n", None)  # 19 digits, below 2**63
    @example(b"9223372036854775808 5\r\n", None)  # 2**63
    @example(b"1 9223372036854775807\r\n2 9223372036854775808\r\n", None)  # sizes at 2**63
    @example(b"01 5\r\n1 6\r\n", None)  # a leading zero, then the same number
    @example(b"1 5\r7\r\n", None)  # a bare CR inside a line
    @example(b"1 2 3\r\n45\r\n", None)  # blanks that would pair across lines
    @example(b"1 1\r\n3 3\r\n", 2)  # above the STAT count
    def test_list_any_block(self, block: bytes, max_number: int | None) -> None:
        _agree(parse_list, scan_list, block, max_number)

    @settings(max_examples=300, deadline=None)
    @given(_good_rows(_plain_size()).map(_block), _max)
    def test_list_good_rows(self, block: bytes, max_number: int | None) -> None:
        """Blocks the fast path reads, with repeats and numbers above STAT mixed in."""
        _agree(parse_list, scan_list, block, max_number)

    @settings(max_examples=400, deadline=None)
    @given(st.lists(_row(_uid), max_size=25).map(_block), _max)
    @example(b"1 caf\xc3\xa9\r\n", None)  # non-ASCII, kept as sent
    @example(b"1 \xff\xc3\r\n2 x\r\n", None)  # invalid UTF-8: U+FFFD per line
    @example(b"1 a\xc2\x85b\r\n", None)  # NEL: a blank to str.split(), not to a row
    @example(b"1 a\xc2\xa0b\r\n", None)  # NBSP, likewise
    @example(b"1 a b\r\n2\r\n", None)  # an id with a space, then no id
    @example(b"1 a 3\r\n4\r\n", None)  # blanks that would pair across lines
    @example(b"1 \r\n", None)  # an empty id, kept as sent
    @example(b"1 a\r\n1 b\r\n", None)  # a repeated number
    def test_uidl_any_block(self, block: bytes, max_number: int | None) -> None:
        _agree(parse_uidl, scan_uidl, block, max_number)

    @settings(max_examples=300, deadline=None)
    @given(_good_rows(_plain_uid()).map(_block), _max)
    def test_uidl_good_rows(self, block: bytes, max_number: int | None) -> None:
        _agree(parse_uidl, scan_uidl, block, max_number)


class TestExamples:
    """What the parsers return, written out (A.12, A.13)."""

    def test_good_list_block(self) -> None:
        assert scan_list(b"1 100\r\n2 200\r\n10 5\r\n") == ({1: 100, 2: 200, 10: 5}, [])
        assert scan_list(b"") == ({}, [])

    def test_junk_list_rows_are_reported_and_good_rows_kept(self) -> None:
        block = b"1 100\r\n1 200\r\nabc\r\n2 30 \r\n3 3\r\n9223372036854775808 1\r\n"
        assert scan_list(block, max_number=2) == (
            {1: 100},
            ["1 200", "abc", "2 30 ", "3 3", "9223372036854775808 1"],
        )

    def test_uidl_ids_kept_as_sent(self) -> None:
        block = b"1 caf\xc3\xa9\r\n2 a b\r\n3 \r\nx 1\r\n2 again\r\n"
        assert scan_uidl(block) == ({1: "caf\u00e9", 2: "a b", 3: ""}, ["x 1", "2 again"])

    @pytest.mark.parametrize("feed", ["lines", "pieces"])
    def test_collectors_see_the_same_rows_in_any_batches(self, feed: str) -> None:
        """The session's collectors take batches of lines (or pieces of the block,
        CRLF-ended); a number repeated across batches is rejected like one inside
        a batch, and a junk row with a good number keeps the message listed."""
        list_block = b"1 100\r\n2 200\r\n2 300\r\n3 -1\r\n4 40\r\n"
        uidl_block = b"1 a\r\n2 b\r\n2 c\r\n4 d\r\n"
        rejects = Rejects()
        list_rows, uidl_rows = ListRows(rejects), UidlRows(rejects)
        for block, rows in ((list_block, list_rows), (uidl_block, uidl_rows)):
            lines = block_lines(block)
            for batch in (lines[:2], lines[2:]):
                if feed == "lines":
                    rows.feed(tuple(batch))
                else:
                    rows.feed(b"".join(line + b"\r\n" for line in batch))
        assert list_rows.entries(3) == [(1, 100), (2, 200), (3, None)]
        assert uidl_rows.rows == {1: "a", 2: "b", 4: "d"}
        assert rejects.kept == [
            "3 -1",
            "2 300 (message listed twice)",
            "2 c (message listed twice)",
            "4 40 (beyond STAT count)",
        ]
