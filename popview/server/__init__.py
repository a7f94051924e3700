"""The embedded POP3 server: loopback only, with fault injection and a command transcript.

See :class:`Pop3Server` for the server, :class:`ServerThread` to run it from
synchronous code, :class:`MemoryMailbox`/:class:`MaildirMailbox` for what it
serves and :class:`Fault` for the misbehaviours tests can inject.
"""

from __future__ import annotations

from popview.server.credential_checks import apop_digest
from popview.server.faults import GREETING, Fault, ReplySource, generated_listing
from popview.server.mailbox import Mailbox, MaildirMailbox, MemoryMailbox, StoredMessage
from popview.server.maildrop import dot_stuff, to_crlf
from popview.server.server import (
    DEFAULT_MAX_LINE,
    Pop3Server,
    TranscriptEntry,
    default_capabilities,
)
from popview.server.thread import ServerThread

__all__ = [
    "DEFAULT_MAX_LINE",
    "GREETING",
    "Fault",
    "Mailbox",
    "MaildirMailbox",
    "MemoryMailbox",
    "Pop3Server",
    "ReplySource",
    "ServerThread",
    "StoredMessage",
    "TranscriptEntry",
    "apop_digest",
    "default_capabilities",
    "dot_stuff",
    "generated_listing",
    "to_crlf",
]
