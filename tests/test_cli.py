"""The headless CLI against the embedded server (in a thread) and the private Dovecot."""

from __future__ import annotations

import ast
import gc
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from popview.cli import main
from popview.cli.commands import _compact_row, _json_row
from popview.mail.envelope import Envelope
from popview.server import Fault, MemoryMailbox, ServerThread
from popview.session.identity import MessageKey
from popview.session.policy import RESP_CODE_SENTENCES
from popview.session.types import Listed
from tests.fixtures.dovecot import DovecotServer, MailUser
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER, account_args
from tests.fixtures.maildir import served

HOSTILE = (
    b"From: Evil <evil@example.org>\r\nSubject: \x1b[2Jclear \x1b]0;title\x07\r\n"
    b"\r\nbody \x1b[31mred\x1b[0m and \xc2\x9b C1\r\n"
)


pytestmark = pytest.mark.usefixtures("cli_environment")


@pytest.fixture
def hostile_server(make_pop3_server_thread: Callable[..., ServerThread]) -> ServerThread:
    """The embedded server with one mail whose subject carries terminal escapes."""
    return make_pop3_server_thread(mailbox=MemoryMailbox([HOSTILE]))


def target(server: ServerThread) -> list[str]:
    return account_args(server.port)


def loaded_by(imports: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after ``import imports``."""
    code = f"import sys, {imports}\nprint([m for m in {modules!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return cast("list[str]", ast.literal_eval(done.stdout.strip()))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


class TestList:
    def test_json_has_every_field(
        self, pop3_server_thread: ServerThread, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """list --json: one array, one object per message, decoded subjects."""
        code, out, _ = run(["list", "--json", *target(pop3_server_thread)], capsys)
        assert code == 0
        rows = json.loads(out)
        assert [r["number"] for r in rows] == [1, 2, 3]
        assert rows[2]["subject"] == "Report Übersicht"
        assert rows[0]["uid"] == "uid-0001" and rows[0]["marked"] is False
        assert rows[0]["date"] == "2024-03-04T09:15:00+00:00"
        assert set(rows[0]) == {
            "number", "uid", "size", "from", "subject", "date", "attachments", "marked",
        }  # fmt: skip

    def test_json_is_compact_unless_pretty(
        self, pop3_server_thread: ServerThread, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Piped, the JSON is one compact line; --pretty indents the same rows."""
        code, compact, _ = run(["list", "--json", *target(pop3_server_thread)], capsys)
        assert code == 0
        assert compact.count("\n") == 1 and ", " not in compact and '": ' not in compact
        code, pretty, _ = run(["list", "--json", "--pretty", *target(pop3_server_thread)], capsys)
        assert code == 0
        assert pretty.count("\n") > 20 and '\n  "number": 1,' in pretty
        assert json.loads(pretty) == json.loads(compact)

    def test_compact_json_of_many_rows_is_one_array(
        self,
        make_pop3_server_thread: Callable[..., ServerThread],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Rows are encoded 1,000 at a time: 2,500 messages still make one valid
        compact array, in order."""
        mails = [b"Subject: m%d\r\n\r\nbody\r\n" % n for n in range(1, 2501)]
        server = make_pop3_server_thread(mailbox=MemoryMailbox(mails))
        code, out, _ = run(["list", "--json", "--no-cache", *target(server)], capsys)
        assert code == 0
        rows = json.loads(out)
        assert [r["subject"] for r in rows] == [f"m{n}" for n in range(1, 2501)]
        same = out == json.dumps(rows, ensure_ascii=True, separators=(",", ":")) + "\n"
        assert same  # (pytest's diff of two 250 KB lines would take minutes)

    def test_collector_thresholds_are_restored_after_a_command(
        self, pop3_server_thread: ServerThread, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A listing collects garbage rarely while it runs (fewer passes over
        100,000 envelopes); whoever called the command gets the thresholds back,
        with nothing left frozen."""
        before = gc.get_threshold()
        code, out, _ = run(["list", "--json", *target(pop3_server_thread)], capsys)
        assert code == 0 and json.loads(out)
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0

    def test_headless_list_imports_no_ui_or_html_libraries(self) -> None:
        """The headless commands load neither Textual/Rich, lxml/inscriptis nor the
        message parser (start-up time is part of every `popview list`)."""
        imports = "popview.cli, popview.cli.commands, popview.session"
        heavy = ("textual", "rich", "lxml", "inscriptis", "popview.mail.message")
        assert loaded_by(imports, heavy) == []

    def test_the_dial_starts_before_asyncio_ssl_and_the_session_are_imported(self) -> None:
        """What a headless command imports before it dials (the CLI, the config,
        the pattern check, the dialler) leaves asyncio, ssl, sqlite and the session
        to be imported while the connect and the greeting travel (about 20 ms of
        asyncio and ssl alone, out of every `popview list`)."""
        imports = "popview.cli, popview.config, popview.cli.select, popview.pop3.predial"
        late = ("asyncio", "ssl", "sqlite3", "popview.session")
        assert loaded_by(imports, late) == []

    def test_second_run_uses_the_cache(
        self, pop3_server_thread: ServerThread, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A second `list` sends no TOP: the envelopes come from the cache."""
        first = run(["list", "--json", *target(pop3_server_thread)], capsys)
        second = run(["list", "--json", *target(pop3_server_thread)], capsys)
        assert json.loads(first[1]) == json.loads(second[1])
        last = pop3_server_thread.server.sessions_opened
        assert not [c for c in pop3_server_thread.server.commands(last) if c.startswith("TOP")]
        assert "QUIT" not in pop3_server_thread.server.commands()

    def test_text_listing_is_sanitized(
        self, hostile_server: ServerThread, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """No ESC from a hostile subject reaches the terminal listing."""
        code, out, _ = run(["list", *target(hostile_server)], capsys)
        assert code == 0 and "clear" in out
        assert "\x1b" not in out and "\x07" not in out


class TestShow:
    def test_raw_is_byte_identical(
        self,
        pop3_server_thread: ServerThread,
        memory_mailbox: MemoryMailbox,
        capsysbinary: pytest.CaptureFixture[bytes],
    ) -> None:
        """show --raw to a pipe writes the exact bytes (dot-unstuffed)."""
        assert main(["show", "uid-0002", "--raw", *target(pop3_server_thread)]) == 0
        assert capsysbinary.readouterr().out == memory_mailbox.messages[1]

    def test_rendered_output_has_no_escape(
        self, hostile_server: ServerThread, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """show (rendered): headers and body, with no ESC, BEL or C1 from the mail."""
        code, out, _ = run(["show", "#1", *target(hostile_server)], capsys)
        assert code == 0 and "Subject:" in out and "red" in out
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", out)

    def test_unknown_message_is_one_line_error(
        self, pop3_server_thread: ServerThread, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An unknown UIDL: exit 1, one line on stderr naming the problem."""
        code, out, err = run(["show", "nope", *target(pop3_server_thread)], capsys)
        assert code == 1 and out == ""
        assert err.count("\n") == 1 and "No such message" in err


class TestDelete:
    def test_yes_deletes_exactly_the_named(
        self,
        pop3_server_thread: ServerThread,
        memory_mailbox: MemoryMailbox,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """delete --yes: DELE each, QUIT, print what was deleted."""
        code, out, _ = run(
            ["delete", "uid-0001", "#3", "--yes", *target(pop3_server_thread)], capsys
        )
        assert code == 0
        assert out.splitlines() == ["deleted uid-0001", "deleted uid-0003"]
        pop3_server_thread.wait_idle()
        assert memory_mailbox.deleted == ["uid-0001", "uid-0003"]

    def test_list_new_prints_only_mail_since_the_last_visit(
        self, pop3_server_thread: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """list --new (issue 9): the last TUI visit saw 1 and 2; only 3 is printed, and
        the CLI does not record a visit of its own (a second run prints 3 again)."""
        from popview.store import Store

        store = Store.open(tmp_path / "cache")
        key = f"{POP3_USER}@127.0.0.1:{pop3_server_thread.port}"
        store.cache.set_seen_uids(key, ["uid-0001", "uid-0002"])
        store.close()
        for _ in range(2):
            code, out, _ = run(["list", "--new", *target(pop3_server_thread)], capsys)
            assert code == 0
            assert [line.split()[0] for line in out.splitlines()] == ["#3"]

    def test_without_yes_off_a_terminal_refuses(
        self,
        pop3_server_thread: ServerThread,
        memory_mailbox: MemoryMailbox,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """delete without --yes in a script: refused, no DELE, no QUIT."""
        code, _, err = run(["delete", "uid-0001", *target(pop3_server_thread)], capsys)
        assert code == 1 and "--yes" in err
        pop3_server_thread.wait_idle()
        verbs = [c.split(" ")[0] for c in pop3_server_thread.server.commands()]
        assert "DELE" not in verbs and "QUIT" not in verbs
        assert memory_mailbox.deleted == []

    def test_yes_piped_into_delete_on_a_terminal_deletes_nothing(
        self, pop3_server_thread: ServerThread, memory_mailbox: MemoryMailbox, tmp_path: Path
    ) -> None:
        """`yes | popview delete X` with stdout on a terminal (issue 9): stdin is a pipe,
        so nobody confirmed: refused, no DELE, no QUIT, nothing deleted."""
        import pty

        leader, follower = pty.openpty()
        env = {
            **os.environ,
            "POPVIEW_PASSWORD": POP3_PASSWORD,
            "POPVIEW_CACHE_DIR": str(tmp_path / "cache"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "popview", "delete", "uid-0001",
                 *target(pop3_server_thread)],
                input=b"y\n" * 1000,
                stdout=follower,
                stderr=subprocess.PIPE,
                env=env,
                timeout=60,
                check=False,
            )  # fmt: skip
        finally:
            os.close(follower)
            os.close(leader)
        assert proc.returncode == 1
        assert b"--yes" in proc.stderr
        pop3_server_thread.wait_idle()
        verbs = [c.split(" ")[0] for c in pop3_server_thread.server.commands()]
        assert "DELE" not in verbs and "QUIT" not in verbs
        assert memory_mailbox.deleted == []


class TestInfoAndErrors:
    def test_info_lists_capabilities(
        self, pop3_server_thread: ServerThread, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """info: implementation, PIPELINING, auth mechanisms, and plaintext is called out."""
        code, out, _ = run(["info", *target(pop3_server_thread)], capsys)
        assert code == 0
        assert re.search(r"PIPELINING:\s+yes", out)
        assert re.search(r"Auth mechanisms:\s+PLAIN", out)
        assert "NO (plaintext)" in out

    def test_wrong_password_never_printed(
        self,
        pop3_server_thread: ServerThread,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
    ) -> None:
        """A refused login: exit 1, `title: message` on stderr, the password nowhere,
        not even in the --trace file."""
        monkeypatch.setenv("POPVIEW_PASSWORD", "wrong-canary-77")
        trace = tmp_path / "trace.txt"
        code, out, err = run(["list", "--trace", str(trace), *target(pop3_server_thread)], capsys)
        assert code == 1 and "Login failed" in err and "Traceback" not in err
        text = trace.read_text()
        assert "AUTH PLAIN" in text
        for blob in (out, err, text):
            assert "wrong-canary-77" not in blob
        assert oct(trace.stat().st_mode & 0o777) == "0o600"

    def test_usage_errors_exit_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--port without --host is a usage error (exit 2)."""
        code, _, err = run(["list", "--port", "110"], capsys)
        assert code == 2 and "--host" in err


class TestServe:
    def test_serve_demo_then_list(self, tmp_path: Path) -> None:
        """`popview serve --demo` prints how to log in; `popview list` then works."""
        env = {**os.environ, "POPVIEW_CACHE_DIR": str(tmp_path / "c")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "popview", "serve", "--demo", "--password", "pw-x"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            port = re.search(r"127\.0\.0\.1:(\d+)", first)
            assert port, first
            assert "pw-x" not in first + proc.stdout.readline()
            listed = subprocess.run(
                [sys.executable, "-m", "popview", "list", "--json", "--limit", "5",
                 "--host", "127.0.0.1", "--port", port.group(1), "--user", "demo",
                 "--tls", "none"],
                env={**env, "POPVIEW_PASSWORD": "pw-x"},
                capture_output=True,
                text=True,
                timeout=60,
            )  # fmt: skip
            assert listed.returncode == 0, listed.stderr
            assert len(json.loads(listed.stdout)) == 5
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.mark.dovecot
class TestDovecot:
    def dovecot_target(self, dovecot: DovecotServer, user: MailUser) -> list[str]:
        return [
            "--host", "127.0.0.1", "--port", str(dovecot.pop3s_port), "--user", user.name,
            "--tls", "implicit", "--cafile", str(dovecot.ca_pem),
        ]  # fmt: skip

    def test_list_show_delete_match_the_maildir(
        self,
        dovecot: DovecotServer,
        dovecot_user: MailUser,
        monkeypatch: pytest.MonkeyPatch,
        capsysbinary: pytest.CaptureFixture[bytes],
    ) -> None:
        """list --json equals the Maildir truth; show --raw is byte-identical to the
        file (as served); delete removes exactly the named message on disk."""
        monkeypatch.setenv("POPVIEW_PASSWORD", dovecot_user.password)
        messages = [
            b"From: a@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nhi\r\n",
            b"From: b@example.org\r\nSubject: Two\r\n\r\n.dot\r\n..\r\n",
            b"From: c@example.org\r\nSubject: Three\r\n\r\nbye\r\n",
        ]
        dovecot.seed(dovecot_user.name, messages)
        args = self.dovecot_target(dovecot, dovecot_user)
        assert main(["list", "--json", *args]) == 0
        rows = json.loads(capsysbinary.readouterr().out)
        assert [r["subject"] for r in rows] == ["Grüße", "Two", "Three"]
        assert [r["size"] for r in rows] == [len(served(m)) for m in messages]
        uids = [r["uid"] for r in rows]
        assert all(uids) and len(set(uids)) == 3
        assert main(["show", uids[1], "--raw", *args]) == 0
        assert capsysbinary.readouterr().out == served(messages[1])
        assert main(["delete", uids[1], "--yes", *args]) == 0
        assert capsysbinary.readouterr().out.decode().strip() == f"deleted {uids[1]}"
        remaining = [p.read_bytes() for p in dovecot.files(dovecot_user.name)]
        assert [b"Two" in m for m in remaining] == [False, False]
        assert len(remaining) == 2


CJK = (
    b"From: =?utf-8?b?5bGx55Sw5aSq6YOO?= <yamada@x.example>\r\n"
    b"Subject: =?utf-8?b?5Lya6K2w44Gu6K2w5LqL6Yyy?=\r\n"
    b"Date: Mon, 04 Mar 2024 18:15:00 +0900\r\n\r\nbody\r\n"
)
ASCII = (
    b"From: Ada Lovelace <ada@analytical.example>\r\nSubject: Minutes\r\n"
    b"Date: Mon, 04 Mar 2024 09:15:00 +0000\r\n\r\nbody\r\n"
)


class TestListColumns:
    """`list` prints dates in local time with the zone, and aligns columns by cells."""

    @pytest.fixture
    def tokyo(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        import time

        monkeypatch.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        yield
        monkeypatch.undo()
        time.tzset()

    def test_dates_are_local_with_the_offset_and_cjk_rows_align(
        self,
        tokyo: None,
        make_pop3_server_thread: Callable[..., ServerThread],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A +0900 mail and a +0000 mail, read in Tokyo: both dates in Tokyo time with
        +0900; the subject column starts at the same terminal cell on both rows (the CJK
        name takes two cells per character), and a long From is cut with an ellipsis."""
        from rich.cells import cell_len

        server = make_pop3_server_thread(mailbox=MemoryMailbox([CJK, ASCII]))
        code, out, _ = run(["list", "--no-cache", *target(server)], capsys)
        assert code == 0
        cjk_row, ascii_row = out.splitlines()
        assert "2024-03-04 18:15 +0900" in cjk_row
        assert "2024-03-04 18:15 +0900" in ascii_row
        assert "山田太郎" in cjk_row and "会議の議事録" in cjk_row
        cjk_at = cell_len(cjk_row[: cjk_row.index("会議")])
        ascii_at = cell_len(ascii_row[: ascii_row.index("Minutes")])
        assert cjk_at == ascii_at
        size_at = [cell_len(row[: row.index("(")]) for row in (cjk_row, ascii_row)]
        assert size_at[0] == size_at[1]


class TestDeletePrompt:
    def test_the_prompt_names_sender_and_subject_and_no_deletes_nothing(
        self, pop3_server_thread: ServerThread, tmp_path: Path
    ) -> None:
        """On a terminal, `delete #3` lists the message by sender and subject (not its
        UIDL); answering n deletes nothing and sends no QUIT."""
        from tests.pty_support import PtySession

        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "POPVIEW_PASSWORD": POP3_PASSWORD,
            "POPVIEW_CACHE_DIR": str(tmp_path / "cache"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "LANG": "C.UTF-8",
        }
        argv = [sys.executable, "-m", "popview", "delete", "#3", *target(pop3_server_thread)]
        session = PtySession(argv, env, columns=120, lines=20)
        try:
            screen = session.wait_for("Delete 1 message(s) from the server?")
            row = next(line for line in screen.splitlines() if "#3" in line)
            assert "Report Übersicht" in row
            assert "uid-0003" not in row
            session.send("n\r")
            assert session.wait_exit() == 1
            assert "Nothing was deleted." in session.screen_text()
        finally:
            session.close()
        commands = pop3_server_thread.server.commands()
        assert not [c for c in commands if c.startswith("DELE")] and "QUIT" not in commands


class TestRespCodes:
    """A.17 through the CLI: each response code reads as the session's one sentence."""

    @pytest.mark.parametrize("code", ["IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM", "AUTH"])
    def test_login_code_sentence(
        self,
        make_pop3_server_thread: Callable[..., ServerThread],
        capsys: pytest.CaptureFixture[str],
        code: str,
    ) -> None:
        server = make_pop3_server_thread(
            faults=[Fault(verb=verb, err_code=code, times=None) for verb in ("AUTH", "PASS")]
        )
        status, _out, err = run(["list", *target(server)], capsys)
        assert status != 0
        assert RESP_CODE_SENTENCES[code] in err, err
        others = [text for other, text in RESP_CODE_SENTENCES.items() if other != code]
        assert not any(text in err for text in others), err

    def test_utf8_code_on_retr(
        self,
        make_pop3_server_thread: Callable[..., ServerThread],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        server = make_pop3_server_thread(faults=[Fault(verb="RETR", err_code="UTF8")])
        status, _out, err = run(["show", "#1", *target(server)], capsys)
        assert status != 0
        assert RESP_CODE_SENTENCES["UTF8"] in err, err


_ZONES = (UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8)))


class TestCompactJsonRows:
    """The compact rows are written field by field: they must be exactly what
    json's encoder makes of the same row (ASCII only, every other character
    \\u-escaped, so the output is safe on a terminal)."""

    @settings(max_examples=200, deadline=None)
    @given(
        number=st.integers(min_value=1, max_value=2**63 - 1),
        uid=st.none() | st.text(),
        size=st.none() | st.integers(min_value=0, max_value=2**63 - 1),
        name=st.text(),
        addr=st.text(),
        subject=st.text(),
        date=st.none() | st.datetimes(timezones=st.sampled_from(_ZONES)),
        attachment=st.booleans(),
        marked=st.booleans(),
    )
    def test_a_row_is_what_the_json_encoder_makes(
        self, number: int, uid: str | None, size: int | None, name: str, addr: str,
        subject: str, date: datetime | None, attachment: bool, marked: bool,
    ) -> None:  # fmt: skip
        envelope = Envelope(
            number=number, uid=uid, size=size, from_name=name, from_addr=addr,
            subject=subject, date=date, has_attachment=attachment,
        )  # fmt: skip
        listed = Listed(MessageKey(f"k{number}"), envelope)
        marks = frozenset({listed.key}) if marked else frozenset()
        expected = json.dumps(_json_row(listed, marks), ensure_ascii=True, separators=(",", ":"))
        row = _compact_row(listed, marks)
        same = row == expected  # not pytest's diff of two long lines at every shrink
        assert same, (row, expected)
        assert row.isascii()
