"""Soak: one MailboxSession kept open against the private Dovecot for an hour.

Run by hand (not part of the suite; nothing here is timed)::

    python tests/benchmarks/soak_dovecot.py [--minutes 60]
        [--idle-timeout 15] [--keepalive 5] [--mail-every 30] [--away-every 120]

Dovecot's POP3 autologout is fixed at 10 minutes, so the link goes through a
loopback proxy that closes any connection idle for ``--idle-timeout`` seconds
without a word, as a server's autologout does (RFC 1939 §3, HARDENING E.51).
Meanwhile:

* ``keepalive()`` runs every second (NOOP after ``--keepalive`` idle seconds),
  which keeps the connection alive while the user is "here";
* new mail is delivered to the Maildir every ``--mail-every`` seconds, and the
  user refreshes, lists, reads, marks and unmarks now and then;
* every ``--away-every`` seconds the user is "away" (no keepalive) for longer
  than the idle timeout: the proxy drops the link and the next action must
  reconnect and re-apply every mark by UIDL.

It prints each reconnect with what happened to the marks, and at the end
commits and checks the Maildir: exactly the marked messages are gone. Exit
status 1 if a mark was lost or a wrong file deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from popview.config import Account
from popview.errors import PopviewError
from popview.session import MailboxSession
from tests.fixtures.dovecot import DovecotServer, _find_dovecot


class IdleProxy:
    """A loopback TCP proxy closing connections idle for ``idle`` seconds."""

    def __init__(self, target_port: int, idle: float) -> None:
        self.target_port = target_port
        self.idle = idle
        self.connections = 0
        self.cut = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await asyncio.sleep(1.0)  # let the handlers notice and abort their sockets

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        last = [time.monotonic()]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                last[0] = time.monotonic()
                dst.write(data)
                await dst.drain()

        tasks = [
            asyncio.create_task(pipe(reader, up_writer)),
            asyncio.create_task(pipe(up_reader, writer)),
        ]
        try:
            while not any(t.done() for t in tasks):
                await asyncio.sleep(0.5)
                if time.monotonic() - last[0] > self.idle:
                    self.cut += 1
                    break
        finally:
            for task in tasks:
                task.cancel()
            for w in (writer, up_writer):
                w.transport.abort()


def message(n: int) -> bytes:
    return (
        f"From: Soak <soak@example.org>\nTo: alice@example.org\nSubject: soak {n}\n"
        f"Message-ID: <soak-{n}@example.org>\n\nMessage number {n}.\n"
    ).encode()


async def soak(args: argparse.Namespace, dovecot: DovecotServer) -> int:
    user = dovecot.add_user()
    dovecot.seed(user.name, [message(n) for n in range(1, 6)])
    delivered = 5
    proxy = IdleProxy(dovecot.pop3_port, args.idle_timeout)
    await proxy.start()
    account = Account(
        name="soak", host="127.0.0.1", port=proxy.port, user=user.name, tls="none", timeout=30.0
    )
    session = MailboxSession(account, user.password, keepalive_interval=args.keepalive)
    rng = random.Random(args.seed)
    marked: set[str] = set()
    reconnects = lost = 0
    await session.open()
    start = time.monotonic()
    end = start + args.minutes * 60
    next_mail = start + args.mail_every
    next_away = start + args.away_every
    away_until = 0.0
    last_report = session.last_reconnect
    while time.monotonic() < end:
        await asyncio.sleep(1.0)
        now = time.monotonic()
        if now >= next_mail:
            delivered += 1
            dovecot.seed(user.name, [message(delivered)], subdir="new")
            next_mail = now + args.mail_every
        if now >= next_away:
            away_until = now + args.idle_timeout + 5
            next_away = now + args.away_every
            print(f"[{now - start:7.0f}s] user away for {args.idle_timeout + 5:.0f}s", flush=True)
        if now < away_until:
            continue
        marked_before = set(marked)
        try:
            await session.keepalive()
            if rng.random() < 0.15:
                await session.refresh()
                keys: list[str] = []
                async for update in session.list_messages():
                    keys.extend(env.uid for env in update.envelopes if env.uid)
                choice = rng.choice(keys) if keys else None
                if choice is not None and choice not in marked and rng.random() < 0.5:
                    await session.mark(choice)
                    marked.add(choice)
                elif marked and rng.random() < 0.3:
                    gone = rng.choice(sorted(marked))
                    await session.unmark(gone)
                    marked.discard(gone)
                elif choice is not None and choice not in marked:
                    await session.fetch(choice)  # a DELE'd message cannot be RETR'd
        except PopviewError as exc:
            print(
                f"[{now - start:7.0f}s] error (next action reconnects): {exc.title}: {exc.message}",
                flush=True,
            )
        report = session.last_reconnect
        if report is not None and report is not last_report:
            reconnects += 1
            missing = marked_before - set(report.reapplied) - set(report.vanished)
            lost += len(missing)
            print(
                f"[{now - start:7.0f}s] reconnect #{reconnects}: {len(report.reapplied)} mark(s) "
                f"re-applied, {len(report.vanished)} vanished, missing {sorted(missing)}; "
                f"pending {len(session.marks)}, proxy cut {proxy.cut} idle connection(s)",
                flush=True,
            )
            last_report = report
        if session.marks != frozenset(marked):
            print(f"MARKS DIVERGED: session {sorted(session.marks)} vs user {sorted(marked)}")
            lost += 1
    before = {p.name.split(":")[0] for p in dovecot.files(user.name)}
    result = await session.commit(reconnect=False)
    await proxy.close()
    after = {p.name.split(":")[0] for p in dovecot.files(user.name)}
    removed = len(before) - len(after)
    print(
        f"done: {args.minutes} min, {proxy.connections} connections, {reconnects} reconnects with "
        f"marks re-applied, {proxy.cut} idle cuts, {delivered} messages delivered; commit "
        f"{result.status}: {len(result.deleted)} deleted, {removed} files removed "
        f"(marked {len(marked)})"
    )
    ok = lost == 0 and removed == len(marked) and set(result.deleted) == marked
    print("OK: every mark preserved, exactly the marked messages deleted" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--idle-timeout", type=float, default=15.0, help="proxy autologout (s)")
    parser.add_argument(
        "--keepalive", type=float, default=5.0, help="NOOP after this idle time (s)"
    )
    parser.add_argument("--mail-every", type=float, default=30.0)
    parser.add_argument("--away-every", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    executable = _find_dovecot()
    if executable is None:
        print("dovecot is not installed", file=sys.stderr)
        return 2
    dovecot = DovecotServer(executable)
    dovecot.start()
    try:
        return asyncio.run(soak(args, dovecot))
    finally:
        dovecot.stop()


if __name__ == "__main__":
    sys.exit(main())
