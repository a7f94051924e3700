"""Mail benchmarks, run by hand: ``python tests/benchmarks/bench_mail.py``.

Not part of the test suite (no timed assertions there). Each number is
printed next to a baseline measured in the same run on the same data, so the
ratio means something on any machine:

1. 10,000 header blocks: :func:`parse_envelopes` against
   ``email.message_from_bytes(policy=default)`` reading the same fields.
2. A 20 MB message with attachments: parse + render of the first screen
   (the issue's budget is one second here).
3. Hostile inputs: the time each takes, to spot a quadratic path.
"""

from __future__ import annotations

import base64
import email
import email.policy
import random
import time
from collections.abc import Callable

from popview.mail.envelope import parse_envelopes
from popview.mail.message import parse_message
from popview.mail.render import render_body

SCREEN_LINES = 50


def header_blocks(count: int) -> list[bytes]:
    rng = random.Random(1939)
    names = ["Alice Example", "=?utf-8?q?J=C3=B6rg_M=C3=BCller?=", '"Doe, John"', "Bob"]
    blocks = []
    for n in range(count):
        subject = (
            f"=?utf-8?b?{base64.b64encode(f'Größe {n} – Bericht'.encode()).decode()}?="
            if n % 3 == 0
            else f"Re: [list] weekly report number {n} for the team"
        )
        block = (
            f"Return-Path: <sender{n}@example.org>\r\n"
            f"Received: from mx{n % 7}.example.org (mx.example.org [192.0.2.{n % 250}])\r\n"
            f"\tby pop.example.net with ESMTPS id {n:08x}; Tue, 3 Mar 2026 10:15:00 +0100\r\n"
            f"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1; bh={'x' * 44};\r\n"
            f"\tb={'y' * 300}\r\n"
            f"From: {rng.choice(names)} <sender{n}@example.org>\r\n"
            f"To: Team <team@example.net>, other{n}@example.com\r\n"
            f"Subject: {subject}\r\n"
            f"Date: Tue, {1 + n % 28:02d} Mar 2026 10:{n % 60:02d}:00 +0100\r\n"
            f"Message-ID: <{n}.{rng.randrange(10**9)}@example.org>\r\n"
            f"MIME-Version: 1.0\r\n"
            f"Content-Type: multipart/alternative; boundary=b{n}\r\n"
            f"\r\n"
        )
        blocks.append(block.encode())
    return blocks


def stdlib_envelope(block: bytes) -> tuple[str, str, object]:
    msg = email.message_from_bytes(block, policy=email.policy.default)
    return str(msg["subject"]), str(msg["from"]), msg["date"] and msg["date"].datetime


def timed(label: str, call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    elapsed = time.perf_counter() - start
    print(f"  {label:<58} {elapsed * 1000:9.1f} ms")
    return elapsed


def bench_envelopes() -> None:
    blocks = header_blocks(10_000)
    rows = [(b, i + 1, f"u{i}", len(b)) for i, b in enumerate(blocks)]
    print("10,000 header blocks")
    ours = timed("popview parse_envelopes", lambda: parse_envelopes(rows))
    base = timed(
        "email.message_from_bytes(policy.default) + 3 fields",
        lambda: [stdlib_envelope(b) for b in blocks],
    )
    print(f"  ratio popview / stdlib: {ours / base:.3f} ({base / ours:.1f}x faster)")


def big_message(megabytes: int) -> bytes:
    rng = random.Random(5)
    parts = [
        b"From: Big <big@example.org>\r\nTo: bob@example.net\r\nSubject: scans\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BIG\r\n\r\n"
        b"--BIG\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + b"The scans are attached.\r\n"
        * 200
    ]
    per = 2 * 1024 * 1024
    for n in range(megabytes // 2):
        data = base64.encodebytes(rng.randbytes(per * 3 // 4)).replace(b"\n", b"\r\n")
        parts.append(
            b"--BIG\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            + f'Content-Disposition: attachment; filename="scan-{n}.pdf"\r\n\r\n'.encode()
            + data
        )
    parts.append(b"--BIG--\r\n")
    return b"".join(parts)


def first_screen(raw: bytes) -> list[str]:
    body = render_body(parse_message(raw))
    return body.lines[:SCREEN_LINES]


def bench_big() -> None:
    raw = big_message(20)
    print(f"A {len(raw) / 1e6:.1f} MB message with 10 attachments")
    timed("parse_message + render_body + first 50 lines", lambda: first_screen(raw))
    timed(
        "email.message_from_bytes(policy.default) alone",
        lambda: email.message_from_bytes(raw, policy=email.policy.default),
    )


def bench_hostile() -> None:
    print("Hostile inputs (each should be in the tens of ms, never seconds)")
    head = b"From: a@b\r\nSubject: x\r\n"
    cases = {
        "1 MB Subject": b"Subject: " + b"A" * 1_000_000 + b"\r\n\r\n",
        "16,000 encoded words": b"Subject: " + b"=?utf-8?q?ab?= " * 16_000 + b"\r\n\r\n",
        "200,000 ';' in To": b"To: " + b";" * 200_000 + b"\r\n\r\n",
        "'<' x 1,000,000 in From": b"From: " + b"<" * 1_000_000 + b"\r\n\r\n",
        "Content-Type with 20,000 params": head
        + b"Content-Type: text/plain"
        + b"; a=b" * 20_000
        + b"\r\n\r\nbody",
        "50 MB single-line body": head + b"\r\n" + b"x" * 50_000_000,
        "1,000,000 short lines": head + b"\r\n" + b"line\r\n" * 1_000_000,
        "MIME nesting 5,000 deep": head
        + b"".join(
            b'Content-Type: multipart/mixed; boundary="%d"\r\n\r\n--%d\r\n' % (i, i)
            for i in range(5_000)
        ),
        "10,000 parts": head
        + b"Content-Type: multipart/mixed; boundary=p\r\n\r\n"
        + b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n" * 10_000
        + b"--p--\r\n",
    }
    for label, raw in cases.items():
        timed(
            f"{label}: envelope", lambda raw=raw: parse_envelopes([(raw[:2_000_000], 1, None, 1)])
        )
        timed(f"{label}: message + first screen", lambda raw=raw: first_screen(raw))


if __name__ == "__main__":
    bench_envelopes()
    bench_big()
    bench_hostile()
