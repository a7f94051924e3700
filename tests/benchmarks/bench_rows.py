"""Micro benchmark: the CPU a warm listing spends after LIST and UIDL arrive.

Run by hand (not a test; nothing here asserts a time)::

    python tests/benchmarks/bench_rows.py [--count 10000] [--rounds 20]

Feeds a ``LIST`` and a ``UIDL`` block of ``--count`` rows (Dovecot-shaped ids)
to the session's collectors (:mod:`popview.session.rows`) in the pieces a
streamed block arrives in, then builds the :class:`~popview.session.index.MessageIndex`
as opening a mailbox does, and prints the median time of each step and, as a
reference measured in the same run, one ``bytes.split`` of both blocks (the
least any parser must do).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from popview.session.index import MessageIndex
from popview.session.rows import ListRows, Rejects, UidlRows

PIECE = 64 * 1024
"""Roughly what one streamed piece of a block holds."""


def blocks(count: int) -> tuple[bytes, bytes]:
    """A LIST and a UIDL block of ``count`` rows, every line ending in CRLF."""
    listing = b"".join(b"%d %d\r\n" % (n, 2000 + n * 37 % 9000) for n in range(1, count + 1))
    uidl = b"".join(b"%d %08x%08x\r\n" % (n, n, 1700000000) for n in range(1, count + 1))
    return listing, uidl


def pieces(block: bytes) -> list[tuple[bytes, ...]]:
    """The block as the batches of lines a streamed reply hands its sink."""
    lines = block.split(b"\r\n")[:-1]
    per = max(1, len(lines) * PIECE // max(len(block), 1))
    return [tuple(lines[i : i + per]) for i in range(0, len(lines), per)]


def timed(step: Callable[[], object], rounds: int) -> float:
    """Median seconds of ``rounds`` runs of ``step``."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    listing, uidl = blocks(args.count)
    list_pieces, uidl_pieces = pieces(listing), pieces(uidl)

    def parse() -> tuple[ListRows, UidlRows]:
        rejects = Rejects()
        list_rows, uidl_rows = ListRows(rejects), UidlRows(rejects)
        for batch in list_pieces:
            list_rows.feed(batch)
        for batch in uidl_pieces:
            uidl_rows.feed(batch)
        return list_rows, uidl_rows

    list_rows, uidl_rows = parse()

    def index() -> MessageIndex:
        return MessageIndex(list_rows.entries(args.count), uidl_rows.rows.items(), generation=1)

    assert len(index()) == args.count and not index().unstable_count
    reference = timed(lambda: (listing.split(b"\r\n"), uidl.split(b"\r\n")), args.rounds)
    parsed = timed(parse, args.rounds)
    indexed = timed(index, args.rounds)
    print(f"{args.count} rows, median of {args.rounds}")
    print(f"reference (split both blocks): {reference * 1000:7.2f} ms")
    print(f"LIST + UIDL parsed:            {parsed * 1000:7.2f} ms")
    print(f"MessageIndex built:            {indexed * 1000:7.2f} ms")
    print(f"total:                         {(parsed + indexed) * 1000:7.2f} ms")


if __name__ == "__main__":
    main()
