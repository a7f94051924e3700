"""The Textual app on a real pseudo-terminal: what hostile mail puts on the wire
(HARDENING section D).

``python -m popview --host ... --tls none`` runs as a child process whose
terminal is a pty of 100x30 (``TERM=xterm-256color``); it logs in to the
embedded POP3 server, which serves mails carrying terminal escape sequences
(raw, RFC 2047-encoded and as 8-bit C1 controls), Rich/Textual markup and
bidi/zero-width/BOM characters in From, Subject, headers, body and attachment
names. The test types keys into the pty like a user and checks two things:

* every byte the app wrote to the terminal: Textual writes escape sequences of
  its own, so the capture is split into sequences and each must be one of the
  shapes Textual emits (SGR, cursor position, mode set/reset, the sync-output
  query, the kitty-keyboard push/pop, the OSC 22 pointer shape); none of the
  mail's payloads (OSC 0/2/8/50/52, ``CSI 2J``, ``CSI 21t``, ``DCS $q``, an
  8-bit C1 byte, a bidi or zero-width character, a BOM) appears at all;
* the screen a user sees (the capture rendered by the pyte terminal emulator):
  markup shown literally, the visible placeholders (``␛``, ``␇``, U+FFFD) where
  the controls were, the columns in their order, and the app still running
  after every step (``[@click=app.quit]`` quit nothing).

The password is a canary that must never reach the terminal, not even when the
server drops the connection or refuses the login.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from popview.server import Fault, ServerThread
from tests.fixtures.embedded import POP3_USER, new_server
from tests.pty_support import PtySession, popview_on_pty

pytestmark = pytest.mark.slow  # each test starts the TUI as a process on a pty

REPO = Path(__file__).resolve().parent.parent
CANARY = "s3cret-canary-XYZ"
START_TIMEOUT = 60.0  # a cold start of Python + Textual on a busy 2-core machine

# -- the hostile payloads -------------------------------------------------------------
# Every payload carries a PWN- marker so a leak is told apart from Textual's own output.
CLIP = base64.b64encode(b"PWN-CLIP").decode()
CSI_CLEAR = "\x1b[2JPWN-CLEAR"
OSC_TITLE_0 = "\x1b]0;PWN-TITLE-0\x07"
OSC_TITLE_2 = "\x1b]2;PWN-TITLE-2\x1b\\"
OSC_CLIP_BEL = f"\x1b]52;c;{CLIP}\x07"
OSC_CLIP_ST = f"\x1b]52;c;{CLIP}\x1b\\"
OSC_LINK = "\x1b]8;;https://evil.example/pwn\x1b\\PWN-LINK\x1b]8;;\x1b\\"
CSI_REPORT = "\x1b[21t"
DCS_QUERY = '\x1bP$q"p\x1b\\'
OSC_FONT = "\x1b]50;?\x07"
SGR_BLINK = "\x1b[5;31mPWN-SGR"
BIDI_NAME = "Pay\u200bPal \u2066Support\u2069"
BIDI_SUBJECT = "\ufeffUrgent \u202egnp.exe"
BIDI_HEADER = "\u2067rtl\u2069 \u2068fsi\u2069 zero\u200bwidth"
C1_NAME = "\u009d8;;https://evil.example/c1\u009cC1 Sender"
C1_HEADER = f"\u009d52;c;{CLIP}\x07"
RAW_PAYLOADS = [
    CSI_CLEAR,
    OSC_TITLE_0,
    OSC_TITLE_2,
    OSC_CLIP_BEL,
    OSC_CLIP_ST,
    OSC_LINK,
    CSI_REPORT,
    DCS_QUERY,
    OSC_FONT,
    SGR_BLINK,
]

# Byte strings that must not appear anywhere in the capture. Textual itself
# writes none of them, so each would have come from a mail.
FORBIDDEN_BYTES = {
    "OSC 0 (title)": b"\x1b]0;",
    "OSC 2 (title)": b"\x1b]2;",
    "OSC 8 (hyperlink)": b"\x1b]8;",
    "OSC 50 (font query)": b"\x1b]50;",
    "OSC 52 (clipboard)": b"\x1b]52;",
    "DCS": b"\x1bP",
    "CSI 21t (title report)": b"\x1b[21t",
    "CSI 2J from the mail": b"\x1b[2JPWN",
    "SGR from the mail": b"\x1b[5;31mPWN",
    "U+202E RLO": "\u202e".encode(),
    "U+2066 LRI": "\u2066".encode(),
    "U+2067 RLI": "\u2067".encode(),
    "U+2068 FSI": "\u2068".encode(),
    "U+2069 PDI": "\u2069".encode(),
    "U+200B ZWSP": "\u200b".encode(),
    "U+FEFF BOM": "\ufeff".encode(),
    "the password": CANARY.encode(),
    "the SASL PLAIN credentials": base64.b64encode(f"\0{POP3_USER}\0{CANARY}".encode()),
}

# The escape sequences Textual writes (checked on Textual 8): SGR, cursor
# position, DEC private mode set/reset, the DECRQM query, kitty-keyboard push/pop,
# and the OSC 22 mouse-pointer shape. Anything else starting with ESC is a leak.
_TEXTUAL_SEQUENCE = re.compile(
    rb"\x1b\[[0-9;:]*m"
    rb"|\x1b\[[0-9;]*H"
    rb"|\x1b\[\?[0-9;]+[hl]"
    rb"|\x1b\[\?[0-9]+\$p"
    rb"|\x1b\[[<>=][0-9;]*u"
    rb"|\x1b\]22;[a-z-]+\x07"
)
# After Textual's own sequences are cut out: no C0 control but CR/LF, no DEL,
# no C1 control as UTF-8.
_CONTROL = re.compile(rb"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")
# A capture taken while the app runs may end inside one of Textual's sequences.
_UNFINISHED = re.compile(rb"\x1b(?:\[[0-9;:?<>=$]*|\][0-9]*;?[a-z-]*)?\Z")


def assert_terminal_safe(output: bytes) -> None:
    """No payload of a mail, and no escape sequence Textual does not write itself."""
    for what, needle in FORBIDDEN_BYTES.items():
        at = output.find(needle)
        assert at < 0, f"{what} reached the terminal: {output[max(at - 60, 0) : at + 60]!r}"
    rest = _UNFINISHED.sub(b"", _TEXTUAL_SEQUENCE.sub(b"", output))
    found = _CONTROL.search(rest)
    assert found is None, (
        "a control byte that is not part of Textual's own output reached the terminal "
        "(a bare BEL is also what Textual rings on an unhandled exception): "
        f"{rest[max(found.start() - 60, 0) : found.end() + 60]!r}"
    )


# -- the hostile mailbox -------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """One served mail and what the user must see of it.

    Attributes:
        name: A short id.
        raw: The message bytes.
        row: Text of its row in the list (screen form, placeholders included).
        seen: Texts the viewer shows for it (headers and body, screen form).
        all_headers: Text only the all-headers view (``h``) shows.
        attachment: Text of its first attachment's line, if it has one.
    """

    name: str
    raw: bytes
    row: str
    seen: tuple[str, ...]
    all_headers: str
    attachment: str | None = None


def _mail(headers: list[str | bytes], body: str | bytes, date_day: int) -> bytes:
    lines = [h if isinstance(h, bytes) else h.encode("utf-8") for h in headers]
    lines.append(f"Date: {date_day:02d} Mar 2026 09:00:00 +0000".encode())
    lines.append(f"Message-ID: <hostile-{date_day}@example.com>".encode())
    body_bytes = body if isinstance(body, bytes) else body.encode("utf-8")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body_bytes.replace(b"\n", b"\r\n")


def _q(text: str, charset: str = "us-ascii") -> str:
    """An RFC 2047 Q encoded-word where every non-alphanumeric byte is =XX."""
    data = text.encode("utf-8" if charset == "utf-8" else charset)
    return (
        f"=?{charset}?q?"
        + "".join(chr(b) if b < 128 and chr(b).isalnum() else f"={b:02X}" for b in data)
        + "?="
    )


def _b(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode() + "?="


def _multipart(text_body: str, attachment_headers: list[str], boundary: str = "b0") -> str:
    return (
        f"--{boundary}\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n\n"
        f"{text_body}\n"
        f"--{boundary}\n" + "\n".join(attachment_headers) + "\n\nattached data\n"
        f"--{boundary}--\n"
    )


MIMETEXT = ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]


def _markup(
    name: str,
    *,
    sender: str,
    subject: str,
    header: str,
    body: str,
    date_day: int,
    row: str | None = None,
    shown: str | None = None,
) -> Hostile:
    """A plain-text mail with Rich markup in its sender, subject, X-Hostile header and body.

    Its row shows ``row`` (the subject unless given), the viewer the subject and ``shown``
    (the body unless given), the all-headers view the X-Hostile header: all literally.
    """
    return Hostile(
        name=name,
        raw=_mail(
            [
                f"From: {sender}",
                "To: bob@example.net",
                f"Subject: {subject}",
                f"X-Hostile: {header}",
                *MIMETEXT,
            ],
            body + "\n",
            date_day,
        ),
        row=subject if row is None else row,
        seen=(f"Subject: {subject}", body if shown is None else shown),
        all_headers=f"X-Hostile: {header}",
    )


def hostile_mails() -> list[Hostile]:
    """The mailbox: escapes raw / RFC 2047 / 8-bit C1, markup subjects, bidi and BOM."""
    raw_body = "BODY-RAW\n" + "\n".join(f"line {i}: {p} end" for i, p in enumerate(RAW_PAYLOADS))
    c1_body = (
        "BODY-C1\n"
        "csi: \u009b2JPWN-CLEAR end\n"
        "osc: \u009d0;PWN-TITLE-0\u009c end\n"
        "clip: \u009d52;c;" + CLIP + "\x07 end\n"
        'dcs: \u0090$q"p\u009c end\n'
        "report: \u009b21t end\n"
    )
    qp_body = "BODY-QP\n" + "".join(
        "qp: " + "".join(c if c.isalnum() or c == " " else f"={ord(c):02X}" for c in p) + " end\n"
        for p in RAW_PAYLOADS
    )
    markup_attachment = [
        "Content-Type: text/plain",
        'Content-Disposition: attachment; filename="[@click=app.quit]a[/].txt"',
    ]
    return [
        Hostile(
            name="raw-escapes",
            raw=_mail(
                [
                    f"From: PWN {OSC_LINK} Mallory <mallory@example.com>",
                    "To: bob@example.net",
                    f"Subject: E1 {CSI_CLEAR} {OSC_TITLE_0}",
                    f"X-Hostile: {OSC_CLIP_BEL} {DCS_QUERY} {CSI_REPORT} {OSC_FONT}",
                    *MIMETEXT,
                    "Content-Transfer-Encoding: 8bit",
                ],
                raw_body,
                9,
            ),
            row="E1 ␛[2JPWN-CLEAR ␛]0;PWN-TITLE-0␇",
            seen=(
                "BODY-RAW",
                "line 0: ␛[2JPWN-CLEAR end",
                "line 3: ␛]52;c;" + CLIP + "␇ end",
                'line 7: ␛P$q"p␛\\ end',
                "line 9: ␛[5;31mPWN-SGR end",
            ),
            all_headers="X-Hostile: ␛]52;c;" + CLIP + '␇ ␛P$q"p␛\\ ␛[21t ␛]50;?␇',
        ),
        Hostile(
            name="rfc2047-escapes",
            raw=_mail(
                [
                    f"From: {_q(OSC_LINK)} <eve@example.com>",
                    "To: bob@example.net",
                    f"Subject: {_q('E2 ' + OSC_TITLE_2 + ' ' + CSI_CLEAR)}",
                    f"X-Hostile: {_q(OSC_CLIP_ST + ' ' + OSC_FONT + ' ' + DCS_QUERY)}",
                    "MIME-Version: 1.0",
                    "Content-Type: text/plain; charset=us-ascii",
                    "Content-Transfer-Encoding: quoted-printable",
                ],
                qp_body,
                8,
            ),
            row="E2 ␛]2;PWN-TITLE-2␛\\ ␛[2JPWN-CLEAR",
            seen=("BODY-QP", "qp: ␛]52;c;" + CLIP + "␇ end", "qp: ␛[21t end"),
            all_headers="X-Hostile: ␛]52;c;" + CLIP + "␛\\ ␛]50;?␇",
        ),
        Hostile(
            name="c1-controls",
            raw=_mail(
                [
                    f"From: {_q(C1_NAME, 'utf-8')} <c1@example.com>",
                    "To: bob@example.net",
                    # Raw 8-bit UTF-8 in a header, as many servers deliver it.
                    "Subject: E3 \u009b2JPWN-CLEAR \u009d0;PWN-TITLE-0\u009c".encode(),
                    f"X-Hostile: {_q(C1_HEADER, 'utf-8')}",
                    *MIMETEXT,
                    "Content-Transfer-Encoding: 8bit",
                ],
                c1_body,
                7,
            ),
            row="E3 \ufffd2JPWN-CLEAR \ufffd0;PWN-TITLE-0\ufffd",
            seen=("BODY-C1", "csi: \ufffd2JPWN-CLEAR end", "report: \ufffd21t end"),
            all_headers="X-Hostile: \ufffd52;c;" + CLIP + "␇",
        ),
        _markup(
            "markup-close",
            sender="[bold red]Boss[/] <boss@example.com>",
            subject="[/]Re: hi",
            header="[link=file:///etc/passwd]hdr[/link]",
            body="BODY-M1 [bold red]x[/] and [@click=app.quit]quit[/] literally",
            date_day=6,
            row="[bold red]Boss[/]",
            shown="BODY-M1 [bold red]x[/] and [@click=app.quit]quit[/]",
        ),
        _markup(
            "markup-style",
            sender="[link=file:///etc/passwd]Admin[/link] <admin@example.com>",
            subject="[bold red]x",
            header="[@click=app.bell]ring[/]",
            body="BODY-M2 [link=file:///etc/passwd]x[/link]",
            date_day=5,
        ),
        _markup(
            "markup-link",
            sender="Linker <link@example.com>",
            subject="[link=file:///etc/passwd]x[/link]",
            header="[/]",
            body="BODY-M3 [/]",
            date_day=4,
        ),
        Hostile(
            name="markup-click",
            raw=_mail(
                [
                    "From: Clicker <click@example.com>",
                    "To: bob@example.net",
                    "Subject: [@click=app.quit]x[/]",
                    "X-Hostile: [@click=app.quit]q[/]",
                    "MIME-Version: 1.0",
                    'Content-Type: multipart/mixed; boundary="b0"',
                ],
                _multipart("BODY-M4 [@click=app.quit]x[/]", markup_attachment),
                3,
            ),
            row="[@click=app.quit]x[/]",
            seen=("Subject: [@click=app.quit]x[/]", "BODY-M4 [@click=app.quit]x[/]"),
            all_headers="X-Hostile: [@click=app.quit]q[/]",
            attachment="[@click=app.quit]a[_].txt",  # "/" is never kept in a file name
        ),
        Hostile(
            name="bidi",
            raw=_mail(
                [
                    f"From: {_b(BIDI_NAME)} <phish@example.com>",
                    "To: bob@example.net",
                    f"Subject: {_b(BIDI_SUBJECT)}",
                    f"X-Hostile: {_b(BIDI_HEADER)}",
                    "MIME-Version: 1.0",
                    'Content-Type: multipart/mixed; boundary="b0"',
                ],
                _multipart(
                    "BODY-BIDI access = \u202eresu\u2069 \u2066// admin\u2069"
                    " zero\u200bwidth \ufeffbom",
                    [
                        "Content-Type: application/octet-stream",
                        "Content-Disposition: attachment;"
                        " filename*=utf-8''%EF%BB%BFinvoice%E2%80%AEfdp%E2%80%8B.exe",
                    ],
                ),
                2,
            ),
            row="Pay\ufffdPal \ufffdSupport\ufffd",
            seen=(
                "Subject: \ufffdUrgent \ufffdgnp.exe",
                "BODY-BIDI access = \ufffdresu\ufffd \ufffd// admin\ufffd zero\ufffdwidth",
            ),
            all_headers="X-Hostile: \ufffdrtl\ufffd \ufffdfsi\ufffd zero\ufffdwidth",
            attachment="invoice_fdp_.exe",  # BOM, RLO and ZWSP replaced, no reordering
        ),
    ]


# -- running the app ------------------------------------------------------------------


@pytest.fixture
def mails() -> list[Hostile]:
    """The hostile mails, in mailbox order."""
    return hostile_mails()


@pytest.fixture
def hostile_server(mails: list[Hostile]) -> Iterator[ServerThread]:
    """The embedded server on loopback serving ``mails`` to alice / the canary."""
    server = new_server([m.raw for m in mails], users={POP3_USER: CANARY})
    with ServerThread(server) as thread:
        yield thread


@pytest.fixture
def run_app(tmp_path: Path) -> Iterator[Callable[..., PtySession]]:
    """Factory: start the TUI in a 100x30 pty against a server; killed after the test."""
    with popview_on_pty(tmp_path, POP3_USER, CANARY, guard=assert_terminal_safe) as start:
        yield start


def wait_listed(app: PtySession, mails: list[Hostile]) -> str:
    """Wait for the list to show every mail; return the screen."""
    return app.wait_for(*(m.row for m in mails), "no deletions pending", timeout=START_TIMEOUT)


@pytest.fixture
def listed(
    run_app: Callable[..., PtySession], hostile_server: ServerThread, mails: list[Hostile]
) -> tuple[PtySession, str]:
    """The app started on the hostile mailbox with its list shown: the app and that screen."""
    app = run_app(hostile_server)
    return app, wait_listed(app, mails)


def row_order(screen: str, mails: list[Hostile]) -> list[Hostile]:
    """The mails in the order their rows appear on ``screen``."""
    lines = screen.splitlines()

    def line_of(mail: Hostile) -> int:
        return next(i for i, line in enumerate(lines) if mail.row in line)

    return sorted(mails, key=line_of)


@pytest.fixture
def in_row_order(
    listed: tuple[PtySession, str], mails: list[Hostile]
) -> tuple[PtySession, list[Hostile]]:
    """The listed app and the mails in the order of their rows on screen."""
    app, screen = listed
    return app, row_order(screen, mails)


def check_step(app: PtySession, step: str) -> None:
    """After a step: the app still runs and nothing unsafe has reached the terminal."""
    assert app.alive, f"the app exited after {step}:\n{app.screen_text()}"
    assert_terminal_safe(app.raw())


def quit_app(app: PtySession) -> None:
    """``q`` on the list (nothing marked) closes the session and exits with status 0."""
    app.send("q")
    assert app.wait_exit(30) == 0
    assert_terminal_safe(app.raw())


# -- the tests ----------------------------------------------------------------------------


class TestMailboxList:
    """The list screen with every hostile row."""

    def test_rows_show_placeholders_and_markup_literally(
        self,
        listed: tuple[PtySession, str],
    ) -> None:
        """Each row as typed, with ␛/␇/U+FFFD placeholders; no payload on the wire."""
        app, screen = listed
        check_step(app, "listing")
        assert "[bold red]Boss[/]" in screen
        assert "[/]Re: hi" in screen
        assert re.search(r"\[link=file:///etc/pass\w*…", screen)  # the From column is narrow
        quit_app(app)

    def test_bidi_row_keeps_its_columns_in_order(
        self,
        listed: tuple[PtySession, str],
    ) -> None:
        """From, Subject, Date and Size appear left to right on the bidi row (CVE-2021-42574)."""
        app, screen = listed
        line = next(line for line in screen.splitlines() if "Support" in line)
        assert re.search(
            r"Pay\ufffdPal \ufffdSupport\ufffd\s+\ufffdUrgent \ufffdgnp\.exe\s+"
            # At 100 columns the date is compact: "Mar 02" this year, else 2026-03-02.
            r"(?:Mar 02|2026-03-02)\s+\d+\s*$",
            line,
        ), line
        quit_app(app)


class TestViewer:
    """Each hostile mail opened with Enter, in every view the viewer has."""

    def test_every_mail_in_every_view(
        self,
        in_row_order: tuple[PtySession, list[Hostile]],
    ) -> None:
        """Enter, ``h``, ``h``, ``v``, ``v``, ``a``, Esc on each row; safe after every key."""
        app, ordered = in_row_order
        for index, mail in enumerate(ordered):
            if index:
                app.send("down")
            app.send("enter")
            app.wait_for(*mail.seen, "Showing plain text")
            check_step(app, f"opening {mail.name}")

            app.send("h")
            app.wait_for(mail.all_headers, "Message-ID:")
            check_step(app, f"all headers of {mail.name}")
            app.send("h")
            app.wait_gone("Message-ID:")

            app.send("v")
            app.wait_for("Showing raw source")
            check_step(app, f"raw source of {mail.name}")
            app.send("v")
            app.wait_for("Showing plain text")

            if mail.attachment is not None:
                app.wait_for("Attachments (1)", mail.attachment)
                app.send("a")
                check_step(app, f"attachments of {mail.name}")

            app.send("escape")
            app.wait_for("no deletions pending")
            check_step(app, f"leaving {mail.name}")
        quit_app(app)

    def test_placeholders_in_the_viewer(
        self,
        in_row_order: tuple[PtySession, list[Hostile]],
    ) -> None:
        """The raw-escape mail's header pane shows ␛ and ␇ where ESC and BEL were."""
        app, ordered = in_row_order
        for _ in range([m.name for m in ordered].index("raw-escapes")):
            app.send("down")
        app.send("enter")
        screen = app.wait_for("BODY-RAW")
        assert "Subject: E1 ␛[2JPWN-CLEAR ␛]0;PWN-TITLE-0␇" in screen
        assert "␛]8;;https://" in screen  # the From name's OSC 8, made visible
        check_step(app, "viewing raw-escapes")
        app.send("escape")
        app.wait_for("no deletions pending")
        quit_app(app)


class TestDialogsAndNotifications:
    """Mail and server text in a dialog and a notification stays literal."""

    def test_commit_dialog_lists_markup_subjects_literally(
        self,
        listed: tuple[PtySession, str],
        mails: list[Hostile],
        hostile_server: ServerThread,
    ) -> None:
        """Mark every row, ``$``: the dialog lists each subject as typed; ``n`` deletes nothing."""
        app, _screen = listed
        app.send("d" * len(mails))
        app.wait_for(f"{len(mails)} to delete")
        app.send("$")
        # "sender: subject (size)" is the dialog's own line format (the list behind
        # the dialog shows the same subjects in columns).
        lines = (
            "[bold red]Boss[/]: [/]Re: hi (",
            ": [bold red]x (",
            "Linker: [link=file:///etc/passwd]x[/link] (",
            "Clicker: [@click=app.quit]x[/] (",
            "…: E1 ␛[2JPWN-CLEAR ␛]0;PWN-TITLE-0␇",
            "Pay\ufffdPal \ufffdSupport\ufffd: \ufffdUrgent \ufffdgnp.exe (",
        )
        # Every line on screen together (fails by timeout otherwise), not checked at
        # the title's first bytes: the terminal may hold half a frame then.
        app.wait_for(f"Delete {len(mails)} messages on the server?", *lines)
        check_step(app, "the commit dialog")
        app.send("n")
        app.wait_gone("messages on the server?")
        app.send("U")
        app.wait_for("no deletions pending")
        check_step(app, "cancelling the commit")
        quit_app(app)
        assert hostile_server.server.mailbox.deleted == []  # type: ignore[union-attr]
        assert "QUIT" not in hostile_server.commands()

    def test_saving_an_attachment_with_a_markup_name(
        self,
        in_row_order: tuple[PtySession, list[Hostile]],
        tmp_path: Path,
    ) -> None:
        """``a``, ``s``, Enter: the save dialog and the "Saved" notification show the name as is."""
        app, ordered = in_row_order
        for _ in range([m.name for m in ordered].index("markup-click")):
            app.send("down")
        app.send("enter")
        app.wait_for("BODY-M4", "Attachments (1)")
        app.send("a")
        app.send("s")
        app.wait_for("Save [@click=app.quit]a[_].txt in folder")
        check_step(app, "the save dialog")
        app.send("enter")
        app.wait_for("Saved")
        check_step(app, "the saved notification")
        saved = tmp_path / "Downloads" / "[@click=app.quit]a[_].txt"
        assert saved.read_bytes().strip() == b"attached data"
        app.send("escape")
        app.wait_for("no deletions pending")
        quit_app(app)

    def test_hostile_server_error_is_shown_literally(
        self,
        in_row_order: tuple[PtySession, list[Hostile]],
        mails: list[Hostile],
        hostile_server: ServerThread,
    ) -> None:
        """A ``-ERR`` to RETR carrying escapes and markup: viewer and notification show it inert."""
        app, ordered = in_row_order
        number = mails.index(ordered[0]) + 1
        hostile_server.faults.append(
            Fault(
                verb="RETR",
                arg=str(number),
                replace=(
                    f"-ERR PWN-ERR {OSC_TITLE_0}{OSC_CLIP_BEL} [@click=app.quit]y[/] \u202egnp\r\n"
                ).encode(),
            )
        )
        app.send("enter")
        # Shown twice: in the viewer, and in the error notification (a toast).
        screen = app.wait_until(
            lambda text: text.count("[@click=app.quit]y[/]") == 2, "the -ERR text, twice"
        )
        # Server text is escaped as everywhere else (popview.sanitize): control pictures.
        assert "PWN-ERR" in screen
        assert "␛]0;PWN-TITLE-0␇␛]52;c;" in screen
        assert "\ufffdgnp" in screen
        check_step(app, "a hostile -ERR")
        app.send("escape")
        app.wait_for("no deletions pending")
        check_step(app, "back from the failed message")
        quit_app(app)


class TestPassword:
    """The canary password never reaches the terminal."""

    def test_refused_login(
        self, run_app: Callable[..., PtySession], hostile_server: ServerThread, tmp_path: Path
    ) -> None:
        """PASS refused: the login screen says so; no canary on the terminal or in the trace."""
        hostile_server.faults.extend(
            [Fault(verb=verb, err_code="AUTH", times=None) for verb in ("AUTH", "PASS")]
        )
        trace = tmp_path / "trace.txt"
        # 45 lines: at 30 the form's status line is below the fold.
        app = run_app(hostile_server, "--trace", str(trace))
        app.wait_for("Log in to a POP3 mailbox", "injected", timeout=START_TIMEOUT)
        check_step(app, "a refused login")
        app.send("escape")
        assert app.wait_exit(30) == 0
        assert_terminal_safe(app.raw())
        assert CANARY not in trace.read_text(encoding="utf-8")

    def test_dropped_connection_and_reconnects(
        self,
        run_app: Callable[..., PtySession],
        hostile_server: ServerThread,
        mails: list[Hostile],
        tmp_path: Path,
    ) -> None:
        """RETR drops the connection and the re-login is refused, then one succeeds: no canary."""
        trace = tmp_path / "trace.txt"
        app = run_app(hostile_server, "--trace", str(trace))
        first = row_order(wait_listed(app, mails), mails)[0]
        hostile_server.faults.extend(
            [
                Fault(verb="RETR", drop_before=True),
                Fault(verb="AUTH", err_code="AUTH"),
                Fault(verb="PASS", err_code="AUTH"),
            ]
        )
        app.send("enter")  # RETR: dropped; the session logs in again: refused
        app.wait_for("Login failed", "injected")
        check_step(app, "the drop and the refused re-login")
        app.send("escape")
        app.wait_for("no deletions pending")
        app.send("enter")  # logs in again, this time accepted
        app.wait_for(*first.seen)
        check_step(app, "the reconnection")
        logins = [c for c in hostile_server.commands() if c.startswith(("AUTH", "PASS"))]
        assert len(logins) >= 3, logins
        app.send("escape")
        app.wait_for("no deletions pending")
        quit_app(app)
        assert CANARY not in trace.read_text(encoding="utf-8")
