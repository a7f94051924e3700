"""Hypothesis strategies for the hostile runs, and the ``ci``/``soak`` profiles.

Profiles (chosen with ``HYPOTHESIS_PROFILE``, default ``ci``); they are applied
per test through :data:`invariant_settings`, so other suites keep their own:

* ``ci``: a few minutes for the whole invariants package;
* ``soak``: 50,000 examples per property (the long run in the README).

Failing examples are saved in ``.hypothesis/invariants`` (git-ignored) and
replayed first on the next run; bugs found are pinned with ``@example``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from popview.server import GREETING
from tests.invariants.driver import SERVER_ACTIONS, USER_ACTIONS, Action, Scenario
from tests.invariants.hostile import TIMEOUT, FaultSpec

__all__ = [
    "HOSTILE_BODIES",
    "HOSTILE_HEADERS",
    "PROFILE",
    "actions",
    "fault_specs",
    "invariant_settings",
    "mailboxes",
    "scenarios",
]

_DB = DirectoryBasedExampleDatabase(
    Path(__file__).resolve().parents[2] / ".hypothesis" / "invariants"
)
_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": _DB,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", max_examples=200, **_COMMON)
settings.register_profile("soak", max_examples=50_000, **_COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "soak"):
    PROFILE = "ci"


def invariant_settings(scale: float = 1.0) -> settings:
    """The chosen profile, with ``max_examples`` scaled for a slower driver."""
    base = settings.get_profile(PROFILE)
    return settings(base, max_examples=max(1, int(base.max_examples * scale)))


# -- mailboxes ----------------------------------------------------------------------

HOSTILE_HEADERS = (
    b"From: Bob <bob@example.org>\r\nSubject: Plain\r\n",
    b"From: \x1b]0;pwned\x07Eve <eve@example.org>\r\nSubject: \x1b[2J\x1b[31mred\x1b[0m\r\n",
    b"From: x@example.org\r\nSubject: =?us-ascii?q?=1B]52;c;ZXZpbA=3D=3D=07clip?=\r\n",
    b"From: x@example.org\r\nSubject: =?utf-8?q?=C2=9B31m_c1_=C2=9D0;t=07?=\r\n",
    b"From: x@example.org\r\nSubject: raw c1 \x9b31m \x9d0;x\x07 8bit\r\n",
    b"From: [bold red]x[/] <m@example.org>\r\nSubject: [@click=app.quit]x[/] [link=file:///etc/passwd]y[/link]\r\n",
    b"From: =?utf-8?q?=E2=80=AEevil=E2=81=A6?= <b@example.org>\r\n"
    b"Subject: =?utf-8?q?a=E2=80=8Bb=EF=BB=BFc?=\r\n",
    b"From: x@example.org\r\nSubject: nul\x00byte\r\nX-\x00: v\r\n",
    b"From: x@example.org\r\nSubject: =?x-unknown?q?hi?=\r\n"
    b'Content-Type: text/plain; charset="utf-8\\"evil"\r\n',
    b"Subject: \xff\xfe invalid utf-8 \xc3\x28\r\n",
    b"",
    b"   \r\n",
    b"From: x@example.org\r\nSubject: " + b"=?utf-8?q?x?= " * 400 + b"\r\n",
    b"From: x@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n",
)

HOSTILE_BODIES = (
    b"hello\r\n",
    b".\r\n..\r\n...\r\n. x\r\n.x\r\nend\r\n",
    b"\x1b[2J\x1b]52;c;ZXZpbA==\x07\x1bP$q\x1b\\\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\r\n",
    b"bare\nlf\rcr only\r\nmixed\n",
    b"nul \x00 in body\r\n",
    b"x" * 5000 + b"\r\n",
    b"--b\r\nContent-Type: text/plain\r\n\r\npart\r\n",  # boundary never closed
    b"=?utf-8?b?not base64!!?=\r\n",
    b"",
)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """One RFC 5322-ish message built from hostile headers and bodies."""
    head = draw(st.sampled_from(HOSTILE_HEADERS))
    body = draw(st.sampled_from(HOSTILE_BODIES))
    extra = draw(st.one_of(st.just(b""), st.binary(max_size=40)))
    return head + b"\r\n" + body + extra


_UIDS = ("", "u" * 71, "../../x", "a/b", "dup", "dup", "\u00fc", "a b")


@st.composite
def mailboxes(draw: st.DrawFn) -> tuple[tuple[bytes, ...], tuple[str, ...] | None]:
    """0-5 messages, and either the default UIDs or a mix of good and hostile ones."""
    msgs = tuple(draw(st.lists(messages(), max_size=5)))
    if not msgs or draw(st.booleans()):
        return msgs, None
    uids = tuple(
        draw(st.one_of(st.just(f"m{n}-stable"), st.sampled_from(_UIDS))) for n in range(len(msgs))
    )
    return msgs, uids


# -- faults -------------------------------------------------------------------------

_VERBS = (GREETING, "CAPA", "AUTH", "STLS", "STAT", "LIST", "UIDL", "TOP", "RETR", "DELE",
          "RSET", "NOOP", "QUIT", "*")  # fmt: skip
_RESP_CODES = ("", "IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM", "AUTH", "UTF8")
_STATIC_REPLIES = (
    b"+OK " + b"A" * 70_000 + b"\r\n",  # over the status-line cap
    b"-ERR \x1b[2J\x1b]0;title\x07[bold]x[/] \xc2\x9b31m\r\n",
    b"+ok lower case\r\n",
    b"+OK\r\n",
    b"\r\n",
    b"+OK Begin TLS\r\n+OK injected\r\n",
    b"+OK\r\n.\r\n",
    b"-ERR\r\n",
    b"+ \r\n",
    b"* junk\r\n",
)
_APPENDS = (b"+OK injected\r\n", b"-ERR junk\r\n", b".\r\n", b"\r\n", b"+OK\r\n1 x\r\n")


@st.composite
def fault_specs(draw: st.DrawFn) -> FaultSpec:
    """One fault: which command, when, and how the reply misbehaves."""
    verb = draw(st.sampled_from(_VERBS))
    common: dict[str, Any] = {
        "verb": verb,
        "skip": draw(st.integers(0, 3)),
        "times": draw(st.sampled_from((1, 1, 2, None))),
    }
    how = draw(st.sampled_from((
        "err", "derived", "replace", "append", "split", "delay", "drop", "silent",
    )))  # fmt: skip
    if how == "err":
        code = draw(
            st.one_of(
                st.sampled_from(_RESP_CODES),
                st.from_regex(r"[A-Z][A-Z0-9/-]{0,15}", fullmatch=True),
            )
        )
        return FaultSpec(err_code=code, **common)
    if how == "derived":
        return FaultSpec(
            kind=draw(
                st.sampled_from(("truncate", "unterminated", "miscount", "lone_dot", "junk_lines"))
            ),
            param=draw(st.integers(0, 1000)),
            junk=draw(st.binary(max_size=60)),
            drop_after=draw(st.booleans()),
            chunk_size=draw(st.one_of(st.none(), st.integers(1, 64))),
            **common,
        )
    if how == "replace":
        replace = draw(st.one_of(st.sampled_from(_STATIC_REPLIES), st.binary(max_size=120)))
        return FaultSpec(replace=replace, drop_after=draw(st.booleans()), **common)
    if how == "append":
        append = draw(st.one_of(st.sampled_from(_APPENDS), st.binary(min_size=1, max_size=40)))
        return FaultSpec(append=append, **common)
    if how == "split":
        return FaultSpec(
            chunk_size=draw(st.integers(1, 40)),
            chunk_delay=draw(st.sampled_from((0.0, 0.001, 0.02))),
            **common,
        )
    if how == "delay":
        return FaultSpec(delay=draw(st.floats(0.0, 2 * TIMEOUT)), **common)
    if how == "drop":
        before = draw(st.booleans())
        return FaultSpec(drop_before=before, drop_after=not before, **common)
    return FaultSpec(silent=True, **common)


# -- actions ------------------------------------------------------------------------

_ACTION_NAMES = (*USER_ACTIONS, "mark", "mark", "fetch", "list", *SERVER_ACTIONS)


def actions(
    max_size: int = 12, names: tuple[str, ...] = _ACTION_NAMES
) -> st.SearchStrategy[tuple[Action, ...]]:
    """A sequence of user actions, usually starting with open (and list)."""
    one = st.builds(Action, st.sampled_from(names), st.integers(0, 7))
    lead = st.sampled_from(((Action("open"), Action("list")), (Action("open"),), ()))
    return st.tuples(lead, st.lists(one, max_size=max_size)).map(lambda t: (*t[0], *t[1]))


_CAPS = ("TOP", "UIDL", "USER", "PIPELINING", "RESP-CODES", "SASL PLAIN", "STLS", "LOGIN-DELAY 0",
         "AUTH-RESP-CODE", "IMPLEMENTATION \x1b[2Jevil")  # fmt: skip


@st.composite
def scenarios(draw: st.DrawFn, max_actions: int = 12) -> Scenario:
    """A whole hostile run: mailbox, TLS mode, capabilities, faults and actions."""
    msgs, uids = draw(mailboxes())
    tls = draw(st.sampled_from(("none", "none", "none", "starttls", "implicit")))
    caps = draw(st.one_of(st.none(), st.none(), st.sets(st.sampled_from(_CAPS)).map(sorted)))
    return Scenario(
        messages=msgs,
        uids=uids,
        faults=tuple(draw(st.lists(fault_specs(), max_size=5))),
        actions=draw(actions(max_actions)),
        tls=tls,
        capabilities=None if caps is None else tuple(caps),
        use_store=draw(st.booleans()),
    )
