"""The app's wiring to the local cache, certificate trust, ``-a NAME``, and the viewer's
save/open actions, driven by Pilot against the embedded server.

Each test asserts what the user sees, what the server received, or the files written.
"""

from __future__ import annotations

import ssl
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Input, Static

from popview.config import Account, Config, General
from popview.demo import sample_messages
from popview.pop3.tls import normalize_fingerprint
from popview.server import MemoryMailbox, Pop3Server
from popview.store import Store
from popview.ui.app import PopviewApp
from popview.ui.screens.dialogs import ConfirmScreen, PasswordScreen, SaveMessageScreen
from popview.ui.screens.login import LoginScreen
from popview.ui.screens.message import MessageScreen
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER, new_server
from tests.ui_support import (
    account_for,
    open_message,
    table_lines,
    wait_for,
    wait_listed,
)

SIZE = (100, 30)


def static_text(app: PopviewApp, selector: str) -> str:
    """The plain text of a Static on the current screen."""
    content = app.screen.query_one(selector, Static).render()
    return content.plain if isinstance(content, Text) else str(content)


NEW_MESSAGE = (
    b"From: Newcomer <new@x.example>\r\nSubject: Arrived between visits\r\n"
    b"Date: Sat, 16 Mar 2024 12:00:00 +0000\r\nMessage-ID: <new@x.example>\r\n\r\nhello\r\n"
)


@pytest.fixture
async def server(make_pop3_server: Callable[..., Awaitable[Pop3Server]]) -> Pop3Server:
    """Forty sample messages on a loopback server (plain POP3)."""
    return await make_pop3_server(mailbox=MemoryMailbox(sample_messages(40)))


async def visit(server: Pop3Server, cache: Path) -> tuple[list[str], list[str]]:
    """Run the app once with the cache in ``cache``; return its table lines and commands."""
    store = Store.open(cache)
    before = server.sessions_opened
    try:
        app = PopviewApp(None, account=account_for(server), password=POP3_PASSWORD, store=store)
        async with app.run_test(size=SIZE) as pilot:
            await wait_listed(pilot)
            lines = table_lines(app)
            await pilot.press("q")
            await wait_for(pilot, lambda: app.return_code is not None)
    finally:
        store.close()
    sessions = range(before + 1, server.sessions_opened + 1)
    commands = [c for s in sessions for c in server.commands(s)]
    return lines, commands


class TestCache:
    async def test_second_visit_lists_from_cache_and_marks_new(
        self, server: Pop3Server, tmp_path: Path
    ) -> None:
        """First visit sends TOP for every message; the second sends TOP only for the one
        added in between, lists the rest from the cache, and marks only that one "N" (the
        others, unread, "O" as in mutt)."""
        cache = tmp_path / "cache"
        lines, commands = await visit(server, cache)
        assert sum(c.startswith("TOP ") for c in commands) == 40
        assert not any(line[1:2] == "N" for line in lines[1:])  # first visit: nothing "new"
        server.mailbox.add(NEW_MESSAGE)  # type: ignore[attr-defined]

        lines, commands = await visit(server, cache)
        assert [c for c in commands if c.startswith("TOP ")] == ["TOP 41 0"]
        assert "Arrived between visits" in lines[1] and lines[1][1] == "N"
        rows = [line for line in lines[2:] if line.strip()]
        assert rows and all(line[1] == "O" for line in rows)

        lines, commands = await visit(server, cache)  # seen now: no longer "new"
        assert not any(c.startswith("TOP ") for c in commands)
        assert lines[1][1] == "O"  # listed before, still unread


def write_config(path: Path, server: Pop3Server, cache: Path) -> Path:
    """A config file with one plain-POP3 account "work" for ``server`` (no password)."""
    path.write_text(
        f'[general]\ncache_dir = "{cache}"\n\n'
        f'[accounts.work]\nhost = "127.0.0.1"\nport = {server.port}\ntls = "none"\n'
        f'user = "{POP3_USER}"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


class TestAccountOption:
    """``popview -a work``: straight to the mailbox, asking only for what is missing."""

    async def test_password_from_environment_needs_no_input(
        self, server: Pop3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With POPVIEW_CONFIG and POPVIEW_PASSWORD set, the mailbox lists with no key pressed."""
        from popview.config import load_config
        from popview.ui.app import build_app, open_store

        monkeypatch.setenv(
            "POPVIEW_CONFIG", str(write_config(tmp_path / "c.toml", server, tmp_path))
        )
        monkeypatch.setenv("POPVIEW_PASSWORD", POP3_PASSWORD)
        config = load_config()
        store = open_store(config)
        assert store is not None and store.path.parent == tmp_path
        try:
            app = build_app(config, account_name="work", store=store)
            async with app.run_test(size=SIZE) as pilot:
                await wait_listed(pilot)
                assert not any(isinstance(s, PasswordScreen) for s in app.screen_stack)
                assert static_text(app, "#header-account").startswith("work")
        finally:
            store.close()
        assert server.commands().count("AUTH PLAIN ***") == 1

    async def test_missing_password_is_asked_alone(
        self, server: Pop3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without a password source only the password is asked; a wrong one is asked again."""
        from popview.config import load_config
        from popview.ui.app import build_app

        monkeypatch.setenv(
            "POPVIEW_CONFIG", str(write_config(tmp_path / "c.toml", server, tmp_path))
        )
        monkeypatch.delenv("POPVIEW_PASSWORD", raising=False)
        app = build_app(load_config(), account_name="work")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, PasswordScreen))
            assert f"{POP3_USER}@127.0.0.1" in app.screen.title_text  # type: ignore[attr-defined]
            await pilot.press(*"nope", "enter")
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, PasswordScreen) and app.screen.note is not None,  # type: ignore[attr-defined]
            )
            await pilot.press(*POP3_PASSWORD, "enter")
            await wait_listed(pilot)
        assert server.commands().count("AUTH PLAIN ***") == 2  # the wrong one, then the right one


class TestTrustCertificate:
    """An implicit-TLS server whose (trustme) CA the client does not trust."""

    async def test_trust_shows_fingerprint_and_persists(
        self, tls_server_context: ssl.SSLContext, tmp_path: Path
    ) -> None:
        """The failure shows the SHA-256 fingerprint; Ctrl+T, then yes, pins it and logs in;
        a second run with the same cache connects without asking."""
        srv = new_server(sample_messages(5), implicit_tls=tls_server_context)
        await srv.start()
        account = Account(
            name="tls", host="127.0.0.1", port=srv.port, tls="implicit", user=POP3_USER
        )
        try:
            store = Store.open(tmp_path)
            try:
                app = PopviewApp(None, account=account, password=POP3_PASSWORD, store=store)
                async with app.run_test(size=SIZE) as pilot:
                    login = app.screen
                    assert isinstance(login, LoginScreen)
                    await wait_for(pilot, lambda: login.failed_fingerprint is not None)
                    fingerprint = login.failed_fingerprint
                    assert fingerprint is not None
                    assert fingerprint in static_text(app, "#login-status")
                    assert srv.sessions_opened <= 1 and not srv.commands()  # no login in clear
                    await pilot.press("ctrl+t")
                    await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
                    assert f"SHA-256: {fingerprint}" in app.screen.lines  # type: ignore[attr-defined]
                    await pilot.press("y")
                    await wait_listed(pilot)
                pinned = store.pins.pinned(account.key, "127.0.0.1")
                assert pinned is not None
                assert normalize_fingerprint(pinned) == normalize_fingerprint(fingerprint)
            finally:
                store.close()

            store = Store.open(tmp_path)
            try:
                app = PopviewApp(None, account=account, password=POP3_PASSWORD, store=store)
                async with app.run_test(size=SIZE) as pilot:
                    await wait_listed(pilot)
                    assert app.screen.query_one("#header-tls", Static).render()
            finally:
                store.close()
        finally:
            await srv.close()

    async def test_refusing_keeps_the_login_screen(
        self, tls_server_context: ssl.SSLContext, tmp_path: Path
    ) -> None:
        """Answering no pins nothing and sends nothing more to the server."""
        srv = new_server(sample_messages(2), implicit_tls=tls_server_context)
        await srv.start()
        account = Account(
            name="tls", host="127.0.0.1", port=srv.port, tls="implicit", user=POP3_USER
        )
        store = Store.open(tmp_path)
        try:
            app = PopviewApp(None, account=account, password=POP3_PASSWORD, store=store)
            async with app.run_test(size=SIZE) as pilot:
                login = app.screen
                await wait_for(
                    pilot, lambda: getattr(login, "failed_fingerprint", None) is not None
                )
                await pilot.press("ctrl+t")
                await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
                await pilot.press("n")
                await wait_for(pilot, lambda: app.screen is login)
            assert store.pins.pinned(account.key, "127.0.0.1") is None
            assert not srv.commands()
        finally:
            store.close()
            await srv.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestViewerFiles:
    """Saving the whole message and opening attachments: the files written, their modes."""

    async def test_save_eml_mbox_and_maildir(self, server: Pop3Server, tmp_path: Path) -> None:
        """`s` offers .eml (a new file), mbox (appended) and Maildir (delivered to new/);
        each file is the message the server sent, created 0600."""
        raw = sample_messages(40)[5]  # uid-0006, "Documents for review"
        config = Config(general=General(save_dir=tmp_path / "saved"))
        app = PopviewApp(config, account=account_for(server), password=POP3_PASSWORD)
        async with app.run_test(size=SIZE) as pilot:
            await open_message(pilot, "uid-0006")
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, SaveMessageScreen))
            await pilot.press("tab", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, MessageScreen))
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, SaveMessageScreen))
            await pilot.press("down", "space", "tab")
            assert app.screen.query_one("#save-path", Input).value.endswith("popview.mbox")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, MessageScreen))
            await pilot.press("s")
            await wait_for(pilot, lambda: isinstance(app.screen, SaveMessageScreen))
            await pilot.press("down", "down", "space", "tab", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, MessageScreen))
        saved = tmp_path / "saved"
        (eml,) = saved.glob("*.eml")
        assert eml.read_bytes() == raw and mode(eml) == 0o600
        assert mode(saved) == 0o700
        mbox = saved / "popview.mbox"
        assert mbox.read_bytes().startswith(b"From ") and mode(mbox) == 0o600
        assert b"Subject: Documents for review" in mbox.read_bytes()
        (delivered,) = (saved / "Maildir" / "new").iterdir()
        assert delivered.read_bytes() == raw and mode(delivered) == 0o600

    async def test_open_attachment_asks_then_runs_the_opener(
        self, server: Pop3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`o` asks first; "no" runs nothing; "yes" writes the attachment 0600 into a 0700
        private folder and runs POPVIEW_OPENER on it; the folder is gone after exit."""
        record = tmp_path / "opened.txt"
        script = tmp_path / "fake-opener"
        script.write_text(
            "#!/bin/sh\n"
            f'{{ echo "$1"; stat -c %a "$1"; stat -c %a "$(dirname "$1")"; cat "$1"; }}'
            f' > "{record}.part"\n'
            f'mv "{record}.part" "{record}"\n',
            encoding="utf-8",
        )
        script.chmod(0o700)
        monkeypatch.setenv("POPVIEW_OPENER", str(script))
        app = PopviewApp(None, account=account_for(server), password=POP3_PASSWORD)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_message(pilot, "uid-0006")
            assert screen.parsed is not None
            attachment = screen.parsed.attachments[0]
            await pilot.press("a", "o")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert attachment.filename in app.screen.title_text  # type: ignore[attr-defined]
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, MessageScreen))
            assert not record.exists()
            await pilot.press("a", "o")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await wait_for(pilot, record.exists, tries=500)
            name, file_mode, dir_mode, content = record.read_bytes().split(b"\n", 3)
            path = Path(name.decode())
            assert path.name == attachment.filename
            assert (file_mode, dir_mode) == (b"600", b"700")
            assert content == attachment.data()
        assert not path.parent.exists()


class TestPreferHtml:
    """``general.prefer_html`` decides which alternative the viewer shows first."""

    async def test_setting_opens_the_html_part_first(self, server: Pop3Server) -> None:
        """With prefer_html = true the newsletter opens on its HTML rendered as text."""
        config = Config(general=General(prefer_html=True))
        app = PopviewApp(config, account=account_for(server), password=POP3_PASSWORD)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_message(pilot, "uid-0038")  # sample #37: the newsletter
            assert static_text(app, "#body-form").startswith("Showing HTML")
            assert "The Terminal Times" in screen.query_one("#body").text  # type: ignore[attr-defined]
