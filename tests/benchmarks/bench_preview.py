"""Preview rendering benchmark, run by hand: ``python tests/benchmarks/bench_preview.py``.

Not part of the test suite (no timed assertions there). Issue 12's target: a
row that was not prefetched shows within one round trip plus rendering; this
measures the rendering part - :func:`render_preview` of a ``TOP n 20`` answer
(the viewer's parse + render) - for the body kinds a mailbox holds, next to
the time of one frame at 60 Hz. A prefetched row costs a dict lookup.
"""

from __future__ import annotations

import base64
import time

from popview.mail.preview import render_preview

FRAME_MS = 1000 / 60
ROUNDS = 200
HEAD = b"From: A <a@example.org>\r\nSubject: s\r\nDate: Tue, 3 Mar 2026 10:00:00 +0100\r\n"


def top_answers() -> dict[str, bytes]:
    text = "Grüße aus Köln, eine Zeile mit etwas Text darin.\n" * 40
    b64 = base64.encodebytes(text.encode()).replace(b"\n", b"\r\n")
    html = b"<html><body>" + b"<p>Hello <b>there</b> <a href='x'>link</a></p>\r\n" * 20
    multipart = (
        b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + b"plain line\r\n" * 16
    )
    return {
        "plain": HEAD + b"\r\n" + b"a plain line of text\r\n" * 20,
        "base64": HEAD + b"Content-Transfer-Encoding: base64\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + b"\r\n".join(b64.split(b"\r\n")[:20]),
        "quoted-printable": HEAD
        + b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        + b"Caf=E9 cr=E8me soft=\r\n break\r\n" * 10,
        "html only": HEAD + b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html,
        "multipart (cut)": HEAD + multipart,
    }


def main() -> None:
    print(f"render_preview of a TOP n 20 answer, mean of {ROUNDS} (one frame = {FRAME_MS:.1f} ms)")
    for name, answer in top_answers().items():
        start = time.perf_counter()
        for _ in range(ROUNDS):
            render_preview(answer, 20)
        each = (time.perf_counter() - start) * 1000 / ROUNDS
        print(f"  {name:<20} {each:7.2f} ms")


if __name__ == "__main__":
    main()
