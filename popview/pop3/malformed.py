"""The core's error for a reply whose text does not parse (STAT, ``LIST n``, ``UIDL n``).

A :class:`~popview.pop3.protocol.RemoteProtocolError` that carries what a
sentence needs as data: which reply, and its text sanitized. The sentence a
person reads is made above the core (:func:`popview.pop3.wording.protocol_error`).

It lives apart from :mod:`popview.pop3.replies` because
:mod:`popview.pop3.protocol` imports the parsers (to re-export them) before it
defines its error classes; the parsers import this module when they raise.
"""

from __future__ import annotations

from popview.pop3.protocol import RemoteProtocolError

__all__ = ["MalformedReply"]


class MalformedReply(RemoteProtocolError):
    """A reply's text is not what its command returns (RFC 1939 §5, §7).

    Attributes:
        reply: The command whose reply it was (``"STAT"``, ``"LIST"``, ``"UIDL"``).
        text: The reply's text, sanitized (:func:`popview.errors.printable`).
    """

    def __init__(self, reply: str, text: str) -> None:
        super().__init__(f"malformed {reply} reply")
        self.reply = reply
        self.text = text
