"""What a :class:`~popview.session.MailboxSession` hands back: plain frozen dataclasses.

The UI and the headless CLI read these; none of them holds a socket, a password or
an unsanitized string meant for markup (envelope fields are sanitized by
:mod:`popview.mail`; notices here are written by popview itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple

from popview.session.identity import MessageKey

if TYPE_CHECKING:
    from popview.mail.envelope import Envelope
    from popview.mail.message import ParsedMessage
    from popview.pop3.protocol import Capabilities
    from popview.pop3.tls import TlsInfo

__all__ = [
    "BulkMark",
    "CommitResult",
    "FetchedMessage",
    "Listed",
    "ListingUpdate",
    "MarkReport",
    "ProgressCallback",
    "RefreshResult",
    "SessionInfo",
]

ProgressCallback = Callable[[int, int], None]
"""``cb(done_bytes, total_bytes)`` called while a message downloads."""


@dataclass(frozen=True)
class SessionInfo:
    """The state of a freshly opened connection.

    Attributes:
        account_key: The cache key of the account (``user@host:port``).
        host: Server host name.
        port: Server port.
        tls_mode: ``"implicit"``, ``"starttls"`` or ``"none"``.
        encrypted: Whether the socket is really encrypted (the indicator follows this).
        tls: Version, cipher and certificate fingerprint, or ``None`` in plaintext.
        capabilities: The CAPA reply after authentication (RFC 2449).
        implementation: The IMPLEMENTATION capability, raw text (sanitize to show).
        greeting: The greeting text, raw (sanitize to show).
        message_count: STAT count.
        total_size: STAT size in octets.
        degraded: User-facing notices about what this server does not support.
        login_delay: Seconds the server wants between logins (CAPA LOGIN-DELAY), or None.
        next_login_at: ``time.time()`` before which a new login is refused, or None.
        offered_before_login: The CAPA reply before authentication (after STLS):
            the login methods are listed only there (RFC 2449 §6.3, RFC 5034 §6).
    """

    account_key: str
    host: str
    port: int
    tls_mode: str
    encrypted: bool
    tls: TlsInfo | None
    capabilities: Capabilities
    implementation: str | None
    greeting: str
    message_count: int
    total_size: int
    degraded: tuple[str, ...] = ()
    login_delay: int | None = None
    next_login_at: float | None = None
    offered_before_login: Capabilities | None = None


class Listed(NamedTuple):
    """One listed message: the key the session knows it by, and its envelope.

    The envelope carries what the server said (its ``uid`` is the stable UIDL or
    ``None``); the key is the session's (:mod:`popview.session.identity`).
    """

    key: MessageKey
    envelope: Envelope


@dataclass(frozen=True)
class ListingUpdate:
    """One batch of the mailbox listing.

    Attributes:
        messages: Messages new in this batch, each with its key.
        done: Messages listed so far.
        total: Messages in the mailbox.
        from_cache: Whether this batch came from the local cache.
        rejected: The first junk LIST/UIDL rows (sanitized, at most 100), for a
            notice; with the first batch only.
        rejected_count: How many LIST/UIDL rows were junk in all (may exceed
            ``len(rejected)``); with the first batch only.
        missing: Keys whose headers could not be fetched (TOP refused or absent):
            their envelopes are placeholders, headers come with the message.
    """

    messages: tuple[Listed, ...]
    done: int
    total: int
    from_cache: bool = False
    rejected: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    rejected_count: int = 0

    @property
    def envelopes(self) -> tuple[Envelope, ...]:
        """The envelopes of :attr:`messages`, without their keys."""
        return tuple(listed.envelope for listed in self.messages)


@dataclass(frozen=True)
class FetchedMessage:
    """A whole message, downloaded (RETR) or read from the cache.

    Attributes:
        uid: Session key of the message.
        number: Message number on the current connection.
        raw: The exact bytes of the message (dot-unstuffed, CRLF line ends).
        parsed: The parsed message.
        from_cache: Whether the bytes came from the cache.
        envelope: The list row rebuilt from the full headers (useful when the
            listing had none: no TOP, or TOP refused).
    """

    uid: str
    number: int
    raw: bytes
    parsed: ParsedMessage
    from_cache: bool = False
    envelope: Envelope | None = None


@dataclass(frozen=True)
class MarkReport:
    """What happened to the pending marks when a new connection was made.

    Attributes:
        reapplied: Marks found again by UIDL and sent ``DELE`` under their new number.
        vanished: Marks whose message is no longer on the server (someone else removed
            it): reported, not an error.
        dropped_no_uidl: Marks dropped because their message has no stable UIDL, so it
            cannot be found again in a new session.
        failed: Marks whose ``DELE`` the server refused; they stay in the journal.
        deleted: Marks of a commit whose outcome was unknown, now confirmed gone.
    """

    reapplied: tuple[str, ...] = ()
    vanished: tuple[str, ...] = ()
    dropped_no_uidl: int = 0
    failed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether there is nothing to tell the user."""
        return not (
            self.reapplied or self.vanished or self.dropped_no_uidl or self.failed or self.deleted
        )


@dataclass(frozen=True)
class BulkMark:
    """The outcome of :meth:`MailboxSession.mark_many`.

    Attributes:
        marked: The messages marked by this call (journaled, ``DELE`` sent when online).
        gone: Asked for, but no longer on the server: not marked.
        refused: The server answered ``-ERR`` to their ``DELE``: not marked.
    """

    marked: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommitResult:
    """The outcome of :meth:`MailboxSession.commit` (``QUIT``, RFC 1939 §6).

    Attributes:
        deleted: Keys the server deleted (``"applied"``), or the keys that were
            marked when the outcome is ``"unknown"`` (see ``verified``/``remaining``).
        status: ``"applied"`` when QUIT was answered ``+OK``; ``"unknown"`` when it
            was answered ``-ERR`` or the connection ended without a reply.
        verified: With ``"unknown"``: whether a fresh UIDL on a new connection
            showed what really happened (then ``deleted`` holds only what is gone).
        remaining: With a verified ``"unknown"``: marked keys still on the server
            (they stay marked).
        report: What re-applying the marks before QUIT did, if a reconnect was needed.
        reconnect_error: Why the new connection after QUIT failed, if it did (the
            commit itself is reported by ``status``).
    """

    deleted: tuple[str, ...]
    status: Literal["applied", "unknown"]
    verified: bool = False
    remaining: tuple[str, ...] = ()
    report: MarkReport | None = None
    reconnect_error: str | None = None


@dataclass(frozen=True)
class RefreshResult:
    """What changed after :meth:`MailboxSession.refresh` made a new connection.

    Attributes:
        new: Keys that appeared.
        gone: Keys that left the server.
        message_count: Messages now in the mailbox.
        report: What happened to pending marks.
    """

    new: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    message_count: int = 0
    report: MarkReport = field(default_factory=MarkReport)
