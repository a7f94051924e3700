"""The message index of one connection: message number <-> message key, and sizes.

Which key a message gets (its stable UIDL, or a session-only key) is decided in
:mod:`popview.session.identity`; this index only looks keys up.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from operator import attrgetter, itemgetter
from typing import NamedTuple, cast

from popview.session.identity import MessageKey, message_keys

__all__ = ["MessageIndex", "MessageRef"]


class MessageRef(NamedTuple):
    """One message on the current connection (immutable).

    A named tuple rather than a frozen dataclass: a mailbox makes one per
    message, and a tuple is built without a Python call.

    Attributes:
        number: Message number in this session.
        size: Size in octets as LIST says (a hint, never trusted for allocation);
            ``None`` when the LIST row was malformed (HARDENING F.60).
        key: The message's key (the UIDL when stable).
        uid: The stable UIDL, or ``None``.
    """

    number: int
    size: int | None
    key: MessageKey
    uid: str | None


class MessageIndex:
    """Number/key lookups for one connection, built from LIST and UIDL.

    Args:
        sizes: ``(number, size)`` rows from LIST (already validated by the
            protocol; ``None``: a row with a good number and a bad size; a
            number listed twice keeps its first size).
        uids: ``(number, uid)`` rows from UIDL as parsed, or ``None`` when the
            server has no UIDL.
        generation: Which connection of the session this is (for session-only keys).
    """

    def __init__(
        self,
        sizes: Iterable[tuple[int, int | None]],
        uids: Iterable[tuple[int, str]] | None,
        generation: int = 0,
    ) -> None:
        size_of = _sizes(sizes)
        self.has_uidl = uids is not None
        keys = message_keys(size_of, uids, generation)
        numbers = list(keys)
        found = keys.values()
        key_list = list(map(itemgetter(0), found))
        uid_list = list(map(itemgetter(1), found))
        self.unstable_count = uid_list.count(None) if self.has_uidl else 0
        # One message per row, built in C (10,000 of them on a big mailbox), in
        # number order (message_keys returns them so).
        refs = list(map(MessageRef, numbers, map(size_of.__getitem__, numbers), key_list, uid_list))
        self._refs: dict[int, MessageRef] = dict(zip(numbers, refs, strict=True))
        self._by_key: dict[str, MessageRef] = dict(zip(key_list, refs, strict=True))

    def __len__(self) -> int:
        return len(self._refs)

    def __iter__(self) -> Iterator[MessageRef]:
        """Iterate in message-number order (oldest first)."""
        return iter(self._refs.values())

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    @property
    def total_size(self) -> int:
        """Sum of the LIST sizes."""
        return sum(ref.size or 0 for ref in self._refs.values())

    def newest_first(self) -> list[MessageRef]:
        """Messages, highest number (newest delivery) first."""
        return list(reversed(self._refs.values()))  # kept in number order

    def get(self, key: str) -> MessageRef | None:
        """Return the message with session key ``key``, or None."""
        return self._by_key.get(key)

    def by_number(self, number: int) -> MessageRef | None:
        """Return message ``number`` of this session, or None."""
        return self._refs.get(number)

    def stable_uids(self) -> set[str]:
        """The stable UIDLs on the server now."""
        found = set(map(attrgetter("uid"), self._refs.values()))
        found.discard(None)
        return cast("set[str]", found)


def _sizes(rows: Iterable[tuple[int, int | None]]) -> dict[int, int | None]:
    """Number -> size, the first row of a number winning, a negative size as 0."""
    pairs = list(rows)
    size_of = dict(pairs)
    known = cast("Collection[int]", size_of.values())  # once None is ruled out
    if len(size_of) == len(pairs) and None not in known and min(known, default=0) >= 0:
        return size_of
    size_of = {}
    for number, size in pairs:
        size_of.setdefault(number, None if size is None else max(size, 0))
    return size_of
