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
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import threading
import time
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
    args = parser.parse_args()
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
