"""Decision signals in the app: a badge in the list and a line in the viewer (issue 12)."""

from __future__ import annotations

from pathlib import Path

from popview.config import Config
from popview.ui.app import PopviewApp
from tests.fixtures.embedded import POP3_PASSWORD, new_server
from tests.test_ui_features import open_message, static_text
from tests.ui_support import account_for, table_lines, wait_listed

PHISH = (
    b"From: Bank <security@bank.test>\r\nReturn-Path: <x@bounce.evil.test>\r\n"
    b"Authentication-Results: mx.example.net; spf=fail; dkim=none; dmarc=fail\r\n"
    b"X-Spam-Status: Yes, score=8.5 required=5.0\r\nSubject: Verify your account\r\n"
    b"Date: Sat, 16 Mar 2024 12:00:00 +0000\r\n\r\nclick\r\n"
)
NEWS = (
    b"From: News <news@list.test>\r\nList-Id: Weekly <weekly.list.test>\r\n"
    b"Subject: Weekly digest\r\nDate: Fri, 15 Mar 2024 12:00:00 +0000\r\n\r\nnews\r\n"
)
NOTE = (
    b"From: Bob <bob@example.net>\r\nSubject: Lunch\r\n"
    b"Date: Thu, 14 Mar 2024 12:00:00 +0000\r\n\r\nFriday?\r\n"
)


async def test_badge_in_the_list_and_line_in_the_viewer(tmp_path: Path) -> None:
    server = new_server([PHISH, NEWS, NOTE])
    await server.start()
    try:
        app = PopviewApp(Config(), account=account_for(server), password=POP3_PASSWORD)
        async with app.run_test(size=(100, 20)) as pilot:
            await wait_listed(pilot)
            rows = [line for line in table_lines(app) if "Verify" in line or "Weekly" in line]
            # The fourth mark cell (after deleted, read/new and attachment) is the badge.
            assert any(line[3] == "S" and "Verify" in line for line in rows)
            assert any(line[3] == "L" and "Weekly" in line for line in rows)
            plain = [line for line in table_lines(app) if "Lunch" in line]
            assert plain and plain[0][3] == " "  # no signal, no badge
            await open_message(pilot, "uid-0001")
            headers = static_text(app, "#message-headers")
            assert "Signals: dkim=none dmarc=fail spf=fail · spam (score 8.5)" in headers
            assert "Return-Path domain differs from From" in headers
    finally:
        await server.close()


async def test_filter_takes_a_pattern_and_points_at_a_mistake() -> None:
    """`/` with `~x spam` shows the spam row only; a half-typed pattern says where."""
    server = new_server([PHISH, NEWS, NOTE])
    await server.start()
    try:
        app = PopviewApp(Config(), account=account_for(server), password=POP3_PASSWORD)
        async with app.run_test(size=(100, 20)) as pilot:
            await wait_listed(pilot)
            await pilot.press("slash", *"~x spam")
            await pilot.pause()
            rows = [line for line in table_lines(app)[1:] if line.strip()]
            assert len(rows) == 1 and "Verify your account" in rows[0]
            await pilot.press(*" ~z")
            await pilot.pause()
            status = static_text(app, "#status-line")
            assert status.startswith("Pattern: ~z needs a value at column 11")
    finally:
        await server.close()
