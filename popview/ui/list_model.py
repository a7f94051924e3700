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
from popview.session import MessageKey

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

    uid: str
    depth: int = 0


def _date_key(env: Envelope) -> datetime:
    return env.date if env.date is not None else _OLDEST


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
    """Envelopes keyed by uid, and the visible order after filter/sort/threads.

    What a key press needs is kept rather than recomputed: one :class:`Row` per
    message (made when it is added), the rows in each sort order already used
    (until an envelope is added or removed), the unfiltered thread view per
    sort order, and the total size and new-message count, updated as envelopes
    come and go. Clearing the filter or going back to a sort order or to the
    flat view then rebuilds nothing. :attr:`rows` is replaced, never changed in
    place (it may be one of the kept lists).
    """

    def __init__(self) -> None:
        self.envelopes: dict[str, Envelope] = {}
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
        self.collapsed: set[str] = set()
        """Thread roots whose replies are hidden in the thread view (``z``)."""
        self.hidden_replies: dict[str, int] = {}
        """Per collapsed root now shown, how many replies it hides."""
        """Keys of the messages read here (loaded from the store; see :meth:`is_read`)."""
        self._haystack: dict[str, str] = {}
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
    def seen_before(self, uids: frozenset[str]) -> None:
        self._seen_before = uids
        self.new_count = sum(1 for uid in self.envelopes if self.is_new(uid))

    def is_new(self, uid: str) -> bool:
        """Whether ``uid`` arrived since the last visit (needs a stable UIDL)."""
        seen = self._seen_before
        return bool(seen) and uid not in seen and MessageKey(uid).stable

    def is_read(self, uid: str) -> bool:
        """Whether the user has read ``uid`` (POP3 has no flags; popview keeps them)."""
        return uid in self.read

    def flag(self, uid: str) -> str:
        """mutt's status letter: ``N`` new and unread, ``O`` old and unread, blank read."""
        if uid in self.read:
            return " "
        return "N" if self.is_new(uid) else "O"

    def add(self, envelopes: Iterable[tuple[MessageKey, Envelope]]) -> None:
        """Add or replace envelopes under the session's keys (call :meth:`rebuild` afterwards)."""
        self._version += 1
        known = self.envelopes
        for uid, env in envelopes:
            old = known.get(uid)
            if old is None:
                self._flat[uid] = Row(uid)
                self.new_count += self.is_new(uid)
            else:
                self.total_size -= old.size or 0
            known[uid] = env
            self.total_size += env.size or 0
            self._haystack[uid] = f"{env.from_name}\n{env.from_addr}\n{env.subject}".casefold()

    def keep_only(self, uids: frozenset[str]) -> None:
        """Forget envelopes that are no longer on the server."""
        for uid in [u for u in self.envelopes if u not in uids]:
            self.remove(uid)

    def remove(self, uid: str) -> None:
        """Forget one envelope (after a commit deleted it)."""
        env = self.envelopes.pop(uid, None)
        if env is None:
            return
        self._version += 1
        self.total_size -= env.size or 0
        self.new_count -= self.is_new(uid)
        self._haystack.pop(uid, None)
        self._flat.pop(uid, None)

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
                if (test is None or test(row.uid)) and all(self._has(row.uid, f) for f in flags)
            ]
            self.rows = self._threaded([row.uid for row in shown]) if self.threaded else shown
        elif self.threaded:
            kept = self._threads.get(self._order_name)
            if kept is None or kept[0] != self._version:
                kept = (self._version, self._threaded([row.uid for row in ordered]))
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
        root: str | None = None
        hidden = self.hidden_replies
        for row in rows:
            if row.depth == 0:
                root = row.uid if row.uid in self.collapsed else None
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
        root_uid = self.rows[self.thread_root(index)].uid
        if root_uid in self.collapsed:
            self.collapsed.discard(root_uid)
        else:
            self.collapsed.add(root_uid)
        self.rebuild()
        return self.index_of(root_uid) or 0

    def toggle_all_threads(self) -> None:
        """Collapse every thread with replies, or expand all if any is collapsed."""
        if self.collapsed:
            self.collapsed = set()
        else:
            self.collapsed = {
                row.uid
                for row, after in zip(self.rows, self.rows[1:], strict=False)
                if row.depth == 0 and after.depth > 0
            }
        self.rebuild()

    def _has(self, uid: str, flag: str) -> bool:
        if flag == "U":
            return uid not in self.read
        if flag == "R":
            return uid in self.read
        return uid not in self.read and self.is_new(uid)  # "N"

    def _ordered_rows(self) -> list[Row]:
        """Every row, flat, in the current sort order (kept until the envelopes change)."""
        kept = self._ordered.get(self._order_name)
        if kept is None or kept[0] != self._version:
            flat = self._flat
            kept = (self._version, [flat[uid] for uid in self._sorted(list(self.envelopes))])
            self._ordered[self._order_name] = kept
        return kept[1]

    @property
    def _order_name(self) -> str:
        return f"-{self.sort_key}" if self.sort_reverse else self.sort_key

    def _sorted(self, uids: list[str]) -> list[str]:
        envs = self.envelopes
        if self.sort_key == "from":
            uids.sort(key=lambda u: (envs[u].from_name or envs[u].from_addr).casefold())
        elif self.sort_key == "subject":
            uids.sort(key=lambda u: _subject_key(envs[u]))
        elif self.sort_key == "size":
            uids.sort(key=lambda u: envs[u].size or 0, reverse=True)
        else:
            uids.sort(key=lambda u: (_date_key(envs[u]), envs[u].number), reverse=True)
        if self.sort_reverse:
            uids.reverse()
        return uids

    def _threaded(self, uids: list[str]) -> list[Row]:
        """Group replies under their parent (RFC 5322 §3.6.4: In-Reply-To, References).

        Roots keep the current sort order; replies follow their parent oldest
        first. A parent that is missing or filtered out makes the reply a root.
        """
        envs = self.envelopes
        by_msgid: dict[str, str] = {}
        for uid in uids:
            message_id = envs[uid].message_id
            if message_id:
                by_msgid[message_id] = uid
        find = by_msgid.get
        children: dict[str, list[str]] = {}
        roots: list[str] = []
        for uid in uids:
            env = envs[uid]
            parent = find(env.in_reply_to) if env.in_reply_to else None
            if parent is None or parent == uid:
                parent = None
                for ref in reversed(env.references):
                    candidate = find(ref) if ref else None
                    if candidate is not None and candidate != uid:
                        parent = candidate
                        break
            if parent is None:
                roots.append(uid)
            else:
                children.setdefault(parent, []).append(uid)
        flat = self._flat
        rows: list[Row] = []
        for root in roots:
            if root not in children:  # most messages: no replies
                rows.append(flat[root])
                continue
            stack = [(root, 0)]
            while stack:
                uid, depth = stack.pop()
                rows.append(flat[uid] if depth == 0 else Row(uid, depth))
                kids = children.get(uid)
                if kids:
                    kids.sort(key=lambda u: _date_key(envs[u]))
                    stack.extend((kid, depth + 1) for kid in reversed(kids))
        # Each message has one parent, so a tree holds each once; members of a
        # reference loop have no root: show them flat at the end.
        if len(rows) < len(uids):
            placed = {row.uid for row in rows}
            rows.extend(flat[u] for u in uids if u not in placed)
        return rows

    def index_of(self, uid: str) -> int | None:
        """The visible row index of ``uid``, or ``None``."""
        for index, row in enumerate(self.rows):
            if row.uid == uid:
                return index
        return None


# Characters that make the filter text a pattern rather than plain text.
_PATTERN_SYNTAX = frozenset('~!|("')


def filter_test(listing: MailboxListing, text: str) -> Callable[[str], bool]:
    """The filter (``/``) as a test on a row's uid.

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
        return lambda uid: needle in haystack[uid]
    try:
        envelopes = listing.envelopes
        test = compile_pattern(text, MatchContext(is_new=lambda e: listing.is_new(e.uid or "")))
    except PatternError as exc:
        listing.filter_error = exc
        return lambda uid: needle in haystack[uid]
    return lambda uid: test(envelopes[uid])
