"""The connection dialled ahead while popview imports (popview.pop3.predial).

The session must adopt it as its first connection (the server sees one
connection, not two), set up TLS on it exactly as on a fresh one, and when the
early dial failed, dial again and report the failure with the usual words.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from popview.cli import main
from popview.config import Account
from popview.errors import Pop3ConnectionError, TLSVerificationError
from popview.pop3.predial import DialAhead
from popview.server import Pop3Server, ServerThread
from popview.session import MailboxSession
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER, account_args
from tests.test_tls import leaf_context

MakeServer = Callable[..., Awaitable[Pop3Server]]


def _account(port: int, **fields: Any) -> Account:
    fields.setdefault("tls", "none")
    return Account(name="t", host="127.0.0.1", port=port, user=POP3_USER, **fields)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_session_adopts_the_connection_dialled_ahead(
    make_pop3_server: MakeServer,
) -> None:
    """One connection reaches the server, and the session lists through it."""
    server = await make_pop3_server()
    dialled = DialAhead("127.0.0.1", server.port, 5.0)
    session = MailboxSession(_account(server.port), POP3_PASSWORD, dialled=dialled)
    info = await session.open()
    listed = [e async for u in session.list_messages() for e in u.envelopes]
    await session.close()
    assert info.message_count == len(listed) == 3
    assert server.sessions_opened == 1


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
async def test_tls_on_a_socket_dialled_ahead_is_verified_as_ever(
    make_pop3_server: MakeServer, tls_ca: trustme.CA, tmp_path: Path, tls: str
) -> None:
    """The right certificate connects (encrypted) on the adopted socket; one for
    another host is refused before any credential, as on a fresh connection."""
    cafile = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(cafile))
    key = "implicit_tls" if tls == "implicit" else "stls"
    good = await make_pop3_server(**{key: leaf_context(tls_ca, "127.0.0.1")[0]})
    session = MailboxSession(
        _account(good.port, tls=tls, cafile=cafile),
        POP3_PASSWORD,
        dialled=DialAhead("127.0.0.1", good.port, 5.0),
    )
    info = await session.open()
    await session.close()
    assert info.encrypted and good.sessions_opened == 1
    other = await make_pop3_server(**{key: leaf_context(tls_ca, "mail.example.org")[0]})
    refused = MailboxSession(
        _account(other.port, tls=tls, cafile=cafile),
        POP3_PASSWORD,
        dialled=DialAhead("127.0.0.1", other.port, 5.0),
    )
    with pytest.raises(TLSVerificationError, match="not valid for the host name"):
        await refused.open()
    assert set(other.commands()) <= ({"CAPA", "STLS"} if tls == "starttls" else set())


async def test_a_failed_early_dial_is_reported_with_the_usual_words() -> None:
    """Nothing listens: the session dials again, and the error reads exactly as
    without a connection dialled ahead."""
    port = _closed_port()
    errors = []
    for dialled in (None, DialAhead("127.0.0.1", port, 5.0)):
        session = MailboxSession(_account(port), POP3_PASSWORD, dialled=dialled)
        with pytest.raises(Pop3ConnectionError) as error:
            await session.open()
        errors.append(str(error.value))
    assert errors[0] == errors[1]
    assert f"port {port}" in errors[0]


async def test_a_connection_dialled_to_another_address_is_not_adopted(
    make_pop3_server: MakeServer,
) -> None:
    """A connection dialled to one server is never used for another: it is
    closed, and the session connects to its own server."""
    elsewhere = await make_pop3_server()
    own = await make_pop3_server()
    dialled = DialAhead("127.0.0.1", elsewhere.port, 5.0)
    session = MailboxSession(_account(own.port), POP3_PASSWORD, dialled=dialled)
    await session.open()
    await session.close()
    assert own.sessions_opened == 1
    assert elsewhere.commands() == []


def test_popview_list_connects_once(
    make_pop3_server_thread: Callable[..., ServerThread],
    cli_environment: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The headless command dials ahead and its session adopts that connection:
    the server accepts one connection for one `popview list`."""
    thread = make_pop3_server_thread()
    assert main(["list", "--json", *account_args(thread.port)]) == 0
    assert '"number":1' in capsys.readouterr().out
    assert thread.server.sessions_opened == 1


async def test_an_unused_dial_is_closed() -> None:
    """A dial nobody took is closed by close(); taking it afterwards gives nothing."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        dialled = DialAhead("127.0.0.1", port, 5.0)
        accepted, _ = await asyncio.to_thread(listener.accept)
        with accepted:
            dialled.close()
            accepted.settimeout(5.0)
            assert accepted.recv(1) == b""  # the client end was closed
        assert await dialled.take("127.0.0.1", port) is None


async def test_waiting_for_a_slow_dial_does_not_block_the_event_loop() -> None:
    """A connect that hangs (a listener whose backlog is full: the kernel drops the
    handshake) is waited for without blocking the loop, and a cancel (Ctrl+C) ends
    the wait at once instead of after the dial's timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        filling = []
        for _ in range(8):  # fill the backlog: later handshakes are not answered
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", port))
            filling.append(client)
        try:
            dialled = DialAhead("127.0.0.1", port, 30.0)
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)

            ticker = asyncio.create_task(tick())
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await dialled.take("127.0.0.1", port)
            waited = time.monotonic() - started
            ticker.cancel()
            assert waited < 5.0  # not the dial's 30 s
            assert ticks >= 10  # the loop ran meanwhile
        finally:
            for client in filling:
                client.close()


async def test_a_stale_dial_is_not_adopted(make_pop3_server: MakeServer) -> None:
    """A socket connected longer ago than ``fresh_for`` (the terminal UI waited at a
    password prompt; the server may have dropped it) is closed unused, and the
    session dials a connection of its own."""
    server = await make_pop3_server()
    dialled = DialAhead("127.0.0.1", server.port, 5.0, fresh_for=0.05)
    await asyncio.sleep(0.3)
    session = MailboxSession(_account(server.port), POP3_PASSWORD, dialled=dialled)
    info = await session.open()
    await session.close()
    assert info.message_count == 3
    assert server.sessions_opened == 2
    assert server.commands(1) == []  # the stale one: nothing sent on it
    assert "STAT" in server.commands(2)


async def test_a_dial_nobody_takes_in_time_is_closed_at_once() -> None:
    """Past ``fresh_for`` the socket is closed without waiting for take() or the
    app's end: no idle connection is left open at the server meanwhile."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        dialled = DialAhead("127.0.0.1", port, 5.0, fresh_for=0.1)  # held: not collected
        accepted, _ = await asyncio.to_thread(listener.accept)
        with accepted:
            accepted.settimeout(5.0)
            assert await asyncio.to_thread(accepted.recv, 1) == b""  # closed by popview
        assert await dialled.take("127.0.0.1", port) is None


async def test_the_terminal_ui_adopts_the_connection_dialled_for_its_account(
    make_pop3_server: MakeServer,
) -> None:
    """``popview -a NAME`` dials while Textual is imported; the app's first session
    logs in and lists through that connection: one connection reaches the server."""
    from popview.ui.app import PopviewApp
    from tests.ui_support import wait_listed

    server = await make_pop3_server()
    dialled = DialAhead("127.0.0.1", server.port, 5.0, fresh_for=10.0)
    app = PopviewApp(account=_account(server.port), password=POP3_PASSWORD, dialled=dialled)
    async with app.run_test() as pilot:
        await wait_listed(pilot)
        assert len(app.listing.rows) == 3
    assert server.sessions_opened == 1


async def test_the_terminal_ui_closes_a_dial_it_never_used(make_pop3_server: MakeServer) -> None:
    """No password, and the user quits at the prompt: the connection dialled ahead
    is closed when the app ends, and nothing was sent on it."""
    from popview.ui.app import PopviewApp

    server = await make_pop3_server()
    dialled = DialAhead("127.0.0.1", server.port, 5.0, fresh_for=10.0)
    app = PopviewApp(account=_account(server.port), dialled=dialled)
    async with app.run_test() as pilot:
        await pilot.pause()
    assert await dialled.take("127.0.0.1", server.port) is None  # closed, not kept
    assert server.commands() == []


def test_popview_with_a_named_account_dials_before_textual_starts(
    make_pop3_server_thread: Callable[..., ServerThread],
    cli_environment: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``popview --host ...`` (a named account) hands the terminal UI a connection
    dialled before Textual was imported, fresh for a few seconds; the app's first
    session adopts it (above). The UI itself is replaced here: its runs on a pty
    are tests/test_terminal_app_pty.py."""
    import popview.ui.app

    thread = make_pop3_server_thread()
    given: dict[str, Any] = {}

    def run_tui(config: Any, **options: Any) -> int:
        given.update(options)
        dialled = options["dialled"]
        given["socket"] = asyncio.run(dialled.take("127.0.0.1", thread.port))
        return 0

    monkeypatch.setattr(popview.ui.app, "run_tui", run_tui)
    assert main(account_args(thread.port)) == 0
    assert given["account_name"] is not None and not given["demo"]
    connection = given["socket"]
    assert isinstance(connection, socket.socket)  # connected, not an error
    with connection:
        connection.settimeout(5.0)
        # The server's greeting on it: the server has accepted this connection
        # (the kernel completes a handshake before the server's loop takes it).
        assert connection.recv(100).startswith(b"+OK")
    assert thread.server.sessions_opened == 1
