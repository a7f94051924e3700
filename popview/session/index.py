"""The message index of one connection: message number ↔ session key, and sizes.

POP3 message numbers are only valid inside one session (RFC 1939 §4); the UIDL is
what identifies a message across sessions (RFC 1939 §7). Every message gets a
*session key*: its UIDL when that is stable (1-70 characters in 0x21-0x7E, unique),
otherwise a key that can never equal a valid UIDL (it holds a space), so it cannot
be confused with another message in a later session.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["MessageIndex", "MessageRef", "is_session_key", "is_stable_uid", "session_key"]

_SESSION_MARK = " (session "


def is_stable_uid(uid: str) -> bool:
    """Whether ``uid`` is a valid RFC 1939 §7 unique-id: 1-70 chars in 0x21-0x7E."""
    # ASCII printable is 0x20-0x7E; without the space that is 0x21-0x7E.
    return 0 < len(uid) <= 70 and uid.isascii() and uid.isprintable() and " " not in uid


def session_key(number: int, generation: int = 0) -> str:
    """Return the key of a message without a stable UIDL.

    The key names the connection (``generation``) too: after a reconnect message
    ``#3`` may be another message, so an old key must not find it.
    """
    return f"#{number}{_SESSION_MARK}{generation})"


def is_session_key(key: str) -> bool:
    """Whether ``key`` names a message only inside one connection (no stable UIDL)."""
    return key.startswith("#") and _SESSION_MARK in key


@dataclass(frozen=True)
class MessageRef:
    """One message on the current connection.

    Attributes:
        number: Message number in this session.
        size: Size in octets as LIST says (a hint, never trusted for allocation);
            ``None`` when the LIST row was malformed (HARDENING F.60).
        key: Session key (the UIDL when stable).
        uid: The stable UIDL, or ``None``.
    """

    number: int
    size: int | None
    key: str
    uid: str | None


class MessageIndex:
    """Number/key lookups for one connection, built from LIST and UIDL.

    Args:
        sizes: ``(number, size)`` rows from LIST (already validated by the
            protocol; ``None``: a row with a good number and a bad size).
        uids: ``(number, uid)`` rows from UIDL, or ``None`` when the server has no UIDL.
        unstable: Numbers whose UIDL the protocol layer flagged as unusable.
        generation: Which connection of the session this is (for session keys).
    """

    def __init__(
        self,
        sizes: Iterable[tuple[int, int | None]],
        uids: Iterable[tuple[int, str]] | None,
        unstable: Iterable[int] = (),
        generation: int = 0,
    ) -> None:
        size_of: dict[int, int | None] = {}
        for number, size in sizes:
            size_of.setdefault(number, None if size is None else max(size, 0))
        self.has_uidl = uids is not None
        uid_of: dict[int, str] = {}
        seen: dict[str, int] = {}
        duplicated: set[str] = set()
        bad = set(unstable)
        for number, uid in uids or ():
            if number not in size_of or number in uid_of or number in bad:
                continue
            uid_of[number] = uid
            if uid in seen:
                duplicated.add(uid)
            seen[uid] = number
        self.unstable_count = 0
        self._refs: dict[int, MessageRef] = {}
        self._by_key: dict[str, MessageRef] = {}
        for number in sorted(size_of):
            stable: str | None = uid_of.get(number)
            if stable is not None and (stable in duplicated or not is_stable_uid(stable)):
                stable = None
            if stable is None and self.has_uidl:
                self.unstable_count += 1
            key = stable or session_key(number, generation)
            ref = MessageRef(number, size_of[number], key, stable)
            self._refs[number] = ref
            self._by_key[ref.key] = ref

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
