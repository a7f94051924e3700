"""``MailboxSession``: one POP3 mailbox as a process, free of any UI.

The Textual worker and the headless CLI both drive it; every method is a
coroutine and the owner runs one at a time. What it guarantees
(docs/deletion-model.md; HARDENING section E in docs/hardening.md):

* a mark is journaled by UIDL *before* ``DELE`` is sent;
* ``QUIT`` is sent by :meth:`MailboxSession.commit` and nowhere else: every
  error, cancel, timeout and :meth:`~MailboxSession.close` drops the socket, so
  the server deletes nothing (RFC 1939 §6);
* after a lost connection the next action reconnects, finds every mark again by
  UIDL, sends ``DELE`` under the *new* number and reports what vanished; a
  message number from an earlier connection is never sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from popview.errors import (
    AuthError,
    CredentialError,
    Pop3ConnectionError,
    Pop3Error,
    Pop3ServerError,
    PopviewError,
    TLSVerificationError,
)
from popview.pop3 import protocol
from popview.pop3.client import Pop3Client
from popview.pop3.predial import DialAhead
from popview.pop3.tls import format_fingerprint, normalize_fingerprint
from popview.session.cached_rows import CachedRowsCallback
from popview.session.envelope_stream import Prefetched, read_ahead_uids, stream_listing
from popview.session.identity import MessageKey
from popview.session.index import MessageIndex, MessageRef
from popview.session.marks import MarkBook
from popview.session.oauth2 import OAuth2Credential
from popview.session.opening import OpenMailbox, open_mailbox, remember_pipelining_broken
from popview.session.policy import (
    LoginDelayError,
    MailboxInUseError,
    MarksChangedError,
    MessageGoneError,
    MessageParseError,
    NotOpenError,
    classify_server_error,
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
from popview.session.visits import Visits

if TYPE_CHECKING:
    from popview.config import Account
    from popview.mail.envelope import Envelope
    from popview.store import Store

__all__ = ["DEFAULT_KEEPALIVE", "MailboxSession", "PasswordSource"]

DEFAULT_KEEPALIVE = 45.0
"""Seconds of idleness before :meth:`MailboxSession.keepalive` sends NOOP.

Outlook.com drops idle POP3 sessions after about 60 s; RFC 1939 §3 allows
servers an autologout timer of 10 minutes or more. ``0`` turns keepalive off:
the one meaning of that setting, in the engine, the worker and the CLI.
"""

IN_USE_RETRY_DELAYS = (0.5, 1.5)
"""Pauses before retrying a login refused with ``[IN-USE]`` right after popview
itself dropped or quit the previous connection: the server may not have
noticed that socket close yet (RFC 2449 §8.1.1). Two retries, never more."""

IN_USE_GRACE = 10.0
"""Seconds after our own close during which ``[IN-USE]`` is retried at all."""

MAX_PREVIEW_REPLY = 4 * 1024 * 1024
"""Bytes a preview's ``TOP n k`` reply may take: headers and ``k`` lines, with room."""

_T = TypeVar("_T")

PasswordSource = (
    str | Callable[[], str | OAuth2Credential] | Callable[[], Awaitable[str | OAuth2Credential]]
)


class MailboxSession:
    """The mailbox engine (see the module docstring and docs/architecture.md).

    Args:
        account: A :class:`popview.config.Account` (host, port, tls, user, ...).
        password: The password, or a sync/async callable returning it (asked once,
            lazily, and asked again after the server refused it).
        store: The local cache (envelopes, bodies, journal), or None.
        keepalive_interval: Idle seconds before :meth:`keepalive` sends NOOP; ``0``
            (or less) turns keepalive off.
        use_journal: Keep marks in the store's journal (survive a crash) and
            restore the ones an interrupted session left; False keeps marks in
            memory only (the headless ``delete`` command).
        trace: Called with each protocol line (secrets already masked).
        ssl_context: TLS context to use instead of one built from the account.
        dialled: A connection to the account's server opened ahead
            (:mod:`popview.pop3.predial`), adopted by the first connection.
    """

    def __init__(
        self,
        account: Account,
        password: PasswordSource,
        store: Store | None = None,
        *,
        keepalive_interval: float = DEFAULT_KEEPALIVE,
        use_journal: bool = True,
        trace: Callable[[str], None] | None = None,
        ssl_context: Any = None,
        dialled: DialAhead | None = None,
    ) -> None:
        self.account = account
        self._password_source = password
        self._password: str | OAuth2Credential | None = (
            password if isinstance(password, str) else None
        )
        self.store = store
        self.keepalive_interval = keepalive_interval
        self._trace = trace
        self._ssl_context = ssl_context
        self._dialled = dialled
        self.account_key = f"{account.user}@{account.host}:{account.port}"
        journal = store.journal if (store is not None and use_journal) else None
        self._marks = MarkBook(journal, self.account_key)
        # Marks an interrupted session left are this session's marks from the start, so
        # an unmark before open() reaches the journal instead of being re-applied later.
        self._restored: set[str] = set(self._marks.restore())
        self._remembered: dict[str, Envelope] = {}
        """Without a cache: every envelope listed so far, by stable key (for marked
        messages, whose ``TOP`` the server refuses after a reconnect)."""
        self._declined: set[str] = set()
        """Keys the user unmarked after a rule marked them: no rule marks them again."""
        self.visits = Visits(store.cache if store is not None else None, self.account_key)
        """New since the last visit (read once, at the start of this session)."""
        self._conn: OpenMailbox | None = None
        self._prefetched: Prefetched | None = None
        """The cached rows read ahead for this connection, until its first listing."""
        self.on_cached: CachedRowsCallback | None = None
        """Called once, on the reading thread, with the cached rows of the first
        connection as soon as they are read, unconfirmed (:mod:`~popview.session.cached_rows`)."""
        self._known: MessageIndex | None = None
        """The index of the latest connection, kept while offline: a mark made then
        is checked against it, journaled, and applied by the next connection."""
        self._generation = 0
        self._opened = False
        self._pipelining_ok = True
        self._listing = False
        self._last_activity = time.monotonic()
        self._dropped_at: float | None = None
        self.in_use_retry_delays: tuple[float, ...] = IN_USE_RETRY_DELAYS
        """Pauses between retries of an ``[IN-USE]`` login after our own close."""
        self._trusted_pin: str | None = None
        self.next_login_at: float | None = None
        """``time.time()`` before which the server refuses a new login (LOGIN-DELAY)."""
        self.last_reconnect: MarkReport | None = None
        """What the latest reconnect (or start-up restore) did to pending marks."""
        self.info: SessionInfo | None = None
        """The latest :class:`SessionInfo`."""
        self.degraded: list[str] = []
        """Live user-facing notices (grows when e.g. TOP is refused mid-listing)."""

    # -- state -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a usable connection is open."""
        return self._conn is not None and not self._conn.client.closed

    @property
    def marks(self) -> frozenset[str]:
        """Keys marked for deletion (pending until :meth:`commit`).

        This is the one owner of the marks: the journal holds the same set (for
        stable UIDLs), and the UI draws what the worker reports from here.
        """
        return frozenset(self._marks.keys)

    @property
    def message_count(self) -> int:
        """Messages on the server as the current (else the latest) connection lists them."""
        index = self._conn.index if self._conn is not None else self._known
        return len(index) if index is not None else 0

    @property
    def total_size(self) -> int:
        """Their LIST sizes, summed (octets)."""
        index = self._conn.index if self._conn is not None else self._known
        return index.total_size if index is not None else 0

    @property
    def pending_marks(self) -> frozenset[str]:
        """Marks the current connection has not received yet (all of them offline):
        journaled, shown as pending, and sent by the next connection."""
        return frozenset(key for key in self._marks.keys if key not in self._marks.applied)

    @property
    def restored_marks(self) -> frozenset[str]:
        """Marks an earlier run left in the journal without a commit (Ctrl+C, crash,
        kill), still unconfirmed by the user: see :meth:`keep_restored`."""
        return frozenset(self._restored)

    async def keep_restored(self, keep: bool) -> None:
        """The user answered about :attr:`restored_marks`: apply them again, or forget
        them (journal included; ``RSET`` and the other marks again if the server
        already holds them). Either way they are no longer "restored"."""
        restored, self._restored = self._restored, set()
        if not keep and restored:
            self._check_idle()
            await self._unmark(restored)

    @property
    def client(self) -> Pop3Client | None:
        """The open client (for the server-info screen); None when disconnected."""
        return self._conn.client if self.connected and self._conn else None

    def seconds_until_keepalive(self) -> float | None:
        """Seconds until :meth:`keepalive` would send NOOP: the session's own idle
        deadline, which the worker sleeps until. None when disconnected or off."""
        if not self.connected or self.keepalive_interval <= 0:
            return None
        idle = time.monotonic() - self._last_activity
        return max(0.0, self.keepalive_interval - idle)

    @property
    def listed_sizes(self) -> dict[MessageKey, int | None]:
        """Every key the current connection listed, with its ``LIST`` size (empty
        when disconnected)."""
        if self._conn is None:
            return {}
        return {ref.key: ref.size for ref in self._conn.index}

    def ref(self, key: str) -> MessageRef | None:
        """The message with session key ``key`` on the current connection, or None."""
        return self._conn.index.get(key) if self._conn is not None else None

    def key_for_number(self, number: int) -> str | None:
        """The session key of message ``number`` on the current connection, or None."""
        if self._conn is None:
            return None
        ref = self._conn.index.by_number(number)
        return ref.key if ref is not None else None

    # -- connection handling -----------------------------------------------------------

    async def _get_password(self) -> str | OAuth2Credential:
        if self._password is None:
            source = self._password_source
            assert not isinstance(source, str)
            value = source()
            if inspect.isawaitable(value):
                value = await value
            # An OAuth2 account's source gives its credential, kept as it is.
            self._password = value if isinstance(value, OAuth2Credential) else str(value)
        return self._password

    def _lost(self) -> None:
        """Forget a connection that died (the client already closed it, no QUIT)."""
        if self._conn is not None:
            if self._conn.client.pipelining_broken:
                self._pipelining_ok = False
                # Found during the listing's TOP: no later session pipelines either.
                remember_pipelining_broken(self.store, self.account_key, self._conn.client)
            self._conn.client.abort()
            self._conn = None
            self._dropped_at = time.monotonic()
        self._marks.connection_lost()

    def _pipelining_broken(self) -> None:
        """The server stopped answering queued commands: never pipeline again here."""
        self._pipelining_ok = False

    async def _run(self, awaitable: Awaitable[Any]) -> Any:
        """Await one client call; notice when it killed the connection."""
        try:
            return await awaitable
        except Pop3ServerError as exc:
            classified = classify_server_error(exc)
            if classified is exc:
                raise
            raise classified from None
        finally:
            self._last_activity = time.monotonic()
            if self._conn is not None and self._conn.client.closed:
                self._lost()

    def _check_idle(self) -> None:
        if self._listing:
            raise PopviewError(
                "The message list is still loading; wait for it to finish.", title="Busy"
            )

    async def _connect(self) -> SessionInfo:
        self._generation += 1
        self._prefetched = None
        dialled, self._dialled = self._dialled, None  # the first connection only
        try:
            conn = await open_mailbox(
                self.account,
                self._get_password,
                store=self.store,
                generation=self._generation,
                pipelining=self._pipelining_ok,
                trace=self._trace,
                ssl_context=self._ssl_context,
                account_key=self.account_key,
                trusted=self._trusted_pin,
                on_pipelining_broken=self._pipelining_broken,
                dialled=dialled,
                # Only the first connection: later ones list into rows already shown.
                on_cached=None if self._opened else self.on_cached,
            )
        except PopviewError as exc:
            if isinstance(exc, AuthError | CredentialError):
                self._forget_password()  # a wrong password is asked again next time
            if isinstance(exc, LoginDelayError) and exc.retry_at:
                self.next_login_at = exc.retry_at
            raise
        self._conn = conn
        self._prefetched = conn.cached  # for the first listing of this connection
        self._known = conn.index
        self._last_activity = time.monotonic()
        if conn.login_delay:
            self.next_login_at = time.time() + conn.login_delay
        self.degraded = list(conn.degraded)
        self.info = conn.info(self.degraded, self.next_login_at)
        return self.info

    async def _reconnect(self) -> SessionInfo:
        """:meth:`_connect` right after popview closed the previous connection.

        A server that has not yet noticed that close may still hold the maildrop
        lock for it and answer ``[IN-USE]``: retry after a short pause, at most
        ``len(in_use_retry_delays)`` times, and only within :data:`IN_USE_GRACE`
        seconds of our own close. A login the user asked for never comes here.
        """
        delays = iter(self.in_use_retry_delays)
        while True:
            try:
                return await self._connect()
            except MailboxInUseError:
                dropped = self._dropped_at
                recent = dropped is not None and time.monotonic() - dropped < IN_USE_GRACE
                delay = next(delays, None)
                if not recent or delay is None:
                    raise
            await asyncio.sleep(delay)

    def _forget_password(self) -> None:
        if not isinstance(self._password_source, str):
            self._password = None

    async def _reapply(self) -> MarkReport:
        """Verify an unconfirmed QUIT, then ``DELE`` every mark under its new number."""
        assert self._conn is not None
        index = self._conn.index
        deleted, _remaining = self._marks.verify(index.stable_uids())
        vanished: list[str] = []
        dropped = 0
        todo: list[tuple[str, MessageRef]] = []
        for key in self._marks.keys:
            ref = index.get(key)
            if not MessageKey(key).stable or (ref is None and not index.has_uidl):
                dropped += 1  # HARDENING A.16: no UIDL, no way to find it again
                self._marks.discard([key])
            elif ref is None or ref.uid is None:
                vanished.append(key)
                self._marks.discard([key])
            else:
                todo.append((key, ref))
        reapplied, failed = await self._send_dele(todo)
        return MarkReport(
            reapplied=tuple(reapplied),
            vanished=tuple(vanished),
            dropped_no_uidl=dropped,
            failed=tuple(failed),
            deleted=tuple(deleted),
        )

    async def _send_dele(self, todo: list[tuple[str, MessageRef]]) -> tuple[list[str], list[str]]:
        """Pipelined ``DELE`` for already-journaled marks; refused ones are forgotten."""
        if not todo:
            return [], []
        assert self._conn is not None
        client = self._conn.client
        done: list[str] = []
        failed: list[str] = []

        async def send() -> None:
            # One window for the whole batch: DELE replies are one short line each,
            # and a window of 64 refilled at half cost a round trip per 32 marks
            # (10,000 marks at 100 ms RTT: 16 s instead of under 1 s).
            replies = client.pipeline(
                (protocol.dele(ref.number) for _, ref in todo), window=len(todo)
            )
            position = 0
            async for reply in replies:
                key = todo[position][0]
                position += 1
                (failed if isinstance(reply, Pop3ServerError) else done).append(key)

        # Recorded only when every reply came: a link lost half-way leaves them all
        # pending, and the next connection sends DELE again (the server forgot).
        await self._run(send())
        self._marks.sent(done)
        self._marks.discard(failed)
        return done, failed

    async def _ensure_connected(self) -> None:
        if self.connected:
            return
        if not self._opened:
            raise NotOpenError("The mailbox is not open yet.")
        self._lost()
        await self._reconnect()
        self.last_reconnect = await self._reapply()

    # -- public API ------------------------------------------------------------------

    def trust_certificate(self, fingerprint: str) -> str:
        """Trust the server certificate with this SHA-256 fingerprint (the user read it
        and said yes, e.g. after :class:`~popview.errors.TLSVerificationError`).

        The pin is recorded in the store for this account and host, so later runs
        connect without asking, and is used by this session's next connection
        (before the account's configured fingerprint). Only that certificate is
        accepted then: a different one is refused with
        :class:`~popview.errors.TLSVerificationError` carrying its fingerprint.

        Args:
            fingerprint: SHA-256 in any form :func:`popview.pop3.tls.normalize_fingerprint`
                accepts (``AB:CD:...``, plain hex, ``sha256:`` prefix).

        Returns:
            The fingerprint as pinned (``AB:CD:...``).

        Raises:
            PopviewError: Not a SHA-256 fingerprint, or the account uses no TLS.
            StoreError: The store could not record the pin (it still holds for
                this session).
        """
        if self.account.tls == "none":
            raise PopviewError(
                "This account does not use TLS, so there is no certificate to trust.",
                title="No certificate",
            )
        try:
            pinned = format_fingerprint(normalize_fingerprint(fingerprint))
        except ValueError as exc:
            raise PopviewError(str(exc), title="Not a fingerprint") from None
        self._trusted_pin = pinned
        if self.store is not None:
            self.store.pins.pin(self.account_key, self.account.host, pinned)
        return pinned

    async def open(self) -> SessionInfo:
        """Connect, authenticate, read STAT/LIST/UIDL; restore journaled marks.

        Returns:
            What the connection looks like. Marks an interrupted session left in
            the journal are re-applied; see :attr:`last_reconnect`.
        """
        self._check_idle()
        if self.connected and self.info is not None:
            return self.info
        self._lost()
        info = await self._connect()
        if not self._opened:
            self._marks.restore()
        self._opened = True
        report = await self._reapply()
        self.last_reconnect = None if report.empty else report
        return info

    async def list_messages(self, *, limit: int | None = None) -> AsyncIterator[ListingUpdate]:
        """Stream the listing: cached envelopes first, then ``TOP n 0`` for the rest.

        Args:
            limit: Only the ``limit`` newest messages (the cache is not pruned then).

        Finish (or close) the iteration before calling anything else: the listing
        holds the connection while it runs. Entries whose UIDL left the server are
        pruned from the cache at the end.
        """
        self._check_idle()
        await self._ensure_connected()
        assert self._conn is not None
        conn = self._conn
        cache = self.store.cache if self.store is not None else None

        refused = False

        def top_refused() -> None:
            nonlocal refused
            refused = True

        prefetched, self._prefetched = self._prefetched, None
        self._listing = True
        try:
            updates = stream_listing(
                conn.client,
                conn.index,
                account=self.account_key,
                cache=cache,
                use_top=conn.use_top,
                rejected=conn.rejected,
                rejected_count=conn.rejected_count,
                on_top_refused=top_refused,
                limit=limit,
                prefetched=prefetched,
            )
            try:
                async for update in updates:
                    applied = self._marks.applied
                    if update.missing:
                        update = self._with_remembered(update)
                        # A marked message's TOP is refused by rule, not by this server.
                        if refused and any(key not in applied for key in update.missing):
                            self._top_refused_notice()
                    if cache is None:
                        missing = set(update.missing)
                        self._remembered.update(
                            (listed.key, listed.envelope)
                            for listed in update.messages
                            # Only a stable UIDL names the same message on the next connection.
                            if listed.key not in missing and listed.key.stable
                        )
                    yield update
            finally:
                await updates.aclose()
                self._last_activity = time.monotonic()
                if conn.client.closed:
                    self._lost()
        finally:
            self._listing = False
        if cache is not None and conn.index.has_uidl and limit is None:
            # What the read ahead found spares reading every cached row again.
            cached_uids = read_ahead_uids(prefetched)
            cache.prune(self.account_key, conn.index.stable_uids(), cached_uids=cached_uids)

    def _top_refused_notice(self) -> None:
        notice = "The server refused TOP: headers load when a message is opened."
        if notice not in self.degraded:
            self.degraded.append(notice)

    def _with_remembered(self, update: ListingUpdate) -> ListingUpdate:
        """Headers for marked messages the server will not show again.

        A reconnect re-sends ``DELE`` for every mark before the listing, and a
        server refuses ``TOP`` for a message marked as deleted (RFC 1939 §5).
        With a cache their headers come from it; without one, from what this
        session listed before, instead of a placeholder.
        """
        again = {key for key in update.missing if key in self._remembered}
        if not again:
            return update
        messages = tuple(
            Listed(listed.key, self._remembered[listed.key]) if listed.key in again else listed
            for listed in update.messages
        )
        missing = tuple(key for key in update.missing if key not in again)
        return dataclasses.replace(update, messages=messages, missing=missing)

    async def fetch(self, uid: str, progress: ProgressCallback | None = None) -> FetchedMessage:
        """Return a whole message: from the cache, else ``RETR`` (streamed, then cached).

        Args:
            uid: Session key of the message.
            progress: ``progress(done_bytes, total_bytes)`` while downloading.

        Raises:
            MessageGoneError: The message is no longer on the server.
            MessageParseError: Downloaded but not parsable (``.raw`` holds the bytes).
        """
        self._check_idle()
        return await self._retry_if_dropped(lambda: self._fetch(uid, progress))

    async def preview_blocks(
        self,
        keys: Sequence[str],
        lines: int,
        on_block: Callable[[str, bytes], None] | None = None,
    ) -> dict[str, bytes]:
        """The header block and first ``lines`` body lines of each message, for previews.

        One pipelined ``TOP n lines`` batch (RFC 1939 §7, RFC 2449 §6.6) for the
        messages whose whole body is not cached; never ``RETR``. A message the
        server refuses (``-ERR``) or no longer lists is left out.

        Args:
            keys: Session keys, in the order to ask for them.
            lines: Body lines per message (the server may send more or fewer).
            on_block: Called with each block fetched from the server as its
                reply arrives (the first key's after one round trip, not after
                the whole batch); possibly again for a key if a silently
                dropped connection made the batch run twice.
        """
        self._check_idle()
        return await self._retry_if_dropped(lambda: self._preview_blocks(keys, lines, on_block))

    async def _preview_blocks(
        self,
        keys: Sequence[str],
        lines: int,
        on_block: Callable[[str, bytes], None] | None,
    ) -> dict[str, bytes]:
        assert self._conn is not None
        found: dict[str, bytes] = {}
        wanted: dict[int, str] = {}
        cache = self.store.cache if self.store is not None else None
        for key in keys:
            ref = self._conn.index.get(key)
            if ref is None:
                continue
            body = cache.get_body(self.account_key, ref.uid) if cache and ref.uid else None
            if body is not None:
                found[key] = body
            else:
                wanted[ref.number] = key
        if not wanted:
            return found
        client = self._conn.client
        numbers = list(wanted)
        # Capped: a server that ignores k and sends a whole 50 MB message fails
        # this reply (a framing error: the connection is dropped, never reused).
        commands = [protocol.top(n, lines, max_bytes=MAX_PREVIEW_REPLY) for n in numbers]

        async def collect() -> None:
            position = 0
            async for reply in client.pipeline(commands):
                key = wanted[numbers[position]]
                position += 1
                if not isinstance(reply, Pop3ServerError):
                    found[key] = reply.data
                    if on_block is not None:
                        on_block(key, reply.data)

        await self._run(collect())
        return found

    async def _retry_if_dropped(self, action: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``action`` on a live connection; if the server had silently closed it
        (RFC 1939 §3 autologout), run it once more on a new one - never in a loop."""
        await self._ensure_connected()
        try:
            return await action()
        except Pop3ConnectionError as exc:
            if isinstance(exc, TLSVerificationError) or self.connected:
                raise
        await self._ensure_connected()
        return await action()

    async def _fetch(self, uid: str, progress: ProgressCallback | None) -> FetchedMessage:
        ref = self._require(uid)
        assert self._conn is not None
        raw: bytes | None = None
        cache = self.store.cache if self.store is not None else None
        if cache is not None and ref.uid is not None:
            raw = cache.get_body(self.account_key, ref.uid)
        from_cache = raw is not None
        if raw is None and ref.key in self._marks.applied:
            raw = await self._retr_marked(ref, progress)
        if raw is None:

            def report(done: int, expected: int | None) -> None:
                if progress is not None:
                    progress(done, max(expected or ref.size or 0, done))

            raw = await self._run(self._conn.client.retr(ref.number, progress=report))
            assert raw is not None
            if cache is not None and ref.uid is not None:
                # Whole: RETR returned only after the terminating "." (HARDENING E.52).
                cache.put_body(self.account_key, ref.uid, raw, list_size=ref.size, complete=True)
        from popview.mail.envelope import parse_envelope
        from popview.mail.message import parse_message

        try:
            parsed = await asyncio.to_thread(parse_message, raw)
        except Exception as exc:  # HARDENING E.50: a parser bug must not end the session
            raise MessageParseError(
                f"popview could not parse this message ({type(exc).__name__}); "
                "it can still be shown as plain text.",
                raw,
            ) from None
        envelope = parse_envelope(raw[:65536], number=ref.number, uid=ref.uid, size=ref.size)
        return FetchedMessage(ref.key, ref.number, raw, parsed, from_cache, envelope=envelope)

    async def _retr_marked(self, ref: MessageRef, progress: ProgressCallback | None) -> bytes:
        """Read a message this connection already ``DELE``'d (the user may read mail
        marked for deletion, as in mutt).

        RFC 1939 §5: ``RETR`` of a deleted message is refused, and only ``RSET``
        undoes ``DELE`` (for every message at once). So: ``RSET``, ``RETR``, then
        ``DELE`` every mark again, pipelined where the server allows it. Why this
        design rather than the others (docs/deletion-model.md): keeping marks
        client-side until commit would make ``QUIT`` the moment of many ``DELE``
        replies, each of which can fail after the user confirmed; a cache-only
        read fails for the first read of an uncached message. If anything fails
        between ``RSET`` and the ``DELE``s the marks are still in the book and the
        journal, not applied: :meth:`commit` sends every missing ``DELE`` before
        ``QUIT``, and a reconnect re-applies them, so nothing is lost or added.

        Returns:
            The message bytes (whole).

        Raises:
            Pop3ConnectionError: ``RSET`` was refused, so the connection was dropped
                (without ``QUIT``); the caller's retry reconnects once.
        """
        assert self._conn is not None
        self._marks.applied.clear()
        if not await self._rset():
            raise Pop3ConnectionError("The server refused RSET; the connection was reset.")
        conn = self._conn
        assert conn is not None

        def report(done: int, expected: int | None) -> None:
            if progress is not None:
                progress(done, max(expected or ref.size or 0, done))

        try:
            raw = await self._run(conn.client.retr(ref.number, progress=report))
        finally:
            if self.connected:
                index = conn.index
                todo = [(k, r) for k in self._marks.keys if (r := index.get(k)) is not None]
                await self._send_dele(todo)
        cache = self.store.cache if self.store is not None else None
        if cache is not None and ref.uid is not None:
            cache.put_body(self.account_key, ref.uid, raw, list_size=ref.size, complete=True)
        return bytes(raw)

    def _require(self, key: str) -> MessageRef:
        ref = self.ref(key)
        if ref is None:
            raise _gone()
        return ref

    async def mark(self, uid: str) -> None:
        """Mark a message for deletion: journal it by UIDL, then send ``DELE``.

        The order is the deletion model's (docs/deletion-model.md): the journal
        first, in every state of the link, then the mark exists (and is shown),
        then ``DELE``. When the link is down the mark stays journaled and pending,
        the connection error is raised (the caller tells the user), and the next
        connection applies it. A journal that cannot be written raises
        :class:`~popview.errors.StoreError`: no mark, no ``DELE``.
        """
        self._check_idle()
        if not MessageKey(uid).stable:
            # No stable UIDL: it can be found only on the connection that named it.
            await self._retry_if_dropped(lambda: self._mark(uid, record=True))
            return
        if uid not in self._marks:
            index = self._conn.index if self._conn is not None else self._known
            if index is None:
                raise NotOpenError("The mailbox is not open yet.")
            if index.get(uid) is None:
                raise _gone()
            self._marks.add(uid)  # journal first (HARDENING F.53)
        await self._retry_if_dropped(lambda: self._mark(uid, record=False))

    async def _mark(self, uid: str, *, record: bool) -> None:
        ref = self._require(uid)
        if record:
            if uid in self._marks and uid in self._marks.applied:
                return
            self._marks.add(uid)
        elif uid not in self._marks or uid in self._marks.applied:
            return  # a reconnect re-applied it already (or found it gone)
        assert self._conn is not None
        try:
            await self._run(self._conn.client.dele(ref.number))
        except Pop3ServerError:
            self._marks.discard([uid])
            raise
        self._marks.sent([uid])

    async def mark_many(self, keys: Sequence[str], *, rule: str | None = None) -> BulkMark:
        """Mark many messages: journal them all in one transaction, then ``DELE``
        each, pipelined (one flight, not one round trip each).

        The order is :meth:`mark`'s: the journal first, then the marks, then
        ``DELE``. A message the server refuses to mark is unmarked and reported;
        while the link is down the marks stay journaled and pending, and the
        connection error is raised (the next connection sends them).

        Args:
            keys: The messages to mark (already marked ones are left as they are).
            rule: The ``[[rules]]`` rule that marks them, or None (the user does).
                A rule never marks again a message the user unmarked in this
                session, after a rule had marked it.

        Returns:
            What was marked, what had already left the server, what was refused.
        """
        self._check_idle()
        index = self._conn.index if self._conn is not None else self._known
        if index is None:
            raise NotOpenError("The mailbox is not open yet.")
        wanted = [
            key
            for key in dict.fromkeys(keys)
            if key not in self._marks and not (rule is not None and key in self._declined)
        ]
        gone = tuple(key for key in wanted if index.get(key) is None)
        fresh = [key for key in wanted if index.get(key) is not None]
        self._marks.add_many(fresh, rule)  # journal first (HARDENING F.53)
        failed: list[str] = []

        async def send() -> None:
            todo = [
                (key, ref)
                for key in fresh
                if key in self._marks
                and key not in self._marks.applied
                and (ref := self.ref(key)) is not None
            ]
            failed.extend((await self._send_dele(todo))[1])

        if fresh:
            await self._retry_if_dropped(send)
        refused = tuple(failed)
        return BulkMark(
            marked=tuple(key for key in fresh if key in self._marks), gone=gone, refused=refused
        )

    async def unmark_many(self, keys: Collection[str]) -> None:
        """Unmark many messages with one ``RSET`` (then ``DELE`` the others again)."""
        self._check_idle()
        await self._unmark(keys)

    @property
    def mark_rules(self) -> Mapping[str, str | None]:
        """Marked key → the ``[[rules]]`` rule that marked it (None: the user did)."""
        return self._marks.rules

    async def unmark(self, uid: str) -> None:
        """Unmark one message: ``RSET`` (all or nothing), then ``DELE`` the others again.

        When the connection is down only the journal changes: the next connection
        applies just the marks that remain.
        """
        self._check_idle()
        await self._unmark([uid])

    async def _unmark(self, keys: Collection[str]) -> None:
        self._restored.difference_update(keys)
        rules = self._marks.rules
        self._declined.update(key for key in keys if rules.get(key) is not None)
        # An unverified QUIT's key counts too: the next UIDL must not re-mark it.
        known = [key for key in keys if key in self._marks or key in self._marks.unverified]
        was_applied = any(key in self._marks.applied for key in known)
        self._marks.discard(known)
        if not was_applied or not self.connected:
            return
        self._marks.applied.clear()
        if not await self._rset():
            return  # dropped: the next connection re-marks what remains
        assert self._conn is not None
        index = self._conn.index
        todo = [(key, ref) for key in self._marks.keys if (ref := index.get(key)) is not None]
        await self._send_dele(todo)

    async def _rset(self) -> bool:
        """``RSET`` (RFC 1939 §5: unmarks everything). Refused, the server may still
        hold every ``DELE`` of this connection, and a later ``QUIT`` would delete
        what the user unmarked: drop the connection instead (no ``QUIT``, so the
        server forgets them all, §6); the next action reconnects and re-marks
        only what the journal holds.

        Returns:
            Whether the connection is still up.
        """
        assert self._conn is not None
        try:
            await self._run(self._conn.client.rset())
        except Pop3ServerError:
            self._lost()
            return False
        return True

    async def unmark_all(self) -> None:
        """Forget every mark and send ``RSET`` (when connected).

        The keys of a ``QUIT`` whose outcome is unknown go too, as with
        :meth:`unmark` (and :meth:`close` with ``discard_marks``): if the next
        UIDL still lists them, they are not marked again.
        """
        self._check_idle()
        had_applied = bool(self._marks.applied)
        self._declined.update(key for key, rule in self._marks.rules.items() if rule is not None)
        self._restored = set()
        self._marks.clear()
        if had_applied and self.connected:
            await self._rset()

    async def commit(
        self, reconnect: bool = True, *, expected: Collection[str] | None = None
    ) -> CommitResult:
        """Apply the marks: ``QUIT`` (RFC 1939 §6), the only place it is sent.

        Args:
            reconnect: Open a new connection afterwards (to go on reading, and to
                verify by UIDL when the outcome is unknown).
            expected: The marks the user confirmed (the list the dialog showed).
                ``QUIT`` is sent only when the marks the server holds on this
                connection are exactly these; otherwise nothing is sent and
                :class:`MarksChangedError` carries the marks to ask about again.

        Returns:
            What was deleted. ``"unknown"`` when QUIT got ``-ERR`` or no answer.
        """
        self._check_idle()
        report: MarkReport | None = None
        if not self.connected:
            await self._ensure_connected()
            report = self.last_reconnect
        assert self._conn is not None
        missing = [
            (key, ref)
            for key in self._marks.keys
            if key not in self._marks.applied and (ref := self._conn.index.get(key)) is not None
        ]
        await self._send_dele(missing)
        keys = [key for key in self._marks.keys if key in self._marks.applied]
        if expected is not None and set(keys) != set(expected):
            raise MarksChangedError(
                "The marks changed since you confirmed them (a message was gone, or a "
                "deletion was refused); nothing was deleted. Confirm the new list.",
                frozenset(self._marks.keys),
            )
        self._restored = set()
        client = self._conn.client
        status: str = "applied"
        try:
            await client.quit()
        except Pop3Error:
            status = "unknown"  # -ERR, reset or timeout after QUIT (HARDENING E.46)
        self._marks.quit_sent(keys, confirmed=status == "applied")
        self._conn = None
        self._dropped_at = time.monotonic()
        self._marks.connection_lost()
        if status == "applied":
            result = CommitResult(tuple(keys), "applied", report=report)
        else:
            result = CommitResult(tuple(keys), "unknown", report=report)
        if not reconnect:
            return result
        return await self.verify_commit(result)

    async def verify_commit(self, result: CommitResult) -> CommitResult:
        """Open a new connection after :meth:`commit`; for an ``"unknown"`` outcome,
        learn from a fresh UIDL what was really deleted (HARDENING E.46).

        Returns:
            ``result``, verified when possible; ``reconnect_error`` says why not.
        """
        if self.next_login_at is not None and time.time() < self.next_login_at:
            return _with(result, reconnect_error="The server asks to wait before logging in.")
        try:
            await self._reconnect()
            self.last_reconnect = await self._reapply()
        except PopviewError as exc:
            return _with(result, reconnect_error=exc.message)
        if result.status == "applied":
            return result
        report = self.last_reconnect
        gone = set(report.deleted)
        return _with(
            result,
            deleted=tuple(key for key in result.deleted if key in gone),
            verified=True,
            remaining=tuple(key for key in result.deleted if key not in gone),
        )

    async def refresh(self) -> RefreshResult:
        """Check for new mail: a new connection (POP3 shows new mail only then).

        The old connection is dropped without ``QUIT``; marks are re-applied.
        Follow with :meth:`list_messages`.

        Raises:
            LoginDelayError: The server's LOGIN-DELAY has not passed yet.
        """
        self._check_idle()
        now = time.time()
        if self.next_login_at is not None and now < self.next_login_at:
            wait = int(self.next_login_at - now) + 1
            raise LoginDelayError(
                f"The server allows a new login in {wait} seconds; check again then.",
                retry_at=self.next_login_at,
            )
        old = {ref.key for ref in self._conn.index} if self._conn is not None else set()
        self._lost()
        self._opened = True
        info = await self._reconnect()
        report = await self._reapply()
        self.last_reconnect = None if report.empty else report
        assert self._conn is not None
        now_keys = [ref.key for ref in self._conn.index]
        return RefreshResult(
            new=tuple(key for key in now_keys if key not in old),
            gone=tuple(sorted(old.difference(now_keys))),
            message_count=info.message_count,
            report=report,
        )

    async def keepalive(self) -> bool:
        """Send ``NOOP`` if the connection has been idle for :attr:`keepalive_interval`.

        Returns:
            Whether NOOP was sent. A connection that turns out to be dead raises
            (the next action reconnects).
        """
        if self._listing or not self.connected or self.keepalive_interval <= 0:
            return False
        if time.monotonic() - self._last_activity < self.keepalive_interval:
            return False
        assert self._conn is not None
        await self._run(self._conn.client.noop())
        return True

    async def close(self, *, discard_marks: bool = False) -> None:
        """Drop the connection WITHOUT ``QUIT``: the server deletes nothing.

        Args:
            discard_marks: Also forget the marks (the user chose not to apply
                them); by default they stay in the journal for the next session.
        """
        if discard_marks:
            self._restored = set()
            self._marks.clear()
        if self._dialled is not None:  # never connected: nothing adopted it
            self._dialled.close()
            self._dialled = None
        if self._conn is not None:
            client = self._conn.client
            self._conn = None
            self._dropped_at = time.monotonic()
            await client.close()
        self._marks.connection_lost()


def _gone() -> MessageGoneError:
    return MessageGoneError(
        "This message is no longer on the server (or the list is out of date). Reload the list."
    )


def _with(result: CommitResult, **changes: Any) -> CommitResult:
    from dataclasses import replace

    return replace(result, **changes)
