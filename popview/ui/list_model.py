"""The mailbox list as the table shows it: filter, sort and thread view.

Pure Python (no Textual), so that it is cheap to test and to benchmark. The
table widget renders only the visible rows from :attr:`MailboxListing.rows`;
with 100,000 envelopes a refilter or resort is one pass plus one sort.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from popview.mail.pattern import MatchContext, PatternError, compile_pattern
from popview.session.identity import MessageKey

if TYPE_CHECKING:
    from popview.mail.envelope import Envelope

__all__ = [
    "FILTER_FLAGS",
    "REVERSED_LABELS",
    "SORT_KEYS",
    "MailboxListing",
    "Row",
    "split_filter",
]

#: Sort orders the `o` prompt offers, with the label the UI shows.
SORT_KEYS: tuple[tuple[str, str], ...] = (
    ("date", "date, newest first"),
    ("from", "sender"),
    ("subject", "subject"),
    ("size", "size, largest first"),
)
#: The labels of the same orders reversed (`O`).
REVERSED_LABELS: dict[str, str] = {
    "date": "date, oldest first",
    "from": "sender, Z to A",
    "subject": "subject, Z to A",
    "size": "size, smallest first",
}

_OLDEST = datetime.min.replace(tzinfo=UTC)
_REPLY_PREFIXES = ("re:", "fwd:", "fw:", "aw:", "sv:", "wg:", "tr:")


class Row(NamedTuple):
    """One visible row: which message, and its indent in the thread view.

    A named tuple, not a dataclass: the thread view makes one per message, and
    a tuple is several times cheaper to build with 100,000 of them.
    """

    key: MessageKey
    depth: int = 0


def _date_key(env: Envelope) -> datetime:
    return env.date if env.date is not None else _OLDEST


def _timestamp(env: Envelope) -> float:
    """The date as seconds since the epoch, for sorting: the order of
    :func:`_date_key` (an envelope without a date is the oldest)."""
    return env.date.timestamp() if env.date is not None else float("-inf")


def _subject_key(env: Envelope) -> str:
    subject = env.subject.casefold().strip()
    while subject.startswith(_REPLY_PREFIXES):  # "Re: Fwd: x" sorts with "x"
        for prefix in _REPLY_PREFIXES:
            if subject.startswith(prefix):
                subject = subject[len(prefix) :].lstrip()
                break
    return subject


#: Filter words that select by state, as mutt's patterns: unread, read, new.
FILTER_FLAGS = {"~u": "U", "~r": "R", "~n": "N"}


def split_filter(text: str) -> tuple[str, tuple[str, ...]]:
    """The filter's text to look for (casefolded) and its state words (``~U`` ...).

    ``"~U lunch"`` shows the unread messages whose sender or subject contains
    "lunch"; a word that is not a known state word is looked for as text.
    """
    words = text.casefold().split(" ")
    flags = tuple(FILTER_FLAGS[w] for w in words if w in FILTER_FLAGS)
    if not flags:
        return text.casefold(), ()
    return " ".join(w for w in words if w not in FILTER_FLAGS).strip(), flags


class MailboxListing:
    """Envelopes by message key, and the visible order after filter/sort/threads.

    What a key press needs is kept rather than recomputed: one :class:`Row` per
    message (made when it is added), the rows in each sort order already used
    (until an envelope is added or removed), the unfiltered thread view per
    sort order, and the total size and new-message count, updated as envelopes
    come and go. Clearing the filter or going back to a sort order or to the
    flat view then rebuilds nothing. :attr:`rows` is replaced, never changed in
    place (it may be one of the kept lists).
    """

    def __init__(self) -> None:
        self.envelopes: dict[MessageKey, Envelope] = {}
        self.filter_text = ""
        self.sort_key = "date"
        self.sort_reverse = False
        """The current order reversed (`O`): oldest first, smallest first..."""
        self.threaded = False
        self.rows: list[Row] = []
        self.total_size = 0
        """Sum of the sizes of every known envelope, in octets."""
        self.new_count = 0
        """How many known envelopes are new since the last visit (see :attr:`seen_before`)."""
        self.filter_error: PatternError | None = None
        """Why the filter text is not a valid pattern (it then filters as plain text)."""
        self._seen_before: frozenset[str] = frozenset()
        self.read: set[str] = set()
        self.collapsed: set[MessageKey] = set()
        """Thread roots whose replies are hidden in the thread view (``z``)."""
        self.hidden_replies: dict[str, int] = {}
        """Per collapsed root now shown, how many replies it hides."""
        """Keys of the messages read here (loaded from the store; see :meth:`is_read`)."""
        self._haystack: dict[MessageKey, str] = {}
        self._when: dict[MessageKey, tuple[float, int]] = {}
        """Per message, its date order as numbers (made once, when it is added):
        sorting 10,000 aware datetimes compares their offsets on every step, ten
        times slower than floats, and the list is sorted again as it streams in."""
        self._flat: dict[str, Row] = {}
        self._version = 0
        # Per sort key, for the version they were built at: the unfiltered flat
        # rows in that order, and the unfiltered thread view.
        self._ordered: dict[str, tuple[int, list[Row]]] = {}
        self._threads: dict[str, tuple[int, list[Row]]] = {}

    @property
    def seen_before(self) -> frozenset[str]:
        """UIDs the previous visit listed; an empty set (first visit) marks nothing new."""
        return self._seen_before

    @seen_before.setter
    def seen_before(self, keys: frozenset[str]) -> None:
        self._seen_before = keys
        self.new_count = sum(1 for key in self.envelopes if self.is_new(key))

    def is_new(self, key: MessageKey) -> bool:
        """Whether ``key`` arrived since the last visit (needs a stable UIDL)."""
        seen = self._seen_before
        return bool(seen) and key not in seen and key.stable

    def is_read(self, key: MessageKey) -> bool:
        """Whether the user has read ``key`` (POP3 has no flags; popview keeps them)."""
        return key in self.read

    def flag(self, key: MessageKey) -> str:
        """mutt's status letter: ``N`` new and unread, ``O`` old and unread, blank read."""
        if key in self.read:
            return " "
        return "N" if self.is_new(key) else "O"

    def add(self, envelopes: Iterable[tuple[MessageKey, Envelope]]) -> None:
        """Add or replace envelopes under the session's keys (call :meth:`rebuild` afterwards)."""
        self._version += 1
        known = self.envelopes
        for key, env in envelopes:
            old = known.get(key)
            if old is None:
                self._flat[key] = Row(key)
                self.new_count += self.is_new(key)
            else:
                self.total_size -= old.size or 0
            known[key] = env
            self.total_size += env.size or 0
            self._haystack[key] = f"{env.from_name}\n{env.from_addr}\n{env.subject}".casefold()
            self._when[key] = (_timestamp(env), env.number)

    def keep_only(self, keys: frozenset[str]) -> None:
        """Forget envelopes that are no longer on the server."""
        for key in [u for u in self.envelopes if u not in keys]:
            self.remove(key)

    def remove(self, key: MessageKey) -> None:
        """Forget one envelope (after a commit deleted it)."""
        env = self.envelopes.pop(key, None)
        if env is None:
            return
        self._version += 1
        self.total_size -= env.size or 0
        self.new_count -= self.is_new(key)
        self._haystack.pop(key, None)
        self._when.pop(key, None)
        self._flat.pop(key, None)

    def next_sort(self) -> str:
        """Switch to the next sort order; return its label."""
        keys = [key for key, _ in SORT_KEYS]
        return self.set_sort(keys[(keys.index(self.sort_key) + 1) % len(keys)])

    def set_sort(self, key: str, reverse: bool = False) -> str:
        """Sort by ``key`` (one of :data:`SORT_KEYS`), reversed or not; return its label."""
        self.sort_key = key
        self.sort_reverse = reverse
        return REVERSED_LABELS[key] if reverse else dict(SORT_KEYS)[key]

    def rebuild(self) -> None:
        """Recompute :attr:`rows` from the envelopes, filter, sort and thread view."""
        needle, flags = split_filter(self.filter_text)
        ordered = self._ordered_rows()
        if needle or flags:
            # The state words (~U ~R ~N) select by flag; the rest is text or a pattern.
            rest = " ".join(
                word for word in self.filter_text.split(" ") if word.casefold() not in FILTER_FLAGS
            )
            test = filter_test(self, rest) if rest.strip() else None
            shown = [
                row
                for row in ordered
                if (test is None or test(row.key)) and all(self._has(row.key, f) for f in flags)
            ]
            self.rows = self._threaded([row.key for row in shown]) if self.threaded else shown
        elif self.threaded:
            kept = self._threads.get(self._order_name)
            if kept is None or kept[0] != self._version:
                kept = (self._version, self._threaded([row.key for row in ordered]))
                self._threads[self._order_name] = kept
            self.rows = kept[1]
        else:
            self.rows = ordered
        self.hidden_replies = {}
        if self.threaded and self.collapsed:
            self.rows = self._collapse(self.rows)

    def _collapse(self, rows: list[Row]) -> list[Row]:
        """``rows`` without the replies under collapsed roots (counted per root)."""
        shown: list[Row] = []
        root: MessageKey | None = None
        hidden = self.hidden_replies
        for row in rows:
            if row.depth == 0:
                root = row.key if row.key in self.collapsed else None
                shown.append(row)
            elif root is not None:
                hidden[root] = hidden.get(root, 0) + 1
            else:
                shown.append(row)
        return shown

    def thread_root(self, index: int) -> int:
        """The row index of the thread root above row ``index`` (itself for a root)."""
        rows = self.rows
        while index > 0 and rows[index].depth > 0:
            index -= 1
        return index

    def toggle_thread(self, index: int) -> int:
        """Collapse or expand the thread of row ``index``; return the root's row index after."""
        root_key = self.rows[self.thread_root(index)].key
        if root_key in self.collapsed:
            self.collapsed.discard(root_key)
        else:
            self.collapsed.add(root_key)
        self.rebuild()
        return self.index_of(root_key) or 0

    def toggle_all_threads(self) -> None:
        """Collapse every thread with replies, or expand all if any is collapsed."""
        if self.collapsed:
            self.collapsed = set()
        else:
            self.collapsed = {
                row.key
                for row, after in zip(self.rows, self.rows[1:], strict=False)
                if row.depth == 0 and after.depth > 0
            }
        self.rebuild()

    def _has(self, key: MessageKey, flag: str) -> bool:
        if flag == "U":
            return key not in self.read
        if flag == "R":
            return key in self.read
        return key not in self.read and self.is_new(key)  # "N"

    def _ordered_rows(self) -> list[Row]:
        """Every row, flat, in the current sort order (kept until the envelopes change)."""
        kept = self._ordered.get(self._order_name)
        if kept is None or kept[0] != self._version:
            flat = self._flat
            kept = (self._version, [flat[key] for key in self._sorted(list(self.envelopes))])
            self._ordered[self._order_name] = kept
        return kept[1]

    @property
    def _order_name(self) -> str:
        return f"-{self.sort_key}" if self.sort_reverse else self.sort_key

    def _sorted(self, keys: list[MessageKey]) -> list[MessageKey]:
        envs = self.envelopes
        if self.sort_key == "from":
            keys.sort(key=lambda u: (envs[u].from_name or envs[u].from_addr).casefold())
        elif self.sort_key == "subject":
            keys.sort(key=lambda u: _subject_key(envs[u]))
        elif self.sort_key == "size":
            keys.sort(key=lambda u: envs[u].size or 0, reverse=True)
        else:
            keys.sort(key=self._when.__getitem__, reverse=True)  # newest first
        if self.sort_reverse:
            keys.reverse()
        return keys

    def _threaded(self, keys: list[MessageKey]) -> list[Row]:
        """Group replies under their parent (RFC 5322 §3.6.4: In-Reply-To, References).

        Roots keep the current sort order; replies follow their parent oldest
        first. A parent that is missing or filtered out makes the reply a root.
        """
        envs = self.envelopes
        by_msgid: dict[str, MessageKey] = {}
        for key in keys:
            message_id = envs[key].message_id
            if message_id:
                by_msgid[message_id] = key
        find = by_msgid.get
        children: dict[MessageKey, list[MessageKey]] = {}
        roots: list[MessageKey] = []
        for key in keys:
            env = envs[key]
            parent = find(env.in_reply_to) if env.in_reply_to else None
            if parent is None or parent == key:
                parent = None
                for ref in reversed(env.references):
                    candidate = find(ref) if ref else None
                    if candidate is not None and candidate != key:
                        parent = candidate
                        break
            if parent is None:
                roots.append(key)
            else:
                children.setdefault(parent, []).append(key)
        flat = self._flat
        rows: list[Row] = []
        for root in roots:
            if root not in children:  # most messages: no replies
                rows.append(flat[root])
                continue
            stack = [(root, 0)]
            while stack:
                key, depth = stack.pop()
                rows.append(flat[key] if depth == 0 else Row(key, depth))
                kids = children.get(key)
                if kids:
                    kids.sort(key=lambda u: _date_key(envs[u]))
                    stack.extend((kid, depth + 1) for kid in reversed(kids))
        # Each message has one parent, so a tree holds each once; members of a
        # reference loop have no root: show them flat at the end.
        if len(rows) < len(keys):
            placed = {row.key for row in rows}
            rows.extend(flat[u] for u in keys if u not in placed)
        return rows

    def index_of(self, key: str) -> int | None:
        """The visible row index of ``key``, or ``None``."""
        for index, row in enumerate(self.rows):
            if row.key == key:
                return index
        return None


# Characters that make the filter text a pattern rather than plain text.
_PATTERN_SYNTAX = frozenset('~!|("')


def filter_test(listing: MailboxListing, text: str) -> Callable[[MessageKey], bool]:
    """The filter (``/``) as a test on a row's key.

    Plain text keeps the fast path: a substring of From or Subject, ignoring
    case (the pattern language's plain-text rule). Text using pattern syntax
    (``~s report !~A``, see :mod:`popview.mail.pattern`) is a pattern; while
    it does not parse yet (mid-typing) it filters as plain text and
    :attr:`MailboxListing.filter_error` says why.
    """
    listing.filter_error = None
    haystack = listing._haystack
    needle = text.casefold()
    if _PATTERN_SYNTAX.isdisjoint(text):
        return lambda key: needle in haystack[key]
    try:
        envelopes = listing.envelopes
        # An envelope's uid is the raw UIDL; only a stable one is a key that can be new.
        is_new = lambda e: listing.is_new(MessageKey(e.uid or ""))  # noqa: E731
        test = compile_pattern(text, MatchContext(is_new=is_new))
    except PatternError as exc:
        listing.filter_error = exc
        return lambda key: needle in haystack[key]
    return lambda key: test(envelopes[key])
