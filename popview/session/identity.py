"""A message's identity in a mailbox: one type, one place, one stability rule.

POP3 message numbers are only valid inside one session (RFC 1939 §4); the UIDL is
what identifies a message across sessions (RFC 1939 §7). A :class:`MessageKey` is
the server's UIDL when that is *stable* (a valid unique-id, listed once), or else a
*session-only* key ``"#N (session G)"`` that names message ``N`` of connection
``G`` only. :func:`message_keys` is the one place that decides which; everything
above it (the session, the worker, the screens, the CLI) carries the key it made.

A session-only key holds a space, so it can never equal a valid UIDL: the string
form alone tells the two apart, which keeps the journal's and the cache's keys
(plain UIDL strings, written by every earlier run) valid as they are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable

__all__ = ["MessageKey", "is_valid_uidl", "message_keys"]

_SESSION_MARK = " (session "


def is_valid_uidl(uid: str) -> bool:
    """Whether ``uid`` is a valid RFC 1939 §7 unique-id: 1-70 characters in 0x21-0x7E."""
    # ASCII printable is 0x20-0x7E; without the space that is 0x21-0x7E.
    return 0 < len(uid) <= 70 and uid.isascii() and uid.isprintable() and " " not in uid


class MessageKey(str):
    """The key of one message in a mailbox; its ``str`` form is what the store,
    the journal and the CLI use.

    A ``str`` subclass, so a key read back from the journal (a plain UIDL string)
    equals and hashes like the key the session made for the same message.
    """

    __slots__ = ()

    @classmethod
    def session_only(cls, number: int, generation: int) -> MessageKey:
        """The key of message ``number`` on connection ``generation`` (no stable UIDL).

        The key names the connection too: after a reconnect message ``#3`` may be
        another message, so an old key must not find it.
        """
        return cls(f"#{number}{_SESSION_MARK}{generation})")

    @property
    def stable(self) -> bool:
        """Whether this is the server's UIDL (it names the message in every session).

        Only :func:`message_keys` makes keys from UIDLs, and only from stable ones,
        so a key whose text is a valid unique-id is one.
        """
        return is_valid_uidl(self)


def message_keys(
    numbers: Iterable[int], uids: Iterable[tuple[int, str]] | None, generation: int
) -> dict[int, tuple[MessageKey, str | None]]:
    """The one stability rule: each message's key, and its stable UIDL or ``None``.

    A UIDL is stable when it is a valid unique-id (RFC 1939 §7: 1-70 characters in
    0x21-0x7E) and no other message in this listing has it (§7: "unique"); any
    other message, or every message of a server without UIDL, gets a session-only
    key for connection ``generation``.

    Args:
        numbers: The message numbers listed (LIST).
        uids: ``(number, uid)`` rows from UIDL as parsed (a number listed twice
            keeps its first id), or ``None`` without UIDL.
        generation: Which connection of the session this is.

    Returns:
        Message number -> (key, stable UIDL or ``None``), in number order.
    """
    order = sorted(set(numbers))
    uid_of = _first_uids(uids or (), order)
    if len(uid_of) == len(order) and _all_stable(uid_of.values()):
        # The usual mailbox: every message has a stable id. No Python step per message.
        found = list(map(uid_of.__getitem__, order))
        return dict(zip(order, zip(map(MessageKey, found), found, strict=True), strict=True))
    count = Counter(uid_of.values())
    keys: dict[int, tuple[MessageKey, str | None]] = {}
    for number in order:
        uid = uid_of.get(number)
        if uid is not None and count[uid] == 1 and is_valid_uidl(uid):
            keys[number] = (MessageKey(uid), uid)
        else:
            keys[number] = (MessageKey.session_only(number, generation), None)
    return keys


def _first_uids(uids: Iterable[tuple[int, str]], listed: list[int]) -> dict[int, str]:
    """Each listed message's first UIDL row."""
    rows = list(uids)
    uid_of = dict(rows)
    if len(uid_of) != len(rows):  # a number repeated: its first row counts
        uid_of = {}
        for number, uid in rows:
            uid_of.setdefault(number, uid)
    wanted = set(listed)
    if not uid_of.keys() <= wanted:
        uid_of = {number: uid for number, uid in uid_of.items() if number in wanted}
    return uid_of


def _all_stable(uids: Collection[str]) -> bool:
    """Whether every id is a valid unique-id (see :func:`is_valid_uidl`) and none
    repeats, checked over all of them at once."""
    if not uids or len(set(uids)) != len(uids):
        return False
    joined = "".join(uids)
    return (
        joined.isascii()
        and joined.isprintable()
        and " " not in joined
        and min(map(len, uids)) > 0
        and max(map(len, uids)) <= 70
    )
