"""One session's view of a mailbox: numbered messages, deletion marks, wire format.

Pure data and bytes, no I/O: the session asks for a reply and writes it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from popview.server.mailbox import StoredMessage

__all__ = ["Maildrop", "MaildropMessage", "dot_stuff", "to_crlf"]

_LINE_END = re.compile(rb"\r?\n")
_LINE_START_DOT = re.compile(rb"^\.", re.MULTILINE)


def to_crlf(data: bytes) -> bytes:
    """Return ``data`` with every line ending CRLF, ending in CRLF if not empty.

    RFC 1939 §3: lines are sent terminated by CRLF, so a stored bare LF is
    converted when the message is loaded (sizes then count what is sent).
    """
    data = _LINE_END.sub(b"\r\n", data)
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def dot_stuff(data: bytes) -> bytes:
    """Byte-stuff CRLF text and terminate it as a multi-line response.

    RFC 1939 §3: a line starting with "." gets another "." in front; the
    response ends with a line holding a single ".".
    """
    return _LINE_START_DOT.sub(b"..", data) + b".\r\n"


@dataclass
class MaildropMessage:
    """A numbered message of the session's snapshot."""

    number: int
    key: object
    uid: str
    data: bytes
    deleted: bool = False

    @property
    def size(self) -> int:
        """Octets as sent (CRLF line endings, before byte-stuffing)."""
        return len(self.data)

    def top(self, lines: int) -> bytes:
        """The header, the blank line and the first ``lines`` body lines (RFC 1939 §7)."""
        head, sep, body = self.data.partition(b"\r\n\r\n")
        if not sep:
            return self.data
        kept = body.split(b"\r\n")[:-1][:lines]
        return head + b"\r\n\r\n" + b"".join(line + b"\r\n" for line in kept)


class Maildrop:
    """The snapshot a session works on, with its deletion marks."""

    def __init__(self, stored: Sequence[StoredMessage]) -> None:
        self.messages = [
            MaildropMessage(n, item.key, item.uid, to_crlf(item.data))
            for n, item in enumerate(stored, start=1)
        ]

    def live(self) -> list[MaildropMessage]:
        """The messages not marked deleted."""
        return [m for m in self.messages if not m.deleted]

    def stat(self) -> tuple[int, int]:
        """(count, total octets) of the messages not marked deleted."""
        live = self.live()
        return len(live), sum(m.size for m in live)

    def find(self, arg: str) -> MaildropMessage | str:
        """Look a message number up; an ``-ERR`` text when it is unusable."""
        if not arg.isascii() or not arg.isdigit() or len(arg) > 9:
            return f"Invalid message number: {arg}"
        number = int(arg)
        if not 1 <= number <= len(self.messages):
            return "No such message"
        msg = self.messages[number - 1]
        if msg.deleted:
            return f"Message {number} is deleted"
        return msg

    def reset(self) -> None:
        """Unmark every message (RFC 1939 §5 RSET)."""
        for msg in self.messages:
            msg.deleted = False

    def marked_keys(self) -> list[object]:
        """Keys of the messages marked deleted, for the UPDATE state."""
        return [m.key for m in self.messages if m.deleted]
