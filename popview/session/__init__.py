"""The mailbox engine: :class:`MailboxSession` and what it returns.

``popview.session`` is the facade the UI and the CLI import; the engine lives in
small modules beside it:

* :mod:`~popview.session.engine` - :class:`MailboxSession` (open, list, fetch,
  mark/unmark, commit, reconnect, keepalive);
* :mod:`~popview.session.opening` - one connection: login, STAT/LIST/UIDL;
* :mod:`~popview.session.index` - message number ↔ UIDL for one connection;
* :mod:`~popview.session.marks` - pending deletions and the journal;
* :mod:`~popview.session.envelope_stream` - cache first, then pipelined ``TOP n 0``;
* :mod:`~popview.session.payload` - parsed envelope fields kept in the cache;
* :mod:`~popview.session.policy` - what a RESP-CODE means for the user;
* :mod:`~popview.session.visits` - new since the last visit;
* :mod:`~popview.session.types` - the result dataclasses.
"""

from __future__ import annotations

from popview.session.engine import DEFAULT_KEEPALIVE, MailboxSession, PasswordSource
from popview.session.identity import MessageKey
from popview.session.index import MessageRef
from popview.session.policy import (
    LoginDelayError,
    MailboxInUseError,
    MarksChangedError,
    MessageGoneError,
    MessageParseError,
    NotOpenError,
    PermanentServerError,
    TemporaryServerError,
)
from popview.session.types import (
    BulkMark,
    CommitResult,
    FetchedMessage,
    Listed,
    ListingUpdate,
    MarkReport,
    ProgressCallback,
    RefreshResult,
    SessionInfo,
)

__all__ = [
    "DEFAULT_KEEPALIVE",
    "BulkMark",
    "CommitResult",
    "FetchedMessage",
    "Listed",
    "ListingUpdate",
    "LoginDelayError",
    "MailboxInUseError",
    "MailboxSession",
    "MarkReport",
    "MarksChangedError",
    "MessageGoneError",
    "MessageKey",
    "MessageParseError",
    "MessageRef",
    "NotOpenError",
    "PasswordSource",
    "PermanentServerError",
    "ProgressCallback",
    "RefreshResult",
    "SessionInfo",
    "TemporaryServerError",
]
