"""One session's view of a mailbox: numbered messages, deletion marks, wire format.

Pure data and bytes, no I/O: the session asks for a reply and writes it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from popview.server.mailbox import StoredMessage

__all__ = ["Maildrop", "MaildropMessage", "dot_stuff", "downgrade_8bit", "to_crlf"]

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


_UNICODE_WRAPPER = (
    b"From: Mail Delivery Subsystem <postmaster@localhost>\r\n"
    b"Subject: Cannot display Unicode content\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"This message has Unicode (UTF-8) headers, and your mail client did not\r\n"
    b"enable UTF8 (RFC 6856), so it cannot be shown here.\r\n"
)


def downgrade_8bit(data: bytes) -> bytes | None:
    """What a server that offers UTF8 sends a client that did not enable it.

    RFC 6856 §2 leaves the choice to the server; Courier replaces a message
    whose header has raw 8-bit bytes with a short ASCII notice, and this does
    the same. Returns ``None`` when the header is plain ASCII (sent as is).
    """
    head = data.partition(b"\r\n\r\n")[0]
    return None if head.isascii() else _UNICODE_WRAPPER


@dataclass
class MaildropMessage:
    """A numbered message of the session's snapshot.

    Attributes:
        sent: What RETR/TOP send instead of ``data`` (a downgraded message),
            while LIST still gives the size of ``data``, as Courier does.
    """

    number: int
    key: object
    uid: str
    data: bytes
    deleted: bool = False
    sent: bytes | None = None

    @property
    def size(self) -> int:
        """Octets as stored (CRLF line endings, before byte-stuffing)."""
        return len(self.data)

    @property
    def wire(self) -> bytes:
        """What RETR sends: the message, or its downgraded stand-in."""
        return self.data if self.sent is None else self.sent

    def top(self, lines: int) -> bytes:
        """The header, the blank line and the first ``lines`` body lines (RFC 1939 §7)."""
        head, sep, body = self.wire.partition(b"\r\n\r\n")
        if not sep:
            return self.wire
        kept = body.split(b"\r\n")[:-1][:lines]
        return head + b"\r\n\r\n" + b"".join(line + b"\r\n" for line in kept)


class Maildrop:
    """The snapshot a session works on, with its deletion marks."""

    def __init__(self, stored: Sequence[StoredMessage], *, downgrade: bool = False) -> None:
        self.messages = [
            MaildropMessage(n, item.key, item.uid, to_crlf(item.data))
            for n, item in enumerate(stored, start=1)
        ]
        if downgrade:  # a UTF8 server, and the client did not send UTF8
            for msg in self.messages:
                msg.sent = downgrade_8bit(msg.data)

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
