"""Benchmark: marking 10,000 messages (issue 12) against 10,000 raw pipelined ``DELE``.

Run by hand (not a test; nothing here asserts a time)::

    python tests/benchmarks/bench_marks.py [--count 10000] [--rtt 0 100] [--rounds 3]

A real server (a private Dovecot when installed, else the embedded server in its
own process; ``--embedded`` forces it) holds ``--count`` realistic messages
(bench_listing's), behind a latency proxy in another process adding ``--rtt``
milliseconds of round trip. For each RTT, in the same run:

* ``raw DELE``: a bare socket, logged in, writes every ``DELE n`` at once and
  counts the reply lines; the time from the first write to the last reply. No
  ``QUIT``: nothing is deleted.
* ``mark_many``: ``MailboxSession.mark_many`` of every message, opened
  beforehand, with the journal in a real sqlite store (one transaction, then the
  ``DELE`` s pipelined); closed without ``QUIT``.
* ``popview delete --match ... --yes``: the whole process (start-up, login,
  listing, matching, marking, ``QUIT``) with an empty cache (``cold``) and with
  the cache filled by a ``popview list`` first (``warm``), against the raw floor
  of the same work: bench_listing's raw pipelined ``TOP n 0`` client (connect,
  login, every header) plus, on a second connection, every ``DELE`` and ``QUIT``
  (that connection's connect and login are left out: one connection would not
  pay them twice). Each round deletes every message; the mailbox is seeded
  again before the next.

The target is ``mark_many`` within 2x ``raw DELE``. ``--profile`` prints where
``mark_many`` spends its time at the last RTT (cProfile, cumulative).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from popview.config import Account
from popview.server import MemoryMailbox, Pop3Server, ServerThread
from popview.session import MailboxSession
from popview.store import Store
from tests.benchmarks.bench_listing import (
    PASSWORD,
    USER,
    _Child,
    _proxy_process,
    popview_list,
    raw_reference,
    realistic_messages,
)

PATTERN = "~f example.org"
"""Matches every message realistic_messages() makes."""


async def raw_deles(port: int, user: str, password: str, count: int, *, quit: bool) -> float:
    """Log in on a bare socket, then time every ``DELE`` (one write) to the last
    reply line, and with ``quit`` the ``QUIT`` that deletes them."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readuntil(b"\n")
    writer.write(f"USER {user}\r\nPASS {password}\r\n".encode())
    await reader.readuntil(b"\n")
    assert (await reader.readuntil(b"\n")).startswith(b"+OK")
    start = time.perf_counter()
    writer.write(b"".join(b"DELE %d\r\n" % n for n in range(1, count + 1)))
    seen = 0
    while seen < count:
        data = await reader.read(1 << 20)
        assert data and not data.startswith(b"-ERR"), data[:200]
        seen += data.count(b"\n")
    if quit:
        writer.write(b"QUIT\r\n")
        assert (await reader.readuntil(b"\n")).startswith(b"+OK")
    elapsed = time.perf_counter() - start
    writer.close()
    return elapsed


async def session_marks(port: int, user: str, password: str, count: int, store: Store) -> float:
    """Time ``mark_many`` of every message on an open session (journal in ``store``)."""
    account = Account(name="bench", host="127.0.0.1", port=port, user=user, tls="none")
    session = MailboxSession(account, password, store=store)
    await session.open()
    keys = [key for n in range(1, count + 1) if (key := session.key_for_number(n)) is not None]
    start = time.perf_counter()
    result = await session.mark_many(keys)
    elapsed = time.perf_counter() - start
    assert len(result.marked) == count, (len(result.marked), result.refused[:3])
    await session.close(discard_marks=True)  # no QUIT: nothing is deleted
    return elapsed


def popview_delete(port: int, user: str, password: str, home: str, count: int) -> float:
    """``popview delete --match PATTERN --yes`` as a whole process; its seconds."""
    env = dict(os.environ, POPVIEW_PASSWORD=password, HOME=home)
    # The directories popview_list() uses: its cache is this one's.
    for var, sub in (("XDG_CACHE_HOME", "c"), ("XDG_CONFIG_HOME", "cfg"), ("XDG_DATA_HOME", "d")):
        env[var] = os.path.join(home, sub)
    argv = [sys.executable, "-m", "popview", "delete", "--match", PATTERN, "--yes"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--user", user, "--tls", "none"]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or done.stdout.count(b"\n") != count:
        raise RuntimeError(f"popview delete failed: {done.stderr.decode()[-500:]}")
    return elapsed


# -- the server, seeded again after each round that deletes ----------------------------


def _embedded_process(count: int, conn: Connection) -> None:
    """The embedded server; on ``"reseed"`` it takes back what QUIT deleted."""
    mailbox = MemoryMailbox(realistic_messages(count))
    server = ServerThread(Pop3Server(mailbox, users={USER: PASSWORD}))
    conn.send(server.start().port)
    while conn.recv() == "reseed":
        for uid, data in zip(mailbox.deleted, mailbox.deleted_messages, strict=True):
            mailbox.add(data, uid)
        mailbox.deleted.clear()
        mailbox.deleted_messages.clear()
        conn.send("seeded")
    server.stop()


class _Embedded(_Child):
    def reseed(self) -> None:
        self._ours.send("reseed")
        self._ours.recv()


@dataclass
class Server:
    name: str
    port: int
    user: str
    password: str
    reseed: Callable[[], None]
    stop: Callable[[], None]


def start_server(count: int, embedded: bool) -> Server:
    """Dovecot when installed (unless ``embedded``), else the embedded server."""
    from tests.fixtures.dovecot import DEFAULT_USERS, DovecotServer, _find_dovecot

    executable = None if embedded else _find_dovecot()
    if executable is None:
        child = _Embedded(_embedded_process, count)
        name = "embedded server (own process)"
        return Server(name, child.value, USER, PASSWORD, child.reseed, child.stop)
    dovecot = DovecotServer(executable)
    dovecot.start()
    messages = realistic_messages(count)

    def reseed() -> None:
        dovecot.clear("alice")
        dovecot.seed("alice", messages)

    reseed()
    version = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout
    name = f"Dovecot {version.split()[0]}"
    return Server(name, dovecot.pop3_port, "alice", DEFAULT_USERS["alice"], reseed, dovecot.stop)


def one_rtt(server: Server, port: int, count: int, rounds: int) -> dict[str, float]:
    """Medians of every measurement at one RTT (``port``: the proxy's)."""
    login = (port, server.user, server.password)
    runs: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        runs.setdefault(name, []).append(seconds)

    for _ in range(rounds):
        add("raw DELE", asyncio.run(raw_deles(*login, count, quit=False)))
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open(Path(tmp))
            add("mark_many", asyncio.run(session_marks(*login, count, store)))
            store.close()
        add("raw TOP", asyncio.run(raw_reference(port, count, server.user, server.password)))
        add("raw DELE+QUIT", asyncio.run(raw_deles(*login, count, quit=True)))
        server.reseed()
        with tempfile.TemporaryDirectory() as home:
            add("delete cold", popview_delete(*login, home, count))
            server.reseed()
            popview_list(*login, home, cold=False)  # fills the cache
            add("delete warm", popview_delete(*login, home, count))
            server.reseed()
    medians = {name: statistics.median(values) for name, values in runs.items()}
    medians["raw delete"] = medians["raw TOP"] + medians["raw DELE+QUIT"]
    return medians


def profile_marks(port: int, server: Server, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp))
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(session_marks(port, server.user, server.password, count, store))
        profiler.disable()
        store.close()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rtt", type=float, nargs="+", default=[0.0, 100.0], help="ms")
    parser.add_argument("--rounds", type=int, default=3, help="median of N")
    parser.add_argument("--embedded", action="store_true", help="not Dovecot")
    parser.add_argument("--profile", action="store_true", help="profile mark_many (last RTT)")
    args = parser.parse_args()
    server = start_server(args.count, args.embedded)
    proxies = _Child(_proxy_process, server.port, args.rtt)
    print(
        f"{args.count} realistic messages; {server.name}; Python {sys.version.split()[0]}; "
        f"median of {args.rounds}"
    )
    print("| RTT | raw `DELE` | `mark_many` | raw delete | `delete --match` cold | warm |")
    print("|---:|---:|---:|---:|---:|---:|")
    try:
        for rtt in args.rtt:
            m = one_rtt(server, proxies.value[rtt], args.count, args.rounds)
            raw, whole = m["raw DELE"], m["raw delete"]
            print(
                f"| {rtt:g} ms | {raw:.2f} s | {m['mark_many']:.2f} s "
                f"({m['mark_many'] / raw:.1f}×) | {whole:.2f} s | {m['delete cold']:.2f} s "
                f"({m['delete cold'] / whole:.1f}×) | {m['delete warm']:.2f} s "
                f"({m['delete warm'] / whole:.1f}×) |"
            )
        if args.profile:
            profile_marks(proxies.value[args.rtt[-1]], server, args.count)
    finally:
        proxies.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
