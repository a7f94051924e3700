"""Fault injection for the embedded server: make one reply late, broken or absent.

A :class:`Fault` is matched against each command the server receives (by its
upper-cased verb and first argument) or against the greeting (the pseudo-verb
``GREETING``). Faults are checked in list order; the first one that fires
handles the command and later ones do not see it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["GREETING", "Fault", "pick_fault"]

GREETING = "GREETING"
"""The pseudo-verb a fault uses to act on the server's greeting."""


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
        chunk_size: Send the reply in pieces of this many bytes...
        chunk_delay: ...pausing this long between pieces.
        replace: Bytes sent instead of the real reply. The command still takes
            effect (a replaced STLS reply still starts TLS, a replaced QUIT
            reply still deletes).
        append: Bytes sent right after the real reply, in the same write.
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
    chunk_size: int | None = None
    chunk_delay: float = 0.0
    replace: bytes | None = None
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
