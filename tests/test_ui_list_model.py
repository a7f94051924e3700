"""The mailbox list model (filter, sort, threads, counts) with its kept orders and counts.

:class:`MailboxListing` keeps rows per sort order, the thread view, the total
size and the new-message count between rebuilds so that key presses are cheap
with 100,000 messages. These tests check that what it shows after any sequence
of changes is exactly what a listing built from scratch shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from popview.mail.envelope import Envelope
from popview.session.identity import MessageKey
from popview.ui.list_model import SORT_KEYS, MailboxListing

_BASE = datetime(2024, 3, 15, tzinfo=UTC)
_SUBJECTS = ("Lunch", "Re: Lunch", "Fwd: Re: lunch", "Invoice", "Aw: Invoice", "")


def envelope(
    n: int, *, size: int = 100, reply_to: int | None = None, refs: tuple[int, ...] = ()
) -> Envelope:
    """Envelope number ``n`` (uid ``u<n>``), optionally replying to message ``reply_to``."""
    return Envelope(
        number=n,
        uid=f"u{n}",
        size=size,
        from_name=f"Sender {n % 4}",
        from_addr=f"s{n % 3}@example.org",
        subject=_SUBJECTS[n % len(_SUBJECTS)],
        date=_BASE - timedelta(minutes=n * 7 % 11) if n % 5 else None,
        message_id=f"<m{n}@x>",
        in_reply_to=f"<m{reply_to}@x>" if reply_to is not None else "",
        references_raw=" ".join(f"<m{r}@x>" for r in refs),
    )


def keyed(envelopes: Iterable[Envelope]) -> list[tuple[MessageKey, Envelope]]:
    """Each envelope with the key the session would list it under (its UIDL here)."""
    return [(MessageKey(env.uid or ""), env) for env in envelopes]


def fresh(listing: MailboxListing) -> MailboxListing:
    """A listing built from scratch with the same envelopes and view settings."""
    other = MailboxListing()
    other.add(listing.envelopes.items())  # type: ignore[arg-type]
    other.seen_before = listing.seen_before
    other.filter_text = listing.filter_text
    other.sort_key = listing.sort_key
    other.sort_reverse = listing.sort_reverse
    other.read = set(listing.read)
    other.collapsed = set(listing.collapsed)
    other.threaded = listing.threaded
    other.rebuild()
    return other


_ENVELOPES = st.builds(
    lambda n, size, reply, refs: envelope(n, size=size, reply_to=reply, refs=tuple(refs)),
    st.integers(1, 30),
    st.integers(0, 5000),
    st.none() | st.integers(1, 30),
    st.lists(st.integers(1, 30), max_size=3),
)
_STEPS = st.one_of(
    st.tuples(st.just("add"), st.lists(_ENVELOPES, max_size=6)),
    st.tuples(st.just("remove"), st.integers(1, 30)),
    st.tuples(
        st.just("filter"), st.sampled_from(["", "lunch", "sender 1", "s2@", "zzz", "~U", "~r 1"])
    ),
    st.tuples(st.just("read"), st.frozensets(st.integers(1, 30).map(lambda n: f"u{n}"))),
    st.tuples(st.just("sort"), st.sampled_from([key for key, _ in SORT_KEYS])),
    st.tuples(st.just("threads"), st.booleans()),
    st.tuples(st.just("reverse"), st.booleans()),
    st.tuples(st.just("collapse"), st.frozensets(st.integers(1, 30).map(lambda n: f"u{n}"))),
    st.tuples(st.just("seen"), st.frozensets(st.integers(1, 30).map(lambda n: f"u{n}"))),
)


class TestKeptStateMatchesAFreshListing:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(_STEPS, max_size=25))
    def test_any_sequence_of_changes(self, steps: list[tuple[str, object]]) -> None:
        """After any mix of adds, removals, filter, sort, thread and seen-before changes
        (each followed by a rebuild, as the screen does), the rows, the total size
        and the new count equal those of a listing built from scratch."""
        listing = MailboxListing()
        for kind, value in steps:
            if kind == "add":
                listing.add(keyed(value))  # type: ignore[arg-type]
            elif kind == "remove":
                listing.remove(MessageKey(f"u{value}"))
            elif kind == "filter":
                listing.filter_text = value  # type: ignore[assignment]
            elif kind == "sort":
                listing.sort_key = value  # type: ignore[assignment]
            elif kind == "threads":
                listing.threaded = value  # type: ignore[assignment]
            elif kind == "read":
                listing.read = set(value)  # type: ignore[call-overload]
            elif kind == "collapse":
                listing.collapsed = set(value)  # type: ignore[call-overload]
            elif kind == "reverse":
                listing.sort_reverse = value  # type: ignore[assignment]
            else:
                listing.seen_before = value  # type: ignore[assignment]
            listing.rebuild()
            reference = fresh(listing)
            assert listing.rows == reference.rows
            assert listing.total_size == sum(e.size for e in listing.envelopes.values())
            assert listing.new_count == reference.new_count


class TestExamples:
    def test_clearing_the_filter_shows_mail_that_arrived_meanwhile(self) -> None:
        """Filter, then a new envelope arrives, then the filter is cleared: it is listed."""
        listing = MailboxListing()
        listing.add(keyed([envelope(1), envelope(2)]))
        listing.rebuild()
        listing.filter_text = "nothing matches"
        listing.rebuild()
        assert listing.rows == []
        listing.add(keyed([envelope(3)]))
        listing.filter_text = ""
        listing.rebuild()
        assert {row.key for row in listing.rows} == {"u1", "u2", "u3"}

    def test_thread_view_after_the_parent_is_deleted(self) -> None:
        """A reply sits under its parent; once the parent is committed away, the
        reply is a root again in the thread view (not a stale kept one)."""
        listing = MailboxListing()
        listing.add(keyed([envelope(1), envelope(2, reply_to=1)]))
        listing.threaded = True
        listing.rebuild()
        assert [(row.key, row.depth) for row in listing.rows] == [("u1", 0), ("u2", 1)]
        listing.remove(MessageKey("u1"))
        listing.rebuild()
        assert [(row.key, row.depth) for row in listing.rows] == [("u2", 0)]

    def test_size_and_new_count_follow_replacements(self) -> None:
        """Replacing an envelope counts its size once; new means absent from the last
        visit, and a session-only key (no UIDL) is never new."""
        listing = MailboxListing()
        listing.seen_before = frozenset({"u1"})
        listing.add(keyed([envelope(1, size=10), envelope(2, size=20)]))
        listing.add(keyed([envelope(2, size=25)]))
        no_uidl = Envelope(number=9, uid=None, size=5)
        listing.add([(MessageKey.session_only(9, 1), no_uidl)])
        assert listing.total_size == 40
        assert listing.new_count == 1
        listing.remove(MessageKey("u2"))
        assert (listing.total_size, listing.new_count) == (15, 0)


class TestPatternFilter:
    """The filter (``/``) takes the pattern language (issue 12)."""

    def listing(self) -> MailboxListing:
        listing = MailboxListing()
        listing.add(keyed(envelope(n, size=n * 1000) for n in range(1, 13)))
        listing.rebuild()
        return listing

    def shown(self, listing: MailboxListing, text: str) -> list[str]:
        listing.filter_text = text
        listing.rebuild()
        return sorted(row.key for row in listing.rows)

    def test_pattern_terms_and_operators(self) -> None:
        listing = self.listing()
        assert self.shown(listing, "~z >10K") == ["u11", "u12"]
        assert self.shown(listing, "~s invoice !~f s0@") == ["u10", "u4"]
        assert self.shown(listing, "~f s1@ | ~z >11K") == ["u1", "u10", "u12", "u4", "u7"]
        assert listing.filter_error is None

    def test_new_since_last_visit(self) -> None:
        listing = self.listing()
        listing.seen_before = frozenset(f"u{n}" for n in range(1, 11))
        assert self.shown(listing, "~N") == ["u11", "u12"]

    def test_half_typed_pattern_filters_as_text_and_says_why(self) -> None:
        listing = self.listing()
        assert self.shown(listing, "~z") == []
        assert listing.filter_error is not None and listing.filter_error.position == 2
        assert self.shown(listing, "lunch") == ["u1", "u12", "u2", "u6", "u7", "u8"]
        assert listing.filter_error is None
