"""Benchmark: listing a large mailbox, pipelined vs one at a time, cold vs warm cache.

Run by hand (not a test; nothing here asserts a time)::

    python tests/benchmarks/bench_listing.py [--count 10000] [--rtt 0 100]

The embedded server serves ``--count`` generated messages; an optional loopback
proxy adds ``--rtt`` milliseconds of round-trip latency (half each way). For each
RTT it measures, in the same run:

* ``reference``: a bare :class:`Pop3Client` writing every ``TOP n 0`` pipelined,
  no parsing, no cache - the floor the link allows;
* ``cold``: ``MailboxSession.list_messages()`` with an empty cache (pipelined TOP,
  envelopes parsed in a thread, stored in sqlite);
* ``warm``: the same with the cache filled (no TOP at all; envelopes rebuilt
  from the cached payloads, nothing parsed), and the part of it spent in
  ``list_messages()`` after ``open()`` (LIST and UIDL of 10,000 remain);
* ``serial``: cold, against a server that does not advertise PIPELINING (one
  command at a time); with latency it is measured on ``--serial-sample``
  messages and extrapolated, since 10,000 round trips take minutes.

The server and the proxy run in a child process (as a real server would not
share the client's GIL); ``--in-process`` runs them as threads here instead.
Results are printed as seconds and as ratios to the reference.

``--process`` measures instead what a user waits for: ``popview list --json``
as a whole process (start-up included), cold (``--no-cache``) and warm (cache
filled), against a raw pipelined ``TOP n 0`` client (no parsing) measured in
the same run, through a latency proxy in front of a real server (a private
Dovecot when installed, else the embedded server in its own process) holding
realistic messages (header blocks of 2-6 KB, RFC 2047 words in six charsets).
``--big 100000`` adds that many messages cold at 0 ms, with popview's peak RSS::

    python tests/benchmarks/bench_listing.py --process [--rounds 3] [--big 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import compileall
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from popview.config import Account
from popview.pop3 import protocol
from popview.pop3.client import Pop3Client
from popview.server import MemoryMailbox, Pop3Server, ServerThread, default_capabilities
from popview.session import MailboxSession
from popview.store import Store

USER, PASSWORD = "bench", "bench-pw"


def make_messages(count: int) -> list[bytes]:
    return [
        (
            f"Return-Path: <s{n}@example.org>\r\nReceived: from mx.example.org by mail.example.net"
            f" with ESMTP id {n:08x}; Mon, 4 Mar 2024 09:00:00 +0000\r\n"
            f"From: =?utf-8?q?Sender_N=C2=B0{n}?= <s{n}@example.org>\r\n"
            f"To: alice@example.net\r\nSubject: =?utf-8?b?UmVwb3J0IMOcYmVyc2ljaHQ=?= {n}\r\n"
            f"Date: Mon, 04 Mar 2024 09:{n % 60:02d}:00 +0000\r\n"
            f"Message-ID: <msg-{n}@example.org>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "A line of body text.\r\n" * 20
        ).encode()
        for n in range(count)
    ]


class LatencyProxy:
    """Forward 127.0.0.1:port -> target, delaying every chunk by ``rtt / 2`` each way."""

    def __init__(self, target_port: int, rtt: float) -> None:
        self.target_port = target_port
        self.delay = rtt / 2
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LatencyProxy:
        self._thread.start()
        self._ready.wait()
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    writer.close()
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(send())
        while True:
            data = await reader.read(65536)
            queue.put_nowait((time.monotonic() + self.delay, data))
            if not data:
                break
        await sender

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )


async def reference(port: int, count: int) -> float:
    start = time.perf_counter()
    client = await Pop3Client.connect("127.0.0.1", port, tls="none")
    await client.login(USER, PASSWORD)
    got = 0
    async for _ in client.pipeline((protocol.top(n, 0) for n in range(count, 0, -1)), window=count):
        got += 1
    await client.close()
    assert got == count
    return time.perf_counter() - start


async def listing(port: int, store: Store | None, limit: int | None = None) -> float:
    total, _ = await listing_phases(port, store, limit)
    return total


async def listing_phases(
    port: int, store: Store | None, limit: int | None = None
) -> tuple[float, float]:
    """Return (open + list, list alone): the second is what the cache can speed up."""
    account = Account(name="b", host="127.0.0.1", port=port, user=USER, tls="none")
    start = time.perf_counter()
    session = MailboxSession(account, PASSWORD, store=store, use_journal=False)
    await session.open()
    opened = time.perf_counter()
    seen = 0
    async for update in session.list_messages(limit=limit):
        seen += len(update.envelopes)
    listed = time.perf_counter()
    await session.close()
    return listed - start, listed - opened


def timed(coroutine: Any) -> float:
    return float(asyncio.run(coroutine))


def start_servers(
    count: int, rtts: list[float]
) -> tuple[list[ServerThread], dict[float, list[int]]]:
    """A pipelining and a non-pipelining server, and per RTT the ports to use."""
    mailbox = MemoryMailbox(make_messages(count))
    caps_serial = [c for c in default_capabilities() if c != "PIPELINING"]
    servers = [
        ServerThread(Pop3Server(mailbox, users={USER: PASSWORD})).start(),
        ServerThread(Pop3Server(mailbox, users={USER: PASSWORD}, capabilities=caps_serial)).start(),
    ]
    ports: dict[float, list[int]] = {}
    for rtt_ms in rtts:
        ports[rtt_ms] = [s.port for s in servers]
        if rtt_ms > 0:
            ports[rtt_ms] = [LatencyProxy(p, rtt_ms / 1000).start().port for p in ports[rtt_ms]]
    return servers, ports


def _server_process(count: int, rtts: list[float], conn: Connection) -> None:
    servers, ports = start_servers(count, rtts)
    conn.send(ports)
    conn.recv()  # until the parent is done
    for server in servers:
        server.stop()


# -- whole-process mode ---------------------------------------------------------------

_NAMES = [
    "Jürgen Müller",
    "Łukasz Wiśniewski",
    "Анна Петрова",
    "Γιώργος Παπαδόπουλος",
    "田中 太郎",
    "Zoë Brontë",
    "Ólafur Þórsson",
    "Dvořák Antonín",
    "Søren Kierkegård",
    "Ana Conceição",
]
_WORDS = [
    "Übersicht",
    "Quartalsbericht",
    "réunion",
    "prochaine",
    "встреча",
    "отчёт",
    "会議の資料",
    "προσφορά",
    "ważne",
    "pilné",
    "Besprechung",
    "déjà",
    "Straße",
    "façade",
    "Ärger",
    "naïve",
]
_CHARSETS = ["utf-8", "iso-8859-1", "iso-8859-2", "koi8-r", "iso-8859-7", "iso-2022-jp"]


def _word(text: str, rng: random.Random) -> str:
    """One RFC 2047 encoded-word, in the first charset that can hold ``text``."""
    for charset in [*rng.sample(_CHARSETS, len(_CHARSETS)), "utf-8"]:
        try:
            raw = text.encode(charset)
        except UnicodeEncodeError:
            continue
        if rng.random() < 0.5 or charset == "iso-2022-jp":
            return f"=?{charset}?B?{base64.b64encode(raw).decode()}?="
        q = "".join(
            chr(b) if chr(b).isalnum() and b < 128 else "_" if b == 32 else f"={b:02X}" for b in raw
        )
        return f"=?{charset}?Q?{q}?="
    raise AssertionError(text)


def realistic_messages(count: int, seed: int = 1) -> list[bytes]:
    """Messages whose header blocks look like a real mailbox's: 2-6 KB, Received
    chains, DKIM/ARC signatures, many RFC 2047 words in several charsets."""
    rng = random.Random(seed)
    out = []
    for n in range(1, count + 1):
        sender = rng.choice(_NAMES)
        h = [f"Return-Path: <bounce-{n}@lists.example.org>"]
        for hop in range(rng.randint(3, 8)):
            h.append(
                f"Received: from mx{hop}.example.org (mx{hop}.example.org [192.0.2.{hop + 1}])\r\n"
                f"\tby mail.example.net (Postfix) with ESMTPS id {rng.getrandbits(40):010X}\r\n"
                f"\tfor <alice@example.net>; Mon, 4 Mar 2024 09:{n % 60:02d}:{hop:02d} +0000"
            )
        sig = base64.b64encode(rng.randbytes(rng.randint(180, 400))).decode()
        folded = "\r\n\t".join(sig[i : i + 70] for i in range(0, len(sig), 70))
        h.append(f"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; b=\r\n\t{folded}")
        if rng.random() < 0.6:
            h.append(f"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.org; b=\r\n\t{folded}")
        h.append(f"From: {_word(sender, rng)} <s{n % 97}@example.org>")
        to = [
            f"{_word(rng.choice(_NAMES), rng)} <r{i}@example.net>" for i in range(rng.randint(1, 6))
        ]
        h.append("To: " + ",\r\n\t".join(to))
        words = [_word(rng.choice(_WORDS), rng) for _ in range(rng.randint(2, 7))]
        h.append("Subject: " + "\r\n ".join(words) + f" {n}")
        h.append(f"Date: Mon, 04 Mar 2024 09:{n % 60:02d}:00 +0000")
        h.append(f"Message-ID: <msg-{n}.{rng.getrandbits(32):x}@example.org>")
        refs = " ".join(f"<r{rng.getrandbits(40):x}@example.org>" for _ in range(rng.randint(0, 8)))
        if refs:
            h.append(f"References: {refs}")
        h.append("List-Id: =?utf-8?q?Projekt_=C3=9Cbersicht?= <projekt.lists.example.org>")
        h.append("MIME-Version: 1.0")
        h.append('Content-Type: multipart/mixed; boundary="b1"')
        body = "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n--b1--\r\n"
        out.append(("\r\n".join(h) + "\r\n\r\n" + body).encode())
    return out


async def raw_reference(port: int, count: int, user: str, password: str) -> float:
    """The floor: greeting, USER+PASS in one write, every ``TOP n 0`` in one write,
    replies counted by searching the buffer for CRLF.CRLF; nothing parsed."""
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readuntil(b"\n")
    writer.write(f"USER {user}\r\nPASS {password}\r\n".encode())
    await reader.readuntil(b"\n")
    assert (await reader.readuntil(b"\n")).startswith(b"+OK")
    writer.write(b"".join(b"TOP %d 0\r\n" % n for n in range(count, 0, -1)))
    buf, pos, seen = bytearray(), 0, 0
    while seen < count:
        data = await reader.read(1 << 20)
        assert data, "server closed"
        buf += data
        while (end := buf.find(b"\r\n.\r\n", pos)) >= 0:
            seen += 1
            pos = end + 3
        del buf[: max(pos - 3, 0)]
        pos = min(pos, 3)
    writer.close()
    return time.perf_counter() - start


def popview_list(
    port: int, user: str, password: str, home: str, *, cold: bool
) -> tuple[float, int, float]:
    """``popview list --json`` as a whole process: (seconds, peak RSS in bytes,
    CPU seconds: user + system, which a loaded machine disturbs less)."""
    env = dict(os.environ, POPVIEW_PASSWORD=password, HOME=home)
    for var, sub in (("XDG_CACHE_HOME", "c"), ("XDG_CONFIG_HOME", "cfg"), ("XDG_DATA_HOME", "d")):
        env[var] = os.path.join(home, sub)
    args = [sys.executable, "-m", "popview", "list", "--json", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--user", user, "--tls", "none"]
    args += ["--no-cache"] if cold else []
    start = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.stderr is not None
    if child.returncode != 0:
        raise RuntimeError(f"popview list failed: {child.stderr.read().decode()[-500:]}")
    return elapsed, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


def _proxy_process(target: int, rtts: list[float], conn: Connection) -> None:
    conn.send(
        {rtt: LatencyProxy(target, rtt / 1000).start().port if rtt else target for rtt in rtts}
    )
    conn.recv()


def _embedded_process(count: int, conn: Connection) -> None:
    server = ServerThread(
        Pop3Server(MemoryMailbox(realistic_messages(count)), users={USER: PASSWORD})
    )
    conn.send(server.start().port)
    conn.recv()
    server.stop()


class _Child:
    """A helper process (spawned) that sends one value, then waits to be told to stop."""

    def __init__(self, target: Any, *args: Any) -> None:
        self._ours, theirs = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=target, args=(*args, theirs), daemon=True
        )
        self._process.start()
        self.value = self._ours.recv()

    def stop(self) -> None:
        self._ours.send("stop")
        self._process.join(10)


def _server(count: int, embedded: bool) -> tuple[str, int, str, str, Callable[[], None]]:
    """A real server holding ``count`` realistic messages: Dovecot when installed."""
    from tests.fixtures.dovecot import DEFAULT_USERS, DovecotServer, _find_dovecot

    executable = None if embedded else _find_dovecot()
    if executable is None:
        child = _Child(_embedded_process, count)
        return "embedded server (own process)", child.value, USER, PASSWORD, child.stop
    dovecot = DovecotServer(executable)
    dovecot.start()
    dovecot.seed("alice", realistic_messages(count))
    version = subprocess.run([executable, "--version"], capture_output=True, text=True).stdout
    return (
        f"Dovecot {version.split()[0]}",
        dovecot.pop3_port,
        "alice",
        DEFAULT_USERS["alice"],
        dovecot.stop,
    )


def whole_process(count: int, rtts: list[float], rounds: int, big: int, embedded: bool) -> None:
    """The issue's table: popview list --json, cold and warm, against the raw reference."""
    # An installed popview has its bytecode (pip compiles it); a checkout run with
    # PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module at each start.
    compileall.compile_dir(Path(__file__).resolve().parents[2] / "popview", quiet=1)
    name, port, user, password, stop = _server(count, embedded)
    proxies = _Child(_proxy_process, port, rtts)
    print(
        f"{count} realistic messages; {name}; Python {sys.version.split()[0]}; median of {rounds}; "
        f"load average {os.getloadavg()[0]:.1f} (1 min) at the start"
    )
    print("| RTT | reference | cold (`--no-cache`) | warm (cache filled) |")
    print("|---:|---:|---:|---:|")
    try:
        for rtt in rtts:
            at = proxies.value[rtt]
            ref, cold, warm, cold_cpu, warm_cpu = [], [], [], [], []
            for _ in range(rounds):
                ref.append(asyncio.run(raw_reference(at, count, user, password)))
                with tempfile.TemporaryDirectory() as home:
                    seconds, _, cpu = popview_list(at, user, password, home, cold=True)
                    cold.append(seconds)
                    cold_cpu.append(cpu)
                    popview_list(at, user, password, home, cold=False)  # fills the cache
                    seconds, _, cpu = popview_list(at, user, password, home, cold=False)
                    warm.append(seconds)
                    warm_cpu.append(cpu)
            r, c, w, cc, wc = (statistics.median(v) for v in (ref, cold, warm, cold_cpu, warm_cpu))
            print(
                f"| {rtt:g} ms | {r:.2f} s | {c:.2f} s ({c / r:.1f}×), CPU {cc:.2f} s "
                f"| {w:.2f} s ({w / r:.1f}×), CPU {wc:.2f} s |"
            )
    finally:
        proxies.stop()
        stop()
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) at the end")
    if big:
        name, port, user, password, stop = _server(big, embedded)
        try:
            ref_s = asyncio.run(raw_reference(port, big, user, password))
            with tempfile.TemporaryDirectory() as home:
                cold_s, rss, cpu = popview_list(port, user, password, home, cold=True)
            print(
                f"\n{big} messages cold at 0 ms ({name}): reference {ref_s:.2f} s, "
                f"popview {cold_s:.2f} s ({cold_s / ref_s:.1f}×, CPU {cpu:.2f} s), "
                f"peak RSS {rss / 2**20:.0f} MB"
            )
        finally:
            stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rtt", type=float, nargs="+", default=[0.0, 100.0], help="ms")
    parser.add_argument("--serial-sample", type=int, default=200)
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the server and the latency proxy as threads of this process (they then "
        "compete with the client for the GIL, as in the first published figures)",
    )
    parser.add_argument("--process", action="store_true", help="whole-process mode (see above)")
    parser.add_argument("--rounds", type=int, default=3, help="--process: median of N")
    parser.add_argument("--big", type=int, default=0, help="--process: N messages cold, RSS")
    parser.add_argument("--embedded", action="store_true", help="--process: not Dovecot")
    args = parser.parse_args()
    if args.process:
        whole_process(args.count, args.rtt, args.rounds, args.big, args.embedded)
        return 0
    child = None
    if args.in_process:
        servers, all_ports = start_servers(args.count, args.rtt)
    else:
        servers = []
        ours, theirs = multiprocessing.Pipe()
        child = multiprocessing.get_context("spawn").Process(
            target=_server_process, args=(args.count, args.rtt, theirs), daemon=True
        )
        child.start()
        all_ports = ours.recv()
    where = "in this process" if args.in_process else "in another process"
    print(f"{args.count} messages; Python {sys.version.split()[0]}; server and proxy {where}")
    try:
        for rtt_ms in args.rtt:
            fast, slow = all_ports[rtt_ms]
            with tempfile.TemporaryDirectory() as tmp:
                store = Store.open(Path(tmp))
                ref = timed(reference(fast, args.count))
                cold = timed(listing(fast, store))
                warm, warm_list = asyncio.run(listing_phases(fast, store))
                store.close()
            sample = args.count if rtt_ms == 0 else min(args.serial_sample, args.count)
            serial = timed(listing(slow, None, limit=sample)) * args.count / sample
            note = "" if sample == args.count else f" (extrapolated from {sample})"
            print(f"\nRTT {rtt_ms:g} ms")
            for name, value in (
                ("reference (raw pipelined TOP)", ref),
                ("cold, pipelined", cold),
                ("warm (cache)", warm),
                ("  of which list_messages() after open()", warm_list),
                ("cold, one at a time" + note, serial),
            ):
                print(f"  {name:<48} {value:8.2f} s   {value / ref:6.2f}x reference")
    finally:
        for server in servers:
            server.stop()
        if child is not None:
            ours.send("stop")
            child.join(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
