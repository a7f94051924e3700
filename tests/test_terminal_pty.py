"""What really reaches a terminal (HARDENING section D, D.36-D.40), captured through a pty.

The hostile corpus is served by the embedded POP3 server; ``popview list`` and
``popview show`` run as real processes whose stdout/stderr is a pseudo-terminal,
and every byte the terminal received is checked: no ESC, no C1 control, no bidi
or zero-width character from a mail, the visible placeholders instead. (The
headless commands print no escape sequences of their own, so *any* ESC in the
capture would have come from a mail.) The Textual screens are the UI's tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from popview.server import ServerThread
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER, account_args
from tests.pty_support import run_popview

pytestmark = pytest.mark.slow  # each test starts popview as a process on a pty

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


@pytest.fixture
def popview_cli(
    pop3_server_thread: ServerThread, tmp_path: Path
) -> Callable[..., tuple[int, bytes]]:
    """Run a popview subcommand against the embedded server, through a pty."""
    account = account_args(pop3_server_thread.port, POP3_USER)

    def run(*args: str) -> tuple[int, bytes]:
        return run_popview([*args, *account], tmp_path, POP3_PASSWORD)

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
