"""The preview pane: first body lines by ``TOP n k``, never ``RETR`` (issue 12).

Driven by Pilot against the embedded server; every check is on what the pane
shows or on the commands the server received.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from textual.pilot import Pilot

from popview.config import Config, General
from popview.server import Fault, Pop3Server
from popview.ui.app import PopviewApp
from popview.ui.widgets.preview_pane import PreviewPane
from tests.fixtures.embedded import POP3_PASSWORD, new_server
from tests.test_ui_app import screen_plain
from tests.ui_support import account_for, wait_for, wait_listed


def message(n: int, headers: str, body: bytes) -> bytes:
    return (
        f"From: Sender {n} <s{n}@example.org>\r\nSubject: Message {n}\r\n"
        f"Date: {10 + 10 - n:02d} Mar 2024 12:00:00 +0000\r\n{headers}\r\n"
    ).encode() + body


PLAIN = message(1, "", b"".join(b"plain line %d\r\n" % i for i in range(1, 41)))
BASE64 = message(
    2,
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n",
    base64.encodebytes("Grüße aus Köln\nzweite Zeile\n".encode() * 30).replace(b"\n", b"\r\n"),
)
QUOTED = message(
    3,
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n",
    b"Caf=E9 cr=E8me, soft=\r\n break\r\n" * 5,
)
HTML = message(
    4,
    "Content-Type: text/html; charset=utf-8\r\n",
    b"<html><head><style>p{}</style></head><body><p>Hello <b>HTML</b> only</p>"
    b"<p>\x1b[31m<a href='http://x.test'>link</a></p></body></html>\r\n",
)
SHORT = message(5, "", b"one line only [b]not markup[/b]\r\n")
MESSAGES = [PLAIN, BASE64, QUOTED, HTML, SHORT]


def pane_text(app: PopviewApp) -> str:
    return str(app.screen.query_one(PreviewPane).render())


def top_commands(server: Pop3Server, lines: int) -> list[str]:
    return [c for c in server.commands() if c.startswith("TOP ") and c.endswith(f" {lines}")]


async def open_preview(pilot: Pilot[Any]) -> PopviewApp:
    app = pilot.app
    assert isinstance(app, PopviewApp)
    await wait_listed(pilot)
    await pilot.press("v")
    await wait_for(pilot, lambda: "Loading" not in pane_text(app))
    return app


async def run_app(server: Pop3Server, lines: int = 20) -> PopviewApp:
    config = Config(general=General(preview_lines=lines))
    return PopviewApp(config, account=account_for(server), password=POP3_PASSWORD)


class TestPreview:
    async def test_top_20_one_batch_no_retr_and_every_encoding(self) -> None:
        server = new_server(list(MESSAGES))
        await server.start()
        try:
            app = await run_app(server)
            async with app.run_test(size=(100, 40)) as pilot:
                app = await open_preview(pilot)
                text = pane_text(app)
                assert "plain line 1\n" in text and "plain line 20" in text
                assert "plain line 21" not in text
                # The row under the cursor and its neighbours: one pipelined batch.
                assert top_commands(server, 20) == [f"TOP {n} 20" for n in range(1, 6)]
                await pilot.press("down")
                await pilot.pause()
                assert pane_text(app).startswith("Grüße aus Köln\nzweite Zeile")
                await pilot.press("down")
                await pilot.pause()
                assert pane_text(app).startswith("Café crème, soft break")
                await pilot.press("down")
                await pilot.pause()
                shown = pane_text(app)
                assert shown.startswith("Hello HTML only") and "\x1b" not in shown
                await pilot.press("down")
                await pilot.pause()
                assert pane_text(app) == "one line only [b]not markup[/b]"  # Text, not markup
                # Moving over prefetched rows asked nothing more; nothing was downloaded.
                assert len(top_commands(server, 20)) == 5
                assert not [c for c in server.commands() if c.startswith("RETR")]
                assert "v Preview" in screen_plain(app).splitlines()[-1]  # the footer
                await pilot.press("v")
                assert not app.screen.query_one(PreviewPane).display
                await pilot.press("question_mark")
                await wait_for(pilot, lambda: "mailbox.preview" in screen_plain(app))
                assert "TOP, no download" in screen_plain(app)
        finally:
            await server.close()

    async def test_preview_lines_setting(self) -> None:
        server = new_server([PLAIN])
        await server.start()
        try:
            app = await run_app(server, lines=3)
            async with app.run_test(size=(100, 30)) as pilot:
                app = await open_preview(pilot)
                assert pane_text(app) == "plain line 1\nplain line 2\nplain line 3"
                assert top_commands(server, 3) == ["TOP 1 3"]
        finally:
            await server.close()


class TestMisbehavingTop:
    """A TOP that sends more, fewer or no lines, or refuses: the pane copes."""

    async def check(self, fault: Fault, expected: str) -> None:
        server = new_server([PLAIN], faults=[fault])
        await server.start()
        try:
            app = await run_app(server, lines=5)
            async with app.run_test(size=(100, 30)) as pilot:
                app = await open_preview(pilot)
                assert pane_text(app) == expected
                assert not [c for c in server.commands() if c.startswith("RETR")]
        finally:
            await server.close()

    async def test_whole_message_instead_of_five_lines(self) -> None:
        whole = PLAIN.replace(b"\r\n.", b"\r\n..")
        fault = Fault(verb="TOP", skip=1, replace=b"+OK\r\n" + whole + b".\r\n")
        await self.check(fault, "\n".join(f"plain line {i}" for i in range(1, 6)))

    async def test_fewer_lines(self) -> None:
        head = PLAIN.split(b"\r\n\r\n")[0]
        fault = Fault(
            verb="TOP", skip=1, replace=b"+OK\r\n" + head + b"\r\n\r\nplain line 1\r\n.\r\n"
        )
        await self.check(fault, "plain line 1")

    async def test_no_body_lines(self) -> None:
        head = PLAIN.split(b"\r\n\r\n")[0]
        fault = Fault(verb="TOP", skip=1, replace=b"+OK\r\n" + head + b"\r\n.\r\n")
        await self.check(fault, "(the server sent no body lines for this message)")

    async def test_refused(self) -> None:
        fault = Fault(verb="TOP", skip=1, err_code="")
        await self.check(
            fault,
            "No preview: the server refused TOP for this message (a message marked for "
            "deletion cannot be read until it is unmarked).",
        )


async def test_marked_message_then_unmarked_is_previewed_again() -> None:
    """DELE makes the server refuse TOP; after `u` (RSET) the preview is asked again."""
    server = new_server([PLAIN, SHORT])
    await server.start()
    try:
        app = await run_app(server)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_listed(pilot)
            await pilot.press("d", "up")  # mark message 1 before any preview
            await wait_for(pilot, lambda: "DELE 1" in server.commands())
            await pilot.press("v")
            await wait_for(pilot, lambda: "refused TOP" in pane_text(app))
            await pilot.press("u")
            await wait_for(pilot, lambda: "RSET" in server.commands())
            await pilot.press("down", "up")
            await wait_for(pilot, lambda: pane_text(app).startswith("plain line 1"))
    finally:
        await server.close()


class TestFirstRowFirst:
    """The row under the cursor is shown after its own reply, not after the whole batch."""

    @pytest.mark.parametrize(
        "first",
        [
            pytest.param(PLAIN, id="usual size"),
            # Past INLINE_RENDER_BYTES: rendered in a thread, still ahead of the batch.
            pytest.param(
                message(
                    1,
                    "",
                    b"".join(b"plain line %d " % i + b"x" * 4000 + b"\r\n" for i in range(1, 41)),
                ),
                id="large",
            ),
        ],
    )
    async def test_shown_while_the_rest_of_the_batch_is_held(self, first: bytes) -> None:
        release = asyncio.Event()
        # skip=1: the listing's TOP 2 0 passes; the preview batch's TOP 2 20 is held.
        held = Fault(verb="TOP", arg="2", skip=1, hold=release)
        server = new_server([first, *MESSAGES[1:]], faults=[held])
        await server.start()
        try:
            app = await run_app(server)
            async with app.run_test(size=(100, 40)) as pilot:
                await wait_listed(pilot)
                await pilot.press("v")
                await wait_for(pilot, lambda: pane_text(app).startswith("plain line 1"))
                # Shown while the server still holds the second reply of the batch.
                assert held.fired == 1 and not release.is_set()
                release.set()
                await pilot.press("down")
                await wait_for(
                    pilot, lambda: pane_text(app).startswith("Grüße aus Köln\nzweite Zeile")
                )
                # The rest of the batch came in the same flight: nothing asked again.
                assert top_commands(server, 20) == [f"TOP {n} 20" for n in range(1, 6)]
        finally:
            release.set()
            await server.close()
