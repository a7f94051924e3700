"""What really reaches a terminal (HARDENING D 36-40), captured through a pty.

The hostile corpus is served by the embedded POP3 server; ``popview list`` and
``popview show`` run as real processes whose stdout/stderr is a pseudo-terminal,
and every byte the terminal received is checked: no ESC, no C1 control, no bidi
or zero-width character from a mail, the visible placeholders instead. (The
headless commands print no escape sequences of their own, so *any* ESC in the
capture would have come from a mail.) The Textual screens are the UI's tests.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from popview.server import ServerThread
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER

CORPUS = Path(__file__).parent / "corpus"
HOSTILE = [
    "hostile-escapes",
    "hostile-markup",
    "hostile-bidi",
    "hostile-charsets",
    "hostile-nul",
    "hostile-filenames",
    "newsletter-html",
]

# What must never reach the terminal, as UTF-8 bytes: ESC, BEL and other C0
# controls except TAB/LF/CR, DEL, C1 (U+0080-U+009F), bidi controls, LRM/RLM,
# zero-width characters and BOM.
FORBIDDEN = re.compile(
    rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
    rb"|\xc2[\x80-\x9f]"
    rb"|\xe2\x80[\x8b-\x8f\xaa-\xae]|\xe2\x81[\xa0\xa6-\xa9]|\xd8\x9c|\xef\xbb\xbf"
)


@pytest.fixture
def sample_messages() -> list[bytes]:
    """The embedded server serves the hostile corpus, in HOSTILE order."""
    return [(CORPUS / f"{name}.eml").read_bytes() for name in HOSTILE]


def run_in_pty(args: list[str], home: Path, timeout: float = 30.0) -> tuple[int, bytes]:
    """Run ``python -m popview ARGS`` with a pty as its terminal; return (status, bytes)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "POPVIEW_PASSWORD": POP3_PASSWORD,
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "popview", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        status = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return status, b"".join(chunks)


@pytest.fixture
def popview_cli(
    pop3_server_thread: ServerThread, tmp_path: Path
) -> Callable[..., tuple[int, bytes]]:
    """Run a popview subcommand against the embedded server, through a pty."""
    account = [
        "--host",
        "127.0.0.1",
        "--port",
        str(pop3_server_thread.port),
        "--user",
        POP3_USER,
        "--tls",
        "none",
    ]

    def run(*args: str) -> tuple[int, bytes]:
        return run_in_pty([*args, *account], tmp_path)

    return run


def assert_terminal_safe(output: bytes) -> None:
    found = FORBIDDEN.search(output)
    context = output[max(found.start() - 40, 0) : found.end() + 40] if found else b""
    assert found is None, f"unsafe bytes reached the terminal: {context!r}"


class TestShow:
    """``popview show`` prints each hostile mail safely."""

    @pytest.mark.parametrize("number", range(1, len(HOSTILE) + 1), ids=HOSTILE)
    def test_nothing_unsafe_reaches_the_terminal(
        self, popview_cli: Callable[..., tuple[int, bytes]], number: int
    ) -> None:
        """No ESC/C1/bidi/zero-width byte in the whole capture; exit status 0."""
        status, output = popview_cli("show", f"#{number}")
        assert status == 0, output[-500:]
        assert_terminal_safe(output)

    def test_escapes_are_shown_as_placeholders(
        self, popview_cli: Callable[..., tuple[int, bytes]]
    ) -> None:
        """The user sees that sequences were there: ␛ and ␇ pictures, U+FFFD for C1."""
        _, output = popview_cli("show", "#1")
        text = output.decode("utf-8")
        assert "Subject: ␛[2JHi ␛]0;pwned␇␛]2;title␇ x" in text
        assert "clipboard BEL: ␛]52;c;ZWNobyBwd25lZA==␇" in text
        assert "8-bit CSI: \ufffd2J" in text

    def test_markup_is_printed_literally(
        self, popview_cli: Callable[..., tuple[int, bytes]]
    ) -> None:
        """Rich/Textual markup comes out as typed."""
        _, output = popview_cli("show", "#2")
        assert b"[@click=app.quit]x[/]" in output
        assert b"[bold red]Boss[/] <boss@example.com>" in output

    def test_raw_on_a_terminal_is_escaped(
        self, popview_cli: Callable[..., tuple[int, bytes]]
    ) -> None:
        """``show --raw`` on a tty escapes controls instead of writing them."""
        status, output = popview_cli("show", "#1", "--raw")
        assert status == 0
        assert_terminal_safe(output)
        assert "␛]52;c;".encode() in output


class TestList:
    """``popview list`` prints every row safely."""

    def test_listing_is_terminal_safe(self, popview_cli: Callable[..., tuple[int, bytes]]) -> None:
        """All hostile subjects and senders listed, nothing unsafe in the capture."""
        status, output = popview_cli("list", "--no-cache")
        assert status == 0, output[-500:]
        assert_terminal_safe(output)
        text = output.decode("utf-8")
        assert "␛[2JHi" in text
        assert "Pay\ufffdPal" in text
