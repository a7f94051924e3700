"""Write the .eml corpus (run by hand: ``python tests/corpus/generate.py``).

The mails are written here byte by byte rather than built with the ``email``
package, so that they carry the exact shapes (and mistakes) of real mailers:
wrong charset labels, bad base64 padding, folded encoded words, stray escape
sequences. The files are committed; this script documents how each was made
and regenerates them identically.
"""

from __future__ import annotations

import base64
import binascii
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).parent
ESC = b"\x1b"
BEL = b"\x07"
ST = ESC + b"\\"

# A 1x1 transparent PNG (the shape of a tracking pixel or a tiny inline image).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def mail(*lines: bytes | str) -> bytes:
    out = []
    for line in lines:
        out.append(line.encode("ascii") if isinstance(line, str) else line)
    return b"\r\n".join(out) + b"\r\n"


def common(subject: bytes | str, *, sender: str = "Alice Example <alice@example.org>") -> list:
    return [
        f"From: {sender}",
        "To: Bob Example <bob@example.net>",
        subject if isinstance(subject, bytes) else f"Subject: {subject}",
        "Date: Tue, 03 Mar 2026 10:15:00 +0100",
        f"Message-ID: <corpus-{zlib.crc32(str(subject).encode()):08x}@example.org>",
        "MIME-Version: 1.0",
    ]


def alternative() -> bytes:
    return mail(
        *common("Lunch on Friday?")[:4],
        "Message-ID: <alt-1@example.org>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/alternative; boundary="=_alt_1"',
        "",
        "This is a multi-part message in MIME format.",
        "",
        "--=_alt_1",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Hi Bob,",
        "",
        "shall we try the new caf=C3=A9 on Friday? 12:30 works for me.",
        "",
        "Alice",
        "--=_alt_1",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "<html><body><p>Hi Bob,</p><p>shall we try the new <b>caf=C3=A9</b> on Friday?=",
        " 12:30 works for me.</p><p>Alice</p></body></html>",
        "--=_alt_1--",
    )


def related_inline_image() -> bytes:
    return mail(
        "From: Carol <carol@example.com>",
        "To: bob@example.net",
        "Subject: Our new logo",
        "Date: Wed, 04 Mar 2026 08:00:00 +0000",
        "Message-ID: <rel-1@example.com>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/related; boundary="rel"; type="text/html"',
        "",
        "--rel",
        "Content-Type: text/html; charset=us-ascii",
        "",
        '<html><body><p>Here is the new logo:</p><img src="cid:logo@example.com" alt="Logo">',
        '<p>And the old one, still hosted: <img src="https://tracker.example.com/old.png"></p>',
        "</body></html>",
        "--rel",
        "Content-Type: image/png",
        "Content-Transfer-Encoding: base64",
        "Content-ID: <logo@example.com>",
        "Content-Disposition: inline; filename=logo.png",
        "",
        b64(PNG).rstrip(b"\r\n"),
        "--rel--",
    )


def forward_rfc822() -> bytes:
    return mail(
        "From: Dave <dave@example.org>",
        "To: bob@example.net",
        "Subject: Fwd: Quarterly numbers",
        "Date: Thu, 05 Mar 2026 17:45:00 -0500",
        "Message-ID: <fwd-1@example.org>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="outer"',
        "",
        "--outer",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "See below, FYI.",
        "--outer",
        "Content-Type: message/rfc822",
        "Content-Disposition: inline",
        "",
        "From: Erin <erin@example.com>",
        "To: dave@example.org",
        "Subject: Quarterly numbers",
        "Date: Mon, 02 Mar 2026 09:00:00 +0000",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="inner"',
        "",
        "--inner",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Numbers attached. Revenue is up 4 %.",
        "--inner",
        'Content-Type: application/pdf; name="q1.pdf"',
        "Content-Transfer-Encoding: base64",
        'Content-Disposition: attachment; filename="q1.pdf"',
        "",
        b64(b"%PDF-1.4\n% fake but harmless\n").rstrip(b"\r\n"),
        "--inner--",
        "--outer--",
    )


def iso_2022_jp() -> bytes:
    subject = "会議の件".encode("iso-2022-jp")
    body = "山田様\n\n来週の会議は水曜日の午後三時からです。\nよろしくお願いします。\n".encode(
        "iso-2022-jp"
    )
    return mail(
        "From: =?ISO-2022-JP?B?"
        + base64.b64encode("鈴木".encode("iso-2022-jp")).decode()
        + "?= <suzuki@example.jp>",
        "To: yamada@example.jp",
        "Subject: =?ISO-2022-JP?B?" + base64.b64encode(subject).decode() + "?=",
        "Date: Fri, 06 Mar 2026 11:00:00 +0900",
        "Message-ID: <jp-1@example.jp>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=ISO-2022-JP",
        "Content-Transfer-Encoding: 7bit",
        "",
        body.replace(b"\n", b"\r\n").rstrip(b"\r\n"),
    )


def koi8_r() -> bytes:
    subject = "Привет из Москвы".encode("koi8-r")
    body = "Дорогой Боб,\r\n\r\nпогода отличная, приезжай.\r\n\r\nИван\r\n".encode("koi8-r")
    return mail(
        "From: Ivan <ivan@example.ru>",
        "To: bob@example.net",
        "Subject: =?koi8-r?B?" + base64.b64encode(subject).decode() + "?=",
        "Date: Sat, 07 Mar 2026 12:00:00 +0300",
        "Message-ID: <koi-1@example.ru>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=koi8-r",
        "Content-Transfer-Encoding: 8bit",
        "",
        body.rstrip(b"\r\n"),
    )


def cp1252_wrong_charset() -> bytes:
    # Declared us-ascii (and the Subject iso-8859-1), written in Windows-1252:
    # curly quotes 0x93/0x94, euro 0x80, en dash 0x96, e-acute 0xE9.
    body = "\u201cSmart quotes\u201d cost \u20ac5 \u2013 said the caf\u00e9 owner.".encode("cp1252")
    return mail(
        "From: Frank <frank@example.com>",
        "To: bob@example.net",
        b"Subject: =?iso-8859-1?q?=93Caf=E9=94_=80_menu?=",
        "Date: Sun, 08 Mar 2026 09:30:00 +0100",
        "Message-ID: <cp-1@example.com>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "Content-Transfer-Encoding: 8bit",
        "",
        body,
    )


def qp_soft_breaks() -> bytes:
    return mail(
        *common("Quoted-printable with soft line breaks"),
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "This sentence is long enough that the sending mailer had to break it with =",
        "soft line breaks, which must disappear when it is decoded: na=C3=AFve r=C3=",
        "=A9sum=C3=A9.",
        "A literal equals sign is written =3D and a trailing space is kept=20",
        "Tabs=09too.",
    )


def base64_bad_padding() -> bytes:
    text = b64(b"Padding was lost in transit, but the text is still here!\n")
    return mail(
        *common("Base64 with bad padding"),
        'Content-Type: multipart/mixed; boundary="b"',
        "",
        "--b",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        text.rstrip(b"\r\n").rstrip(b"="),
        "--b",
        'Content-Type: application/octet-stream; name="garbage.bin"',
        "Content-Transfer-Encoding: base64",
        "",
        "SGVsbG8#$%^garbage!!*",
        "--b--",
    )


def uu_lines(payload: bytes) -> list[bytes]:
    """``payload`` uuencoded, one line per 45 bytes, without the newlines."""
    return [binascii.b2a_uu(payload[i : i + 45]).rstrip(b"\n") for i in range(0, len(payload), 45)]


def uuencode() -> bytes:
    payload = b"Hello from 1995!\n" * 3
    lines = uu_lines(payload)
    return mail(
        *common("The file you asked for"),
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Here it is, uuencoded as usual:",
        "",
        "begin 644 hello.txt",
        *lines,
        "`",
        "end",
        "",
        "Cheers",
    )


def truncated_uuencode() -> bytes:
    payload = b"This file was cut off in the middle of its transfer." * 2
    lines = uu_lines(payload)
    return mail(
        *common("Truncated uuencode"),
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "begin 600 ../../.profile",
        *lines[:2],
        "M!!!not-uuencode-at-all",
    )


def calendar_invite() -> bytes:
    ics = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "PRODID:-//Example Corp//Calendar 1.0//EN",
            "VERSION:2.0",
            "METHOD:REQUEST",
            "BEGIN:VEVENT",
            "UID:20260310T090000Z-1@example.com",
            "DTSTART:20260310T090000Z",
            "DTEND:20260310T100000Z",
            "SUMMARY:Project kickoff",
            "ORGANIZER;CN=Grace:mailto:grace@example.com",
            "ATTENDEE;CN=Bob;RSVP=TRUE:mailto:bob@example.net",
            "LOCATION:Room 4",
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )
    return mail(
        "From: Grace <grace@example.com>",
        "To: Bob <bob@example.net>",
        "Subject: Invitation: Project kickoff @ Tue 10 Mar 2026 09:00 (UTC)",
        "Date: Mon, 09 Mar 2026 15:00:00 +0000",
        "Message-ID: <cal-1@example.com>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/alternative; boundary="cal"',
        "",
        "--cal",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "You have been invited to: Project kickoff",
        "When: Tue 10 Mar 2026 09:00 - 10:00 (UTC)",
        "Where: Room 4",
        "--cal",
        'Content-Type: text/calendar; charset=utf-8; method=REQUEST; name="invite.ics"',
        "Content-Transfer-Encoding: 7bit",
        "",
        ics,
        "--cal--",
    )


def newsletter_html() -> bytes:
    html = """<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
 "http://127.0.0.1:9/xhtml1-transitional.dtd">
<html><head><style>@import url("http://127.0.0.1:9/track.css");
body { background: url(http://127.0.0.1:9/bg.png) }</style>
<link rel="stylesheet" href="http://127.0.0.1:9/style.css">
<script>document.write('tracked')</script></head>
<body>
<h1>Example Weekly &ndash; Issue 42</h1>
<p>Hello subscriber, here is what happened this week.</p>
<table border="1">
<tr><th>Product</th><th>Price</th><th>Change</th></tr>
<tr><td>Widget</td><td>&euro;9.99</td><td>-10%</td></tr>
<tr><td>Gadget Pro</td><td>&euro;24.50</td><td>+2%</td></tr>
</table>
<ol><li>Read our <a href="https://example.com/blog?utm_source=news">blog</a></li>
<li>Visit the <a href="https://example.com/shop">shop</a></li>
<li><a href="javascript:alert(1)">Do not click</a></li></ol>
<p><a href="https://example.com/unsubscribe">Unsubscribe</a></p>
<img src="http://127.0.0.1:9/pixel.gif" width="1" height="1">
<iframe src="http://127.0.0.1:9/frame.html"></iframe>
</body></html>"""
    return mail(
        "From: Example Weekly <news@example.com>",
        "To: bob@example.net",
        "Subject: Example Weekly #42",
        "Date: Tue, 10 Mar 2026 06:00:00 +0000",
        "Message-ID: <news-42@example.com>",
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        "",
        b64(html.encode()).rstrip(b"\r\n"),
    )


def flowed() -> bytes:
    return mail(
        *common("format=flowed"),
        "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no",
        "",
        "This paragraph was wrapped by the sender with trailing spaces so the ",
        "reader can rewrap it to the width of the screen.",
        "",
        ">> A quoted line that is ",
        ">> flowed as well.",
        " From the start of a line, space-stuffed.",
        "-- ",
        "Alice",
    )


def fifty_attachments() -> bytes:
    lines: list[bytes | str] = [
        *common("Scans 1-50"),
        'Content-Type: multipart/mixed; boundary="fifty"',
        "",
        "--fifty",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "All fifty scans attached.",
    ]
    for n in range(1, 51):
        name = f"scan-{n:02d}.txt" if n != 50 else "scan-01.txt"  # one duplicate name
        lines += [
            "--fifty",
            f'Content-Type: text/plain; charset=us-ascii; name="{name}"',
            f'Content-Disposition: attachment; filename="{name}"',
            "Content-Transfer-Encoding: base64",
            "",
            b64(f"scan number {n}\n".encode()).rstrip(b"\r\n"),
        ]
    lines.append("--fifty--")
    return mail(*lines)


def hostile_escapes() -> bytes:
    csi_clear = ESC + b"[2J"
    osc_title = ESC + b"]0;pwned" + BEL
    osc52 = ESC + b"]52;c;ZWNobyBwd25lZA==" + BEL
    osc52_st = ESC + b"]52;c;ZWNobyBwd25lZA==" + ST
    osc8 = ESC + b"]8;;file:///etc/passwd" + ST + b"link" + ESC + b"]8;;" + ST
    return mail(
        b"From: " + osc8 + b" <mallory@example.com>",
        "To: bob@example.net",
        b"Subject: " + csi_clear + b"Hi " + osc_title + b"=?us-ascii?q?=1B]2;title=07?= x",
        "Date: Tue, 10 Mar 2026 06:00:00 +0000",
        "Message-ID: <esc-1@example.com>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        b"clipboard BEL: " + osc52,
        b"clipboard ST: " + osc52_st,
        b"report size: " + ESC + b"[21t",
        b"DCS query: " + ESC + b'P$q"p' + ST,
        b"font query: " + ESC + b"]50;?" + BEL,
        b"8-bit CSI: \xc2\x9b2J and 8-bit OSC: \xc2\x9d0;x\xc2\x9c",
        b"DEL: \x7f backspace: \x08\x08\x08 bell: \x07 CR overwrite:\rHIDDEN",
    )


def hostile_markup() -> bytes:
    return mail(
        "From: [bold red]Boss[/] <boss@example.com>",
        "To: bob@example.net",
        "Subject: [/]Re: hi [link=file:///etc/passwd]x[/link] [@click=app.quit]x[/]",
        "Date: Tue, 10 Mar 2026 06:00:00 +0000",
        "Message-ID: <markup-1@example.com>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="m"',
        "",
        "--m",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "[bold red]x[/] and [@click=app.quit]quit[/] must show literally.",
        "--m",
        'Content-Type: text/plain; name="[b]x[/b].txt"',
        'Content-Disposition: attachment; filename="[b]x[/b].txt"',
        "",
        "markup in a file name",
        "--m--",
    )


def hostile_bidi() -> bytes:
    rlo, lri, pdi, zwsp, bom = "\u202e", "\u2066", "\u2069", "\u200b", "\ufeff"
    name = f"invoice{rlo}fdp.exe"
    return mail(
        f"From: =?utf-8?b?{base64.b64encode(f'Pay{zwsp}Pal {lri}Support{pdi}'.encode()).decode()}?="
        " <phish@example.com>",
        "To: bob@example.net",
        f"Subject: =?utf-8?b?{base64.b64encode(f'{bom}Urgent {rlo}gnp.exe'.encode()).decode()}?=",
        "Date: Tue, 10 Mar 2026 06:00:00 +0000",
        "Message-ID: <bidi-1@example.com>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="bd"',
        "",
        "--bd",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        f"access = {rlo}resu{pdi} {lri}// admin{pdi} zero{zwsp}width {bom}bom".encode(),
        "--bd",
        "Content-Type: application/octet-stream",
        f"Content-Disposition: attachment; filename*=utf-8''{_pct(name)}",
        "Content-Transfer-Encoding: base64",
        "",
        b64(b"MZ not really").rstrip(b"\r\n"),
        "--bd--",
    )


def _pct(text: str) -> str:
    safe = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"
    return "".join(chr(b) if b in safe else f"%{b:02X}" for b in text.encode())


def hostile_charsets() -> bytes:
    return mail(
        "From: =?x-unknown?q?Unknown?= <u@example.com>",
        "To: bob@example.net",
        b"Subject: =?x-unknown?q?hi?= raw 8-bit \xe9t\xe9 =?utf-8?q?=FF=FE?= "
        b"=?punycode?q?bcher-kva?= =?rot13?q?uryyb?=",
        "Date: Tue, 10 Mar 2026 06:00:00 +0000",
        "Message-ID: <cs-1@example.com>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="cs"',
        "",
        "--cs",
        'Content-Type: text/plain; charset="x-foo"',
        "",
        "unknown charset x-foo",
        "--cs",
        'Content-Type: text/plain; charset="utf-8\\"evil"',
        "Content-Transfer-Encoding: 8bit",
        "",
        b"escaped quote in charset: \xc3\xa9",
        "--cs",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        b"invalid utf-8 next to valid \xc3\xa9: \xff\xfe \xc3 end",
        "--cs",
        "Content-Type: text/plain; charset=unicode_escape",
        "",
        "not a charset: \\x1b[2J",
        "--cs--",
    )


def hostile_nul() -> bytes:
    return mail(
        b"From: Nul\x00Name <nul@example.com>",
        "To: bob@example.net",
        b"Subject: before\x00after",
        b"X-Nul\x00Header: value\x00value",
        "Date: Tue, 10 Mar 2026 06:00:00 +0000",
        "Message-ID: <nul-1@example.com>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        b"line with \x00 NUL in the middle and the rest kept",
        b"\x00\x00\x00",
    )


def hostile_filenames() -> bytes:
    names = ["../../etc/passwd", ".bashrc", "a/b\\c.txt", "-rf", "..", "", "CON", "x" * 300]
    lines: list[bytes | str] = [
        *common("Dangerous attachment names"),
        'Content-Type: multipart/mixed; boundary="fn"',
        "",
        "--fn",
        "Content-Type: text/plain",
        "",
        "Attachments with hostile names.",
    ]
    for name in names:
        lines += [
            "--fn",
            "Content-Type: application/octet-stream",
            f'Content-Disposition: attachment; filename="{name}"',
            "",
            "data",
        ]
    lines.append("--fn--")
    return mail(*lines)


def hostile_no_headers() -> bytes:
    return b"\r\nThere are no header fields at all, only a body.\r\n"


def hostile_headers_only() -> bytes:
    return b"From: a@example.com\r\nSubject: no blank line, no body\r\n   \r\nX-After: blank"


def hostile_unclosed_boundary() -> bytes:
    return mail(
        *common("Boundary never closed"),
        'Content-Type: multipart/mixed; boundary="open"',
        "",
        "--open",
        "Content-Type: text/plain",
        "",
        "The closing boundary never comes.",
        "--open",
        "Content-Type: text/plain",
        "",
        "Second part, and then the message just ends.",
    )


def hostile_nesting() -> bytes:
    depth = 100
    head = [*common("Nested 100 deep")]
    parts: list[bytes | str] = []
    for level in range(depth):
        parts += [f'Content-Type: multipart/mixed; boundary="n{level}"', "", f"--n{level}"]
    parts += ["Content-Type: text/plain", "", "the bottom"]
    for level in reversed(range(depth)):
        parts.append(f"--n{level}--")
    return mail(*head, *parts)


CORPUS = {
    "alternative": alternative,
    "related-inline-image": related_inline_image,
    "forward-rfc822": forward_rfc822,
    "iso-2022-jp": iso_2022_jp,
    "koi8-r": koi8_r,
    "cp1252-wrong-charset": cp1252_wrong_charset,
    "qp-soft-breaks": qp_soft_breaks,
    "base64-bad-padding": base64_bad_padding,
    "uuencode": uuencode,
    "calendar-invite": calendar_invite,
    "newsletter-html": newsletter_html,
    "flowed": flowed,
    "fifty-attachments": fifty_attachments,
    "hostile-escapes": hostile_escapes,
    "hostile-markup": hostile_markup,
    "hostile-bidi": hostile_bidi,
    "hostile-charsets": hostile_charsets,
    "hostile-nul": hostile_nul,
    "hostile-filenames": hostile_filenames,
    "hostile-no-headers": hostile_no_headers,
    "hostile-headers-only": hostile_headers_only,
    "hostile-unclosed-boundary": hostile_unclosed_boundary,
    "hostile-nesting": hostile_nesting,
    "hostile-truncated-uuencode": truncated_uuencode,
}


def main() -> int:
    for name, build in CORPUS.items():
        (HERE / f"{name}.eml").write_bytes(build())
    print(f"wrote {len(CORPUS)} files to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
