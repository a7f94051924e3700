"""docs/hardening.md gaps closed at the engine and CLI level (A.12, A.19, C.32).

* A.19 through :class:`MailboxSession`: a server that advertises PIPELINING but
  answers only the first of the commands queued in one write. A loopback proxy in
  front of the embedded server plays that server (it forwards only the first
  command line of a multi-command write, as MailKit #174's server did) and records
  every write the client made, so the test sees one command per write on the next
  connection.
* A.12: rejected LIST/UIDL rows reach the log and :attr:`ListingUpdate.rejected`.
* C.32: the CLI's ``--trace`` and ``--debug`` files, created under umask 022.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from popview.config import Account
from popview.errors import Pop3ProtocolError, Pop3TimeoutError
from popview.server import Fault, MemoryMailbox, Pop3Server, ServerThread
from popview.session import MailboxSession
from popview.session.opening import PIPELINING_OFF
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER

MakeServer = Callable[..., Awaitable[Pop3Server]]
REPO = Path(__file__).resolve().parent.parent
DEADLINE = 1.0
"""The account's command timeout in the A.19 tests: the bound the error must come by."""

#: Capabilities without SASL, so the client logs in with USER/PASS.
USER_PASS_CAPS = ["TOP", "UIDL", "USER", "PIPELINING", "RESP-CODES", "IMPLEMENTATION test"]


def message(n: int) -> bytes:
    return (
        f"From: s{n}@example.org\r\nSubject: Message {n}\r\nMessage-ID: <m{n}@example.org>\r\n"
        f"\r\nBody {n}.\r\n"
    ).encode()


def account_for(port: int, timeout: float = DEADLINE) -> Account:
    return Account(
        name="t", host="127.0.0.1", port=port, user=POP3_USER, tls="none", timeout=timeout
    )


class HalfPipeliningProxy:
    """A TCP proxy that answers only the first of several queued commands.

    Every write the client makes is recorded per connection. When a write holds
    more than one command line and its first verb is in ``breaks``, only the first
    line is forwarded: the server never sees the rest, so it answers only the
    first (HARDENING A.19, MailKit #174). Everything else passes unchanged.

    Attributes:
        writes: Per connection (in accept order), the client's writes as received.
    """

    def __init__(self, upstream_port: int, breaks: frozenset[str]) -> None:
        self.upstream_port = upstream_port
        self.breaks = breaks
        self.writes: list[list[bytes]] = []
        self.rewrite: Callable[[bytes], bytes] | None = None  # the server's bytes, altered
        self.port = 0
        self._listener: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._listener = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._listener.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listener is not None:
            await self._listener.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        writes: list[bytes] = []
        self.writes.append(writes)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def downstream() -> None:
            while data := await up_reader.read(65536):
                writer.write(self.rewrite(data) if self.rewrite is not None else data)
                await writer.drain()
            writer.close()

        pump = asyncio.create_task(downstream())
        try:
            while data := await reader.read(65536):
                writes.append(data)
                lines = data.split(b"\r\n")[:-1]
                verb = lines[0].split(b" ")[0].decode("latin-1").upper() if lines else ""
                if len(lines) > 1 and verb in self.breaks:
                    data = lines[0] + b"\r\n"  # the rest of the queue is lost
                up_writer.write(data)
                await up_writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            pump.cancel()
            with contextlib.suppress(BaseException):
                await pump
            up_writer.close()
            writer.close()
            self._tasks.discard(task)


def commands_per_write(writes: list[bytes]) -> list[int]:
    return [data.count(b"\r\n") for data in writes]


@pytest.fixture
async def proxied(
    make_pop3_server: MakeServer,
) -> AsyncIterator[Callable[[frozenset[str]], Awaitable[HalfPipeliningProxy]]]:
    """Factory: a proxy breaking pipelined batches starting with the given verbs."""
    proxies: list[HalfPipeliningProxy] = []

    async def make(breaks: frozenset[str]) -> HalfPipeliningProxy:
        server = await make_pop3_server(mailbox=MemoryMailbox([message(n) for n in (1, 2, 3)]))
        proxy = HalfPipeliningProxy(server.port, breaks)
        await proxy.start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        await proxy.close()


class TestA19PipeliningHalfAnswered:
    """A.19 through MailboxSession: a clean error by the deadline, then one command at a time."""

    async def test_listing_times_out_then_the_next_connection_does_not_pipeline(
        self, proxied: Callable[[frozenset[str]], Awaitable[HalfPipeliningProxy]]
    ) -> None:
        """Pipelined ``TOP n 0`` half answered: the listing fails with a timeout that
        says so, no QUIT; the next listing reconnects, sends one command per write
        (TOP included), lists all three, and says pipelining is off."""
        proxy = await proxied(frozenset({"TOP"}))
        session = MailboxSession(account_for(proxy.port), POP3_PASSWORD)
        await session.open()
        with pytest.raises(Pop3TimeoutError, match="one command at a time"):
            async for _ in session.list_messages():
                pass
        assert not session.connected
        first = proxy.writes[0]
        assert any(
            n > 1 and data.startswith(b"TOP")
            for n, data in zip(commands_per_write(first), first, strict=True)
        ), first  # the first connection did pipeline (the test can fail)
        assert all(b"QUIT" not in data for data in first)

        listed = [env async for update in session.list_messages() for env in update.envelopes]
        assert sorted(env.subject for env in listed) == ["Message 1", "Message 2", "Message 3"]
        assert len(proxy.writes) == 2
        second = proxy.writes[1]
        assert commands_per_write(second) == [1] * len(second), second
        sent = b"".join(second)
        assert sent.count(b"TOP ") == 3 and b"STAT\r\n" in sent and b"UIDL\r\n" in sent
        assert session.info is not None and PIPELINING_OFF in session.info.degraded
        await session.close()
        assert all(b"QUIT" not in data for writes in proxy.writes for data in writes)

    async def test_capa_after_login_rides_with_the_listing(
        self, proxied: Callable[[frozenset[str]], Awaitable[HalfPipeliningProxy]]
    ) -> None:
        """After login, CAPA (RFC 2449 §6: it may change) goes in the same write
        as STAT, LIST and UIDL: one round trip, and its answer is used."""
        proxy = await proxied(frozenset())
        session = MailboxSession(account_for(proxy.port), POP3_PASSWORD)
        info = await session.open()
        assert info.message_count == 3
        assert b"CAPA\r\nSTAT\r\nLIST\r\nUIDL\r\n" in proxy.writes[0]
        # One CAPA before login, one after it: none in a round trip of its own.
        assert sum(data.count(b"CAPA\r\n") for data in proxy.writes[0]) == 2
        assert PIPELINING_OFF not in info.degraded
        await session.close()

    async def test_open_times_out_then_the_next_open_does_not_pipeline(
        self, proxied: Callable[[frozenset[str]], Awaitable[HalfPipeliningProxy]]
    ) -> None:
        """CAPA/STAT/LIST/UIDL (the flight after login) half answered at open(): a
        timeout by the deadline whose message promises one command at a time; the
        next open() of the same session keeps that promise (one command per write),
        succeeds, says pipelining is off, and no QUIT was ever sent."""
        proxy = await proxied(frozenset({"CAPA"}))  # only writes of several commands
        session = MailboxSession(account_for(proxy.port), POP3_PASSWORD)
        with pytest.raises(Pop3TimeoutError, match="one command at a time"):
            await session.open()
        first = proxy.writes[0]
        assert any(n > 1 for n in commands_per_write(first)), first
        info = await session.open()
        assert info.message_count == 3
        assert len(proxy.writes) == 2
        second = proxy.writes[1]
        assert commands_per_write(second) == [1] * len(second), second
        assert b"STAT\r\n" in b"".join(second)
        assert PIPELINING_OFF in info.degraded
        await session.close()
        assert all(b"QUIT" not in data for writes in proxy.writes for data in writes)


class TestA12RejectedRows:
    """A.12: malformed LIST/UIDL rows are dropped, surfaced and logged."""

    JUNK_LIST = (
        b"+OK\r\n1 100\r\nabc 1\r\n2 -5\r\n3 99999999999999999999\r\n0 10\r\n"
        b"2 100\r\n9 100\r\n3 100,\r\n3 100\r\n.\r\n"
    )

    @pytest.fixture
    async def junk_server(self, make_pop3_server: MakeServer) -> Pop3Server:
        return await make_pop3_server(
            mailbox=MemoryMailbox([message(n) for n in (1, 2, 3)]),
            faults=[Fault(verb="LIST", arg=None, replace=self.JUNK_LIST, times=None)],
        )

    async def test_rejected_rows_are_surfaced_in_the_listing(self, junk_server: Pop3Server) -> None:
        """The junk rows come back (sanitized) in ListingUpdate.rejected; the three
        good messages are still listed."""
        session = MailboxSession(account_for(junk_server.port, 10.0), POP3_PASSWORD)
        await session.open()
        rejected: list[str] = []
        subjects: list[str] = []
        async for update in session.list_messages():
            rejected.extend(update.rejected)
            subjects.extend(env.subject for env in update.envelopes)
        await session.close()
        assert sorted(subjects) == ["Message 1", "Message 2", "Message 3"]
        joined = "\n".join(rejected)
        for junk in ("abc 1", "-5", "99999999999999999999", "0 10", "9 100"):
            assert junk in joined, (junk, rejected)

    async def test_malformed_stat_is_worded_and_never_quits(
        self, make_pop3_server: MakeServer
    ) -> None:
        """A STAT that is not two numbers while opening: the user reads which reply
        was malformed (sanitized), and the connection is dropped without QUIT."""
        server = await make_pop3_server(
            mailbox=MemoryMailbox([message(1)]),
            faults=[Fault(verb="STAT", replace=b"+OK lots\x1b[2J\r\n")],
        )
        session = MailboxSession(account_for(server.port, 10.0), POP3_PASSWORD)
        with pytest.raises(Pop3ProtocolError) as info:
            await session.open()
        assert str(info.value) == "The server sent a malformed STAT reply: 'lots␛[2J'."
        await session.close()
        assert "STAT" in server.commands() and "QUIT" not in server.commands()

    async def test_rejected_rows_are_logged(
        self, junk_server: Pop3Server, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Each rejected row reaches a ``popview`` logger record (at any level)."""
        caplog.set_level(logging.DEBUG)
        session = MailboxSession(account_for(junk_server.port, 10.0), POP3_PASSWORD)
        await session.open()
        async for _ in session.list_messages():
            pass
        await session.close()
        logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("popview"))
        for junk in ("abc 1", "99999999999999999999", "9 100"):
            assert junk in logged, (junk, logged)

    async def test_many_rejected_rows_are_capped_and_counted(
        self, make_pop3_server: MakeServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """250 junk LIST rows and 3 good ones: the three messages are listed;
        ListingUpdate keeps the first 100 junk rows (in order) and counts all 250;
        one WARNING ``popview`` record gives the total and only the first 20 rows."""
        junk = [f"x{n:03d} junk" for n in range(250)]
        body = "\r\n".join(["1 100", *junk[:100], "2 100", *junk[100:], "3 100"])
        server = await make_pop3_server(
            mailbox=MemoryMailbox([message(n) for n in (1, 2, 3)]),
            faults=[
                Fault(verb="LIST", arg=None, replace=f"+OK\r\n{body}\r\n.\r\n".encode(), times=None)
            ],
        )
        caplog.set_level(logging.DEBUG)
        session = MailboxSession(account_for(server.port, 10.0), POP3_PASSWORD)
        await session.open()
        updates = [update async for update in session.list_messages()]
        await session.close()
        subjects = sorted(env.subject for u in updates for env in u.envelopes)
        assert subjects == ["Message 1", "Message 2", "Message 3"]
        assert [r for u in updates for r in u.rejected] == junk[:100]
        assert sum(u.rejected_count for u in updates) == 250
        records = [
            r
            for r in caplog.records
            if r.name.startswith("popview") and "x000 junk" in r.getMessage()
        ]
        assert len(records) == 1 and records[0].levelno == logging.WARNING, records
        text = records[0].getMessage()
        assert "250" in text and "x019 junk" in text and "x020 junk" not in text, text


# -- C.32: the CLI's --trace and --debug files -------------------------------------------


def _umask_022() -> None:
    os.umask(0o022)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestC32CliFiles:
    """C.32: ``--trace FILE`` and ``--debug`` files are private from their creation."""

    def test_trace_and_debug_log_are_0600_in_0700_dirs(
        self, make_pop3_server_thread: Callable[..., ServerThread], tmp_path: Path
    ) -> None:
        """``popview list --trace FILE --debug`` under umask 022: the trace file and
        the debug log are 0600, every directory popview created for the log is
        0700, the trace shows ``PASS ***`` and neither file holds the password."""
        server = make_pop3_server_thread(
            mailbox=MemoryMailbox([message(n) for n in (1, 2)]), capabilities=USER_PASS_CAPS
        )
        home = tmp_path / "home"
        home.mkdir()
        traces = tmp_path / "traces"
        traces.mkdir()
        trace = traces / "pop3.trace"
        state = home / "state"  # does not exist yet: popview creates it
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_STATE_HOME": str(state),
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "POPVIEW_PASSWORD": POP3_PASSWORD,
            "POPVIEW_CACHE_DIR": str(home / "popview-cache"),
            "LANG": "C.UTF-8",
        }
        argv = [
            sys.executable, "-m", "popview", "list", "--host", "127.0.0.1",
            "--port", str(server.port), "--user", POP3_USER, "--tls", "none",
            "--trace", str(trace), "--debug",
        ]  # fmt: skip
        done = subprocess.run(
            argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
            preexec_fn=_umask_022,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Message 2" in done.stdout

        assert mode(trace) == 0o600
        text = trace.read_text(encoding="utf-8")
        assert "PASS ***" in text
        assert POP3_PASSWORD not in text

        logs = list(state.rglob("popview.log"))
        assert len(logs) == 1, logs
        log = logs[0]
        assert mode(log) == 0o600
        for directory in [log.parent, *log.parent.parents]:
            if directory == home:
                break
            assert mode(directory) == 0o700, directory
        assert POP3_PASSWORD not in log.read_text(encoding="utf-8")
        assert POP3_PASSWORD not in done.stdout + done.stderr
