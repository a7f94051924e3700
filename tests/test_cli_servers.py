"""The CLI where servers and certificates go wrong: errors a script can act on.

Against the embedded server in a thread (real sockets, trustme certificates),
and the real ``popview`` process where what matters is what a shell sees.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from popview.cli import main
from popview.pop3.tls import fingerprint_of
from popview.server import Fault, MemoryMailbox, ServerThread
from tests.fixtures.embedded import POP3_USER, account_args

MakeThread = Callable[..., ServerThread]


pytestmark = pytest.mark.usefixtures("cli_environment")


def target(server: ServerThread, tls: str = "none") -> list[str]:
    return account_args(server.port, tls=tls)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def message(n: int) -> bytes:
    return (
        f"From: Sender {n} <s{n}@example.org>\r\nSubject: Message number {n}\r\n"
        f"Message-ID: <m{n}@example.org>\r\nDate: Mon, 04 Mar 2024 09:00:00 +0000\r\n\r\n"
        f"Body {n}.\r\n"
    ).encode()


def write_config(tmp_path: Path, server: ServerThread, **extra: str) -> Path:
    lines = [
        "[accounts.home]",
        'host = "127.0.0.1"',
        f"port = {server.port}",
        f'user = "{POP3_USER}"',
        'tls = "implicit"',
        *(f'{key} = "{value}"' for key, value in extra.items()),
    ]
    path = tmp_path / "popview.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


class TestClosedStdout:
    def test_list_into_head_exits_quietly(self, make_pop3_server_thread: MakeThread) -> None:
        """HARDENING F.62: `popview list | head -1` - no BrokenPipeError
        traceback, no "Exception ignored", the status of a process the reader
        left (141); and no QUIT either."""
        server = make_pop3_server_thread(mailbox=MemoryMailbox([message(n) for n in range(3000)]))
        env = {**os.environ, "COLUMNS": "100"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "popview", "list", "--no-cache", *target(server)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # what `head -1` does after its line
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141, err
        assert first.startswith(b"#")
        assert err == ""
        assert "QUIT" not in server.server.commands()


class TestBadListingRowsCli:
    BAD_LIST = Fault(
        verb="LIST", times=None, replace=b"+OK\r\n1 -5\r\n2 9999999999999999999999\r\n.\r\n"
    )

    def test_listed_with_unknown_size_and_warning_only_in_the_trace(
        self, make_pop3_server_thread: MakeThread, capsys: pytest.CaptureFixture[str],
        tmp_path: Path,
    ) -> None:  # fmt: skip
        """HARDENING F.60: both messages listed ("? B"), stderr stays empty, the
        trace says which rows were malformed; `show UIDL` works."""
        server = make_pop3_server_thread(
            mailbox=MemoryMailbox([message(1), message(2)]), faults=[self.BAD_LIST]
        )
        trace = tmp_path / "trace.txt"
        code, out, err = run(["list", "--trace", str(trace), *target(server)], capsys)
        assert code == 0 and err == ""
        rows = out.splitlines()
        assert len(rows) == 2 and all("(? B)" in row for row in rows)
        assert "malformed LIST/UIDL row(s)" in trace.read_text()
        code, out, err = run(["list", "--json", *target(server)], capsys)
        assert code == 0 and err == ""
        assert [row["size"] for row in json.loads(out)] == [None, None]
        uid = rows[0].split()[-1]
        code, out, err = run(["show", uid, *target(server)], capsys)
        assert code == 0, err
        assert "Message number" in out

    def test_no_second_stderr_line_from_a_real_process(
        self, make_pop3_server_thread: MakeThread
    ) -> None:
        """Logging's last-resort handler would print the warning on stderr."""
        server = make_pop3_server_thread(
            mailbox=MemoryMailbox([message(1), message(2)]), faults=[self.BAD_LIST]
        )
        done = subprocess.run(
            [sys.executable, "-m", "popview", "list", "--no-cache", *target(server)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and done.stderr == ""
        assert len(done.stdout.splitlines()) == 2


class TestBadCaFile:
    """HARDENING F.64: one error line naming the file, exit 1, nothing sent."""

    @pytest.mark.parametrize(
        ("make", "reason"),
        [
            (lambda p: p, "does not exist"),
            (lambda p: (p.write_text("not a certificate\n"), p)[1], "no PEM certificate"),
            (lambda p: (p.mkdir(), p)[1], "directory"),
        ],
        ids=["missing", "not-pem", "directory"],
    )
    def test_one_line(
        self,
        make: Callable[[Path], Path],
        reason: str,
        pop3_server_thread_implicit_tls: ServerThread,
        capsys: pytest.CaptureFixture[str],
        tmp_path: Path,
    ) -> None:
        path = make(tmp_path / "ca.pem")
        server = pop3_server_thread_implicit_tls
        argv = ["list", *target(server, "implicit"), "--cafile", str(path)]
        code, out, err = run(argv, capsys)
        assert code == 1 and out == ""
        assert err.count("\n") == 1, err
        assert err.startswith("popview: Bad CA file: ") and str(path) in err and reason in err
        assert server.server.sessions_opened == 0


class TestCertificateErrors:
    def test_fingerprint_printed_then_pinned(
        self, pop3_server_thread_implicit_tls: ServerThread, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A certificate no CA vouches for: the error, then the presented
        fingerprint on a line of its own; pinning it with --fingerprint works."""
        server = pop3_server_thread_implicit_tls
        code, out, err = run(["list", *target(server, "implicit")], capsys)
        assert code == 1 and out == ""
        found = re.search(r"^popview: certificate SHA-256: ([0-9A-F:]{95})$", err, re.M)
        assert found, err
        assert server.server.commands() == []  # nothing sent over the refused TLS
        code, out, err = run(
            ["list", *target(server, "implicit"), "--fingerprint", found.group(1)], capsys
        )
        assert code == 0, err
        assert len(out.splitlines()) == 3

    def test_info_shows_the_fingerprint_and_the_problem(
        self, pop3_server_thread_implicit_tls: ServerThread, capsys: pytest.CaptureFixture[str]
    ) -> None:
        server = pop3_server_thread_implicit_tls
        code, out, err = run(["info", *target(server, "implicit")], capsys)
        assert code == 1
        assert re.search(r"^Certificate SHA-256:\s+[0-9A-F:]{95}$", out, re.M), out
        assert re.search(r"^Certificate problem:\s+.*not signed by an authority", out, re.M)
        assert "certificate SHA-256" in err

    def test_cafile_and_fingerprint_override_a_configured_account(
        self,
        pop3_server_thread_implicit_tls: ServerThread,
        tls_ca: trustme.CA,
        capsys: pytest.CaptureFixture[str],
        tmp_path: Path,
    ) -> None:
        """-a NAME with --cafile or --fingerprint: the option wins over the file."""
        server = pop3_server_thread_implicit_tls
        config = write_config(tmp_path, server, fingerprint="00" * 32)
        base = ["list", "--config", str(config), "-a", "home"]
        code, _, err = run(base, capsys)
        assert code == 1 and "not the one you trusted" in err
        ca = tmp_path / "ca.pem"
        tls_ca.cert_pem.write_to_path(str(ca))
        code, _, err = run([*base, "--fingerprint", _presented(server)], capsys)
        assert code == 0, err
        config = write_config(tmp_path, server)  # no pin: the system CAs refuse it
        assert run(base, capsys)[0] == 1
        code, out, err = run([*base, "--cafile", str(ca)], capsys)
        assert code == 0, err
        assert len(out.splitlines()) == 3


def _presented(server: ServerThread) -> str:
    pem = ssl.get_server_certificate(("127.0.0.1", server.port))
    return fingerprint_of(ssl.PEM_cert_to_DER_cert(pem))
