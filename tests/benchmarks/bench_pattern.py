"""Pattern matching benchmark, run by hand: ``python tests/benchmarks/bench_pattern.py``.

Not part of the test suite (no timed assertions there). Issue 12's target:
matching one pattern over 100,000 envelopes in at most 100 ms. Each pattern
is compiled once and run over the same 100,000 envelopes; the time of a bare
loop calling a trivial predicate is printed as the floor.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from popview.mail.envelope import Envelope
from popview.mail.pattern import MatchContext, compile_pattern

COUNT = 100_000
PATTERNS = (
    "invoice",
    "~f example.org",
    "~s report ~z >100K",
    "~d <30d | ~A",
    "~x spam | ~x dmarc=fail",
    "!(~f alice | ~f bob) ~z >5M",
    "~t team ~N",
)


def envelopes(count: int) -> list[Envelope]:
    rng = random.Random(12)
    now = datetime(2026, 3, 10, tzinfo=UTC)
    rows = []
    for n in range(1, count + 1):
        rows.append(
            Envelope(
                number=n,
                uid=f"uid{n}",
                size=rng.randint(500, 10 << 20),
                from_name=rng.choice(["Alice Example", "Bob", "Jörg Müller", ""]),
                from_addr=rng.choice(["alice@example.org", "bob@example.net", "deals@shop.test"]),
                to_raw="Team <team@example.org>",
                subject=f"Re: [list] weekly report number {n} for the team",
                date=now - timedelta(days=rng.randint(0, 400)),
                has_attachment=n % 7 == 0,
                signals=frozenset({"spam"}) if n % 11 == 0 else frozenset(),
            )
        )
    return rows


def main() -> None:
    rows = envelopes(COUNT)
    ctx = MatchContext(now=datetime(2026, 3, 10, tzinfo=UTC), is_new=lambda e: e.number % 2 == 0)
    start = time.perf_counter()
    floor = sum(1 for e in rows if e.has_attachment)
    print(
        f"{COUNT:,} envelopes; bare loop reading one field: "
        f"{(time.perf_counter() - start) * 1000:7.1f} ms ({floor} hits)"
    )
    for text in PATTERNS:
        test = compile_pattern(text, ctx)
        start = time.perf_counter()
        hits = sum(1 for e in rows if test(e))
        elapsed = (time.perf_counter() - start) * 1000
        print(f"  {text:<34} {elapsed:7.1f} ms  ({hits:,} match)")


if __name__ == "__main__":
    main()
