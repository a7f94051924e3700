"""The message index of one connection: message number <-> message key, and sizes.

Which key a message gets (its stable UIDL, or a session-only key) is decided in
:mod:`popview.session.identity`; this index only looks keys up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from popview.session.identity import MessageKey, message_keys

__all__ = ["MessageIndex", "MessageRef"]


@dataclass(frozen=True)
class MessageRef:
    """One message on the current connection.

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
            protocol; ``None``: a row with a good number and a bad size).
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
        size_of: dict[int, int | None] = {}
        for number, size in sizes:
            size_of.setdefault(number, None if size is None else max(size, 0))
        self.has_uidl = uids is not None
        keys = message_keys(size_of, uids, generation)
        self.unstable_count = (
            sum(1 for _key, uid in keys.values() if uid is None) if self.has_uidl else 0
        )
        self._refs: dict[int, MessageRef] = {}
        self._by_key: dict[str, MessageRef] = {}
        for number, (key, uid) in keys.items():
            ref = MessageRef(number, size_of[number], key, uid)
            self._refs[number] = ref
            self._by_key[key] = ref

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
        return sorted(self._refs.values(), key=lambda ref: -ref.number)

    def get(self, key: str) -> MessageRef | None:
        """Return the message with session key ``key``, or None."""
        return self._by_key.get(key)

    def by_number(self, number: int) -> MessageRef | None:
        """Return message ``number`` of this session, or None."""
        return self._refs.get(number)

    def stable_uids(self) -> set[str]:
        """The stable UIDLs on the server now."""
        return {ref.uid for ref in self._refs.values() if ref.uid is not None}
