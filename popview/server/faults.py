"""Fault injection for the embedded server: make one reply late, broken or absent.

A :class:`Fault` is matched against each command the server receives (by its
upper-cased verb and first argument) or against the greeting (the pseudo-verb
``GREETING``). Faults are checked in list order; the first one that fires
handles the command and later ones do not see it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

__all__ = ["GREETING", "Fault", "ReplySource", "generated_listing", "pick_fault"]

GREETING = "GREETING"
"""The pseudo-verb a fault uses to act on the server's greeting."""

ReplySource = bytes | Iterable[bytes] | Callable[[], Iterable[bytes]]
"""What :attr:`Fault.replace` may be: bytes, an iterable of byte chunks (used
once), or a zero-argument callable returning a fresh iterable at each firing."""


@dataclass
class Fault:
    """One injected misbehaviour.

    Attributes:
        verb: The command it applies to (``"RETR"``, ``"PASS"``...), or
            ``"GREETING"``, or ``"*"`` for any command (not the greeting).
        arg: Only commands whose first argument equals this (e.g. ``"2"``).
        skip: Let this many matching commands pass untouched first.
        times: Fire this many times, then stop (``None``: forever).
        delay: Seconds to wait before sending the reply.
        hold: Wait until this event is set before sending the reply (after
            ``delay``): a reply late for exactly as long as a test needs, not
            for a guessed number of seconds. An event of the server's loop.
        chunk_size: Send the reply in pieces of this many bytes...
        chunk_delay: ...pausing this long between pieces.
        replace: Bytes sent instead of the real reply. The command still takes
            effect (a replaced STLS reply still starts TLS, a replaced QUIT
            reply still deletes). Instead of bytes, an iterable of byte chunks
            or a callable returning one (called at each firing) streams the
            reply: each chunk is written and drained before the next is asked
            for, so an endless generator (HARDENING A.7: 1,000,000+ LIST
            rows, unbounded bytes) costs the server bounded memory. The
            stream ends when the iterable does or the client goes away.
        append: Bytes sent right after the real reply, in the same write
            (after a streamed ``replace``: as one more chunk).
        err_code: Answer ``-ERR [CODE] injected`` instead, without running the
            command (``""``: ``-ERR injected`` with no code).
        drop_before: Close the connection instead of running the command.
        drop_after: Close the connection right after replying.
        silent: Read the command, neither run nor answer it; the connection
            stays open and later commands are served.
        stall: After this command's reply (or none, with ``silent``) go
            quiet for good: read and discard whatever comes, send nothing,
            start no TLS (an STLS ack followed by a dead handshake), until
            the client closes or the server stops.
        matched: How many commands matched so far (skipped ones included).
        fired: How many times the fault was applied.
    """

    verb: str = "*"
    arg: str | None = None
    skip: int = 0
    times: int | None = 1
    delay: float = 0.0
    hold: asyncio.Event | None = None
    chunk_size: int | None = None
    chunk_delay: float = 0.0
    replace: ReplySource | None = None
    append: bytes | None = None
    err_code: str | None = None
    drop_before: bool = False
    drop_after: bool = False
    silent: bool = False
    stall: bool = False
    matched: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.verb = self.verb.upper()
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        if self.skip < 0 or (self.times is not None and self.times < 0):
            raise ValueError("skip and times must not be negative")
        if self.err_code is not None and any(c in self.err_code for c in "\r\n[]"):
            raise ValueError("err_code must be a bare RESP-CODE such as 'IN-USE'")
        if isinstance(self.replace, str):
            raise TypeError("replace must be bytes, an iterable of bytes or a callable, not str")

    @property
    def exhausted(self) -> bool:
        """True once the fault has fired ``times`` times."""
        return self.times is not None and self.fired >= self.times

    def applies_to(self, verb: str, arg: str | None) -> bool:
        """Whether a command with this verb and first argument matches."""
        if self.verb == "*":
            if verb == GREETING:
                return False
        elif self.verb != verb:
            return False
        return self.arg is None or self.arg == arg

    def offer(self, verb: str, arg: str | None) -> bool:
        """Count a command against the fault; True when the fault fires on it."""
        if self.exhausted or not self.applies_to(verb, arg):
            return False
        self.matched += 1
        if self.matched <= self.skip:
            return False
        self.fired += 1
        return True

    def pieces(self, reply: bytes) -> Iterator[bytes]:
        """The writes to make for one firing, given the reply the server would send.

        ``reply`` is what the command produced (or the ``-ERR`` of
        :attr:`err_code`, which wins over :attr:`replace`). Pieces are at most
        :attr:`chunk_size` bytes; empty ones are skipped.
        """
        source = self.replace if self.err_code is None else None
        blocks: Iterable[bytes]
        if source is None or isinstance(source, bytes | bytearray | memoryview):
            data = reply if source is None else bytes(source)
            blocks = (data + self.append if self.append else data,)
        else:
            stream = source() if callable(source) else source
            blocks = _then(stream, self.append)
        step = self.chunk_size
        for block in blocks:
            if step is None:
                if block:
                    yield bytes(block)
                continue
            for start in range(0, len(block), step):
                yield bytes(block[start : start + step])

    def error_reply(self) -> bytes:
        """The ``-ERR`` line sent for :attr:`err_code`."""
        if not self.err_code:
            return b"-ERR injected\r\n"
        return b"-ERR [" + self.err_code.encode("ascii") + b"] injected\r\n"


def pick_fault(faults: Iterable[Fault], verb: str, arg: str | None) -> Fault | None:
    """Return the first fault that fires for this command, if any."""
    for fault in list(faults):
        if fault.offer(verb, arg):
            return fault
    return None


def _then(stream: Iterable[bytes], last: bytes | None) -> Iterator[bytes]:
    yield from stream
    if last:
        yield last


def generated_listing(
    verb: str = "LIST", count: int | None = None, *, batch: int = 4096
) -> Callable[[], Iterator[bytes]]:
    """A :attr:`Fault.replace` streaming a generated LIST or UIDL reply.

    ``+OK``, then rows ``n 100`` (LIST) or ``n uid-n`` (UIDL) for n = 1, 2, ...
    ``batch`` rows per chunk: ``count`` rows then the terminating ``.``, or
    without end when ``count`` is ``None`` (HARDENING A.7).

    Returns:
        A callable giving a fresh stream at each firing.
    """
    kind = verb.upper()
    if kind not in ("LIST", "UIDL"):
        raise ValueError("generated_listing makes LIST or UIDL replies")
    if batch < 1 or (count is not None and count < 0):
        raise ValueError("batch must be at least 1 and count not negative")

    def row(n: int) -> bytes:
        return b"%d 100\r\n" % n if kind == "LIST" else b"%d uid-%d\r\n" % (n, n)

    def stream() -> Iterator[bytes]:
        yield b"+OK generated listing\r\n"
        n = 1
        while count is None or n <= count:
            stop = n + batch if count is None else min(n + batch, count + 1)
            yield b"".join(row(k) for k in range(n, stop))
            n = stop
        yield b".\r\n"

    return stream
