"""The driver: play a :class:`Scenario` through ``MailboxSession`` against a hostile server.

:func:`run_session_scenario` returns a :class:`Run` (every step with its error,
budget and the user's intent before and after, the server's records, logs and
the protocol trace) for :func:`tests.invariants.oracle.check_run`.

The user's *intent* is tracked as the mailbox's own keys (not numbers, not
UIDLs): a mark adds the message the client means by its key, an unmark removes
it, whatever the outcome of the call (the user asked for it).
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from popview.config import Account
from popview.session import MailboxSession, MessageKey
from popview.store import Store
from tests.invariants.hostile import (
    CANARY_PASSWORD,
    MARGIN,
    TIMEOUT,
    USER,
    FaultSpec,
    HostileServer,
    TrackedMailbox,
    captured_logs,
    client_context,
    server_context,
)

__all__ = [
    "SERVER_ACTIONS",
    "USER_ACTIONS",
    "Action",
    "Run",
    "Scenario",
    "Step",
    "make_server",
    "run_session_scenario",
]

# -- scenarios -------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One user action (or, for ``deliver``/``external_delete``, a change on the server).

    ``arg`` picks a message: an index into the keys the user has seen so far.
    """

    name: str
    arg: int = 0


USER_ACTIONS = (
    "open", "list", "fetch", "mark", "unmark", "unmark_all", "commit", "commit_no_reconnect",
    "refresh", "keepalive", "close", "close_discard", "restart", "mark_many", "unmark_many",
)  # fmt: skip
SERVER_ACTIONS = ("deliver", "external_delete")


@dataclass(frozen=True)
class Scenario:
    """A mailbox, a server configuration with faults, and a sequence of actions."""

    messages: tuple[bytes, ...]
    uids: tuple[str, ...] | None
    faults: tuple[FaultSpec, ...]
    actions: tuple[Action, ...]
    tls: str = "none"
    capabilities: tuple[str, ...] | None = None
    use_store: bool = False


@dataclass
class Step:
    """What one action did, for the oracle."""

    action: Action
    seen_before: int
    seen_after: int = 0
    intent_before: frozenset[object] = frozenset()
    intent_after: frozenset[object] = frozenset()
    error: BaseException | None = None
    expired: bool = False
    budget: float = 0.0
    marks_after: frozenset[str] = frozenset()
    intent_keys_after: frozenset[str] = frozenset()
    shown: list[str] = field(default_factory=list)


@dataclass
class Run:
    """Everything observed while playing a scenario."""

    scenario: Scenario
    server: HostileServer
    steps: list[Step]
    logs: list[str]
    trace: list[str]
    unexpected: list[str] = field(default_factory=list)


def make_server(scenario: Scenario) -> HostileServer:
    mailbox = TrackedMailbox(
        list(scenario.messages), list(scenario.uids) if scenario.uids else None
    )
    server = HostileServer(
        mailbox,
        users={USER: CANARY_PASSWORD},
        stls=server_context() if scenario.tls == "starttls" else None,
        implicit_tls=server_context() if scenario.tls == "implicit" else None,
        capabilities=list(scenario.capabilities) if scenario.capabilities is not None else None,
    )
    server.faults = [spec.build(server) for spec in scenario.faults]
    return server


class _Player:
    """Plays actions on one MailboxSession and keeps the user's intent."""

    def __init__(self, scenario: Scenario, server: HostileServer, store: Store | None) -> None:
        self.scenario = scenario
        self.server = server
        self.store = store
        self.trace: list[str] = []
        self.account = Account(
            name="hostile", host="127.0.0.1", port=server.port, user=USER,
            tls=scenario.tls, timeout=TIMEOUT,  # type: ignore[arg-type]
        )  # fmt: skip
        self.session = self._new_session()
        self.intent: dict[str, object | None] = {}
        self.seen_keys: list[str] = []

    def _new_session(self) -> MailboxSession:
        return MailboxSession(
            self.account,
            CANARY_PASSWORD,
            store=self.store,
            keepalive_interval=1e-6,  # 0 is "off"; the action wants a NOOP
            trace=self.trace.append,
            ssl_context=client_context() if self.scenario.tls != "none" else None,
        )

    def _note_keys(self) -> None:
        login = self.server.latest_login
        count = len(self.server.logins.get(login, [])) if login is not None else 0
        for n in range(1, count + 3):
            key = self.session.key_for_number(n)
            if key is not None and key not in self.seen_keys:
                self.seen_keys.append(key)

    def _pick(self, arg: int) -> str | None:
        if not self.seen_keys:
            return None
        return self.seen_keys[arg % len(self.seen_keys)]

    def _pick_many(self, arg: int) -> list[str]:
        return [key for i, key in enumerate(self.seen_keys) if arg >> (i % 3) & 1]

    def truth_of(self, key: str) -> object | None:
        """The mailbox key of the message the client means by ``key`` now."""
        if MessageKey(key).stable:
            matches = [m.key for m in self.server.tracked.items() if m.uid == key]
            if len(matches) == 1:
                return matches[0]
        ref = self.session.ref(key)
        login = self.server.latest_login
        snapshot = self.server.logins.get(login, []) if login is not None else []
        if ref is not None and 1 <= ref.number <= len(snapshot):
            return snapshot[ref.number - 1].key
        return None

    def budget(self) -> float:
        count = len(self.server.tracked.items()) + len(self.seen_keys)
        return TIMEOUT * (24 + 4 * count) + MARGIN

    async def act(self, action: Action, shown: list[str]) -> None:
        name, session = action.name, self.session
        if name == "open":
            await session.open()
        elif name == "list":
            async for update in session.list_messages():
                for env in update.envelopes:
                    shown.extend([env.subject, env.from_name, env.from_addr, env.date_text])
                shown.extend(update.rejected)
        elif name == "fetch":
            key = self._pick(action.arg)
            if key is not None:
                message = await session.fetch(key)
                if message.envelope is not None:
                    shown.extend([message.envelope.subject, message.envelope.from_name])
        elif name == "mark":
            key = self._pick(action.arg)
            if key is not None:
                self.intent[key] = self.truth_of(key)
                try:
                    await session.mark(key)
                finally:
                    self.intent[key] = self.truth_of(key) or self.intent[key]
        elif name == "mark_many":
            # Bulk marks (a rule or a pattern): the arg's bits choose the messages,
            # its parity whether a rule or the user marks them.
            keys = self._pick_many(action.arg)
            before = {key: self.truth_of(key) for key in keys}
            self.intent.update(before)
            try:
                await session.mark_many(keys, rule="rule" if action.arg % 2 else None)
            finally:
                for key in keys:
                    self.intent[key] = self.truth_of(key) or before[key]
        elif name == "unmark_many":
            keys = self._pick_many(action.arg)
            for key in keys:
                self.intent.pop(key, None)
            await session.unmark_many(keys)
        elif name == "unmark":
            key = self._pick(action.arg)
            if key is not None:
                self.intent.pop(key, None)
                await session.unmark(key)
        elif name == "unmark_all":
            self.intent.clear()
            await session.unmark_all()
        elif name in ("commit", "commit_no_reconnect"):
            result = await session.commit(reconnect=name == "commit")
            shown.extend(result.deleted)
        elif name == "refresh":
            await session.refresh()
        elif name == "keepalive":
            await session.keepalive()
        elif name in ("close", "close_discard"):
            if name == "close_discard":
                self.intent.clear()
            await session.close(discard_marks=name == "close_discard")
        elif name == "restart":
            await session.close()
            if self.store is None:
                self.intent.clear()  # marks lived in memory only
            self.session = self._new_session()
        elif name == "deliver":
            n = action.arg
            self.server.tracked.add(
                f"From: new{n}@example.org\r\nSubject: New {n}\r\n\r\nnew mail {n}\r\n".encode()
            )
        elif name == "external_delete":
            self.server.tracked.remove_external(action.arg)
        else:  # pragma: no cover - a strategy bug
            raise ValueError(name)

    def after_commit(self) -> None:
        # Only what a QUIT removed: a mark on a message another client removed
        # stays pending until a connection finds it vanished.
        gone = {key for _, keys in self.server.tracked.expunged for key in keys}
        self.intent = {k: t for k, t in self.intent.items() if t is None or t not in gone}

    def intent_truth(self) -> frozenset[object]:
        return frozenset(t for t in self.intent.values() if t is not None)


async def run_session_scenario(scenario: Scenario) -> Run:
    """Play ``scenario`` through a :class:`MailboxSession` against a hostile server."""
    server = make_server(scenario)
    steps: list[Step] = []
    unexpected: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, captured_logs() as logs:
        store = Store.open(Path(tmp) / "cache") if scenario.use_store else None
        await server.start()
        player = _Player(scenario, server, store)
        try:
            for action in scenario.actions:
                step = Step(action, len(server.seen), intent_before=player.intent_truth())
                step.budget = player.budget()
                try:
                    async with asyncio.timeout(step.budget) as deadline:
                        await player.act(action, step.shown)
                except Exception as exc:
                    step.error = exc
                except asyncio.CancelledError:
                    if not deadline.expired():
                        raise
                step.expired = deadline.expired()
                if action.name.startswith("commit"):
                    player.after_commit()
                player._note_keys()
                step.seen_after = len(server.seen)
                step.intent_after = player.intent_truth()
                step.marks_after = player.session.marks
                step.intent_keys_after = frozenset(player.intent)
                steps.append(step)
                if step.expired:
                    break
        finally:
            try:
                async with asyncio.timeout(TIMEOUT * 4 + MARGIN):
                    await player.session.close()
            except Exception as exc:
                unexpected.append(f"close() raised {exc!r}")
            await server.close()
            if store is not None:
                store.close()
    return Run(scenario, server, steps, logs, player.trace, unexpected)
