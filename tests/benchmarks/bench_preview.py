"""Preview benchmark, run by hand: ``python tests/benchmarks/bench_preview.py [--app]``.

Not part of the test suite (no timed assertions there). Issue 12's targets: a
prefetched row's preview is on screen within one frame of the cursor moving; a
row that was not prefetched within one round trip plus rendering.

* Rendering: :func:`render_preview` of a ``TOP n 20`` answer (the viewer's
  parse + render) for the body kinds a mailbox holds, next to one 60 Hz frame.
* ``--app``: the app itself, under Textual's Pilot, against a real server
  (Dovecot when installed, else the embedded server in its own process) with
  realistic messages behind a latency proxy (``--rtt``, default 100 ms). Timed
  from the key press until the pane shows the new row's preview:
  - ``j`` onto a prefetched row, against ``j`` with the pane hidden (the same
    key, the same list, measured in the same run: the reference);
  - ``pagedown`` onto a row that was not prefetched (a page on, beyond the
    prefetch window), against ``pagedown`` with the pane hidden onto rows never
    painted before (the reference: the key's own repaint of a new page; rows
    painted once are cached, so the same key onto a row whose preview is kept
    is shown too, and is faster): the difference is what waiting for the
    server costs, set against the RTT plus the slowest rendering measured here
    plus one frame (a new preview is painted at the next 60 Hz screen update).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from popview.mail.preview import render_preview

FRAME_MS = 1000 / 60
ROUNDS = 200
HEAD = b"From: A <a@example.org>\r\nSubject: s\r\nDate: Tue, 3 Mar 2026 10:00:00 +0100\r\n"


def top_answers() -> dict[str, bytes]:
    text = "Grüße aus Köln, eine Zeile mit etwas Text darin.\n" * 40
    b64 = base64.encodebytes(text.encode()).replace(b"\n", b"\r\n")
    html = b"<html><body>" + b"<p>Hello <b>there</b> <a href='x'>link</a></p>\r\n" * 20
    multipart = (
        b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + b"plain line\r\n" * 16
    )
    return {
        "plain": HEAD + b"\r\n" + b"a plain line of text\r\n" * 20,
        "base64": HEAD + b"Content-Transfer-Encoding: base64\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + b"\r\n".join(b64.split(b"\r\n")[:20]),
        "quoted-printable": HEAD
        + b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        + b"Caf=E9 cr=E8me soft=\r\n break\r\n" * 10,
        "html only": HEAD + b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html,
        "multipart (cut)": HEAD + multipart,
    }


def rendering() -> float:
    """Print the rendering table; return the slowest kind's mean, in ms."""
    print(f"render_preview of a TOP n 20 answer, mean of {ROUNDS} (one frame = {FRAME_MS:.1f} ms)")
    worst = 0.0
    for name, answer in top_answers().items():
        start = time.perf_counter()
        for _ in range(ROUNDS):
            render_preview(answer, 20)
        each = (time.perf_counter() - start) * 1000 / ROUNDS
        worst = max(worst, each)
        print(f"  {name:<20} {each:7.2f} ms")
    return worst


async def _until(condition: Any, limit: float = 30.0) -> None:
    """Yield to the app until ``condition()`` holds (polls every event-loop turn)."""
    deadline = time.perf_counter() + limit
    while not condition():
        if time.perf_counter() > deadline:
            raise RuntimeError("the app never reached the expected state")
        await asyncio.sleep(0)


class _Painted:
    """Records when a widget is painted (the compositor asks it for its lines),
    and with ``state``, what ``state()`` was at each paint (e.g. the cursor drawn)."""

    def __init__(self, widget: Any, state: Callable[[], object] | None = None) -> None:
        self.times: list[float] = []
        self.states: list[object] = []
        original = widget.render_lines

        def render_lines(crop: Any) -> Any:
            self.times.append(time.perf_counter())
            if state is not None:
                self.states.append(state())
            return original(crop)

        widget.render_lines = render_lines

    def after(self, moment: float) -> bool:
        return bool(self.times) and self.times[-1] >= moment


async def _key_to_screen(
    pilot: Any, key: str, ready: Any, painted: _Painted, start_at: float | None = None
) -> float:
    """Seconds from pressing ``key`` until ``ready()`` holds and ``painted`` painted since."""
    start = time.perf_counter()
    press = asyncio.ensure_future(pilot.press(key))
    await _until(ready)
    state = time.perf_counter()
    await _until(lambda: painted.after(state))
    on_screen = painted.times[-1]
    await press
    return on_screen - start


async def _app_run(port: int, user: str, password: str, rounds: int) -> dict[str, list[float]]:
    from popview.config import Account, Config, General
    from popview.ui.app import PopviewApp
    from popview.ui.widgets.envelope_table import EnvelopeTable
    from popview.ui.widgets.preview_pane import PreviewPane
    from tests.ui_support import wait_listed

    account = Account(name="bench", host="127.0.0.1", port=port, user=user, tls="none")
    app = PopviewApp(Config(general=General(preview_lines=20)), account=account, password=password)
    times: dict[str, list[float]] = {
        "hidden": [],
        "page, hidden": [],
        "page, kept": [],
        "prefetched": [],
        "not prefetched": [],
    }
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_listed(pilot)
        table = app.screen.query_one(EnvelopeTable)
        pane = app.screen.query_one(PreviewPane)
        table_painted, pane_painted = _Painted(table), _Painted(pane)

        def shown() -> bool:
            key = pane.current
            return key is not None and key in pane.cache and "Loading" not in str(pane.render())

        def settled() -> bool:  # the pane's prefetch batches are all answered
            return not pane._pending

        for _ in range(rounds):  # the reference: the same key with the pane hidden
            row = table.cursor
            times["hidden"].append(
                await _key_to_screen(
                    pilot, "j", lambda row=row: table.cursor == row + 1, table_painted
                )
            )
            await pilot.pause(0.05)
        for _ in range(rounds):  # the page key onto rows never painted, the pane hidden
            row = table.cursor
            times["page, hidden"].append(
                await _key_to_screen(
                    pilot, "pagedown", lambda row=row: table.cursor > row, table_painted
                )
            )
            await pilot.pause(0.05)
        await pilot.press("v")
        await _until(lambda: shown() and settled())

        async def page_down(case: str) -> None:
            """Time ``pagedown`` once the pane's batches are answered."""
            await _until(settled)
            await pilot.pause(0.05)
            key = pane.current
            moved = await _key_to_screen(
                pilot, "pagedown", lambda: pane.current != key and shown(), pane_painted
            )
            times[case].append(moved)

        for _ in range(rounds):
            await _until(settled)
            await pilot.pause(0.05)
            row = table.cursor
            times["prefetched"].append(
                await _key_to_screen(
                    pilot, "j", lambda row=row: table.cursor == row + 1 and shown(), pane_painted
                )
            )
        for _ in range(rounds):
            await page_down("not prefetched")
            # The reference: the same key onto the same row, its preview kept now.
            await _until(settled)
            await pilot.press("pageup")
            await page_down("page, kept")
    return times


def app_latency(count: int, rtt_ms: float, rounds: int, embedded: bool) -> None:
    """The preview targets in the app: key to preview on screen (see the module doc)."""
    from tests.benchmarks.bench_listing import _Child, _proxy_process, _server

    worst_render = rendering()
    name, port, user, password, stop = _server(count, embedded)
    proxy = _Child(_proxy_process, port, [rtt_ms])
    try:
        times = asyncio.run(_app_run(proxy.value[rtt_ms], user, password, rounds))
    finally:
        proxy.stop()
        stop()
    ms = {k: statistics.median(v) * 1000 for k, v in times.items()}
    worst = {k: max(v) * 1000 for k, v in times.items()}
    print(f"\nthe app at {rtt_ms:g} ms RTT, {count} realistic messages, {name}, median of {rounds}")
    print("| key | median | worst | against |")
    print("|---|---:|---:|---|")
    print(f"| `j`, pane hidden (reference) | {ms['hidden']:.1f} ms | {worst['hidden']:.1f} ms | |")
    extra = ms["prefetched"] - ms["hidden"]
    print(
        f"| `j` onto a prefetched row | {ms['prefetched']:.1f} ms | {worst['prefetched']:.1f} ms"
        f" | reference + {extra:.1f} ms (one frame = {FRAME_MS:.1f} ms) |"
    )
    print(
        f"| `pagedown` onto rows never painted, pane hidden (reference) | {ms['page, hidden']:.1f}"
        f" ms | {worst['page, hidden']:.1f} ms | |"
    )
    print(
        f"| `pagedown` onto a row whose preview is kept | {ms['page, kept']:.1f} ms"
        f" | {worst['page, kept']:.1f} ms | |"
    )
    waited = ms["not prefetched"] - ms["page, hidden"]
    budget = rtt_ms + worst_render + FRAME_MS
    print(
        f"| `pagedown` onto a row not prefetched | {ms['not prefetched']:.1f} ms"
        f" | {worst['not prefetched']:.1f} ms | reference + {waited:.1f} ms: {waited / budget:.2f}x"
        f" of RTT + the slowest rendering + one frame = {budget:.1f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", action="store_true", help="measure in the app (Pilot)")
    parser.add_argument("--rtt", type=float, default=100.0, help="ms (with --app)")
    parser.add_argument("--count", type=int, default=2000, help="messages (with --app)")
    parser.add_argument("--rounds", type=int, default=15, help="key presses per case")
    parser.add_argument("--embedded", action="store_true", help="not Dovecot")
    args = parser.parse_args()
    if args.app:
        app_latency(args.count, args.rtt, args.rounds, args.embedded)
    else:
        rendering()


if __name__ == "__main__":
    main()
