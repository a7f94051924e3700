"""The one long-lived worker that owns the :class:`~popview.session.MailboxSession`.

Screens call :meth:`SessionWorker.submit` with a command dataclass and return
at once; the worker runs the commands one at a time (the session is not
re-entrant) and posts past-tense messages (:mod:`popview.ui.messages`) to the
app. Parsing and rendering run in a thread so that keys stay responsive.

Error policy (docs/architecture.md, "Errors"): a :class:`~popview.errors.PopviewError`
becomes a message (``LoginFailed``, ``SessionLost``, ``ServerError``); anything
else escapes the worker, which the app turns into a dialog and restarts the
loop. No error path sends ``QUIT``: only :class:`Commit` and ``Close(apply=True)``
do, through the session.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from popview.errors import (
    AuthError,
    CredentialError,
    Pop3ConnectionError,
    Pop3ProtocolError,
    Pop3TimeoutError,
    PopviewError,
    StoreError,
    TLSVerificationError,
)
from popview.session import MarksChangedError
from popview.session.identity import MessageKey
from popview.ui import messages as msg
from popview.ui.preview import PreviewRequest, load_previews, superseded
from popview.ui.rendering import render_forms
from popview.ui.rule_marks import apply_rules

if TYPE_CHECKING:
    from textual.app import App
    from textual.worker import Worker

    from popview.config import Account
    from popview.config.model import Rule
    from popview.session import MailboxSession
    from popview.session.types import Listed

__all__ = [
    "Close",
    "Command",
    "Commit",
    "Fetch",
    "LoadMailbox",
    "Login",
    "Mark",
    "MarkMany",
    "PrepareCommit",
    "Refresh",
    "ResolveRestored",
    "SessionWorker",
    "TrustCertificate",
    "Unmark",
    "UnmarkAll",
    "UnmarkMany",
]

_CONNECTION_LOST = (Pop3ConnectionError, Pop3TimeoutError, Pop3ProtocolError)


@dataclass(frozen=True)
class Login:
    """Open a session for ``account`` (the password may be a callable)."""

    account: Account
    password: str | Callable[[], Any]

    def __repr__(self) -> str:  # never let a password reach a log or a trace
        return f"Login(account={self.account.name!r}, password=***)"


@dataclass(frozen=True)
class TrustCertificate:
    """Pin ``fingerprint`` for ``account`` (the user read it and said yes), then log in."""

    account: Account
    password: str | Callable[[], Any]
    fingerprint: str

    def __repr__(self) -> str:
        return (
            f"TrustCertificate(account={self.account.name!r}, password=***, "
            f"fingerprint={self.fingerprint!r})"
        )


@dataclass(frozen=True)
class LoadMailbox:
    """List the mailbox: cached envelopes first, then ``TOP n 0`` for the rest."""


@dataclass(frozen=True)
class Fetch:
    """Fetch (``RETR``, or the cache) and render one message."""

    key: MessageKey


@dataclass(frozen=True)
class Mark:
    """Mark a message for deletion (journal, then ``DELE``)."""

    key: MessageKey


@dataclass(frozen=True)
class Unmark:
    """Unmark one message (``RSET``, then ``DELE`` the others again)."""

    key: MessageKey


@dataclass(frozen=True)
class MarkMany:
    """Mark many messages at once (a pattern, ``D``): journaled in one transaction,
    then their ``DELE`` commands pipelined."""

    keys: tuple[MessageKey, ...]
    rule: str | None = None
    """The ``[[rules]]`` rule that marks them, or None (the user does)."""


@dataclass(frozen=True)
class UnmarkMany:
    """Unmark many messages at once: one ``RSET``, then ``DELE`` the others again."""

    keys: tuple[MessageKey, ...]


@dataclass(frozen=True)
class UnmarkAll:
    """Unmark everything (``RSET``)."""


@dataclass(frozen=True)
class PrepareCommit:
    """Report the session's marks once every command queued before it has run.

    The worker answers with :class:`~popview.ui.messages.CommitReady`; the commit
    (or quit) dialog opens then, listing exactly those marks. A mark still in
    the queue when ``$`` was pressed is applied first, so the dialog cannot
    show fewer (or other) marks than the session holds (issue 9, obs. 2).
    """

    purpose: str = "commit"
    """``"commit"`` (``$``) or ``"quit"`` (``q``)."""


@dataclass(frozen=True)
class Commit:
    """Apply the deletions now (``QUIT``) and reconnect, only if the marks are
    exactly ``expected`` (what the dialog listed and the user confirmed)."""

    expected: frozenset[str]


@dataclass(frozen=True)
class ResolveRestored:
    """The user's answer about marks an interrupted run left: apply or discard."""

    keep: bool


@dataclass(frozen=True)
class Refresh:
    """Look for new mail (a new ``LIST``/``UIDL``), then list again."""


@dataclass(frozen=True)
class Close:
    """End the session: ``apply=True`` commits first (only if the marks are exactly
    ``expected``), ``False`` drops without ``QUIT``."""

    apply: bool
    expected: frozenset[str] = frozenset()


Command = (
    Login
    | TrustCertificate
    | LoadMailbox
    | Fetch
    | Mark
    | MarkMany
    | Unmark
    | UnmarkMany
    | UnmarkAll
    | PrepareCommit
    | Commit
    | ResolveRestored
    | Refresh
    | Close
    | PreviewRequest
)

SessionFactory = Callable[["Account", Any], "MailboxSession"]


def _default_factory(account: Account, password: Any) -> MailboxSession:
    from popview.session import MailboxSession

    return MailboxSession(account, password, store=None)


class SessionWorker:
    """Owns the session, runs submitted commands in order, posts results.

    Args:
        app: Where results are posted.
        session_factory: Builds a session from an account and a password
            (the app passes one that attaches the cache store).
        prefer_html: Show a message's HTML part first when it also has plain text
            (``general.prefer_html`` in the config).
        rules: The ``[[rules]]``, run over every complete listing (the load and
            each refresh); their marks are the session's, deleted only at a commit.
    """

    def __init__(
        self,
        app: App[Any],
        session_factory: SessionFactory | None = None,
        *,
        prefer_html: bool = False,
        rules: Sequence[Rule] = (),
    ) -> None:
        self.app = app
        self.prefer_html = prefer_html
        self.rules = tuple(rules)
        self._rules_ran = False
        """The rules ran over this session's listing once (later runs are refreshes)."""
        self.session: MailboxSession | None = None
        self._factory = session_factory or _default_factory
        self._pending: collections.deque[Command] = collections.deque()
        self._wakeup = asyncio.Event()
        self._last_report: object = None
        self._closed = False
        """The session was closed on the user's request (the loop ends)."""
        self._running: Command | None = None
        """The command being run (taken off the queue, its result not posted yet)."""
        self.worker: Worker[None] | None = None
        self.logins = 0
        """How many logins this worker started (the cached rows of an earlier one,
        still arriving, are not this one's)."""

    def submit(self, command: Command) -> None:
        """Queue ``command``; never waits. Results arrive as posted messages."""
        self._pending.append(command)
        self._wakeup.set()

    def start(self) -> Worker[None]:
        """Start (or restart after an unexpected error) the worker loop."""
        self.worker = self.app.run_worker(
            self._run(),
            name="session",
            group="session",
            description="POP3 session",
            exclusive=True,
            exit_on_error=False,
        )
        return self.worker

    @property
    def marks(self) -> frozenset[str]:
        """The marks the session holds now (empty before login)."""
        return self.session.marks if self.session is not None else frozenset()

    def with_queued(self, marks: frozenset[str]) -> tuple[frozenset[str], frozenset[str]]:
        """The session's ``marks`` with the marks and unmarks still queued applied.

        Returns:
            ``(marks, queued)``: what to draw, and the marks not yet applied (drawn
            as pending). Derived from the queue every time, never kept.
        """
        shown, queued, _rules = self._replay(marks, {})
        return frozenset(shown), frozenset(queued)

    def rules_with_queued(self, rules: Mapping[str, str]) -> dict[str, str]:
        """The session's ``rules`` (key → the rule that marked it) with the queued
        commands applied, as :meth:`with_queued` does for the marks."""
        return self._replay(frozenset(rules), rules)[2]

    def _replay(
        self, marks: Collection[str], rules: Mapping[str, str]
    ) -> tuple[set[str], set[str], dict[str, str]]:
        """Apply the running and queued commands to the session's marks and rules:
        what to draw, which marks are still queued, and which rule made each."""
        shown, queued, named = set(marks), set[str](), dict(rules)
        running = [self._running] if self._running is not None else []
        for command in (*running, *self._pending):
            if isinstance(command, Mark):
                shown.add(command.key)
                queued.add(command.key)
            elif isinstance(command, MarkMany):
                fresh = set(command.keys) - shown  # the session leaves marked ones be
                shown |= fresh
                queued |= fresh
                if command.rule is not None:
                    for key in command.keys:
                        named.setdefault(key, command.rule)
            elif isinstance(command, (Unmark, UnmarkMany)):
                gone = [command.key] if isinstance(command, Unmark) else command.keys
                shown.difference_update(gone)
                queued.difference_update(gone)
                for key in gone:
                    named.pop(key, None)
            elif isinstance(command, UnmarkAll):
                shown.clear()
                queued.clear()
                named.clear()
        return shown, queued, named

    async def _next(self) -> Command | None:
        while not self._pending:
            self._wakeup.clear()
            # Sleep until the session's own keepalive deadline (None: off, or no
            # connection), not a fixed tick (issue 9, obs. 6).
            session = self.session
            wait = session.seconds_until_keepalive() if session is not None else None
            try:
                # asyncio.timeout, not wait_for: no extra task, so a command queued
                # by a key goes out on the next loop turns, ahead of the repaint.
                async with asyncio.timeout(wait):
                    await self._wakeup.wait()
            except TimeoutError:
                return None
        command = self._pending.popleft()
        # A newer Fetch supersedes this one (the user moved on with n/p): skip it.
        if isinstance(command, Fetch) and any(isinstance(c, Fetch) for c in self._pending):
            return await self._next()
        # Likewise a preview batch the cursor has already moved past.
        if isinstance(command, PreviewRequest) and any(
            isinstance(c, PreviewRequest) and c.reply_to is command.reply_to for c in self._pending
        ):
            command.reply_to.post_message(superseded(command))
            return await self._next()
        return command

    async def _run(self) -> None:
        try:
            while True:
                command = await self._next()
                if command is None:
                    await self._keepalive()
                    continue
                self._running = command
                try:
                    await self._dispatch(command)
                finally:
                    self._running = None
                if self._closed:
                    return  # only once SessionClosed went out: a refused or failed
                    # commit on the way out leaves the worker serving the app
        finally:
            # Cancelled (app exit, Ctrl+C) or crashed: drop the socket WITHOUT
            # QUIT, so the server deletes nothing (RFC 1939 §6).
            await self._drop()

    async def _drop(self) -> None:
        session = self.session
        if session is not None and session.connected:
            with contextlib.suppress(PopviewError, OSError, asyncio.CancelledError):
                await asyncio.shield(session.close())

    async def _keepalive(self) -> None:
        if self.session is None or not self.session.connected:
            return
        with contextlib.suppress(PopviewError):  # the next real command reconnects
            await self.session.keepalive()

    async def _dispatch(self, command: Command) -> None:
        if isinstance(command, Login | TrustCertificate):
            await self._login(command)
            if self.session is not None and self.session.connected:
                # Listed now, behind what the user queued during the login (a quit
                # comes first): the TOPs go out while the app mounts the mailbox
                # screen, not a turn of its message pump later.
                self._pending.append(LoadMailbox())
            return
        if self.session is None:
            if isinstance(command, Close):  # quitting before any login
                self._closed = True
                self.app.post_message(msg.SessionClosed(committed=False))
            return  # nothing else to act on before a login
        session = self.session
        try:
            await self._run_command(session, command)
        except _CONNECTION_LOST as error:
            self._report_reconnect(session)
            self.app.post_message(
                msg.SessionLost(reason=error.message, marks_pending=len(session.marks))
            )
        except MarksChangedError as error:
            self._report_reconnect(session)
            self.app.post_message(msg.MarksDiffer(error.message, error.marks))
        except PopviewError as error:
            self._report_reconnect(session)
            self.app.post_message(msg.ServerError(title=error.title, message=error.message))
        else:
            self._report_reconnect(session)
        finally:
            self._post_state(session)

    def _post_state(self, session: MailboxSession) -> None:
        """The session's state as the UI draws it: the marks (and which are pending),
        the connection, its TLS and capabilities, the counts. The UI keeps no
        other copy (issue 9)."""
        self.app.post_message(
            msg.MarksChanged(session.marks, session.pending_marks, _rule_marks(session))
        )
        self.app.post_message(
            msg.SessionState(
                connected=session.connected,
                info=session.info,
                message_count=session.message_count,
                total_size=session.total_size,
            )
        )

    async def _login(self, command: Login | TrustCertificate) -> None:
        await self._drop()
        session = self._factory(command.account, command.password)
        previous = session.visits.previous
        account_key = session.account_key
        self.logins += 1
        login = self.logins

        # The cache's reading thread posts rows until the login ends either way; a
        # failed login stops it under the same lock, so no row is posted after its
        # LoginFailed (they would cover the form with rows nobody will confirm).
        ended = threading.Lock()
        failed = False

        def cached(rows: Sequence[Listed]) -> bool:  # on the cache's reading thread
            with ended:
                if failed or self.logins != login or self.session is session:
                    return False  # logged in (its listing shows them), failed, or another
                self.app.post_message(msg.CachedRowsRead(tuple(rows), account_key, previous, login))
                return True

        def fail(message: msg.LoginFailed) -> None:
            nonlocal failed
            with ended:
                failed = True
                self.app.post_message(message)

        session.on_cached = cached
        try:
            if isinstance(command, TrustCertificate):
                _trust(self.app, session, command)
            info = await session.open()
        except TLSVerificationError as error:
            fail(msg.LoginFailed(error.title, error.message, error.fingerprint))
            return
        except PopviewError as error:
            refused = isinstance(error, AuthError | CredentialError)
            fail(msg.LoginFailed(error.title, error.message, password_refused=refused))
            return
        except OSError as error:
            fail(msg.LoginFailed("Cannot connect", f"Cannot reach the server: {error.strerror}."))
            return
        self.session = session
        self._rules_ran = False
        self._last_report = session.last_reconnect
        self.app.post_message(msg.Connected(info, previous, session.listed_sizes))
        self._post_state(session)
        if session.restored_marks:
            # Marks a run left without a commit: never applied silently (obs. 7).
            restored = session.restored_marks
            rules = {key: rule for key, rule in _rule_marks(session).items() if key in restored}
            self.app.post_message(msg.MarksRestored(restored, rules))

    async def _run_command(self, session: MailboxSession, command: Command) -> None:
        app = self.app
        if isinstance(command, LoadMailbox):
            await self._list(session)
        elif isinstance(command, Refresh):
            await session.refresh()
            await self._list(session)
        elif isinstance(command, Fetch):
            await self._fetch(session, command.key)
        elif isinstance(command, PreviewRequest):
            await load_previews(session, command, prefer_html=self.prefer_html)
        elif isinstance(command, Mark):
            try:
                await session.mark(command.key)
            except StoreError as error:
                # Journal first: a mark it cannot hold is not made, nor sent (F.53).
                raise StoreError(
                    f"The message was NOT marked: the mark could not be recorded. {error.message}"
                ) from None
        elif isinstance(command, MarkMany):
            try:
                await session.mark_many(command.keys, rule=command.rule)
            except StoreError as error:
                # All or none: the batch's journal transaction failed (F.53).
                raise StoreError(
                    "The messages were NOT marked: the marks could not be recorded. "
                    f"{error.message}"
                ) from None
        elif isinstance(command, Unmark):
            await session.unmark(command.key)
        elif isinstance(command, UnmarkMany):
            await session.unmark_many(command.keys)
        elif isinstance(command, UnmarkAll):
            await session.unmark_all()
        elif isinstance(command, ResolveRestored):
            await session.keep_restored(command.keep)
        elif isinstance(command, PrepareCommit):
            # Every command queued before this one has run: these are the marks.
            # The rule names are read from the mark owner at the same moment.
            app.post_message(msg.CommitReady(command.purpose, session.marks, _rule_marks(session)))
        elif isinstance(command, Commit):
            result = await session.commit(reconnect=True, expected=command.expected)
            app.post_message(msg.Committed(tuple(result.deleted), result.status))
        elif isinstance(command, Close):
            deleted: tuple[str, ...] = ()
            if command.apply:
                result = await session.commit(reconnect=False, expected=command.expected)
                deleted = tuple(result.deleted)
            # "Leave on server": the user chose not to apply the marks, so the
            # journal forgets them too; a crash or Ctrl+C keeps them (see _drop).
            await session.close(discard_marks=not command.apply)
            self._closed = True
            app.post_message(msg.SessionClosed(committed=command.apply, deleted=deleted))

    async def _list(self, session: MailboxSession) -> None:
        seen: set[MessageKey] = set()
        listed: dict[MessageKey, Listed] = {}
        rejected: list[str] = []
        rejected_count = 0
        async for update in session.list_messages():
            if update.messages:
                seen.update(item.key for item in update.messages)
                if self.rules:
                    listed.update((item.key, item) for item in update.messages)
                self.app.post_message(msg.EnvelopesLoaded(update.messages, update.from_cache))
            rejected.extend(update.rejected)
            rejected_count += update.rejected_count
            self.app.post_message(msg.LoadProgress(update.done, update.total))
        # A complete listing in the TUI is a visit. Recorded on a thread (the store
        # locks its connection): 10,000 keys take ~40 ms the keys need meanwhile.
        await asyncio.to_thread(session.visits.remember, seen)
        self.app.post_message(msg.ListingFinished(frozenset(seen), tuple(rejected), rejected_count))
        if self.rules:
            # After the list is on screen: the rules' marks follow as one report.
            first = not self._rules_ran
            self._rules_ran = True
            complete = [item for key, item in listed.items() if key in seen]
            report = await apply_rules(session, complete, self.rules, first=first)
            if report is not None:
                self.app.post_message(report)

    async def _fetch(self, session: MailboxSession, key: MessageKey) -> None:
        def progress(done: int, total: int) -> None:
            self.app.post_message(msg.FetchProgress(key, done, total))

        try:
            fetched = await session.fetch(key, progress=progress)
        except PopviewError as error:
            self.app.post_message(msg.FetchFailed(key, error.title, error.message))
            raise
        forms = await asyncio.to_thread(render_forms, fetched.parsed, self.prefer_html)
        self.app.post_message(msg.MessageFetched(key, fetched, forms))

    def _report_reconnect(self, session: MailboxSession) -> None:
        report = session.last_reconnect
        if report is not None and report is not self._last_report:
            self._last_report = report
            self.app.post_message(msg.Reconnected(report))


def _rule_marks(session: MailboxSession) -> dict[str, str]:
    """The marks a rule made (key → rule), from the session's one record of them."""
    return {key: rule for key, rule in session.mark_rules.items() if rule is not None}


def _trust(app: App[Any], session: MailboxSession, command: TrustCertificate) -> None:
    """Pin the certificate for the session's account (in the store, for later runs too).

    A store that cannot record the pin is not fatal: the pin still holds for
    this session, and the user is told it will be asked again next time.
    """
    try:
        session.trust_certificate(command.fingerprint)
    except StoreError as error:
        app.post_message(
            msg.ServerError(
                title="Certificate trusted for this session only",
                message=f"{error.message} popview will ask again next time.",
            )
        )
