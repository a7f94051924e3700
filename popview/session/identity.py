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
from collections.abc import Iterable

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
        uids: ``(number, uid)`` rows from UIDL as parsed, or ``None`` without UIDL.
        generation: Which connection of the session this is.
    """
    listed = set(numbers)
    uid_of: dict[int, str] = {}
    for number, uid in uids or ():
        if number in listed:
            uid_of.setdefault(number, uid)
    count = Counter(uid_of.values())
    keys: dict[int, tuple[MessageKey, str | None]] = {}
    for number in sorted(listed):
        found = uid_of.get(number)
        if found is not None and count[found] == 1 and is_valid_uidl(found):
            keys[number] = (MessageKey(found), found)
        else:
            keys[number] = (MessageKey.session_only(number, generation), None)
    return keys
