"""The app when an account's TLS settings are unusable, and what its server info shows."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from popview.pop3.protocol import parse_capa
from popview.server import Fault
from popview.session.types import SessionInfo
from popview.ui.app import PopviewApp
from popview.ui.screens.login import LoginScreen
from popview.ui.screens.server_info import info_table
from tests.fixtures.embedded import POP3_PASSWORD, new_server
from tests.test_ui_app import SIZE, static_text
from tests.ui_support import account_for, table_lines, wait_for, wait_listed


class TestBadCaFile:
    async def test_a_non_pem_ca_file_is_named_not_cannot_reach(self, tmp_path: Path) -> None:
        """HARDENING F.64: the login screen names the file and says what is wrong;
        never "Cannot reach the server", never a crash; nothing is sent."""
        server = new_server([])
        await server.start()
        try:
            cafile = tmp_path / "company-ca.pem"
            cafile.write_text("this is not a certificate\n")
            account = replace(account_for(server), tls="implicit", cafile=cafile)
            app = PopviewApp(None, account=account, password=POP3_PASSWORD)  # type: ignore[arg-type]
            async with app.run_test(size=SIZE) as pilot:
                status = "#login-status"
                await wait_for(pilot, lambda: "error" in app.screen.query_one(status).classes)
                assert isinstance(app.screen, LoginScreen)
                text = static_text(app, status)
                assert text.startswith("Bad CA file: ")
                assert str(cafile) in text and "no PEM certificate" in text
                assert "reach" not in text
            assert server.sessions_opened == 0
        finally:
            await server.close()


class TestServerInfo:
    def test_sasl_is_what_was_offered_before_login(self) -> None:
        """Dovecot drops SASL from its CAPA after login: the screen shows the
        mechanisms offered when they mattered."""
        before = parse_capa(["USER", "SASL PLAIN LOGIN", "UTF8", "PIPELINING"])
        after = parse_capa(["USER", "PIPELINING"])
        info = SessionInfo(
            account_key="k", host="h", port=995, tls_mode="none", encrypted=False, tls=None,
            capabilities=after, implementation=None, greeting="", message_count=0,
            total_size=0, offered_before_login=before,
        )  # fmt: skip
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(info_table(info))
        text = console.export_text()
        assert re.search(r"SASL\s+PLAIN LOGIN", text), text
        assert re.search(r"UTF8\s+yes", text), text


class TestUnknownSize:
    async def test_a_bad_list_row_shows_a_question_mark(self) -> None:
        """HARDENING F.60 in the app: the message is listed, its size "?"."""
        messages = [
            f"From: s{n}@example.org\r\nSubject: Row {n}\r\n\r\nbody\r\n".encode() for n in (1, 2)
        ]
        bad = Fault(verb="LIST", times=None, replace=b"+OK\r\n1 %d\r\n2 -7\r\n.\r\n" % 37)
        server = new_server(messages, faults=[bad])
        await server.start()
        try:
            app = PopviewApp(None, account=account_for(server), password=POP3_PASSWORD)  # type: ignore[arg-type]
            async with app.run_test(size=SIZE) as pilot:
                await wait_listed(pilot)
                rows = {
                    line.split("Row ")[1][0]: line for line in table_lines(app) if "Row " in line
                }
                assert sorted(rows) == ["1", "2"]
                assert rows["2"].rstrip().endswith("?"), rows["2"]
                assert rows["1"].rstrip().endswith("37"), rows["1"]
        finally:
            await server.close()


class TestHeaderBeforeItIsComposed:
    async def test_info_given_before_the_header_composed_is_shown(self) -> None:
        """The session can open before the mailbox header has composed its children
        (seen at 100 ms RTT with a warm cache): the info is kept and shown, no crash."""
        from textual.app import App
        from textual.widgets import Static

        from popview.ui.widgets.mailbox_header import MailboxHeader

        info = SessionInfo(
            account_key="k", host="mail.example.org", port=110, tls_mode="none",
            encrypted=False, tls=None, capabilities=parse_capa(["USER"]), implementation=None,
            greeting="", message_count=3, total_size=300,
        )  # fmt: skip
        app: App[None] = App()
        async with app.run_test(size=(100, 5)) as pilot:
            header = MailboxHeader(id="mailbox-header")
            header.update_info("work", info)  # before it is mounted, let alone composed
            header.update_counts(3, 300, 3, 0)
            await app.mount(header)
            await pilot.pause()
            shown = {
                part: str(header.query_one(f"#header-{part}", Static).render())
                for part in ("account", "tls", "counts")
            }
        assert shown["account"] == "work  mail.example.org:110"
        assert shown["tls"].strip() == "UNENCRYPTED"
        assert shown["counts"].startswith("3 messages")
