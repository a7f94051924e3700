"""Helpers for the UI tests: an account for an embedded server, and waiting on the app.

The server itself comes from :mod:`tests.fixtures.embedded` (one user, one password
for every test: :data:`~tests.fixtures.embedded.POP3_USER`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from popview.config import Account
from popview.server import Pop3Server
from popview.ui.app import PopviewApp
from popview.ui.screens.mailbox import MailboxScreen
from popview.ui.screens.message import MessageScreen
from popview.ui.widgets.envelope_table import EnvelopeTable
from tests.fixtures.embedded import POP3_USER


def account_for(server: Pop3Server) -> Account:
    """A plain-POP3 loopback account for ``server`` (the UI shows UNENCRYPTED)."""
    return Account(name="demo", host="127.0.0.1", port=server.port, tls="none", user=POP3_USER)


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], tries: int = 300) -> None:
    """Let the app run until ``condition`` holds (bounded by steps, not by a clock)."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("the app never reached the expected state")


async def wait_listed(pilot: Pilot[Any]) -> MailboxScreen:
    """Wait until the mailbox screen shows the complete listing."""
    app = pilot.app
    assert isinstance(app, PopviewApp)
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, MailboxScreen) and not app.loading and bool(app.listing.rows)
        ),
    )
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, MailboxScreen)
    return screen


def table_lines(app: PopviewApp) -> list[str]:
    """The text of the visible table lines, as the user reads them."""
    table = app.screen.query_one(EnvelopeTable)
    return [table.render_line(y).text for y in range(table.size.height)]


def subject_of(raw: bytes) -> str:
    """The Subject header of a generated sample message (decoded)."""
    import email
    import email.policy

    return str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"])


async def open_message(pilot: Pilot[Any], uid: str) -> MessageScreen:
    """Move to ``uid`` in the list, open it, and wait until it is shown."""
    app = pilot.app
    assert isinstance(app, PopviewApp)
    await wait_listed(pilot)
    app.screen.query_one(EnvelopeTable).move_to(app.listing.index_of(uid) or 0)
    await pilot.press("enter")
    await wait_for(pilot, lambda: getattr(app.screen, "forms", None) is not None)
    screen = app.screen
    assert isinstance(screen, MessageScreen)
    return screen
