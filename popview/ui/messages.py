"""Results the session worker posts to the app, past tense, one dataclass each.

The worker never waits for the UI and the UI never waits for the worker: a
screen submits a command (:mod:`popview.ui.worker`) and later receives one of
these. Every string in them is either already sanitized by the engine
(:mod:`popview.errors` messages, envelopes) or sanitized before display.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from popview.session import FetchedMessage, MarkReport, SessionInfo
    from popview.session.identity import MessageKey
    from popview.session.types import Listed
    from popview.ui.rendering import RenderedForms

__all__ = [
    "CachedRowsRead",
    "CommitReady",
    "Committed",
    "Connected",
    "EnvelopesLoaded",
    "FetchFailed",
    "FetchProgress",
    "ListingFinished",
    "LoadProgress",
    "LoginFailed",
    "MarksChanged",
    "MarksDiffer",
    "MarksRestored",
    "MessageFetched",
    "Reconnected",
    "RulesApplied",
    "ServerError",
    "SessionClosed",
    "SessionLost",
    "SessionState",
]


@dataclass
class Connected(Message):
    """The server accepted the login; the mailbox can be listed.

    Attributes:
        info: The connection.
        seen_before: The UIDLs the previous visit listed (the session owns this:
            rows outside it are "new since last visit").
    """

    info: SessionInfo
    seen_before: frozenset[str] = frozenset()
    listed: Mapping[MessageKey, int | None] | None = None
    """Every key the server listed (LIST and UIDL) with its LIST size, or None when
    not known: a row shown from the cache that is not in it, or under another size
    (the UIDL now names other content), is gone from the server."""


@dataclass
class CachedRowsRead(Message):
    """The account's cached rows were read while the login is in the air.

    They are unconfirmed (:mod:`popview.session.cached_rows`): shown at once,
    marked as the cache's, and nothing that needs the server is done for them
    until :class:`Connected` says which of them the server still lists.

    Attributes:
        rows: The cached envelopes under their UIDLs, without message numbers.
        account_key: The account they belong to (its read flags are looked up).
        seen_before: The UIDLs the previous visit listed (what counts as new).
        login: Which login of the worker read them (see ``SessionWorker.logins``).
    """

    rows: tuple[Listed, ...]
    account_key: str
    seen_before: frozenset[str] = frozenset()
    login: int = 0


@dataclass
class LoginFailed(Message):
    """Connecting or logging in failed; the login screen shows why.

    Attributes:
        title: A short heading, e.g. "Login failed".
        message: One or two sentences saying what happened and what to do.
        fingerprint: For an untrusted certificate, its SHA-256 fingerprint,
            so that the user can choose to trust it.
        password_refused: The server refused the user name or password.
    """

    title: str
    message: str
    fingerprint: str | None = None
    password_refused: bool = False


@dataclass
class EnvelopesLoaded(Message):
    """A batch of envelopes arrived (from the cache or from ``TOP n 0``), each with
    the key the session knows its message by."""

    envelopes: tuple[Listed, ...]
    from_cache: bool = False


@dataclass
class LoadProgress(Message):
    """How far the listing is; bursts coalesce, only the latest matters."""

    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadProgress)


@dataclass
class ListingFinished(Message):
    """The listing is complete: ``keys`` is every message now on the server.

    Attributes:
        keys: The keys the listing produced (rows not in it are gone).
        rejected: The first junk LIST/UIDL rows the engine skipped, sanitized.
        rejected_count: How many rows were skipped in all (may exceed
            ``len(rejected)``, which is capped).
    """

    keys: frozenset[MessageKey]
    rejected: tuple[str, ...] = ()
    rejected_count: int = 0


@dataclass
class FetchProgress(Message):
    """``RETR`` of ``key`` is streaming; bursts coalesce."""

    key: MessageKey
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FetchProgress) and message.key == self.key


@dataclass
class MessageFetched(Message):
    """A whole message arrived, parsed and rendered (off the event loop).

    Attributes:
        key: Which message.
        fetched: What the session returned (raw bytes and the parsed message).
        forms: The body rendered in every available form (plain, html, raw).
    """

    key: MessageKey
    fetched: FetchedMessage
    forms: RenderedForms


@dataclass
class FetchFailed(Message):
    """Fetching ``key`` failed; the viewer says so instead of "Loading…"."""

    key: MessageKey
    title: str
    message: str


@dataclass
class MarksChanged(Message):
    """The session's marks, after every command: the one set the UI draws.

    Attributes:
        marks: Every mark (journaled; deleted at the next commit).
        pending: The marks the server has not received yet (the link is down, or
            they wait for the next connection); shown as pending.
    """

    marks: frozenset[str]
    pending: frozenset[str] = frozenset()
    rules: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Of the marks, those a ``[[rules]]`` rule made: key → the rule's name (the
    session's ``mark_rules`` at that moment; a mark not in it is the user's)."""


@dataclass
class SessionState(Message):
    """The session's connection state after every command (header, server info).

    Attributes:
        connected: Whether a connection is open now (no stale TLS line otherwise).
        info: The latest connection's info (capabilities, TLS, counts at login).
        message_count: Messages on the server now (after a commit or a refresh).
        total_size: Their sizes, in octets.
    """

    connected: bool
    info: SessionInfo | None
    message_count: int
    total_size: int


@dataclass
class CommitReady(Message):
    """Every command queued before ``PrepareCommit`` has run: ``marks`` is what
    the dialog lists and what the user confirms.

    Attributes:
        purpose: ``"commit"`` or ``"quit"``.
        marks: The session's marks at that moment.
        rules: Of ``marks``, those a rule made: key → the rule's name, read from
            the session's ``mark_rules`` at the same moment (the dialog groups by it).
    """

    purpose: str
    marks: frozenset[str]
    rules: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass
class RulesApplied(Message):
    """The ``[[rules]]`` ran over a complete listing and their marks were applied.

    Attributes:
        marked: Per mark rule (file order), how many messages it marked now.
        size: The total size of those messages, in octets.
        kept: Per ``keep`` rule, how many messages it saved from a mark rule.
        refused: Marks the server refused (``-ERR`` to ``DELE``): not marked.
        first: This is the first listing of the session (a refresh says
            something only when the rules marked something new).
    """

    marked: Mapping[str, int]
    size: int
    kept: Mapping[str, int]
    refused: int = 0
    first: bool = True


@dataclass
class MarksDiffer(Message):
    """A commit was refused because the marks were not the confirmed ones."""

    message: str
    marks: frozenset[str]


@dataclass
class MarksRestored(Message):
    """A run that ended without a commit left these marks: ask before keeping them.

    Attributes:
        marks: The marks the journal held.
        rules: Of them, those a rule made (key → rule name, from the journal).
    """

    marks: frozenset[str]
    rules: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass
class Committed(Message):
    """``QUIT`` went through: the server deleted ``deleted``.

    Attributes:
        deleted: The keys the server deleted.
        status: ``"applied"``, or ``"unknown"`` when the server's answer to
            ``QUIT`` was lost (checked by UIDL on the next connection).
    """

    deleted: tuple[str, ...]
    status: str = "applied"


@dataclass
class SessionLost(Message):
    """The connection dropped; the next action reconnects, marks kept."""

    reason: str
    marks_pending: int


@dataclass
class Reconnected(Message):
    """A reconnect re-applied journaled marks; the user is told what changed."""

    report: MarkReport


@dataclass
class ServerError(Message):
    """A command failed without killing the session (``-ERR``, a save error...)."""

    title: str
    message: str


@dataclass
class SessionClosed(Message):
    """The worker closed the session (with or without ``QUIT``); the app may exit."""

    committed: bool
    deleted: tuple[str, ...] = field(default_factory=tuple)
