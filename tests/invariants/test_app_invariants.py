"""The Textual app under Pilot against a hostile server (issue 6, invariants 1-5).

Each example serves a hostile mailbox with faults (same event loop as the
app), presses a random sequence of keys (mark, unmark, unmark all, commit and
its confirmation, refresh, open, back, next, quit and its choices, help, server
info), and checks after every key and at the end:

1. no exception escapes the app and it keeps running unless the user quit;
2. every key is handled within its budget (the event loop is never blocked);
3. QUIT only after the user confirmed a commit (``$`` then ``y``, or ``q``
   then ``c``), DELE and QUIT only for messages the screen showed as marked;
4. no credential before TLS; the canary password never on screen or in a log;
5. no ESC, C1 or bidi control in the rendered screen (``export_screenshot``).
"""

from __future__ import annotations

import asyncio
import html
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import popview.ui.app
from popview.config import Account
from popview.mail.envelope import parse_envelope
from popview.session import MailboxSession
from popview.session.identity import MessageKey
from popview.session.payload import envelope_payload
from popview.store import CachedEnvelope, Store
from popview.ui.app import PopviewApp
from popview.ui.screens.dialogs import ConfirmScreen, QuitScreen
from tests.invariants.driver import Action, Scenario, make_server
from tests.invariants.hostile import (
    CANARY_PASSWORD,
    MARGIN,
    TIMEOUT,
    USER,
    FaultSpec,
    captured_logs,
    client_context,
    secret_forms,
    terminal_unsafe,
)
from tests.invariants.strategies import invariant_settings, scenarios

pytestmark = pytest.mark.slow  # hypothesis drives the whole app under Pilot

KEYS = ("d", "d", "u", "U", "dollar_sign", "y", "n", "r", "enter", "escape", "down", "up",
        "q", "c", "l", "i", "question_mark")  # fmt: skip
SIZE = (100, 30)


def screen_text(app: PopviewApp) -> str:
    """The rendered screen as text (the SVG screenshot, unescaped)."""
    return html.unescape(app.export_screenshot())


def fill_cache(store: Store, server: Any) -> None:
    """What an earlier visit left in the cache: every message on the server, and one
    the server no longer has, newest of all (so the cursor starts on it)."""
    rows = []
    for item in server.tracked.items():
        headers = item.data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        size = len(item.data)
        envelope = parse_envelope(headers, number=1, uid=item.uid, size=size)
        rows.append(CachedEnvelope(item.uid, size, headers, envelope_payload(envelope)))
    gone = b"From: gone@example.org\r\nSubject: Gone\r\nDate: 1 Jan 2099 00:00:00 +0000\r\n\r\n"
    envelope = parse_envelope(gone, number=1, uid="gone-0001", size=99)
    rows.append(CachedEnvelope("gone-0001", 99, gone, envelope_payload(envelope)))
    store.cache.put_envelopes(f"{USER}@127.0.0.1:{server.port}", rows)


async def play_app(scenario: Scenario, keys: list[str], *, warm: bool = False) -> list[str]:
    """Press ``keys`` in the app against the scenario's server; return the problems.

    ``warm``: the app starts with a cache an earlier visit filled (the cached rows
    are on screen before the server answers), and the keys are pressed at once,
    while it logs in, instead of after the first listing.
    """
    server = make_server(scenario)
    problems: list[str] = []
    committed = False
    shown_marks: set[object] = set()
    await server.start()
    folder = tempfile.TemporaryDirectory()
    store = Store.open(Path(folder.name)) if warm else None
    if store is not None:
        fill_cache(store, server)
    account = Account(
        name="hostile", host="127.0.0.1", port=server.port, user=USER,
        tls=scenario.tls, timeout=TIMEOUT,  # type: ignore[arg-type]
    )  # fmt: skip

    def truth(keys_: frozenset[str]) -> set[object]:
        items = server.tracked.items()
        found = set()
        for key in keys_:
            if not MessageKey(key).stable:
                # No usable UIDL: the key names message N of the connection it was made
                # on, which is the current one when the mark is looked at (after a key).
                number = int(key[1:].split(" ", 1)[0])
                current = server.logins.get(server.current_session, [])
                if 1 <= number <= len(current):
                    found.add(current[number - 1].key)
                continue
            matches = [m.key for m in items if m.uid == key]
            if len(matches) == 1:
                found.add(matches[0])
        return found

    def look(app: PopviewApp, label: str) -> None:
        text = screen_text(app)
        bad = terminal_unsafe(text.replace("\r", ""))
        if bad:
            problems.append(f"{label}: control characters on screen: {bad[:5]}")
        if any(s in text for s in secret_forms()):
            problems.append(f"{label}: the password is on screen")

    class WatchedApp(PopviewApp):
        """Records every set of marks the screens draw, the moment they draw it (a
        mark shown for a few milliseconds, then dropped by the session, was still
        shown: sampling only after each key missed it, issue 9 obs. 9)."""

        CSS_PATH = str(Path(popview.ui.app.__file__).with_name("popview.tcss"))

        def marks_updated_locally(self) -> None:
            super().marks_updated_locally()
            shown_marks.update(truth(self.marks))

        def on_marks_changed(self, message: Any) -> None:
            super().on_marks_changed(message)
            shown_marks.update(truth(self.marks))

    with captured_logs() as logs:
        factory = _tls_factory(store) if scenario.tls != "none" else None
        app = WatchedApp(
            None, account=account, password=CANARY_PASSWORD, session_factory=factory, store=store
        )
        try:
            async with app.run_test(size=SIZE) as pilot:
                if not warm:
                    await pilot.pause(TIMEOUT)
                for i, key in enumerate(keys):
                    if app.return_code is not None:
                        break
                    if (key == "y" and isinstance(app.screen, ConfirmScreen)) or (
                        key in ("c", "y") and isinstance(app.screen, QuitScreen)
                    ):
                        committed = True
                    budget = TIMEOUT * 10 + MARGIN
                    try:
                        async with asyncio.timeout(budget):
                            await pilot.press(key)
                            await pilot.pause(0.05)
                    except TimeoutError:
                        problems.append(f"key {i} {key!r}: not handled within {budget:.1f}s")
                        break
                    shown_marks |= truth(app.marks)
                    look(app, f"after key {i} {key!r}")
                await pilot.pause(TIMEOUT * 3)
                shown_marks |= truth(app.marks)
                if app.return_code is None:
                    look(app, "at the end")
        except Exception as exc:
            problems.append(f"an exception escaped the app: {exc!r}")
        finally:
            await server.close()
            if store is not None:
                store.close()
            folder.cleanup()
    for entry in server.seen:
        if entry.verb == "QUIT" and not committed:
            problems.append(f"QUIT in session {entry.session} without a confirmed commit")
        if entry.verb == "DELE":
            number = entry.line.partition(" ")[2]
            snapshot = server.logins.get(entry.session, [])
            if number.isdigit() and 1 <= int(number) <= len(snapshot):
                target = snapshot[int(number) - 1]
                if target.key not in shown_marks:
                    problems.append(f"DELE {number} hit {target.uid!r}, never shown as marked")
        credential = entry.verb in ("USER", "PASS", "AUTH", "APOP")
        if scenario.tls != "none" and credential and not entry.tls:
            problems.append(f"credential without TLS: {entry.line!r}")
    for _, removed in server.tracked.expunged:
        wrong = [k for k in removed if k not in shown_marks]
        if wrong:
            problems.append(f"QUIT removed messages never shown as marked: {wrong}")
    for line in logs:
        if any(s in line for s in secret_forms()):
            problems.append(f"the password is in the log: {line[:200]!r}")
    return problems


def _tls_factory(store: Store | None = None) -> Callable[[Any, Any], MailboxSession]:
    """Sessions that trust the hostile server's throw-away CA."""

    def factory(account: Any, password: Any) -> MailboxSession:
        return MailboxSession(account, password, store=store, ssl_context=client_context())

    return factory


# Issue 9, obs. 9 (the soak's reproduce_failure blob): DELE garbled then dropped,
# UIDL answers -ERR [UTF8] after the first time. The mark on the only message was
# drawn, then dropped by the session (no UIDL to find it again), and the oracle,
# looking only after each key, had missed it on screen.
GARBLED_DELE_NO_UIDL = (
    Scenario(
        (b"From: Bob <bob@example.org>\r\nSubject: Plain\r\n\r\nhello\r\n",),
        None,
        (
            FaultSpec("DELE", times=2, replace=b"\x17\x15\x7f\x08", drop_after=True),
            FaultSpec("UIDL", skip=1, times=None, err_code="UTF8"),
            FaultSpec("STAT", times=2, chunk_size=38, chunk_delay=0.02),
            FaultSpec("NOOP", skip=2, chunk_size=29, chunk_delay=0.02),
            FaultSpec("GREETING", skip=2, err_code=""),
        ),
        (Action("open"),),
        use_store=True,
    ),
    ["escape", "escape", "l", "y", "u", "dollar_sign", "d", "down", "d", "q"],
)


class TestAppUnderHostileServer:
    """The app keeps every invariant whatever the server does and whatever keys are pressed."""

    @invariant_settings(scale=0.05)
    @given(
        scenarios(max_actions=0).filter(lambda s: s.uids is None),
        st.lists(st.sampled_from(KEYS), max_size=10),
    )
    @example(*GARBLED_DELE_NO_UIDL)
    def test_invariants_hold(self, scenario: Scenario, keys: list[str]) -> None:
        """Invariants 1-5 for the Textual app driven by Pilot."""
        problems = asyncio.run(play_app(scenario, keys))
        assert not problems, "\n".join(problems) + f"\nkeys: {keys}"


class TestWarmAppUnderHostileServer:
    """The same invariants when the cached rows are on screen before the server has
    answered, keys pressed at once: a cached row (one of them gone from the server)
    has no message number yet, and nothing is sent for it."""

    @invariant_settings(scale=0.05)
    @given(
        scenarios(max_actions=0).filter(lambda s: s.uids is None),
        st.lists(st.sampled_from(KEYS), max_size=10),
    )
    def test_invariants_hold(self, scenario: Scenario, keys: list[str]) -> None:
        """Invariants 1-5, the app started on a filled cache."""
        problems = asyncio.run(play_app(scenario, keys, warm=True))
        assert not problems, "\n".join(problems) + f"\nkeys: {keys}"
