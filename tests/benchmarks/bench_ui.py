"""Benchmark: the terminal app stays responsive with big mailboxes.

Run by hand (not a test; nothing here asserts a time)::

    python tests/benchmarks/bench_ui.py [--big 100000] [--stream 10000]
    python tests/benchmarks/bench_ui.py --rtt 100 [--rounds 5]

Everything runs headless under Textual's Pilot at 100x30. Measured in the same run:

* ``key-to-screen latency`` with ``--ref`` (1,000) and ``--big`` (100,000)
  messages in the list: the time from a key press (``j``, ``G``, ``g``, a
  filter keystroke after ``/``, clearing the filter) until the app is idle
  again with the screen refreshed (``pilot.press`` then ``pilot.pause``);
  reported as the median and the worst of the repetitions, and as the ratio
  big / reference;
* ``memory`` of the listing model (envelopes, filter haystack, rows) for both
  sizes, measured with :mod:`tracemalloc`, as a ratio and per message;
  the peak RSS of the process is printed too;
* ``streaming``: the embedded server serves ``--stream`` (10,000) generated
  messages and the app lists them via pipelined ``TOP``; meanwhile ``j`` is
  pressed repeatedly, timed from the key event until the cursor moved (the
  app is never idle while envelopes arrive, so Pilot's idle wait cannot be used), and
  compared with the same presses once the listing is done.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from textual.pilot import Pilot

from popview.config import Account
from popview.demo import sample_messages
from popview.mail.envelope import Envelope
from popview.pop3.predial import DialAhead
from popview.server import MemoryMailbox, Pop3Server, ServerThread
from popview.session.identity import MessageKey
from popview.ui.app import PopviewApp
from popview.ui.list_model import MailboxListing
from popview.ui.screens.mailbox import MailboxScreen
from popview.ui.widgets.envelope_table import EnvelopeTable

SIZE = (100, 30)
_BASE = datetime(2024, 3, 15, tzinfo=UTC)
_NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "鈴木 花子"]
_SUBJECTS = ["Quarterly numbers", "Lunch?", "Re: the build", "Invoice {n}", "Grüße {n}"]


def envelopes(count: int) -> list[Envelope]:
    """``count`` synthetic envelopes, one minute apart, varied senders and subjects."""
    return [
        Envelope(
            number=n,
            uid=f"uid-{n:06d}",
            size=400 + n % 5000,
            from_name=_NAMES[n % len(_NAMES)],
            from_addr=f"person{n % 97}@example.org",
            subject=_SUBJECTS[n % len(_SUBJECTS)].format(n=n),
            date=_BASE - timedelta(minutes=n),
            message_id=f"<{n}@example.org>",
        )
        for n in range(1, count + 1)
    ]


def listing_memory(count: int) -> int:
    """Bytes the listing model holds for ``count`` envelopes (tracemalloc)."""
    envs = envelopes(count)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    listing = MailboxListing()
    listing.add((MessageKey(env.uid or ""), env) for env in envs)
    listing.rebuild()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del listing
    envelope_bytes = _envelope_memory(count)
    return after - before + envelope_bytes


def _envelope_memory(count: int) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    envs = envelopes(count)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del envs
    return after - before


async def timed(pilot: Pilot[Any], *keys: str) -> float:
    """Seconds from pressing ``keys`` until the app is idle with the screen refreshed."""
    start = time.perf_counter()
    await pilot.press(*keys)
    await pilot.pause()
    return time.perf_counter() - start


async def key_latencies(count: int, repeat: int) -> dict[str, list[float]]:
    """Latency of each key with ``count`` messages in the list."""
    app = PopviewApp(None)
    results: dict[str, list[float]] = {}
    async with app.run_test(size=SIZE) as pilot:
        app.listing.add((MessageKey(env.uid or ""), env) for env in envelopes(count))
        app.switch_screen(MailboxScreen(app.listing))
        await pilot.pause()
        await pilot.pause(0.3)
        assert len(app.listing.rows) == count

        def add(name: str, value: float) -> None:
            results.setdefault(name, []).append(value)

        for _ in range(repeat):
            add("j", await timed(pilot, "j"))
            add("G", await timed(pilot, "G"))
            add("g", await timed(pilot, "g"))
            add("/", await timed(pilot, "slash"))
            add("filter keystroke", await timed(pilot, "u"))  # "u": matches most rows
            add("filter keystroke", await timed(pilot, "i"))
            add("filter keystroke", await timed(pilot, "d"))  # "uid": matches none
            add("filter Enter", await timed(pilot, "enter"))
            add("Esc (clear filter)", await timed(pilot, "escape"))
            await timed(pilot, "o")  # the prompt
            add("o f (sort by sender)", await timed(pilot, "f"))
            add("t (threads)", await timed(pilot, "t"))
            add("t (flat)", await timed(pilot, "t"))
            await timed(pilot, "o")  # back to date order
            await timed(pilot, "d")
    return results


async def cursor_step(app: PopviewApp) -> float:
    """Seconds from a ``j`` key event until the table cursor moved (the key was handled;
    the repaint follows on the next screen refresh).

    Unlike :func:`timed` this does not wait for the whole app to be idle (while
    envelopes stream in it never is), only for this key's effect.
    """
    table = app.screen.query_one(EnvelopeTable)
    before = table.cursor
    start = time.perf_counter()
    app.simulate_key("j")
    while table.cursor == before:
        await asyncio.sleep(0.0005)
        if time.perf_counter() - start > 10:
            break
    return time.perf_counter() - start


async def streaming(count: int, presses: int) -> tuple[list[float], list[float], float]:
    """Press ``j`` while ``count`` envelopes stream in, then again once listed."""
    server = Pop3Server(
        MemoryMailbox(sample_messages(count)), users={"demo": "pw"}, host="127.0.0.1"
    )
    during: list[float] = []
    after: list[float] = []
    with ServerThread(server) as thread:
        account = Account(name="bench", host="127.0.0.1", port=thread.port, tls="none", user="demo")
        app = PopviewApp(None, account=account, password="pw")
        async with app.run_test(size=SIZE) as pilot:
            while not isinstance(app.screen, MailboxScreen):
                await pilot.pause(0.01)
            start = time.perf_counter()
            while app.loading or not app.listing.rows:
                if len(app.listing.rows) > len(during) + 1:
                    during.append(await cursor_step(app))
                else:
                    await asyncio.sleep(0.001)
            listed = time.perf_counter() - start
            await pilot.pause(0.3)
            await timed(pilot, "g")
            for _ in range(presses):
                after.append(await cursor_step(app))
    return during, after, listed


async def _painted_key(app: PopviewApp, painted: Any) -> float:
    """Seconds from a ``j`` key event until the table was painted with its cursor
    moved: the first paint that drew the new cursor (``painted`` records the
    cursor at each paint), not the first one after this task noticed the move,
    which a busy loop can run a frame late."""
    table = app.screen.query_one(EnvelopeTable)
    before = table.cursor
    start = time.perf_counter()
    seen = len(painted.times)
    app.simulate_key("j")
    while True:
        for moment, cursor in zip(painted.times[seen:], painted.states[seen:], strict=True):
            if moment >= start and cursor != before:
                return float(moment - start)
        await asyncio.sleep(0.0005)
        if time.perf_counter() - start > 10:
            return 10.0


async def over_a_link(
    port: int, user: str, password: str, cache: Path, presses: int
) -> tuple[float, float, list[float]]:
    """The app against a real server: (start-up, first rows painted, j while streaming).

    Start-up is from creating the app to its first screen painted; the first
    rows are timed from then to the list painted with at least one row.
    """
    from popview.store import Store
    from tests.benchmarks.bench_preview import _Painted

    account = Account(name="bench", host="127.0.0.1", port=port, tls="none", user=user)
    during: list[float] = []
    with Store.open(cache) as store:
        created = time.perf_counter()
        # As `popview --host ...` does, but later: there the dial starts before
        # Textual is imported, about 0.3 s before the app is created.
        dialled = DialAhead("127.0.0.1", port, 5.0, fresh_for=10.0)
        app = PopviewApp(None, account=account, password=password, store=store, dialled=dialled)
        async with app.run_test(size=SIZE) as pilot:
            started = time.perf_counter()
            while not (isinstance(app.screen, MailboxScreen) and app.screen.query(EnvelopeTable)):
                await asyncio.sleep(0.0005)
            table = app.screen.query_one(EnvelopeTable)
            painted = _Painted(table, state=lambda: table.cursor)
            # The first paint that drew rows: the list had rows when the compositor
            # asked the table for its lines (not the last paint before they came).
            drew_rows: list[float] = []
            recorded = table.render_lines

            def render_lines(crop: Any) -> Any:
                if app.listing.rows and not drew_rows:
                    drew_rows.append(time.perf_counter())
                return recorded(crop)

            table.render_lines = render_lines  # type: ignore[method-assign]
            while not drew_rows:
                await asyncio.sleep(0.0005)
            first = drew_rows[0]
            while app.loading and len(during) < presses:
                during.append(await _painted_key(app, painted))
                await asyncio.sleep(0.05)
            while app.loading:
                await pilot.pause(0.05)
    return started - created, first - started, during


async def link_mode(
    count: int, rtt_ms: float, presses: int, embedded: bool, rounds: int = 1
) -> None:
    """Issue 10's app targets at ``rtt_ms``: first rows, and keys while envelopes stream.

    Each round starts from an empty cache (cold), then runs again on the cache it
    filled (warm); with several rounds the medians over them are printed last.
    """
    import tempfile

    from tests.benchmarks.bench_listing import _Child, _proxy_process, _server

    name, port, user, password, stop = _server(count, embedded)
    proxy = _Child(_proxy_process, port, [rtt_ms])
    rtt = rtt_ms / 1000
    labels = ("cold (empty cache)", "warm (cache filled)")
    firsts: dict[str, list[float]] = {label: [] for label in labels}
    keys: dict[str, list[float]] = {label: [] for label in labels}
    try:
        print(f"the app at {rtt_ms:g} ms RTT, {count:,} realistic messages, {name}")
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as folder:
                cache = Path(folder) / "cache"
                for label in labels:
                    start, first, during = await over_a_link(
                        proxy.value[rtt_ms], user, password, cache, presses
                    )
                    firsts[label].append(first)
                    keys[label].extend(during)
                    print(
                        f"  {label}: start-up {ms(start)}, first rows painted {ms(first)} after"
                        f" it = {first / rtt:.1f} RTT (target: 4 RTT)"
                    )
                    if during:
                        med, worst = summary(during)
                        print(
                            f"    j while streaming, to the list painted ({len(during)} presses):"
                            f" median {ms(med)}, worst {ms(worst)} (target: under 50 ms)"
                        )
        if rounds > 1:
            print(f"medians of {rounds} rounds:")
            for label in labels:
                first = statistics.median(firsts[label])
                line = f"  {label}: first rows {ms(first)} = {first / rtt:.1f} RTT"
                presses = keys[label]
                if presses:
                    med, worst = summary(presses)
                    line += f"; j ({len(presses)} presses) median {ms(med)}"
                    if len(presses) >= 10:
                        line += f", 90th percentile {ms(statistics.quantiles(presses, n=10)[-1])}"
                    line += f", worst {ms(worst)}"
                print(line)
    finally:
        proxy.stop()
        stop()


def summary(values: Iterable[float]) -> tuple[float, float]:
    data = sorted(values)
    return statistics.median(data), data[-1]


def ms(value: float) -> str:
    return f"{value * 1000:8.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", type=int, default=1_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--stream", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--rtt",
        type=float,
        default=None,
        help="ms: only the app against a real server behind a latency proxy (issue 10's targets)",
    )
    parser.add_argument("--embedded", action="store_true", help="with --rtt: not Dovecot")
    parser.add_argument("--rounds", type=int, default=1, help="with --rtt: cold+warm rounds")
    args = parser.parse_args()
    if args.rtt is not None:
        await link_mode(args.stream, args.rtt, 20, args.embedded, args.rounds)
        return

    print(f"key-to-screen latency (median / worst of {args.repeat}), Pilot, 100x30")
    reference = await key_latencies(args.ref, args.repeat)
    big = await key_latencies(args.big, args.repeat)
    print(f"{'key':22} {args.ref:>8,} msgs {'':>10} {args.big:>8,} msgs {'':>10}  ratio(median)")
    for key in reference:
        ref_med, ref_max = summary(reference[key])
        big_med, big_max = summary(big[key])
        print(
            f"{key:22} {ms(ref_med)} {ms(ref_max)}  {ms(big_med)} {ms(big_max)}  "
            f"{big_med / ref_med:6.1f}x"
        )

    ref_mem = listing_memory(args.ref)
    big_mem = listing_memory(args.big)
    print("\nmemory of the listing (envelopes + filter haystack + rows), tracemalloc")
    print(f"  {args.ref:>8,} msgs: {ref_mem / 1e6:8.2f} MB ({ref_mem / args.ref:,.0f} B/msg)")
    print(f"  {args.big:>8,} msgs: {big_mem / 1e6:8.2f} MB ({big_mem / args.big:,.0f} B/msg)")
    print(f"  ratio: {big_mem / ref_mem:.1f}x for {args.big / args.ref:.0f}x the messages")

    during, after, listed = await streaming(args.stream, 20)
    print(
        f"\nstreaming {args.stream:,} envelopes from the embedded server (listed in {listed:.1f} s)"
    )
    if during:
        d_med, d_max = summary(during)
        a_med, a_max = summary(after)
        print(f"  j while streaming ({len(during)} presses): median {ms(d_med)}, worst {ms(d_max)}")
        print(f"  j once listed     ({len(after)} presses): median {ms(a_med)}, worst {ms(a_max)}")
        print(
            f"  ratio (median): {d_med / a_med:.1f}x, worst while streaming / median idle: "
            f"{d_max / a_med:.1f}x"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of this process: {peak:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
