"""The mailbox list as the table shows it: filter, sort and thread view.

Pure Python (no Textual), so that it is cheap to test and to benchmark. The
table widget renders only the visible rows from :attr:`MailboxListing.rows`;
with 100,000 envelopes a refilter or resort is one pass plus one sort.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from popview.mail.envelope import Envelope

__all__ = ["SORT_KEYS", "MailboxListing", "Row", "envelope_key"]

#: Sort orders `o` cycles through, with the label the UI shows.
SORT_KEYS: tuple[tuple[str, str], ...] = (
    ("date", "date, newest first"),
    ("from", "sender"),
    ("subject", "subject"),
    ("size", "size, largest first"),
)

_OLDEST = datetime.min.replace(tzinfo=UTC)
_REPLY_PREFIXES = ("re:", "fwd:", "fw:", "aw:", "sv:", "wg:", "tr:")


@dataclass(frozen=True, slots=True)
class Row:
    """One visible row: which message, and its indent in the thread view."""

    uid: str
    depth: int = 0


def envelope_key(env: Envelope) -> str:
    """The key the session knows a message by (its UIDL, or a session key)."""
    return env.uid if env.uid is not None else f"#{env.number}"


def _date_key(env: Envelope) -> datetime:
    return env.date if env.date is not None else _OLDEST


def _subject_key(env: Envelope) -> str:
    subject = env.subject.casefold().strip()
    changed = True
    while changed:  # "Re: Fwd: x" sorts with "x"
        changed = False
        for prefix in _REPLY_PREFIXES:
            if subject.startswith(prefix):
                subject = subject[len(prefix) :].lstrip()
                changed = True
    return subject


class MailboxListing:
    """Envelopes keyed by uid, and the visible order after filter/sort/threads."""

    def __init__(self) -> None:
        self.envelopes: dict[str, Envelope] = {}
        self.filter_text = ""
        self.sort_key = "date"
        self.threaded = False
        self.rows: list[Row] = []
        self._haystack: dict[str, str] = {}
        self._version = 0
        # The unfiltered order for (sort key, version): a filter keystroke or
        # clearing the filter then costs one pass, not a sort of every message.
        self._ordered: tuple[str, int, list[str]] | None = None

    def add(self, envelopes: Iterable[Envelope]) -> None:
        """Add or replace envelopes (call :meth:`rebuild` afterwards)."""
        self._version += 1
        for env in envelopes:
            uid = envelope_key(env)
            self.envelopes[uid] = env
            self._haystack[uid] = f"{env.from_name}\n{env.from_addr}\n{env.subject}".casefold()

    def keep_only(self, uids: frozenset[str]) -> None:
        """Forget envelopes that are no longer on the server."""
        for uid in [u for u in self.envelopes if u not in uids]:
            self.remove(uid)

    def remove(self, uid: str) -> None:
        """Forget one envelope (after a commit deleted it)."""
        self._version += 1
        self.envelopes.pop(uid, None)
        self._haystack.pop(uid, None)

    def next_sort(self) -> str:
        """Switch to the next sort order; return its label."""
        keys = [key for key, _ in SORT_KEYS]
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        return dict(SORT_KEYS)[self.sort_key]

    def rebuild(self) -> None:
        """Recompute :attr:`rows` from the envelopes, filter, sort and thread view."""
        needle = self.filter_text.casefold()
        ordered = self._ordered
        if ordered is None or ordered[:2] != (self.sort_key, self._version):
            ordered = (self.sort_key, self._version, self._sorted(list(self.envelopes)))
            self._ordered = ordered
        haystack = self._haystack
        uids = [u for u in ordered[2] if needle in haystack[u]] if needle else list(ordered[2])
        self.rows = self._threaded(uids) if self.threaded else [Row(u) for u in uids]

    def _sorted(self, uids: list[str]) -> list[str]:
        envs = self.envelopes
        if self.sort_key == "from":
            uids.sort(key=lambda u: (envs[u].from_name or envs[u].from_addr).casefold())
        elif self.sort_key == "subject":
            uids.sort(key=lambda u: _subject_key(envs[u]))
        elif self.sort_key == "size":
            uids.sort(key=lambda u: envs[u].size, reverse=True)
        else:
            uids.sort(key=lambda u: (_date_key(envs[u]), envs[u].number), reverse=True)
        return uids

    def _threaded(self, uids: list[str]) -> list[Row]:
        """Group replies under their parent (RFC 5322 §3.6.4: In-Reply-To, References).

        Roots keep the current sort order; replies follow their parent oldest
        first. A parent that is missing or filtered out makes the reply a root.
        """
        envs = self.envelopes
        present = set(uids)
        by_msgid = {envs[u].message_id: u for u in uids if envs[u].message_id}
        children: dict[str, list[str]] = {}
        roots: list[str] = []
        for uid in uids:
            env = envs[uid]
            parent = None
            for ref in (env.in_reply_to, *reversed(env.references)):
                candidate = by_msgid.get(ref) if ref else None
                if candidate is not None and candidate != uid and candidate in present:
                    parent = candidate
                    break
            if parent is None:
                roots.append(uid)
            else:
                children.setdefault(parent, []).append(uid)
        rows: list[Row] = []
        placed: set[str] = set()
        for root in roots:
            stack = [(root, 0)]
            while stack:
                uid, depth = stack.pop()
                if uid in placed:  # a reference loop: show each message once
                    continue
                placed.add(uid)
                rows.append(Row(uid, depth))
                kids = sorted(children.get(uid, ()), key=lambda u: _date_key(envs[u]))
                stack.extend((kid, depth + 1) for kid in reversed(kids))
        # Members of a pure cycle have no root: show them flat at the end.
        rows.extend(Row(u) for u in uids if u not in placed)
        return rows

    def index_of(self, uid: str) -> int | None:
        """The visible row index of ``uid``, or ``None``."""
        for index, row in enumerate(self.rows):
            if row.uid == uid:
                return index
        return None

    @property
    def total_size(self) -> int:
        """Sum of the sizes of every known envelope, in octets."""
        return sum(env.size for env in self.envelopes.values())
