"""LIST and UIDL rows parsed as they arrive (HARDENING A.7, A.12).

A listing can be hundreds of thousands of rows, most of them junk on a broken
or hostile server. The collectors here take each batch of data lines as the
connection reads it (a :data:`~popview.pop3.pipeline.Sink`), keep the parsed
entries and only the first :data:`REJECTED_KEPT` rejected rows (sanitized) plus
a count, so memory follows the good rows, not the size of the reply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from popview.errors import printable
from popview.pop3.replies import scan_list, scan_uidl

__all__ = ["REJECTED_KEPT", "REJECTED_LOGGED", "ListRows", "Rejects", "UidlRows"]

log = logging.getLogger(__name__)

REJECTED_KEPT = 100
"""Rejected rows kept (sanitized) for display; the rest are only counted."""
REJECTED_LOGGED = 20
"""Rejected rows written to the log; the log line gives the total."""


class Rejects:
    """Junk listing rows: the first :data:`REJECTED_KEPT` kept, all counted.

    Attributes:
        kept: The first rows rejected, sanitized for display.
        count: How many rows were rejected in all.
    """

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.count = 0

    def add(self, rows: Iterable[str]) -> None:
        """Count ``rows`` (already sanitized), keeping them while under the cap."""
        for row in rows:
            self.count += 1
            if len(self.kept) < REJECTED_KEPT:
                self.kept.append(row)

    def log(self, host: str, trace: Callable[[str], None] | None = None) -> None:
        """Log the rejected rows at WARNING (``--debug``) and write them to the
        trace: the first :data:`REJECTED_LOGGED` and the total (HARDENING A.12:
        bad rows are "rejected and logged"; F.60: not on the terminal)."""
        if not self.count:
            return
        shown = self.kept[:REJECTED_LOGGED]
        more = f" (first {len(shown)} shown)" if self.count > len(shown) else ""
        text = f"{self.count} malformed LIST/UIDL row(s){more}: {' | '.join(shown)}"
        log.warning("%s sent %s", printable(host, 100), text)
        if trace is not None:
            trace(f"popview: {text}")


class ListRows:
    """A multi-line ``LIST`` reply, parsed batch by batch.

    Attributes:
        sizes: Message number → size, in the server's order; a number listed
            twice keeps its first row. ``None`` is an unknown size: the row had
            a valid message number but a negative, absurd or missing size, and
            the message stays listed (HARDENING F.60: its UIDL row may be fine).
    """

    def __init__(self, rejects: Rejects) -> None:
        self.sizes: dict[int, int | None] = {}
        self._rejects = rejects

    def feed(self, lines: bytes | tuple[bytes, ...]) -> None:
        """Parse one batch of data lines (a :data:`~popview.pop3.pipeline.Sink`),
        or a piece of the block as it arrived (every line ending in CRLF)."""
        found, rejected = scan_list(_block(lines))
        self._rejects.add(rejected)
        _merge(self.sizes, found, self._rejects)
        for row in rejected:
            listed = _leading_number(row)
            if listed is not None:
                self.sizes.setdefault(listed, None)

    def entries(self, max_number: int) -> list[tuple[int, int | None]]:
        """``(number, size)`` up to ``max_number`` (the STAT count); higher ones
        are rejected."""
        if not self.sizes or max(self.sizes) <= max_number:
            return list(self.sizes.items())
        kept: list[tuple[int, int | None]] = []
        for number, size in self.sizes.items():
            if number > max_number:  # HARDENING A.12: msg > STAT count
                self._rejects.add([f"{number} {size} (beyond STAT count)"])
            else:
                kept.append((number, size))
        return kept


def _merge(rows: dict[int, Any], found: dict[int, Any], rejects: Rejects) -> None:
    """Add a batch's rows; a number already listed by an earlier batch is rejected."""
    if rows.keys().isdisjoint(found):  # the usual case: one pass in C
        rows.update(found)
        return
    for number, value in found.items():
        if number in rows:  # repeated across batches
            rejects.add([printable(f"{number} {value} (message listed twice)")])
        else:
            rows[number] = value


def _block(lines: bytes | tuple[bytes, ...]) -> bytes:
    """A batch of lines as the block it came from (one join in C)."""
    if isinstance(lines, bytes):
        return lines
    return b"\r\n".join(lines) + b"\r\n" if lines else b""


def _leading_number(row: str) -> int | None:
    """The message number a rejected LIST row starts with, if it is one."""
    head = row.split(" ", 1)[0]
    if not (head.isascii() and head.isdigit()) or len(head) > 9 or head.startswith("0"):
        return None
    return int(head)


class UidlRows:
    """A multi-line ``UIDL`` reply, parsed batch by batch.

    Rows are kept as the server sent them; whether an id is stable (valid, and
    listed once) is decided by :func:`popview.session.identity.message_keys`.

    Attributes:
        rows: Message number → unique-id, in the server's order.
    """

    def __init__(self, rejects: Rejects) -> None:
        self.rows: dict[int, str] = {}
        self._rejects = rejects

    def feed(self, lines: bytes | tuple[bytes, ...]) -> None:
        """Parse one batch of data lines (a :data:`~popview.pop3.pipeline.Sink`),
        or a piece of the block as it arrived (every line ending in CRLF)."""
        found, rejected = scan_uidl(_block(lines))
        self._rejects.add(rejected)
        _merge(self.rows, found, self._rejects)
