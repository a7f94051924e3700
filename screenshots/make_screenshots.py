"""Make an SVG of each screen from the demo mailbox: ``python screenshots/make_screenshots.py``.

Runs the real app headless at 100x30 (and the list and viewer at 80 and 120
columns too) against the embedded server with the sample mailbox, in UTC, and
writes the SVGs next to this script.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from popview.config import Config, Rule
from popview.demo import SAMPLE_COUNT, start_demo
from popview.server import Fault
from popview.ui.app import PopviewApp

OUT = Path(__file__).resolve().parent
SIZE = (100, 30)


async def until(pilot: Pilot[Any], condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await pilot.pause(0.02)
    raise RuntimeError("the app did not reach the expected state")


async def listed(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, PopviewApp)
    await until(pilot, lambda: not app.loading and bool(app.listing.rows))
    await pilot.pause(0.3)


async def open_uid(pilot: Pilot[Any], uid: str) -> None:
    await listed(pilot)
    app = pilot.app
    assert isinstance(app, PopviewApp)
    app.screen.query_one("#envelopes").move_to(app.listing.index_of(uid))  # type: ignore[attr-defined]
    await pilot.press("enter")
    await until(pilot, lambda: getattr(app.screen, "forms", None) is not None)
    await pilot.pause(0.2)


async def shot(
    name: str,
    steps: Callable[[Pilot[Any]], Awaitable[None]],
    demo: bool = True,
    faults: list[Fault] | None = None,
    count: int = SAMPLE_COUNT,
    size: tuple[int, int] = SIZE,
    config: Config | None = None,
) -> None:
    with start_demo(count, faults=faults) as server:
        if demo:
            app = PopviewApp(
                config,
                account=server.account,
                password=server.password,
                server_label=server.label,
            )
        else:
            app = PopviewApp(None)
        async with app.run_test(size=size) as pilot:
            await steps(pilot)
            app.save_screenshot(str(OUT / f"{name}.svg"))
    print(f"wrote {name}.svg")


async def nothing(pilot: Pilot[Any]) -> None:
    await pilot.pause(0.2)


#: The loading shot lists a bigger sample: the engine hands envelopes over in
#: batches of 250 TOP replies, so 300 messages would show no intermediate state.
LOADING_COUNT = 1000
#: Rows on screen at least, when the listing stalls (a batch handed over).
LOADED_BEFORE_STALL = 250
#: Hold the 761st TOP reply (the third batch is then incomplete) while the
#: screenshot is taken.
STALL = [Fault(verb="TOP", skip=760, times=1, delay=8.0)]


async def loading(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, PopviewApp)
    await until(pilot, lambda: len(app.listing.rows) >= LOADED_BEFORE_STALL)
    bar = app.screen.query_one("#load-progress")
    await until(pilot, lambda: bar.display)
    await pilot.pause(0.3)


async def listed_mailbox(pilot: Pilot[Any]) -> None:
    await listed(pilot)


async def marks_filter(pilot: Pilot[Any]) -> None:
    await listed(pilot)
    await pilot.press("slash", *"review", "enter", "d", "d")
    await pilot.pause(0.3)


async def preview(pilot: Pilot[Any]) -> None:
    await listed(pilot)
    await pilot.press("down", "down", "v")
    await pilot.pause(0.5)


async def viewer_html(pilot: Pilot[Any]) -> None:
    await open_uid(pilot, "uid-0293")
    await pilot.press("b")
    await pilot.pause(0.2)


async def viewer_attachments(pilot: Pilot[Any]) -> None:
    await open_uid(pilot, "uid-0292")


async def confirm(pilot: Pilot[Any]) -> None:
    await listed(pilot)
    await pilot.press("d", "d", "dollar_sign")
    await pilot.pause(0.3)


async def quit_dialog(pilot: Pilot[Any]) -> None:
    await listed(pilot)
    await pilot.press("d", "q")
    await pilot.pause(0.3)


async def help_screen(pilot: Pilot[Any]) -> None:
    await listed(pilot)
    await pilot.press("question_mark")
    await pilot.pause(0.3)


async def server_info(pilot: Pilot[Any]) -> None:
    await listed(pilot)
    await pilot.press("i")
    await pilot.pause(0.3)


async def threads(pilot: Pilot[Any]) -> None:
    await listed(pilot)
    await pilot.press("t", "slash", *"tabs", "enter")
    await pilot.pause(0.3)


async def marks_pending(pilot: Pilot[Any]) -> None:
    await listed(pilot)
    await pilot.press("d", "d", "j", "t")
    await pilot.pause(0.3)


async def viewer_search(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, PopviewApp)
    await listed(pilot)
    uid = next(
        u for u, env in app.listing.envelopes.items() if env.subject.startswith("Re: Proposal")
    )
    await open_uid(pilot, uid)
    await pilot.press("slash", *"the", "enter", "n")
    await pilot.pause(0.3)


async def sort_prompt(pilot: Pilot[Any]) -> None:
    await listed(pilot)
    await pilot.press("O")
    await pilot.pause(0.3)


#: Two [[rules]] over the demo mailbox: the newsletter and the shipping notices.
RULES = Config(
    rules=(
        Rule(name="newsletter", pattern='~f "Terminal Times"'),
        Rule(name="shipping", pattern="~s shipped"),
    )
)


async def rules_marked(pilot: Pilot[Any]) -> None:
    app = pilot.app
    assert isinstance(app, PopviewApp)
    await listed(pilot)
    await until(pilot, lambda: "Rules marked" in str(app.screen.query_one("#status-line").render()))
    await until(pilot, lambda: not app.pending_marks)
    await pilot.press("j", "j", "d")
    await until(pilot, lambda: not app.pending_marks)
    await pilot.press("k", "k")
    await pilot.pause(0.3)


async def rules_commit(pilot: Pilot[Any]) -> None:
    await rules_marked(pilot)
    await pilot.press("dollar_sign")
    await pilot.pause(0.5)


async def main() -> None:
    await shot("login", nothing, demo=False)
    await shot("mailbox-loading", loading, faults=STALL, count=LOADING_COUNT)
    await shot("mailbox", listed_mailbox)
    await shot("mailbox-marks-filter", marks_filter)
    await shot("mailbox-threads", threads)
    await shot("mailbox-preview", preview)
    await shot("mailbox-rules", rules_marked, config=RULES)
    await shot("confirm-commit-rules", rules_commit, config=RULES)
    await shot("viewer-html", viewer_html)
    await shot("viewer-attachments", viewer_attachments)
    await shot("confirm-commit", confirm)
    await shot("confirm-quit", quit_dialog)
    await shot("help", help_screen)
    await shot("server-info", server_info)
    await shot("mailbox-sort-prompt", sort_prompt)
    await shot("viewer-search", viewer_search)
    for width in (80, 120):
        await shot(f"mailbox-{width}", marks_pending, size=(width, 30))
        await shot(f"viewer-search-{width}", viewer_search, size=(width, 30))


if __name__ == "__main__":
    os.environ["TZ"] = "UTC"
    time.tzset()
    asyncio.run(main())
