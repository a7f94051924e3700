"""What the dialogs and the status line say about marks and rules (pure functions).

The Pilot tests (tests/test_ui_rules.py) show these on screen; here the edges:
no rule, many marks, a name that looks like markup, the words for sizes.
"""

from __future__ import annotations

from typing import Any, cast

from popview.mail.envelope import Envelope
from popview.session.identity import MessageKey
from popview.ui.list_model import MailboxListing
from popview.ui.mark_groups import BY_YOU, Heading, describe_marks, group_marks, group_summary
from popview.ui.messages import RulesApplied
from popview.ui.rule_marks import describe_rules
from popview.ui.widgets.formatting import size_label


def listing_of(count: int) -> MailboxListing:
    listing = MailboxListing()
    listing.add(
        (
            MessageKey(f"uid-{n:04d}"),
            Envelope(number=n, uid=f"uid-{n:04d}", size=1000, from_name=f"S{n}", subject=f"m{n}"),
        )
        for n in range(1, count + 1)
    )
    listing.rebuild()
    return listing


class TestGroups:
    def test_largest_rule_first_the_users_own_last(self) -> None:
        marks = ["a", "b", "c", "d", "e", "f"]
        rules = {"a": "news", "b": "spam", "c": "spam", "d": "spam", "e": "news"}
        assert group_marks(marks, rules) == [
            ("spam", ["b", "c", "d"]),
            ("news", ["a", "e"]),
            (BY_YOU, ["f"]),
        ]
        assert group_summary(marks, rules) == "spam 3, news 2, marked by you 1"

    def test_without_rules_no_groups(self) -> None:
        """Only the user's marks: the plain list, as before rules existed."""
        listing = listing_of(3)
        lines = describe_marks(listing, ["uid-0001", "uid-0003"], {})
        assert lines == ["S3: m3 (1.0K)", "S1: m1 (1.0K)"]  # list order: newest first
        assert group_summary(["uid-0001"], {}) == ""

    def test_every_mark_once_under_its_rule_then_a_count(self) -> None:
        """300 marks: 200 message lines in all, each group says how many more it has."""
        listing = listing_of(300)
        marks = [f"uid-{n:04d}" for n in range(1, 301)]
        rules = {key: "spam" for key in marks[:250]}
        lines = describe_marks(listing, marks, rules)
        headings = [line for line in lines if isinstance(line, Heading)]
        assert headings == ["spam (250)", "marked by you (50)"]
        assert lines[0] == "300 messages, 293.0 KB:"
        shown = [line for line in lines if line.startswith("S")]
        assert len(shown) == len(set(shown)) == 200
        assert lines.count("… and 50 more") == 2  # spam: 250 - 200; yours: all 50

    def test_a_rule_name_is_plain_text(self) -> None:
        listing = listing_of(1)
        lines = describe_marks(listing, ["uid-0001"], {"uid-0001": "[b]x\x1b[31m"})
        assert lines[2] == "[b]x␛[31m (1)"  # sanitized, never parsed as markup


class TestRulesReport:
    def test_what_the_rules_did(self) -> None:
        report = RulesApplied({"spam": 30, "newsletters": 7}, 4_300_000, {"friends": 2})
        assert describe_rules(report) == (
            "Rules marked 37 messages (4.1 MB): spam 30, newsletters 7; 2 kept by friends. "
            "Deleted only when you commit ($)."
        )

    def test_nothing_marked(self) -> None:
        assert describe_rules(RulesApplied({}, 0, {})) == "Rules marked nothing."
        assert describe_rules(RulesApplied({}, 0, {"friends": 1}, refused=2)) == (
            "Rules marked nothing; 1 kept by friends; the server refused 2."
        )

    def test_size_words(self) -> None:
        assert [size_label(n) for n in (0, 1023, 1024, 56_200_000, 3 << 30)] == [
            "0 B",
            "1023 B",
            "1.0 KB",
            "53.6 MB",
            "3.0 GB",
        ]


def test_queued_commands_are_drawn_with_the_rule_that_will_make_them() -> None:
    """Before the worker runs them: a rule's bulk mark draws its rule name and the
    marks as pending, an unmark takes both away, unmark-all clears every name."""
    from popview.ui.worker import MarkMany, SessionWorker, Unmark, UnmarkAll

    def key(text: str) -> MessageKey:
        return MessageKey(text)

    worker = SessionWorker(cast(Any, None))
    worker.submit(MarkMany((key("a"), key("b")), "spam"))
    worker.submit(Unmark(key("b")))
    worker.submit(MarkMany((key("c"),)))
    assert worker.with_queued(frozenset({"x"})) == (frozenset({"x", "a", "c"}), frozenset("ac"))
    assert worker.rules_with_queued({"x": "old"}) == {"x": "old", "a": "spam"}
    worker.submit(UnmarkAll())
    assert worker.with_queued(frozenset({"x"})) == (frozenset(), frozenset())
    assert worker.rules_with_queued({"x": "old"}) == {}
