"""``popview --demo``: a generated sample mailbox served on a loopback port.

The demo needs no configuration and no network: :func:`start_demo` starts the
embedded POP3 server (:mod:`popview.server`) in its own thread on a random
127.0.0.1 port with :func:`sample_mailbox`, and returns the account and the
password the app logs in with. Deletions really happen on the embedded server
and last until the process exits.

The demo connection is plain POP3 on loopback (``tls="none"``): a throwaway
certificate would need a non-stdlib package at run time. The UI shows its
persistent UNENCRYPTED badge, as for any ``tls="none"`` account.
"""

from __future__ import annotations

import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass

from popview.config import Account
from popview.demo.sample import BASE_DATE, SAMPLE_COUNT, sample_messages
from popview.server import Fault, MemoryMailbox, Pop3Server, ServerThread

__all__ = [
    "BASE_DATE",
    "DEMO_LABEL",
    "DEMO_USER",
    "SAMPLE_COUNT",
    "DemoServer",
    "sample_mailbox",
    "sample_messages",
    "start_demo",
]

#: The user name the demo server accepts.
DEMO_USER = "demo"

#: How the app names the demo server (its port is random, so it is not shown).
DEMO_LABEL = "local sample server"


def sample_mailbox(count: int = SAMPLE_COUNT) -> MemoryMailbox:
    """Return a fresh in-memory mailbox holding the sample mail.

    Args:
        count: How many messages to generate.

    Returns:
        A :class:`MemoryMailbox`; the same content on every call.
    """
    return MemoryMailbox(sample_messages(count))


@dataclass
class DemoServer(AbstractContextManager["DemoServer"]):
    """A running demo server and how to log in to it.

    Attributes:
        thread: The server thread; stop it with :meth:`stop`.
        server: The embedded server (its transcript is useful in tests).
        account: An account pointing at the server (plain POP3 on loopback).
        password: The random password the server accepts for the account.
        label: What the header shows instead of ``127.0.0.1:<random port>``.
    """

    thread: ServerThread
    server: Pop3Server
    account: Account
    password: str
    label: str = DEMO_LABEL

    def stop(self) -> None:
        """Stop the server thread (idempotent)."""
        self.thread.stop()

    def __exit__(self, *_exc_info: object) -> None:
        self.stop()


def start_demo(count: int = SAMPLE_COUNT, faults: list[Fault] | None = None) -> DemoServer:
    """Start the embedded server with the sample mailbox on a random loopback port.

    One mailbox is shared by every login, so marks committed with ``$`` stay
    committed when the app reconnects.

    Args:
        count: How many sample messages to serve.
        faults: Server faults to inject (the screenshots slow ``TOP`` down to
            catch the progress bar mid-load).

    Returns:
        A :class:`DemoServer`; call :meth:`DemoServer.stop` when done.
    """
    password = secrets.token_urlsafe(12)
    server = Pop3Server(
        sample_mailbox(count),
        users={DEMO_USER: password},
        host="127.0.0.1",
        faults=list(faults or ()),
    )
    thread = ServerThread(server).start()
    account = Account(
        name="demo",
        host="127.0.0.1",
        port=thread.port,
        tls="none",
        user=DEMO_USER,
    )
    return DemoServer(thread=thread, server=server, account=account, password=password)
