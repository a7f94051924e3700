"""Opening one connection: connect, (STLS), authenticate, then STAT, LIST, UIDL.

The order is RFC 2449 / RFC 2595's: ``CAPA`` before anything, ``STLS`` and
``CAPA`` again (pre-TLS capabilities are forgotten), authentication, and ``CAPA``
once more (the client does those). ``STAT``, ``LIST`` and ``UIDL`` then go out
pipelined when the server allows it.

The capabilities from before login are remembered per account in the store
(:mod:`popview.store.servers`), under the greeting: when the next session's
greeting is the same, no ``CAPA`` is asked before login, and to a server that
pipelines ``USER``, ``PASS``, ``CAPA``, ``STAT``, ``LIST`` and ``UIDL`` go in
one write: the login and the listing in one round trip (RFC 2449 §6.6). A
refused ``PASS`` is the same login error as ever (the server answers the rest
``-ERR`` in the AUTHORIZATION state, RFC 1939 §3, and the connection is
dropped). APOP, SASL and OAuth 2 log in first, then send the listing flight. A
changed greeting or ``IMPLEMENTATION`` makes the next session ask again; a
server found unable to pipeline is remembered too, and not pipelined to again
(HARDENING A.19).

The result is a :class:`OpenMailbox`: the client plus the
:class:`~popview.session.index.MessageIndex` built from it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from popview.errors import Pop3ServerError, StoreError
from popview.pop3 import protocol
from popview.pop3.client import Pop3Client, Reply
from popview.pop3.predial import DialAhead
from popview.pop3.protocol import Capabilities, RemoteProtocolError, parse_capa
from popview.pop3.tls import client_context
from popview.pop3.wording import WHAT, protocol_error
from popview.session.cached_rows import CachedRowsCallback, CachedRowsReport
from popview.session.envelope_stream import Prefetched, prefetch_cached
from popview.session.index import MessageIndex
from popview.session.oauth2 import OAuth2Credential, log_in_oauth2
from popview.session.policy import classify_server_error
from popview.session.rows import ListRows, Rejects, UidlRows
from popview.session.types import SessionInfo
from popview.store import ServerNotes

if TYPE_CHECKING:
    from popview.config import Account
    from popview.store import Store

__all__ = ["OpenMailbox", "open_mailbox", "remember_pipelining_broken"]

NO_UIDL = "This server has no UIDL: deletions apply only to this session, and nothing is cached."
NO_TOP = "This server has no TOP: headers load when a message is opened."
NO_PIPELINING = "This server does not support pipelining: the list loads more slowly."
PIPELINING_OFF = "Pipelining is off for this session: the server stopped answering queued commands."


@dataclass
class OpenMailbox:
    """One open, authenticated connection and what it listed.

    Attributes:
        client: The POP3 client.
        index: Message numbers ↔ keys for this connection.
        count: STAT message count.
        size: STAT octets.
        rejected: The first junk LIST/UIDL rows (sanitized, at most
            :data:`~popview.session.rows.REJECTED_KEPT`).
        rejected_count: How many LIST/UIDL rows were junk in all.
        use_top: Whether to ask ``TOP n 0`` for envelopes.
        degraded: Notices for the user.
        login_delay: CAPA LOGIN-DELAY seconds after login, if advertised.
        cached: The account's cached envelopes, read while logging in
            (:func:`~popview.session.envelope_stream.prefetch_cached`), or
            ``None`` without a store.
    """

    client: Pop3Client
    index: MessageIndex
    count: int
    size: int
    account: Account
    account_key: str
    rejected: tuple[str, ...] = ()
    rejected_count: int = 0
    use_top: bool = True
    degraded: list[str] = field(default_factory=list)
    login_delay: int | None = None
    cached: Prefetched | None = None

    def info(self, degraded: list[str], next_login_at: float | None) -> SessionInfo:
        """Describe this connection for the caller."""
        caps = self.client.capabilities
        return SessionInfo(
            account_key=self.account_key,
            host=self.account.host,
            port=self.account.port,
            tls_mode=self.account.tls,
            encrypted=self.client.encrypted,
            tls=self.client.tls_info,
            capabilities=caps,
            implementation=caps.implementation,
            greeting=self.client.greeting,
            message_count=self.count,
            total_size=self.size,
            degraded=tuple(degraded),
            login_delay=self.login_delay,
            next_login_at=next_login_at,
            offered_before_login=self.client.offered_before_login,
        )


def _ssl_context(account: Account, pinned: bool) -> Any:
    if account.tls == "none" or account.cafile is None:
        return None
    return client_context(cafile=account.cafile, pinned=pinned)


async def open_mailbox(
    account: Account,
    password: Callable[[], Awaitable[str | OAuth2Credential]],
    *,
    store: Store | None,
    generation: int,
    pipelining: bool,
    trace: Callable[[str], None] | None,
    ssl_context: Any,
    account_key: str,
    trusted: str | None = None,
    on_pipelining_broken: Callable[[], None] | None = None,
    dialled: DialAhead | None = None,
    on_cached: CachedRowsCallback | None = None,
) -> OpenMailbox:
    """Connect and log in, then read STAT, LIST and UIDL.

    The certificate pin is, in this order: ``trusted`` (the user trusted it in
    this session), the account's configured ``fingerprint``, the one pinned in
    the store for this account and host.

    ``on_pipelining_broken`` is called when opening failed because the server
    stopped answering the pipelined ``STAT``/``LIST``/``UIDL``: the client is
    dropped here, so the caller must remember it for its next connection
    (HARDENING A.19). ``dialled`` is a connection to the account's server
    opened ahead (:mod:`popview.pop3.predial`), adopted instead of a new one.

    ``on_cached`` is called with the account's cached rows, unconfirmed, as soon
    as they are read (:mod:`popview.session.cached_rows`), before the server
    has answered the login.

    Raises:
        PopviewError: Anything that failed, with a message for the user; a
            login ``-ERR`` is classified by its RESP-CODE
            (:func:`~popview.session.policy.classify_server_error`).
    """
    pin = trusted or account.fingerprint
    if pin is None and store is not None and account.tls != "none":
        pin = store.pins.pinned(account_key, account.host)
    notes = _recall(store, account_key)
    if notes is not None and notes.pipelining_broken:
        pipelining = False  # found unable to pipeline before (HARDENING A.19)
    # The cache is read while the login is in the air (after the store reads
    # above: the store serialises its users, and those are on the way to connect).
    report = CachedRowsReport(on_cached) if on_cached is not None else None
    cached = None
    if store is not None:
        cached = prefetch_cached(store.cache, account_key, report.first if report else None)
        if report is not None:
            report.rest(cached)
    timeout = account.timeout
    client = await Pop3Client.connect(
        account.host,
        account.port,
        tls=account.tls,
        ssl_context=ssl_context or _ssl_context(account, pin is not None),
        pin=pin,
        connect_timeout=min(timeout, 30.0),
        command_timeout=timeout,
        trace=trace,
        pipelining=pipelining,
        remembered=_remembered_capabilities(notes),
        dialled=dialled,
    )

    def pipelining_broken() -> None:
        _remember_broken(store, account_key, client.greeting_key, notes)
        if on_pipelining_broken is not None:
            on_pipelining_broken()

    try:
        secret = await password()
        listing = _Listing(client.capabilities)
        replies: Sequence[Reply | Pop3ServerError] | None = None
        try:
            if isinstance(secret, OAuth2Credential):
                await log_in_oauth2(client, secret)
            else:
                replies = await client.login(
                    account.user,
                    secret,
                    mechanism=account.auth,
                    apop=account.apop,
                    capa=False,  # pipelined with STAT, LIST and UIDL
                    pipelined=True,  # USER and PASS in one write, if it pipelines
                    # ... and the listing in that write too (behind SCRAM's last
                    # line), when the server pipelines: remembered under an
                    # unchanged greeting, or just told by CAPA.
                    then=listing.commands if client.pipelining else (),
                    sinks=listing.sinks,
                )
        except Pop3ServerError as exc:
            delay = client.capabilities.login_delay
            raise classify_server_error(exc, login_delay=delay) from None
        if replies is None:
            replies = [r async for r in client.pipeline(listing.commands, sinks=listing.sinks)]
        connection = _read_mailbox(
            client, listing, replies, account, account_key, generation, pipelining, trace
        )
        connection.cached = cached
        _remember(store, account_key, client, notes)
        return connection
    except BaseException:
        if client.pipelining_broken:
            pipelining_broken()
        client.abort("opening the mailbox failed")  # never QUIT on an error path
        raise


def _recall(store: Store | None, account_key: str) -> ServerNotes | None:
    if store is None:
        return None
    try:
        return store.servers.get(account_key)
    except StoreError:  # the memory is an accelerator: without it, ask CAPA
        return None


def _remembered_capabilities(notes: ServerNotes | None) -> tuple[str, Capabilities] | None:
    if notes is None or notes.capa is None:
        return None
    return notes.greeting, parse_capa(notes.capa.split("\n"))


def _remember(
    store: Store | None, account_key: str, client: Pop3Client, notes: ServerNotes | None
) -> None:
    """Keep the capabilities from before login for the next session, under the
    greeting; forget them when IMPLEMENTATION after login changed."""
    if store is None:
        return
    implementation = client.capabilities.implementation
    if client.capabilities_remembered and notes is not None:
        if notes.implementation == implementation:
            return  # nothing new
        new: ServerNotes | None = None  # the server changed: ask CAPA next time
    else:
        offered = client.offered_before_login.raw
        broken = notes is not None and notes.pipelining_broken
        broken = broken and notes is not None and notes.greeting == client.greeting_key
        new = ServerNotes(
            client.greeting_key,
            "\n".join(offered) if offered else None,
            implementation,
            broken,
        )
    with contextlib.suppress(StoreError):
        if new is None:
            store.servers.forget(account_key)
        else:
            store.servers.put(account_key, new)


def remember_pipelining_broken(store: Store | None, account_key: str, client: Pop3Client) -> None:
    """Note for later sessions that ``client``'s server stopped answering
    pipelined commands after the mailbox was open (HARDENING A.19)."""
    if store is not None:
        _remember_broken(store, account_key, client.greeting_key, _recall(store, account_key))


def _remember_broken(
    store: Store | None, account_key: str, greeting: str, notes: ServerNotes | None
) -> None:
    """Note that the server stopped answering pipelined commands, so that no
    later session pipelines to it (HARDENING A.19)."""
    if store is None:
        return
    kept = notes if notes is not None and notes.greeting == greeting else None
    new = ServerNotes(
        greeting,
        kept.capa if kept else None,
        kept.implementation if kept else None,
        pipelining_broken=True,
    )
    with contextlib.suppress(StoreError):
        store.servers.put(account_key, new)


class _Listing:
    """The flight that follows the login: ``CAPA`` (RFC 2449 §6: it may change
    after login), ``STAT``, ``LIST`` and ``UIDL``, and the parsers of its rows.

    Rows are parsed as each batch of lines arrives: a huge or junk listing is
    never held whole (HARDENING A.7, A.12).
    """

    def __init__(self, before: Capabilities) -> None:
        # RFC 2449 §5: a server with CAPA lists what it supports; without CAPA, try.
        self.want_uidl = before.uidl or not before.raw
        self.commands = [protocol.capa(), protocol.stat(), protocol.list_()]
        if self.want_uidl:
            self.commands.append(protocol.uidl())
        self.rejects = Rejects()
        self.list_rows = ListRows(self.rejects)
        self.uidl_rows = UidlRows(self.rejects)
        self.sinks = {"LIST": self.list_rows.feed, "UIDL": self.uidl_rows.feed}


def _read_mailbox(
    client: Pop3Client,
    listing: _Listing,
    replies: Sequence[Reply | Pop3ServerError],
    account: Account,
    account_key: str,
    generation: int,
    pipelining: bool,
    trace: Callable[[str], None] | None = None,
) -> OpenMailbox:
    caps = client.adopt_capabilities(replies[0])
    advertised = bool(caps.raw)
    stat_reply, list_reply = replies[1], replies[2]
    for reply in (stat_reply, list_reply):
        if isinstance(reply, Pop3ServerError):
            raise reply
    assert not isinstance(stat_reply, Pop3ServerError)
    try:
        count, size = protocol.parse_stat(stat_reply.text)
    except RemoteProtocolError as exc:  # the caller drops the connection
        raise protocol_error(exc, WHAT["STAT"]) from None
    sizes = listing.list_rows.entries(count)
    uids = None
    if listing.want_uidl and not isinstance(replies[3], Pop3ServerError):
        uids = listing.uidl_rows.rows.items()
    rejects = listing.rejects
    rejects.log(str(account.host), trace)
    index = MessageIndex(sizes, uids, generation=generation)
    degraded: list[str] = []
    if not index.has_uidl:
        degraded.append(NO_UIDL)
    elif index.unstable_count:
        degraded.append(
            f"{index.unstable_count} message(s) have no stable id (UIDL): they can be "
            "deleted only in this session and are not cached."
        )
    use_top = caps.top or not advertised
    if not use_top:
        degraded.append(NO_TOP)
    if not pipelining:
        degraded.append(PIPELINING_OFF)
    elif advertised and not caps.pipelining:
        degraded.append(NO_PIPELINING)
    return OpenMailbox(
        client=client,
        index=index,
        count=count,
        size=size,
        account=account,
        account_key=account_key,
        rejected=tuple(rejects.kept),
        rejected_count=rejects.count,
        use_top=use_top,
        degraded=degraded,
        login_delay=caps.login_delay,
    )
