"""The hostile server: a recording embedded server and faults derived from real replies.

Built on :mod:`popview.server` (SERVER_API.md) with two test-only extensions:

* :class:`HostileServer` subclasses :class:`~popview.server.Pop3Server` to
  record, for every session, the snapshot it logged in to (message number ->
  the mailbox's own key), whether TLS was active when each command arrived, and
  which keys each QUIT removed. That is what lets the oracle map a ``DELE n``
  back to the message it hit, through the numbering of *that* session.
* :class:`ScriptedFault` subclasses :class:`~popview.server.Fault`: the plain
  API sends fixed bytes, but "the real reply cut at byte k", "the real LIST
  plus junk rows" or "the real RETR with a lone dot in the middle" depend on
  the session's mailbox when the fault fires, so the reply is computed then.

The driver (:mod:`tests.invariants.driver`) plays scenarios against it; the
oracle (:mod:`tests.invariants.oracle`) judges the runs.
"""

from __future__ import annotations

import base64
import logging
import ssl
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import trustme

from popview.server import GREETING, Fault, MemoryMailbox, Pop3Server, StoredMessage
from popview.server.maildrop import dot_stuff, to_crlf

__all__ = [
    "CANARY_PASSWORD",
    "MARGIN",
    "TIMEOUT",
    "USER",
    "FaultSpec",
    "HostileServer",
    "ScriptedFault",
    "Seen",
    "TrackedMailbox",
    "captured_logs",
    "client_context",
    "real_reply",
    "secret_forms",
    "server_context",
    "terminal_unsafe",
    "transform",
]

USER = "alice"
CANARY_PASSWORD = "Canary-7f3a9e-pw"
"""The password of every hostile run: it must never show up anywhere."""

TIMEOUT = 0.3
"""Seconds per command (the account's ``timeout``): short, so examples are fast."""

MARGIN = 4.0
"""Seconds added to an action's budget for a loaded machine (two shared cores)."""


def secret_forms(password: str = CANARY_PASSWORD, user: str = USER) -> list[str]:
    """The password as it could leak: plain, and inside a SASL PLAIN response."""
    plain = f"\0{user}\0{password}".encode()
    return [
        password,
        base64.b64encode(plain).decode(),
        base64.b64encode(password.encode()).decode(),
    ]


def terminal_unsafe(text: str, *, multiline: bool = True) -> list[str]:
    """Characters of ``text`` a terminal would act on: C0/C1 controls, bidi overrides.

    Newlines (and tabs) are allowed when ``multiline``.
    """
    allowed = {"\n", "\t"} if multiline else set()
    bad = []
    for ch in text:
        code = ord(ch)
        if ch in allowed:
            continue
        control = code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F
        bidi = 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069
        if control or bidi or unicodedata.category(ch) == "Cs":
            bad.append(f"U+{code:04X}")
    return bad


# -- the recording server ------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One command line the server received, and whether TLS protected it."""

    session: int
    line: str
    tls: bool

    @property
    def verb(self) -> str:
        return self.line.split(" ", 1)[0].upper()


class TrackedMailbox(MemoryMailbox):
    """A :class:`MemoryMailbox` that tells QUIT removals from another client's.

    Attributes:
        expunged: ``(session, keys)`` for each QUIT (UPDATE state) that removed mail.
        external: Keys removed by :meth:`remove_external` ("another client").
    """

    def __init__(self, messages: list[bytes], uids: list[str] | None = None) -> None:
        super().__init__(messages, uids)
        self.server: HostileServer | None = None
        self.expunged: list[tuple[int, list[object]]] = []
        self.external: list[object] = []
        self._by_other_client = False

    def items(self) -> list[StoredMessage]:
        """The messages on the server now."""
        return self.load()

    def expunge(self, keys: Any) -> None:
        keys = list(keys)
        if not self._by_other_client:
            session = self.server.current_session if self.server is not None else 0
            self.expunged.append((session, keys))
        super().expunge(keys)

    def remove_external(self, index: int) -> object | None:
        """Remove the message at ``index`` (modulo the count) as another client would."""
        items = self.load()
        if not items:
            return None
        key = items[index % len(items)].key
        self._by_other_client = True
        try:
            super().expunge([key])
        finally:
            self._by_other_client = False
        self.external.append(key)
        return key


class HostileServer(Pop3Server):
    """A :class:`Pop3Server` recording what the oracle needs (see the module docstring).

    Attributes:
        seen: Every command line, with its session and TLS state.
        logins: Session -> the snapshot it logged in to (number n is index n-1).
        current_session: The session whose command was received last.
    """

    def __init__(self, mailbox: TrackedMailbox, **kwargs: Any) -> None:
        super().__init__(mailbox, **kwargs)
        mailbox.server = self
        self.tracked = mailbox
        self.seen: list[Seen] = []
        self.logins: dict[int, list[StoredMessage]] = {}
        self.current_session = 0

    def record(self, session: int, line: str) -> None:
        # Called from Pop3Conversation (its _serve, _read_line or _auth); nothing
        # between this call and the command's dispatch yields to the loop, so
        # current_session is the session that login/QUIT/faults act for.
        caller = sys._getframe(1).f_locals.get("self")
        tls = bool(getattr(caller, "tls_active", False))
        self.current_session = session
        self.seen.append(Seen(session, line, tls))
        super().record(session, line)

    def mailbox_for_login(self) -> TrackedMailbox:
        mailbox = super().mailbox_for_login()
        assert isinstance(mailbox, TrackedMailbox)
        self.logins[self.current_session] = mailbox.load()
        return mailbox

    @property
    def latest_login(self) -> int | None:
        """The most recent session that got as far as a login attempt."""
        return max(self.logins) if self.logins else None


# -- faults whose reply is derived from the real one ------------------------------------


def _capa_reply(server: Pop3Server) -> bytes:
    lines = "".join(f"{c}\r\n" for c in server.capability_lines(False))
    return b"+OK Capability list follows\r\n" + lines.encode() + b".\r\n"


def real_reply(server: HostileServer, verb: str, arg: str | None) -> bytes:
    """What the server would answer to ``verb arg`` in its current session (no deletions)."""
    snapshot = server.logins.get(server.current_session, [])
    data = [to_crlf(m.data) for m in snapshot]
    if verb == GREETING:
        return b"+OK popview POP3 server ready\r\n"
    if verb == "CAPA":
        return _capa_reply(server)
    if verb == "STAT":
        return b"+OK %d %d\r\n" % (len(data), sum(map(len, data)))
    number: int | None = None
    if arg is not None and arg.isascii() and arg.isdigit() and len(arg) < 9:
        number = int(arg)
    if verb in ("LIST", "UIDL"):

        def row(n: int) -> bytes:
            value = str(len(data[n - 1])) if verb == "LIST" else snapshot[n - 1].uid
            return f"{n} {value}".encode("latin-1", "replace")

        if arg is None:
            rows = b"".join(row(n) + b"\r\n" for n in range(1, len(data) + 1))
            return b"+OK\r\n" + rows + b".\r\n"
        if number is not None and 1 <= number <= len(data):
            return b"+OK " + row(number) + b"\r\n"
        return b"-ERR No such message\r\n"
    if verb in ("TOP", "RETR"):
        if number is None or not 1 <= number <= len(data):
            return b"-ERR No such message\r\n"
        body = data[number - 1]
        if verb == "TOP":
            head, sep, _ = body.partition(b"\r\n\r\n")
            body = head + b"\r\n\r\n" if sep else body
            return b"+OK\r\n" + dot_stuff(body)
        return b"+OK %d octets\r\n" % len(body) + dot_stuff(body)
    return b"+OK\r\n"


BOGUS_ROWS = (
    b"abc 1",
    b"1",
    b"1 -5",
    b"1 99999999999999999999",
    b"0 10",
    b"77 7",
    b"2 ,",
    b"   ",
    b"+ok",
    b"1 dup-row",
    b"3\x00 nul",
)


def transform(kind: str, real: bytes, param: int, junk: bytes) -> bytes:
    """Derive a hostile reply from the real one.

    Kinds: ``truncate`` (cut at ``param``/1000 of its length), ``unterminated``
    (no final ``.`` line / CRLF), ``miscount`` (STAT/RETR sizes or counts lie;
    listings get junk rows after the true ones), ``lone_dot`` (an unstuffed
    ``.`` in the middle of a multi-line reply, the rest following it),
    ``junk_lines`` (junk data lines inserted before the terminator).
    """
    multiline = real.endswith(b"\r\n.\r\n") and real.startswith(b"+OK")
    if kind == "truncate":
        return real[: len(real) * param // 1000]
    if kind == "unterminated":
        return real[:-3] if multiline else real.rstrip(b"\r\n")
    if kind == "miscount":
        if real.startswith(b"+OK") and b"octets" in real.split(b"\r\n", 1)[0]:
            head, rest = real.split(b"\r\n", 1)
            return b"+OK %d octets\r\n" % (2**63 + param) + rest
        if multiline:
            rows = b"".join(BOGUS_ROWS[i % len(BOGUS_ROWS)] + b"\r\n" for i in range(param % 7 + 1))
            return real[:-3] + rows + b".\r\n"
        if real.startswith(b"+OK") and len(real.split()) == 3:
            return b"+OK %d %d\r\n" % (param, 2**63)
        return real
    if kind == "lone_dot" and multiline:
        head, rest = real.split(b"\r\n", 1)
        lines = rest.split(b"\r\n")
        cut = max(1, len(lines) // 2)
        return head + b"\r\n" + b"\r\n".join(lines[:cut]) + b"\r\n.\r\n" + b"\r\n".join(lines[cut:])
    if kind == "junk_lines" and multiline:
        return real[:-3] + junk.replace(b"\r\n.\r\n", b"") + b"\r\n.\r\n"
    return real


@dataclass
class ScriptedFault(Fault):
    """A :class:`Fault` whose ``replace`` is derived from the real reply when it fires.

    Attributes:
        kind: A :func:`transform` kind, or ``""`` for a plain fault.
        param: The transform's parameter.
        junk: Junk bytes for ``junk_lines``.
        server: The server whose current session the reply is derived for.
    """

    kind: str = ""
    param: int = 0
    junk: bytes = b""
    server: HostileServer | None = field(default=None, repr=False, compare=False)

    def offer(self, verb: str, arg: str | None) -> bool:
        if not super().offer(verb, arg):
            return False
        if self.kind and self.server is not None:
            self.replace = transform(
                self.kind, real_reply(self.server, verb, arg), self.param, self.junk
            )
        return True


@dataclass(frozen=True)
class FaultSpec:
    """An immutable description of a :class:`ScriptedFault` (hypothesis draws these)."""

    verb: str
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
    kind: str = ""
    param: int = 0
    junk: bytes = b""

    def build(self, server: HostileServer) -> ScriptedFault:
        """A fresh fault for one run."""
        return ScriptedFault(
            verb=self.verb, skip=self.skip, times=self.times, delay=self.delay,
            chunk_size=self.chunk_size, chunk_delay=self.chunk_delay, replace=self.replace,
            append=self.append, err_code=self.err_code, drop_before=self.drop_before,
            drop_after=self.drop_after, silent=self.silent, kind=self.kind, param=self.param,
            junk=self.junk, server=server,
        )  # fmt: skip


_CA: trustme.CA | None = None


def shared_ca() -> trustme.CA:
    """A throw-away CA shared by the hostile runs (the client trusts only it)."""
    global _CA
    if _CA is None:
        _CA = trustme.CA()
    return _CA


def server_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    shared_ca().issue_cert("127.0.0.1").configure_cert(context)
    return context


def client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    shared_ca().configure_trust(context)
    return context


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Collect every log record (formatted, with tracebacks) while the block runs."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
