"""The pattern language (filter, bulk marks, rules, ``--match``): parser, terms, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from popview.mail.envelope import Envelope, parse_envelope
from popview.mail.pattern import (
    And,
    Attachment,
    DateTerm,
    MatchContext,
    New,
    Not,
    Or,
    Pattern,
    PatternError,
    SignalTerm,
    SizeTerm,
    Text,
    compile_pattern,
    parse_pattern,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def envelope(number: int = 1, **fields: object) -> Envelope:
    base: dict[str, object] = {"number": number, "uid": f"u{number}", "size": 1000}
    base.update(fields)
    return Envelope(**base)  # type: ignore[arg-type]


MAILBOX = [
    envelope(1, from_name="Alice", from_addr="alice@example.org", subject="Lunch on Friday"),
    envelope(2, from_addr="deals@shop.test", subject="50% OFF", size=6 << 20),
    envelope(3, from_name="Bob", from_addr="bob@example.net", subject="Re: report", size=5000),
    envelope(4, from_addr="news@list.test", subject="Weekly", to_raw="Me <me@x.test>"),
    envelope(5, from_addr="x@y.test", subject="invoice", has_attachment=True),
    envelope(6, from_addr="p@phish.test", signals=frozenset({"spam", "dmarc=fail"})),
    envelope(7, from_addr="old@example.org", date=NOW - timedelta(days=40)),
    envelope(8, from_addr="new@example.org", date=NOW - timedelta(days=2)),
    envelope(9, from_addr="bad@list.test", size=None),  # HARDENING F.60: size unknown
]


def matching(pattern: str, *, new: frozenset[int] = frozenset()) -> list[int]:
    ctx = MatchContext(now=NOW, is_new=lambda e: e.number in new)
    test = compile_pattern(pattern, ctx)
    return [e.number for e in MAILBOX if test(e)]


class TestTerms:
    """Each term picks the messages a user would expect."""

    def test_plain_text_matches_from_or_subject_ignoring_case(self) -> None:
        assert matching("alice") == [1]
        assert matching("LUNCH") == [1]
        assert matching("example.org") == [1, 7, 8]

    def test_sender_subject_recipient(self) -> None:
        assert matching("~f shop") == [2]
        assert matching("~s report") == [3]
        assert matching("~t me@x") == [4]
        assert matching("~t Me") == [4]
        assert matching('~s "50% off"') == [2]

    def test_size(self) -> None:
        assert matching("~z >5M") == [2]
        assert matching("~z <1K") == [1, 4, 5, 6, 7, 8]  # never the unknown size of 9
        assert matching("~z 5000") == [3]
        assert matching("~z >4k") == [2, 3]

    def test_age_and_date(self) -> None:
        assert matching("~d <30d") == [8]
        assert matching("~d >30d") == [7]
        assert matching("~d >1w") == [7]
        assert matching("~d <2026-03-01") == [7]
        assert matching("~d >2026-03-01") == [8]
        assert matching("~d 2026-03-08") == [8]

    def test_no_date_never_matches_a_date_term(self) -> None:
        assert matching("!~d <100y") == [1, 2, 3, 4, 5, 6, 9]

    def test_attachment_new_and_signals(self) -> None:
        assert matching("~A") == [5]
        assert matching("~N", new=frozenset({3, 4})) == [3, 4]
        assert matching("~x spam") == [6]
        assert matching("~x DMARC=fail") == [6]
        assert matching("~x dkim=pass") == []

    def test_and_or_not_and_grouping(self) -> None:
        assert matching("~f example ~s lunch") == [1]
        assert matching("~f shop | ~A") == [2, 5]
        assert matching("!~f example") == [2, 4, 5, 6, 9]
        assert matching("!(~f example | ~f test)") == []
        assert matching("(alice | bob) !~s re:") == [1]
        assert matching("~z<1K ~A") == [5]

    def test_precedence_and_binds_tighter_than_or(self) -> None:
        tree = parse_pattern("a b | c")
        assert tree == Or((And((Text("a"), Text("b"))), Text("c")))
        assert parse_pattern("!a b") == And((Not(Text("a")), Text("b")))


class TestErrors:
    """A bad pattern says where, and nothing else ever escapes."""

    @pytest.mark.parametrize(
        ("pattern", "position", "words"),
        [
            ("", 0, "empty"),
            ("   ", 0, "empty"),
            ("~q foo", 0, "unknown term '~q'"),
            ("alice ~", 6, "unknown term '~'"),
            ("(alice", 6, "')' expected"),
            ("alice)", 5, "unexpected ')'"),
            ("a | | b", 4, "unexpected '|'"),
            ("a |", 3, "expected"),
            ("~f", 2, "~f needs a value"),
            ("~s )", 3, "~s needs a value"),
            ("~z big", 3, "~z wants a size"),
            ("~z >5T", 3, "~z wants a size"),
            ("~d yesterday", 3, "~d wants an age"),
            ("~d 2026-02-30", 3, "no such date"),
            ('say "hi', 4, "unterminated quote"),
            ('x ""', 2, "empty quoted text"),
            ("!", 1, "expected"),
            ('ab"c', 2, "a quote inside a word"),
        ],
    )
    def test_position_and_reason(self, pattern: str, position: int, words: str) -> None:
        with pytest.raises(PatternError) as caught:
            parse_pattern(pattern)
        assert caught.value.position == position
        assert words in caught.value.reason
        assert f"column {position + 1}" in str(caught.value)

    def test_deep_nesting_is_an_error_not_a_recursion_crash(self) -> None:
        with pytest.raises(PatternError, match="nested too deeply"):
            parse_pattern("(" * 1000 + "a" + ")" * 1000)
        with pytest.raises(PatternError, match="nested too deeply"):
            parse_pattern("!" * 1000 + "a")

    def test_overlong_pattern_is_refused(self) -> None:
        with pytest.raises(PatternError, match="longer than"):
            parse_pattern("a " * 5000)

    @settings(max_examples=400, deadline=None)
    @given(st.text(alphabet='~fstzdANx!|() "\\<>0123456789KMdwa-', max_size=40))
    def test_any_input_parses_or_raises_pattern_error(self, text: str) -> None:
        try:
            tree = parse_pattern(text)
        except PatternError as exc:
            assert 0 <= exc.position <= len(text)
        else:
            compile_pattern(tree, MatchContext(now=NOW))(MAILBOX[0])


# --- round trips ------------------------------------------------------------------

_text = st.text(min_size=1, max_size=12).filter(lambda s: "\x00" not in s)
_leaf: st.SearchStrategy[Pattern] = st.one_of(
    st.builds(Text, _text, st.sampled_from(["", "f", "s", "t"])),
    st.builds(
        SizeTerm,
        st.sampled_from(["<", ">", ""]),
        st.integers(0, 10**6),
        st.sampled_from(["", "K", "M", "G"]),
    ),
    st.builds(
        lambda op, n, u: DateTerm(op, n * {"d": 1, "w": 7, "m": 30, "y": 365}[u], f"{n}{u}"),
        st.sampled_from(["<", ">"]),
        st.integers(0, 999),
        st.sampled_from("dwmy"),
    ),
    st.builds(
        lambda op, d: DateTerm(op, day=d),
        st.sampled_from(["<", ">", ""]),
        st.dates(min_value=datetime(1000, 1, 1).date()),
    ),
    st.just(Attachment()),
    st.just(New()),
    st.builds(SignalTerm, _text),
)


def _trees(children: st.SearchStrategy[Pattern]) -> st.SearchStrategy[Pattern]:
    parts = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(st.builds(Not, children), st.builds(And, parts), st.builds(Or, parts))


@settings(max_examples=300, deadline=None)
@given(st.recursive(_leaf, _trees, max_leaves=8))
def test_round_trip_parse_str_parse(tree: Pattern) -> None:
    """str() of any tree parses back to the same tree."""
    assert parse_pattern(str(tree)) == tree


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='~fszAN!|() "ab<>5Kd', max_size=30))
def test_round_trip_from_text(text: str) -> None:
    """Whatever parses, parses to the same tree from its canonical spelling."""
    try:
        tree = parse_pattern(text)
    except PatternError:
        return
    assert parse_pattern(str(tree)) == tree


def test_signals_from_a_real_header_block_are_matchable() -> None:
    """``~x`` works on what the envelope parser read (no extra round trip)."""
    block = (
        b"From: PayPal <service@paypa1.test>\r\n"
        b"Return-Path: <bounce@mailer.other.test>\r\n"
        b"Authentication-Results: mx.example.net; spf=fail smtp.mailfrom=other.test;\r\n"
        b" dkim=none; dmarc=fail header.from=paypa1.test\r\n"
        b"X-Spam-Status: Yes, score=9.1 required=5.0\r\n\r\n"
    )
    env = parse_envelope(block, number=1, uid="u", size=10)
    for pattern in ("~x spam", "~x dmarc=fail", "~x spf=fail", "~x authfail", "~x mismatch"):
        assert compile_pattern(pattern)(env), pattern
    assert not compile_pattern("~x list")(env)
