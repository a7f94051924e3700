"""Tests for the sans-IO POP3 core (popview.pop3.protocol), from its public API.

Every reply shape is fed whole, one byte at a time, and split at every
position; framing errors must kill the connection for good. Commands of the
TRANSACTION state are sent after a USER/PASS login (RFC 1939 §3), as a real
session sends them.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from popview.errors import Pop3ProtocolError
from popview.pop3 import protocol as p
from popview.pop3.malformed import MalformedReply
from popview.pop3.protocol import (
    NEED_DATA,
    Command,
    Continuation,
    Data,
    ErrReply,
    Event,
    Greeting,
    Limits,
    ListEntry,
    LocalProtocolError,
    OkReply,
    Pop3Connection,
    Progress,
    RemoteProtocolError,
    State,
    UidlEntry,
)
from popview.session.identity import message_keys

GREETING = b"+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n"


LOGIN = (p.user("bob"), p.pass_("pw"))
LOGGED_IN = b"+OK\r\n+OK logged in\r\n"
_BEFORE_LOGIN = {"USER", "PASS", "APOP", "AUTH", "STLS", "UTF8", "CAPA", "QUIT"}


def drain(conn: Pop3Connection, *, progress: bool = False) -> list[Event]:
    """Pull events until NEED_DATA (Progress events only if asked: they
    depend on how the input was split)."""
    events: list[Event] = []
    while (event := conn.next_event()) is not NEED_DATA:
        assert not isinstance(event, p._NeedData)
        if progress or not isinstance(event, Progress):
            events.append(event)
    return events


def run(chunks: list[bytes], *commands: Command, limits: Limits | None = None) -> list[Event]:
    """Send ``commands`` up front, feed ``chunks`` one by one, collect events.

    When a command needs the TRANSACTION state, USER/PASS go first and their
    two ``+OK`` are inserted right after the greeting (the chunk boundaries
    elsewhere stay where they were); their replies are left out of the result.
    """
    login = any(c.verb not in _BEFORE_LOGIN for c in commands)
    if login:
        commands = (*LOGIN, *commands)
        chunks = _after_greeting(chunks, LOGGED_IN)
    conn = Pop3Connection(limits)
    for command in commands:
        conn.send(command)
    events: list[Event] = []
    for chunk in chunks:
        conn.receive_data(chunk)
        events.extend(drain(conn))
    if login:
        assert events[1:3] == [OkReply(""), OkReply("logged in")]
        del events[1:3]
    return events


def _after_greeting(chunks: list[bytes], extra: bytes) -> list[bytes]:
    """Insert ``extra`` into the stream right after the greeting line."""
    seen = 0
    out = list(chunks)
    for i, chunk in enumerate(out):
        if seen + len(chunk) >= len(GREETING):
            cut = len(GREETING) - seen
            out[i] = chunk[:cut] + extra + chunk[cut:]
            return out
        seen += len(chunk)
    raise AssertionError("the stream has no greeting")


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def greeted(limits: Limits | None = None, *, login: bool = True) -> Pop3Connection:
    """A connection past the greeting, by default logged in (TRANSACTION)."""
    conn = Pop3Connection(limits)
    conn.receive_data(GREETING)
    assert isinstance(conn.next_event(), Greeting)
    assert conn.state is State.AUTHORIZATION
    if login:
        for command in LOGIN:
            conn.send(command)
        conn.receive_data(LOGGED_IN)
        assert drain(conn) == [OkReply(""), OkReply("logged in")]
        assert conn.state is State.TRANSACTION
    return conn


def block(*lines: bytes) -> bytes:
    """A block as the core returns it: every line ending in CRLF."""
    return b"".join(line + b"\r\n" for line in lines)


STUFFED_BODY = b"a\r\n..\r\n...\r\n.. x\r\n..x\r\n\r\nlast\r\n.\r\n"
UNSTUFFED = (b"a", b".", b"..", b". x", b".x", b"", b"last")


class TestCommands:
    """Command constructors produce exact bytes and refuse injection (B.30)."""

    @pytest.mark.parametrize(
        ("command", "wire"),
        [
            (p.stat(), b"STAT\r\n"),
            (p.list_(), b"LIST\r\n"),
            (p.list_(3), b"LIST 3\r\n"),
            (p.uidl(), b"UIDL\r\n"),
            (p.uidl(7), b"UIDL 7\r\n"),
            (p.top(2, 0), b"TOP 2 0\r\n"),
            (p.retr(1), b"RETR 1\r\n"),
            (p.dele(4), b"DELE 4\r\n"),
            (p.rset(), b"RSET\r\n"),
            (p.noop(), b"NOOP\r\n"),
            (p.quit(), b"QUIT\r\n"),
            (p.capa(), b"CAPA\r\n"),
            (p.stls(), b"STLS\r\n"),
            (p.utf8(), b"UTF8\r\n"),
            (p.user("bob"), b"USER bob\r\n"),
            (p.pass_("p w"), b"PASS p w\r\n"),
            (p.pass_(""), b"PASS \r\n"),
            (
                p.apop("bob", "c4c9334bac560ecc979e58001b3e22fb"),
                b"APOP bob c4c9334bac560ecc979e58001b3e22fb\r\n",
            ),
            (p.auth("plain"), b"AUTH PLAIN\r\n"),
            (p.auth("PLAIN", "AGJvYgBwdw=="), b"AUTH PLAIN AGJvYgBwdw==\r\n"),
            (p.user("jos\u00e9"), "USER jos\u00e9\r\n".encode()),
        ],
    )
    def test_wire_bytes(self, command: Command, wire: bytes) -> None:
        """What goes on the wire is the verb, its arguments and CRLF."""
        conn = greeted(login=command.verb not in _BEFORE_LOGIN)
        assert conn.send(command) == wire

    def test_multiline_flags(self) -> None:
        """Only the block-returning forms await a dot-terminated block."""
        assert [c.multiline for c in (p.list_(), p.list_(1), p.uidl(), p.uidl(1))] == [
            True,
            False,
            True,
            False,
        ]
        assert p.retr(1).multiline and p.top(1, 0).multiline and p.capa().multiline
        assert not p.stat().multiline
        assert p.retr(1, max_bytes=10).max_bytes == 10

    @pytest.mark.parametrize("bad", ["bob\r\nDELE 1", "bob\n", "bob\r", "b\0b"])
    def test_injection_rejected(self, bad: str) -> None:
        """CR, LF or NUL in any argument raise ValueError before bytes exist."""
        for make in (
            lambda: p.user(bad),
            lambda: p.pass_(bad),
            lambda: p.apop(bad, "d"),
            lambda: p.apop("bob", bad),
            lambda: p.auth(bad),
            lambda: p.auth("PLAIN", bad),
            lambda: p.sasl_response(bad),
        ):
            with pytest.raises(ValueError, match="CR, LF or NUL"):
                make()

    def test_hand_built_command_checked_at_send(self) -> None:
        """A Command built by hand with a CRLF is refused by send()."""
        conn = greeted()
        with pytest.raises(ValueError):
            conn.send(Command("USER", ("a\r\nDELE 1",)))
        assert conn.pending == ()

    @pytest.mark.parametrize("n", [0, -1])
    def test_non_positive_numbers(self, n: int) -> None:
        """Message numbers start at 1 (RFC 1939 §4)."""
        for make in (p.retr, p.dele, p.list_, p.uidl):
            with pytest.raises(ValueError):
                make(n)
        with pytest.raises(ValueError):
            p.top(n, 1)

    def test_number_types(self) -> None:
        """Only real ints are message numbers; TOP's line count may be 0 not -1."""
        with pytest.raises(TypeError):
            p.retr(True)
        with pytest.raises(TypeError):
            p.retr("1")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            p.user(b"bob")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            p.top(1, -1)

    def test_empty_names(self) -> None:
        """An empty user name or a mechanism with a space is refused."""
        with pytest.raises(ValueError):
            p.user("")
        with pytest.raises(ValueError):
            p.apop("", "d")
        with pytest.raises(ValueError):
            p.auth("")
        with pytest.raises(ValueError):
            p.auth("PLAIN X")

    def test_trace_masks_secrets(self) -> None:
        """Traces never carry a password, digest or SASL response (C.35)."""
        assert p.pass_("hunter2").trace() == "PASS ***"
        assert p.apop("bob", "abcdef").trace() == "APOP bob ***"
        assert p.auth("PLAIN", "c2VjcmV0").trace() == "AUTH PLAIN ***"
        assert p.auth("LOGIN").trace() == "AUTH LOGIN"
        assert p.sasl_response("c2VjcmV0").trace() == "***"
        assert p.sasl_cancel().trace() == "*"
        assert p.user("bob").trace() == "USER bob"
        assert p.retr(3).trace() == "RETR 3"
        assert Command("", (), raw=True).line() == ""

    def test_repr_masks_secrets(self) -> None:
        """repr() of a command (in a crash screen's locals, a log's %r, ``pending``)
        masks the secret as trace() does (C.35); other commands show their args."""
        secret = "hunter2-canary"
        for command in (
            p.pass_(secret),
            p.apop("bob", secret),
            p.auth("PLAIN", secret),
            p.sasl_response(secret),
        ):
            assert secret not in repr(command)
            assert secret not in str(command)
        assert "***" in repr(p.pass_(secret))
        assert "'RETR'" in repr(p.retr(3)) and "'3'" in repr(p.retr(3))
        conn = greeted(login=False)
        conn.send(p.pass_(secret))
        assert secret not in repr(conn.pending)

    @pytest.mark.parametrize("bad", ["pw\udc80x", "\ud800"])
    def test_unencodable_text_rejected_without_echo(self, bad: str) -> None:
        """A lone surrogate (a non-UTF-8 byte smuggled in through os.environ) is a
        plain ValueError that does not carry the value, unlike UnicodeEncodeError
        whose repr holds the whole line."""
        for make in (lambda: p.pass_(bad), lambda: p.user(bad), lambda: p.sasl_response(bad)):
            with pytest.raises(ValueError) as info:
                make()
            assert not isinstance(info.value, UnicodeError)
            assert bad not in repr(info.value) and "pw" not in str(info.value)
        conn = greeted(login=False)
        with pytest.raises(ValueError) as info:
            conn.send(Command("PASS", (bad,), secret=True))
        assert not isinstance(info.value, UnicodeError)
        assert bad not in repr(info.value)
        assert conn.pending == ()


class TestGreeting:
    """The greeting comes first; -ERR refuses the session (A.2)."""

    def test_ok_greeting_with_timestamp(self) -> None:
        """The APOP timestamp is extracted from a valid msg-id."""
        assert run([GREETING]) == [
            Greeting(
                "POP3 ready <1896.697170952@dbc.mtview.ca.us>",
                "<1896.697170952@dbc.mtview.ca.us>",
            )
        ]

    def test_lowercase_and_bare(self) -> None:
        """``+ok`` in any case, and a bare ``+OK``, are greetings."""
        assert run([b"+ok hi\r\n"]) == [Greeting("hi")]
        assert run([b"+Ok\n"]) == [Greeting("")]

    def test_err_greeting(self) -> None:
        """-ERR with a code is an ErrReply; nothing may be sent afterwards."""
        conn = Pop3Connection()
        conn.receive_data(b"-ERR [SYS/TEMP] Permission denied\r\n")
        assert conn.next_event() == ErrReply("Permission denied", "SYS/TEMP")
        assert conn.state is State.CLOSED
        with pytest.raises(LocalProtocolError):
            conn.send(p.user("bob"))
        conn.receive_data(b"junk\r\n")
        assert conn.next_event() is NEED_DATA

    def test_commands_sent_before_greeting(self) -> None:
        """A command queued early is answered after the greeting."""
        assert run([GREETING + b"+OK 1 2\r\n"], p.user("bob"))[1:] == [OkReply("1 2")]

    def test_garbage_greeting(self) -> None:
        """A greeting that is not +OK/-ERR is a framing error."""
        conn = Pop3Connection()
        conn.receive_data(b"HTTP/1.1 400 Bad\r\n")
        with pytest.raises(RemoteProtocolError, match="greeting"):
            conn.next_event()
        assert conn.state is State.ERROR

    def test_huge_greeting_without_newline(self) -> None:
        """A 1 MB greeting with no CRLF fails once the cap is crossed (A.1)."""
        conn = Pop3Connection()
        sent = 0
        with pytest.raises(RemoteProtocolError, match="longer than"):
            while sent < 1024 * 1024:
                conn.receive_data(b"+OK " + b"x" * 4096)
                sent += 4100
                conn.next_event()
        assert sent <= Limits().max_status_line + 8192

    def test_eof_before_greeting(self) -> None:
        """EOF before any greeting says the server closed the connection."""
        conn = Pop3Connection()
        conn.receive_data(b"+OK hal")
        conn.receive_data(b"")
        with pytest.raises(RemoteProtocolError, match="closed the connection") as info:
            conn.next_event()
        assert info.value.closed

    @pytest.mark.parametrize(
        ("text", "stamp"),
        [
            ("<a@b>", "<a@b>"),
            ("x <a.b.c@d.e> y", "<a.b.c@d.e>"),
            ("<no-at> <ok@host>", "<ok@host>"),
            ("<a@[127.0.0.1]>", "<a@[127.0.0.1]>"),
            ("<<<a@b>", "<a@b>"),
            ("<a@b", None),
            ("<@b>", None),
            ("<a@>", None),
            ("<a..b@c>", None),
            ("<a b@c>", None),
            ("<a@b@c>", None),
            ("<a@[x\\]>", None),
            ("<a@[x]y>", None),
            ("<\u00e9@b>", None),
            ("a@b>", None),
            ("", None),
        ],
    )
    def test_timestamp_syntax(self, text: str, stamp: str | None) -> None:
        """Only an RFC 5322 msg-id counts as an APOP timestamp (RFC 1939 §7)."""
        assert p.parse_timestamp(text) == stamp

    @pytest.mark.parametrize(
        "hostile", ["<" * 1_000_000, "<a@" * 200_000, "<a@" * 200_000 + ">", ">" * 500_000]
    )
    def test_hostile_timestamps_bounded(self, hostile: str) -> None:
        """Pathological greetings parse (linear scan, no regex backtracking; B.28)."""
        assert p.parse_timestamp(hostile) is None

    def test_hostile_greeting_through_connection(self) -> None:
        """A long hostile greeting within a raised cap still parses."""
        conn = Pop3Connection(Limits(max_status_line=2_000_000))
        conn.receive_data(b"+OK " + b"<" * 1_000_000 + b"<x@y>\r\n")
        assert conn.next_event() == Greeting("<" * 1_000_000 + "<x@y>", "<x@y>")


class TestSingleLineReplies:
    """+OK/-ERR status lines, RESP-CODES (RFC 2449 §8) and pipelining."""

    @pytest.mark.parametrize(
        ("line", "event"),
        [
            (b"+OK 2 320\r\n", OkReply("2 320")),
            (b"+ok\r\n", OkReply("")),
            (b"+OK\tx\r\n", OkReply("x")),
            (b"-ERR no such message\r\n", ErrReply("no such message")),
            (b"-err\n", ErrReply("")),
            (b"-ERR [IN-USE] locked\r\n", ErrReply("locked", "IN-USE")),
            (b"-ERR [LOGIN-DELAY] wait\r\n", ErrReply("wait", "LOGIN-DELAY")),
            (b"-ERR [SYS/TEMP] later\r\n", ErrReply("later", "SYS/TEMP")),
            (b"-ERR [SYS/PERM] never\r\n", ErrReply("never", "SYS/PERM")),
            (b"-ERR [AUTH] bad password\r\n", ErrReply("bad password", "AUTH")),
            (b"-ERR [UTF8] needs UTF8\r\n", ErrReply("needs UTF8", "UTF8")),
            (b"-ERR [auth]\r\n", ErrReply("", "AUTH")),
            (b"+OK [X/Y/Z] fine\r\n", OkReply("fine", "X/Y/Z")),
            (b"-ERR [unterminated\r\n", ErrReply("[unterminated")),
            (b"-ERR [] empty\r\n", ErrReply("[] empty")),
            (b"-ERR [A//B] x\r\n", ErrReply("[A//B] x")),
            (b"-ERR [A B] x\r\n", ErrReply("[A B] x")),
            (b"-ERR [A[B] x\r\n", ErrReply("[A[B] x")),
            (b"-ERR \xff\x00bad\r\n", ErrReply("\ufffd\x00bad")),
        ],
    )
    def test_status_line(self, line: bytes, event: Event) -> None:
        """Each status line gives one event, whole or byte by byte."""
        assert run([GREETING + line], p.noop())[1:] == [event]
        assert run(bytewise(GREETING + line), p.noop())[1:] == [event]

    def test_pipelined_replies(self) -> None:
        """Replies are matched to commands in order, single and multi-line mixed."""
        conn = greeted()
        conn.send(p.dele(1))
        conn.send(p.uidl())
        conn.send(p.dele(2))
        assert [c.verb for c in conn.pending] == ["DELE", "UIDL", "DELE"]
        conn.receive_data(b"+OK 1\r\n+OK\r\n1 a\r\n.\r\n-ERR [SYS/TEMP] no\r\n")
        assert drain(conn) == [
            OkReply("1"),
            OkReply("", None, block(b"1 a"), 1),
            ErrReply("no", "SYS/TEMP"),
        ]
        assert len(block(b"1 a")) == 5
        assert conn.state is State.TRANSACTION
        assert conn.pending == ()

    def test_err_to_multiline_has_no_data(self) -> None:
        """-ERR to RETR is one ErrReply; the next reply is a status line again."""
        conn = greeted()
        conn.send(p.retr(9))
        conn.send(p.noop())
        conn.receive_data(b"-ERR no such message\r\n+OK\r\n")
        assert drain(conn) == [ErrReply("no such message"), OkReply("")]


class TestMultiLine:
    """Dot-terminated blocks (RFC 1939 §3), whatever the segmentation (A.9)."""

    RETR = GREETING + b"+OK 120 octets\r\n" + STUFFED_BODY

    def expected(self) -> list[Event]:
        size = sum(len(line) + 2 for line in UNSTUFFED)
        return [
            Greeting(
                "POP3 ready <1896.697170952@dbc.mtview.ca.us>",
                "<1896.697170952@dbc.mtview.ca.us>",
            ),
            OkReply("120 octets", None, block(*UNSTUFFED), len(UNSTUFFED)),
        ]
        assert len(block(*UNSTUFFED)) == size

    def test_whole(self) -> None:
        """Fed at once: one reply holding every line, unstuffed."""
        conn = Pop3Connection()
        for command in (*LOGIN, p.retr(1)):
            conn.send(command)
        conn.receive_data(_after_greeting([self.RETR], LOGGED_IN)[0])
        events = [conn.next_event() for _ in range(5)]
        greeting, reply = self.expected()
        assert events == [greeting, OkReply(""), OkReply("logged in"), reply, NEED_DATA]

    def test_one_byte_at_a_time(self) -> None:
        """Fed one byte per call, the same lines come out."""
        assert run(bytewise(self.RETR), p.retr(1)) == self.expected()

    @pytest.mark.parametrize("offset", range(6))
    def test_split_inside_terminator(self, offset: int) -> None:
        """A split at every position of ``\\r\\n.\\r\\n`` changes nothing."""
        cut = len(self.RETR) - 5 + offset
        assert run([self.RETR[:cut], self.RETR[cut:]], p.retr(1)) == self.expected()

    @pytest.mark.parametrize(
        ("wire", "line"),
        [(b"..", b"."), (b"...", b".."), (b".. x", b". x"), (b"..x", b".x"), (b".x", b"x")],
    )
    def test_dot_unstuffing(self, wire: bytes, line: bytes) -> None:
        """One leading dot is removed from every dotted line."""
        events = run([GREETING, b"+OK\r\n" + wire + b"\r\n.\r\n"], p.top(1, 0))
        assert events[1] == OkReply("", None, block(line), 1)

    def test_empty_block(self) -> None:
        """A block holding just the terminator is empty data, not None."""
        assert run([GREETING + b"+OK\r\n.\r\n"], p.list_())[1:] == [OkReply("", None, b"", 0)]
        assert run([GREETING + b"+OK\n.\n"], p.list_())[1:] == [OkReply("", None, b"", 0)]

    def test_line_endings_and_nul(self) -> None:
        """Bare LF, CR-only and NUL lines are data, kept intact (A.11)."""
        body = b"+OK\nbare lf\nmixed\r\ncr\ronly\r\n\r\r\nnul\x00byte\r\n\n.\n"
        lines = (b"bare lf", b"mixed", b"cr\ronly", b"\r", b"nul\x00byte", b"")
        assert run([GREETING, body], p.retr(1))[1] == OkReply("", None, block(*lines), 6)

    def test_long_lines_within_cap(self) -> None:
        """A 200,000-byte body line passes intact (A.5)."""
        long = b"x" * 200_000
        events = run([GREETING, b"+OK\r\n", long[:70_000], long[70_000:] + b"\r\n.\r\n"], p.retr(1))
        assert events[1] == OkReply("", None, block(long), 1)

    def test_progress_while_a_block_arrives(self) -> None:
        """RETR reports each chunk of its block as it arrives (the reply itself
        comes whole, at the end); a command that does not ask gets none."""
        conn = greeted()
        conn.send(p.retr(1))
        conn.receive_data(b"+OK\r\none\r\ntw")
        assert conn.next_event() == Progress(7)
        assert conn.next_event() is NEED_DATA
        assert conn.pending == ()
        conn.receive_data(b"o\r\n.")
        assert conn.next_event() == Progress(11)
        assert conn.next_event() is NEED_DATA
        conn.receive_data(b"\r\n")
        assert conn.has_buffered_data
        assert conn.next_event() == OkReply("", None, block(b"one", b"two"), 2)
        assert not conn.has_buffered_data
        assert conn.next_event() is NEED_DATA
        conn.send(p.top(1, 0))
        conn.receive_data(b"+OK\r\nSubject: x\r\n")
        assert conn.next_event() is NEED_DATA
        conn.receive_data(b"\r\n.\r\n")
        assert conn.next_event() == OkReply("", None, block(b"Subject: x", b""), 2)

    def test_many_replies_in_one_chunk(self) -> None:
        """Pipelined blocks fed at once come out one whole reply each, in order."""
        conn = greeted()
        for n in range(1, 4):
            conn.send(p.top(n, 0))
        conn.receive_data(b"+OK\r\nA: 1\r\n.\r\n+OK\n..B\n.\n-ERR gone\r\n")
        assert drain(conn) == [
            OkReply("", None, block(b"A: 1"), 1),
            OkReply("", None, block(b".B"), 1),
            ErrReply("gone"),
        ]

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.integers(min_value=0, max_value=200), max_size=12))
    def test_any_split_same_events(self, cuts: list[int]) -> None:
        """Property: any segmentation of a valid stream yields the same events."""
        stream = (
            GREETING
            + b"+OK [X] caps\r\nTOP\r\nSASL PLAIN\r\n.\r\n"
            + b"+ \r\n+OK in\r\n"
            + b"+OK\r\n"
            + STUFFED_BODY
            + b"-ERR [SYS/TEMP] x\r\n"
        )
        commands = (p.capa(), p.auth("PLAIN"), p.retr(1), p.dele(1))
        reference = converse([stream], commands)
        points = sorted({c % (len(stream) + 1) for c in cuts})
        chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
        assert converse([c for c in chunks if c], commands) == reference
        assert Continuation("") in reference
        assert reference[-2] == OkReply("", None, block(*UNSTUFFED), len(UNSTUFFED))


class TestSasl:
    """SASL continuations only while AUTH is pending (RFC 5034 §4)."""

    def test_exchange(self) -> None:
        """Challenges come as Continuation; AUTH stays pending until +OK."""
        conn = greeted(login=False)
        assert conn.send(p.auth("CRAM-MD5")) == b"AUTH CRAM-MD5\r\n"
        conn.receive_data(b"+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+\r\n")
        assert conn.next_event() == Continuation("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+")
        assert conn.send(p.sasl_response("dGltIGI5MTNh")) == b"dGltIGI5MTNh\r\n"
        assert [c.verb for c in conn.pending] == ["AUTH"]
        conn.receive_data(b"+\r\n")
        assert conn.next_event() == Continuation("")
        assert conn.send(p.sasl_cancel()) == b"*\r\n"
        conn.receive_data(b"-ERR [AUTH] cancelled\r\n")
        assert conn.next_event() == ErrReply("cancelled", "AUTH")
        assert conn.pending == ()

    def test_continuation_without_auth(self) -> None:
        """A ``+ `` line outside AUTH is a framing error."""
        conn = greeted(login=False)
        conn.send(p.user("bob"))
        conn.receive_data(b"+ abc\r\n")
        with pytest.raises(RemoteProtocolError, match="not \\+OK or -ERR"):
            conn.next_event()

    def test_response_without_auth(self) -> None:
        """Sending a SASL response with no AUTH pending is a caller bug."""
        conn = greeted(login=False)
        with pytest.raises(LocalProtocolError):
            conn.send(p.sasl_response("abc"))


class TestStlsInjection:
    """Plaintext queued behind the STLS +OK is visible to the caller (B.24)."""

    def test_injected_line_detected(self) -> None:
        """``+OK Begin TLS\\r\\n+OK injected`` in one segment leaves bytes buffered."""
        conn = greeted(login=False)
        conn.send(p.stls())
        conn.receive_data(b"+OK Begin TLS\r\n+OK injected\r\n")
        assert conn.next_event() == OkReply("Begin TLS")
        assert conn.has_buffered_data

    def test_clean_stls(self) -> None:
        """Nothing buffered after a clean +OK."""
        conn = greeted(login=False)
        conn.send(p.stls())
        conn.receive_data(b"+OK Begin TLS\r\n")
        assert conn.next_event() == OkReply("Begin TLS")
        assert not conn.has_buffered_data


class TestFramingErrors:
    """Every framing error raises RemoteProtocolError and poisons the connection."""

    def assert_dead(self, conn: Pop3Connection) -> None:
        assert conn.state is State.ERROR
        with pytest.raises(LocalProtocolError, match="already failed"):
            conn.next_event()
        with pytest.raises(LocalProtocolError):
            conn.send(p.noop())
        with pytest.raises(LocalProtocolError):
            conn.receive_data(b"+OK\r\n")

    def test_lone_dot_then_more_lines(self) -> None:
        """A RETR ended early by a lone dot, then more lines, is caught (A.10)."""
        conn = greeted()
        conn.send(p.retr(1))
        conn.receive_data(b"+OK\r\nbody\r\n.\r\nrest of mail\r\n.\r\n")
        assert drain_until_error(conn) == [OkReply("", None, block(b"body"), 1)]
        self.assert_dead(conn)

    def test_unsolicited_bytes_when_idle(self) -> None:
        """Even a partial line with no command pending is refused."""
        conn = greeted()
        conn.receive_data(b"+")
        with pytest.raises(RemoteProtocolError, match="no command was pending"):
            conn.next_event()
        self.assert_dead(conn)

    def test_status_line_not_ok_or_err(self) -> None:
        """A reply that is not +OK/-ERR (e.g. ``+OKAY``) is refused."""
        for line in (b"OK\r\n", b"+OKAY\r\n", b"-ERROR\r\n", b"\r\n", b"+x\r\n"):
            conn = greeted()
            conn.send(p.noop())
            conn.receive_data(line)
            with pytest.raises(RemoteProtocolError):
                conn.next_event()
            self.assert_dead(conn)

    def test_long_data_line_without_newline(self) -> None:
        """Crossing max_line mid-RETR fails before any newline arrives (A.6)."""
        conn = greeted(Limits(max_line=100))
        conn.send(p.retr(1))
        conn.receive_data(b"+OK\r\n" + b"x" * 101)
        assert conn.next_event() == Progress(101)
        assert conn.next_event() is NEED_DATA  # 101 bytes may still end in CR
        conn.receive_data(b"x+OK fake\r\n")
        with pytest.raises(RemoteProtocolError, match="longer than 100"):
            conn.next_event()
        self.assert_dead(conn)

    def test_long_complete_line(self) -> None:
        """A complete line over the cap is refused; exactly the cap passes."""
        assert run(
            [GREETING, b"+OK\r\n" + b"y" * 100 + b"\r\n.\r\n"],
            p.retr(1),
            limits=Limits(max_line=100),
        )[1] == OkReply("", None, block(b"y" * 100), 1)
        conn = greeted(Limits(max_line=100))
        conn.send(p.retr(1))
        conn.receive_data(b"+OK\r\n" + b"y" * 101 + b"\n")
        with pytest.raises(RemoteProtocolError, match="longer than 100"):
            drain(conn)

    def test_long_status_line(self) -> None:
        """Status lines have their own, smaller cap."""
        conn = Pop3Connection(Limits(max_status_line=10))
        conn.send(p.user("bob"))
        conn.receive_data(b"+OK hi\r\n+OK 12345678\r\n")
        assert conn.next_event() == Greeting("hi")
        with pytest.raises(RemoteProtocolError, match="longer than 10"):
            conn.next_event()

    def test_reply_line_cap(self) -> None:
        """An endless LIST is cut at the line cap (A.7)."""
        conn = greeted(Limits(max_response_lines=3))
        conn.send(p.list_())
        conn.receive_data(b"+OK\r\n1 1\r\n2 2\r\n3 3\r\n4 4\r\n")
        with pytest.raises(RemoteProtocolError, match="longer than 3 lines"):
            drain(conn)
        self.assert_dead(conn)

    def test_reply_byte_cap(self) -> None:
        """A reply over the byte cap is cut, default or per command (A.7)."""
        conn = greeted(Limits(max_response_bytes=10))
        conn.send(p.uidl())
        conn.receive_data(b"+OK\r\n1 abcdefgh\r\n")
        with pytest.raises(RemoteProtocolError, match="larger than 10 bytes"):
            drain(conn)
        conn = greeted()
        conn.send(p.retr(1, max_bytes=5))
        conn.receive_data(b"+OK\r\n1234\r\n")
        with pytest.raises(RemoteProtocolError, match="RETR reply larger than 5"):
            drain(conn)

    @pytest.mark.parametrize(
        "partial",
        [b"", b"+O", b"+OK\r\n", b"+OK\r\n1 a\r\n", b"+OK\r\n1 a\r\n.", b"+OK\r\n1 a\r\n.\r"],
    )
    def test_eof_mid_reply(self, partial: bytes) -> None:
        """EOF before the reply completes: "server closed the connection" (A.8)."""
        conn = greeted()
        conn.send(p.uidl())
        conn.receive_data(partial)
        conn.receive_data(b"")
        with pytest.raises(RemoteProtocolError, match="closed the connection") as info:
            drain(conn)
        assert info.value.closed
        self.assert_dead(conn)

    def test_eof_with_more_pending(self) -> None:
        """A complete reply then EOF while another command waits is an error."""
        conn = greeted()
        conn.send(p.noop())
        conn.send(p.noop())
        conn.receive_data(b"+OK\r\n")
        conn.receive_data(b"")
        assert conn.next_event() == OkReply("")
        with pytest.raises(RemoteProtocolError, match="closed the connection"):
            conn.next_event()

    def test_clean_eof_when_idle(self) -> None:
        """EOF after QUIT's +OK closes cleanly; nothing more may be sent or fed."""
        conn = greeted()
        conn.send(p.quit())
        conn.receive_data(b"+OK bye\r\n")
        conn.receive_data(b"")
        assert conn.next_event() == OkReply("bye")
        assert conn.state is State.UPDATE
        assert conn.next_event() is NEED_DATA
        assert conn.state is State.CLOSED
        with pytest.raises(LocalProtocolError):
            conn.receive_data(b"x")
        with pytest.raises(LocalProtocolError):
            conn.send(p.noop())


def converse(chunks: list[bytes], commands: tuple[Command, ...]) -> list[Event]:
    """Feed ``chunks``, sending each command as soon as the core allows it
    (nothing may follow an AUTH until its reply, RFC 5034 §4)."""
    conn = Pop3Connection()
    queue = list(commands)
    events: list[Event] = []

    def send_allowed() -> None:
        while queue and not any(c.verb == "AUTH" for c in conn.pending):
            conn.send(queue.pop(0))

    send_allowed()
    for chunk in chunks:
        conn.receive_data(chunk)
        while (event := conn.next_event()) is not NEED_DATA:
            assert not isinstance(event, p._NeedData)
            if not isinstance(event, Progress):
                events.append(event)
            send_allowed()
    return events


def drain_until_error(conn: Pop3Connection) -> list[Event]:
    """Collect events until a RemoteProtocolError (which must come)."""
    events: list[Event] = []
    with pytest.raises(RemoteProtocolError):
        while True:
            event = conn.next_event()
            assert event is not NEED_DATA, "expected a framing error"
            assert not isinstance(event, p._NeedData)
            events.append(event)
    return events


class TestStatAndSingleRows:
    """STAT, ``LIST n`` and ``UIDL n`` reply texts."""

    def test_stat(self) -> None:
        """``count size`` and optional trailing text (RFC 1939 §5)."""
        assert p.parse_stat("2 320") == (2, 320)
        assert p.parse_stat("0 0 messages") == (0, 0)

    @pytest.mark.parametrize(
        "text", ["", "2", "a 3", "2 -3", "2 3x", "1 99999999999999999999", "\u0662 1"]
    )
    def test_stat_junk(self, text: str) -> None:
        """Anything but two ASCII numbers is the core's terse protocol error,
        carrying which reply and its text (no sentence: that is made above)."""
        with pytest.raises(MalformedReply) as info:
            p.parse_stat(text)
        assert isinstance(info.value, RemoteProtocolError)
        assert (info.value.reply, info.value.text) == ("STAT", text)
        assert str(info.value) == "malformed STAT reply"

    def test_single_rows(self) -> None:
        """``LIST n`` and ``UIDL n`` parse; junk raises, the text sanitized."""
        assert p.parse_list_line("3 120") == ListEntry(3, 120)
        assert p.parse_uidl_line("3 QhdPYR:00WBw1Ph7x7") == UidlEntry(3, "QhdPYR:00WBw1Ph7x7")
        assert p.parse_uidl_line("3 a b") == UidlEntry(3, "a b")  # kept as sent
        with pytest.raises(MalformedReply) as info:
            p.parse_list_line("0 10\x1b[2J")
        assert (info.value.reply, info.value.text) == ("LIST", "0 10␛[2J")
        with pytest.raises(MalformedReply) as info:
            p.parse_uidl_line("x")
        assert (info.value.reply, info.value.text) == ("UIDL", "x")


class TestListing:
    """Junk LIST/UIDL rows are rejected, the rest kept (A.12, A.13)."""

    def test_list_junk_rows(self) -> None:
        """Every junk row lands in ``rejected``; good rows stay in order."""
        lines = [
            b"1 100",
            b"abc 1",
            b"1",
            b"2 -5",
            b"3 99999999999999999999",
            b"0 10",
            b"1 200",
            b"4 10,",
            b"5 10 ",
            b"6\t10",
            b"7 300 extra info",
            b"8 10  x",
            b"9 1\x1b[2J",
            "10 5",
            b"",
        ]
        result = p.parse_list(lines)
        assert result.entries == (ListEntry(1, 100), ListEntry(7, 300), ListEntry(10, 5))
        assert result.rejected == (
            "abc 1",
            "1",
            "2 -5",
            "3 99999999999999999999",
            "0 10",
            "1 200",
            "4 10,",
            "5 10 ",
            "6 10",
            "8 10  x",
            "9 1␛[2J",
            "",
        )

    def test_list_max_number(self) -> None:
        """Numbers above the STAT count are rejected."""
        result = p.parse_list(["1 1", "3 3"], max_number=2)
        assert result.entries == (ListEntry(1, 1),)
        assert result.rejected == ("3 3",)

    def test_uidl_stability(self) -> None:
        """Bad or duplicated ids are kept but flagged unstable (A.13)."""
        lines = [
            b"1 good-id",
            b"2 " + b"x" * 70,
            b"3 " + b"x" * 71,
            b"4 ",
            b"5 dup",
            b"6 dup",
            b"7 caf\xc3\xa9",
            b"8 a\x00b",
            b"9 ../../x",
            b"10 a/b",
            b"abc 1",
            b"1 again",
            b"11",
            b"12 sp ace",
        ]
        result = p.parse_uidl(lines, max_number=11)
        rows = [(e.number, e.uid) for e in result.entries]
        stable = message_keys([n for n, _ in rows], rows, generation=1)
        assert [(n, stable[n][1] is not None) for n, _ in rows] == [
            (1, True),
            (2, True),
            (3, False),
            (4, False),
            (5, False),
            (6, False),
            (7, False),
            (8, False),
            (9, True),
            (10, True),
        ]
        assert result.entries[6].uid == "caf\u00e9"
        assert result.rejected == ("abc 1", "1 again", "11", "12 sp ace")


class TestCapa:
    """RFC 2449 capabilities, capped and junk-tolerant (A.18)."""

    def test_every_capability(self) -> None:
        """Each standard capability maps to its field."""
        caps = p.parse_capa(
            [
                b"TOP",
                b"user",
                b"UIDL",
                b"PIPELINING",
                b"RESP-CODES",
                b"AUTH-RESP-CODE",
                b"STLS",
                b"UTF8 USER",
                b"SASL SCRAM-SHA-256 plain XOAUTH2 PLAIN",
                b"LOGIN-DELAY 900",
                b"EXPIRE 60 USER",
                b"IMPLEMENTATION Shlemazle Mail v1",
                b"X-UNKNOWN yes",
            ]
        )
        assert (caps.top, caps.user, caps.uidl, caps.pipelining) == (True, True, True, True)
        assert (caps.resp_codes, caps.auth_resp_code, caps.stls) == (True, True, True)
        assert (caps.utf8, caps.utf8_user) == (True, True)
        assert caps.sasl == ("SCRAM-SHA-256", "PLAIN", "XOAUTH2")
        assert (caps.login_delay, caps.login_delay_user) == (900, False)
        assert (caps.expire, caps.expire_user) == (60, True)
        assert caps.implementation == "Shlemazle Mail v1"
        assert caps.raw[-1] == "X-UNKNOWN yes"
        assert caps.rejected == ()

    def test_defaults_and_variants(self) -> None:
        """Absent capabilities stay off; EXPIRE NEVER is -1; bare UTF8."""
        caps = p.parse_capa(["EXPIRE NEVER", "UTF8", "LOGIN-DELAY 0 USER", "IMPLEMENTATION"])
        assert (caps.expire, caps.utf8, caps.utf8_user) == (-1, True, False)
        assert (caps.login_delay, caps.login_delay_user) == (0, True)
        assert caps.implementation == ""
        empty = p.parse_capa([])
        assert empty == p.Capabilities()
        assert empty.sasl == () and empty.expire is None and not empty.top

    @pytest.mark.parametrize(
        "line",
        [
            "LOGIN-DELAY",
            "LOGIN-DELAY soon",
            "LOGIN-DELAY NEVER",
            "LOGIN-DELAY 1 2",
            "EXPIRE 1 USER X",
            "EXPIRE -1",
            "",
            "   ",
            "\x1b[2J",
            "TOP" + "x" * 2000,
        ],
    )
    def test_junk_lines(self, line: str) -> None:
        """Garbage is rejected (sanitized) and changes nothing else."""
        caps = p.parse_capa(["TOP", line])
        assert caps.top
        assert caps.login_delay is None and caps.expire is None
        assert len(caps.rejected) == 1
        assert "\x1b" not in caps.rejected[0]

    def test_bad_sasl_mechanisms_dropped(self) -> None:
        """Mechanism names outside RFC 4422 syntax are dropped, the line noted."""
        caps = p.parse_capa(["SASL PLAIN BAD/MECH " + "X" * 21 + " LOGIN"])
        assert caps.sasl == ("PLAIN", "LOGIN")
        assert len(caps.rejected) == 1

    def test_capped(self) -> None:
        """10,000 CAPA lines: only the first N are read."""
        caps = p.parse_capa((f"X-CAP-{i}" for i in range(10_000)), max_lines=100)
        assert len(caps.raw) == 100
        assert caps.truncated and caps.rejected == ()

    def test_capa_through_connection(self) -> None:
        """CAPA's own caps end an endless CAPA (10,000 lines)."""
        conn = greeted()
        conn.send(p.capa())
        conn.receive_data(b"+OK\r\n" + b"X\r\n" * 10_001)
        with pytest.raises(RemoteProtocolError, match="CAPA reply longer than 10000 lines"):
            drain(conn)


class TestStates:
    """The POP3 states (RFC 1939 §3): the core refuses what the state forbids."""

    def test_transaction_commands_refused_before_login(self) -> None:
        """RETR, DELE... before login are a LocalProtocolError; nothing is queued."""
        conn = greeted(login=False)
        for command in (p.retr(1), p.dele(1), p.list_(), p.stat(), p.noop(), p.top(1, 0)):
            with pytest.raises(LocalProtocolError, match="not allowed in AUTHORIZATION"):
                conn.send(command)
        assert conn.pending == ()
        assert conn.state is State.AUTHORIZATION

    def test_login_commands_refused_after_login(self) -> None:
        """USER, PASS, APOP, AUTH, STLS and UTF8 (RFC 6856 §2) belong before login."""
        conn = greeted()
        for command in (p.user("x"), p.pass_("y"), p.apop("x", "d"), p.auth("PLAIN")):
            with pytest.raises(LocalProtocolError, match="not allowed in TRANSACTION"):
                conn.send(command)
        for command in (p.stls(), p.utf8()):
            with pytest.raises(LocalProtocolError):
                conn.send(command)
        assert conn.send(p.capa()) == b"CAPA\r\n"  # RFC 2449: in both states

    def test_login_and_listing_in_one_flight(self) -> None:
        """USER, PASS, LIST and UIDL may be written at once (RFC 2449 §6.6):
        the core plans for the login's success."""
        conn = greeted(login=False)
        wire = b"".join(conn.send(c) for c in (*LOGIN, p.list_(), p.uidl()))
        assert wire == b"USER bob\r\nPASS pw\r\nLIST\r\nUIDL\r\n"
        conn.receive_data(b"+OK\r\n+OK\r\n+OK\r\n1 10\r\n.\r\n+OK\r\n1 a\r\n.\r\n")
        assert drain(conn) == [
            OkReply(""),
            OkReply(""),
            OkReply("", None, block(b"1 10"), 1),
            OkReply("", None, block(b"1 a"), 1),
        ]
        assert conn.state is State.TRANSACTION

    def test_refused_login_returns_to_authorization(self) -> None:
        """-ERR to PASS: the pipelined commands get -ERR and the state is
        AUTHORIZATION again, so RETR is refused until a login succeeds."""
        conn = greeted(login=False)
        for command in (*LOGIN, p.list_()):
            conn.send(command)
        conn.receive_data(b"+OK\r\n-ERR [AUTH] no\r\n-ERR not logged in\r\n")
        assert drain(conn) == [OkReply(""), ErrReply("no", "AUTH"), ErrReply("not logged in")]
        assert conn.state is State.AUTHORIZATION
        with pytest.raises(LocalProtocolError):
            conn.send(p.retr(1))
        conn.send(p.apop("bob", "d"))
        conn.receive_data(b"+OK\r\n")
        assert drain(conn) == [OkReply("")]
        assert conn.state is State.TRANSACTION

    def test_quit_enters_update_and_nothing_follows(self) -> None:
        """After QUIT (even before its reply) no command may be sent; its
        answer in TRANSACTION is the UPDATE state (RFC 1939 §6)."""
        conn = greeted()
        conn.send(p.dele(1))
        conn.send(p.quit())
        with pytest.raises(LocalProtocolError, match="not allowed in UPDATE"):
            conn.send(p.noop())
        conn.receive_data(b"+OK\r\n+OK bye\r\n")
        assert drain(conn) == [OkReply(""), OkReply("bye")]
        assert conn.state is State.UPDATE

    def test_quit_before_login_closes(self) -> None:
        """QUIT in AUTHORIZATION ends the session without UPDATE (RFC 1939 §4)."""
        conn = greeted(login=False)
        conn.send(p.quit())
        conn.receive_data(b"+OK\r\n")
        assert drain(conn) == [OkReply("")]
        assert conn.state is State.CLOSED
        with pytest.raises(LocalProtocolError):
            conn.send(p.user("bob"))

    def test_nothing_follows_stls_or_auth(self) -> None:
        """RFC 2595 §4 / RFC 5034 §4: nothing is pipelined behind STLS or AUTH
        (a line after AUTH would be read as a SASL response)."""
        for first in (p.stls(), p.auth("PLAIN")):
            conn = greeted(login=False)
            conn.send(first)
            with pytest.raises(LocalProtocolError, match="pending"):
                conn.send(p.capa())

    def test_commands_follow_auth_once_its_last_line_is_sent(self) -> None:
        """SCRAM's client-final message, the empty line acknowledging the server's
        final data (RFC 5034 §4) and the listing may go in one write (RFC 2449
        §6.6): once the last line is sent nothing more of the exchange may follow,
        and the challenge that arrives is still the AUTH's."""
        conn = greeted(login=False)
        conn.send(p.auth("SCRAM-SHA-256", "biws"))
        conn.receive_data(b"+ c2VydmVyLWZpcnN0\r\n")
        assert conn.next_event() == Continuation("c2VydmVyLWZpcnN0")
        with pytest.raises(LocalProtocolError, match="AUTH is pending"):
            conn.send(p.stat())
        wire = b"".join(
            conn.send(c) for c in (p.sasl_response("Y2xpZW50"), p.sasl_response("", last=True))
        )
        assert wire == b"Y2xpZW50\r\n\r\n"
        with pytest.raises(LocalProtocolError, match="no AUTH in progress"):
            conn.send(p.sasl_response("bW9yZQ=="))
        assert conn.send(p.stat()) + conn.send(p.list_()) == b"STAT\r\nLIST\r\n"
        conn.receive_data(b"+ dj1zaWc=\r\n+OK\r\n+OK 1 10\r\n+OK\r\n1 10\r\n.\r\n")
        assert drain(conn) == [
            Continuation("dj1zaWc="),
            OkReply(""),
            OkReply("1 10"),
            OkReply("", None, block(b"1 10"), 1),
        ]
        assert conn.state is State.TRANSACTION

    def test_an_auth_refused_before_its_last_line_ends_the_exchange(self) -> None:
        """-ERR to AUTH ends the exchange: no SASL line may follow, and the state
        is AUTHORIZATION again, where another login may be tried."""
        conn = greeted(login=False)
        conn.send(p.auth("SCRAM-SHA-1", "biws"))
        conn.receive_data(b"-ERR [AUTH] no\r\n")
        assert drain(conn) == [ErrReply("no", "AUTH")]
        assert conn.state is State.AUTHORIZATION
        with pytest.raises(LocalProtocolError, match="no AUTH in progress"):
            conn.send(p.sasl_response(""))
        assert conn.send(p.user("bob")) == b"USER bob\r\n"

    def test_local_and_remote_errors_are_distinct(self) -> None:
        """What the caller breaks and what the server breaks are told apart
        (h11's split), and neither is a user-facing popview error."""
        assert not issubclass(RemoteProtocolError, LocalProtocolError)
        assert not issubclass(LocalProtocolError, RemoteProtocolError)
        assert not issubclass(RemoteProtocolError, Pop3ProtocolError)
        conn = greeted()
        conn.send(p.noop())
        conn.receive_data(b"HELLO\r\n")
        with pytest.raises(RemoteProtocolError) as info:
            conn.next_event()
        assert not info.value.closed


class TestBlockCounts:
    """Limits counted over whole blocks match line-by-line counting."""

    def test_byte_cap_counts_unstuffed_crlf_octets(self) -> None:
        """Stuffed dots do not count, a bare LF counts as CRLF (RFC 1939 LIST sizes)."""
        body = b"..a\nb\r\n"  # unstuffed: ".a\r\nb\r\n" = 7 octets
        for cap, ok in ((7, True), (6, False)):
            conn = greeted()
            conn.send(p.retr(1, max_bytes=cap))
            conn.receive_data(b"+OK\r\n" + body + b".\r\n")
            if ok:
                assert drain(conn) == [OkReply("", None, b".a\r\nb\r\n", 2)]
            else:
                with pytest.raises(RemoteProtocolError, match="larger than 6"):
                    drain(conn)

    def test_line_of_exactly_the_cap_with_cr_in_a_big_chunk(self) -> None:
        """Many lines in one chunk, one of them exactly at the cap: accepted;
        one byte more anywhere in the chunk: refused (A.5, A.6)."""
        cap = 50
        good = [b"a" * cap, b"b" * 10, b"c" * cap]
        conn = greeted(Limits(max_line=cap))
        conn.send(p.retr(1))
        conn.receive_data(b"+OK\r\n" + block(*good) + b".\r\n")
        assert drain(conn) == [OkReply("", None, block(*good), 3)]
        conn = greeted(Limits(max_line=cap))
        conn.send(p.retr(1))
        conn.receive_data(b"+OK\r\n" + block(b"a" * 10, b"b" * (cap + 1), b"c") + b".\r\n")
        with pytest.raises(RemoteProtocolError, match=f"longer than {cap}"):
            drain(conn)


class TestOverlongChallenge:
    """A SASL challenge over the status-line cap is reported, not a framing error."""

    @pytest.mark.parametrize("chunk", [None, 1000, 7])
    def test_reported_then_discarded(self, chunk: int | None) -> None:
        """Whole or in pieces: one overlong Continuation, the rest of the line
        discarded, then the -ERR to the ``*`` that cancels (RFC 5034 §4)."""
        conn = Pop3Connection(Limits(max_status_line=100))
        conn.receive_data(GREETING)
        assert isinstance(conn.next_event(), Greeting)
        conn.send(p.auth("PLAIN"))
        stream = b"+ " + b"A" * 5000 + b"\r\n-ERR [AUTH] cancelled\r\n"
        pieces = (
            [stream]
            if chunk is None
            else [stream[i : i + chunk] for i in range(0, len(stream), chunk)]
        )
        events: list[Event] = []
        for piece in pieces:
            conn.receive_data(piece)
            events.extend(drain(conn))
            if events == [Continuation("", overlong=True)]:
                assert conn.send(p.sasl_cancel()) == b"*\r\n"
            assert conn.buffered <= 100 + max(chunk or 0, 2) + 2  # nothing piles up
        assert events == [Continuation("", overlong=True), ErrReply("cancelled", "AUTH")]
        assert conn.state is State.AUTHORIZATION

    def test_within_the_cap_is_a_normal_challenge(self) -> None:
        """Exactly the cap (plus CR) is an ordinary challenge."""
        conn = Pop3Connection(Limits(max_status_line=10))
        conn.send(p.auth("PLAIN"))
        conn.receive_data(b"+OK hi\r\n+ 12345678\r\n")
        assert drain(conn) == [Greeting("hi"), Continuation("12345678")]

    def test_other_long_lines_still_fail(self) -> None:
        """Outside a challenge the status-line cap is still a framing error."""
        conn = Pop3Connection(Limits(max_status_line=10))
        conn.send(p.auth("PLAIN"))
        conn.receive_data(b"+OK hi\r\n-ERR " + b"x" * 50 + b"\r\n")
        assert conn.next_event() == Greeting("hi")
        with pytest.raises(RemoteProtocolError, match="longer than 10"):
            conn.next_event()


class TestStreamedBlocks:
    """LIST/UIDL of a whole mailbox may come in Data pieces (HARDENING A.7)."""

    STREAM = dataclasses.replace(p.list_(), stream=True)
    BODY = b"1 10\r\n..2 20\n3 30\r\n.\r\n"

    def collect(self, chunks: list[bytes]) -> tuple[bytes, list[Event]]:
        conn = greeted()
        conn.send(self.STREAM)
        conn.send(p.noop())
        pieces: list[bytes] = []
        rest: list[Event] = []
        for chunk in chunks:
            conn.receive_data(chunk)
            for event in drain(conn):
                if isinstance(event, Data):
                    assert event.data.endswith(b"\r\n")  # whole lines only
                    pieces.append(event.data)
                else:
                    rest.append(event)
            assert conn.buffered <= len(chunk) + 8  # complete lines do not pile up
        return b"".join(pieces), rest

    @pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
    def test_pieces_join_to_the_block(self, size: int) -> None:
        """Any split: the pieces are the unstuffed CRLF block, then an OkReply
        with empty data and the line count, then the next reply."""
        wire = b"+OK 3\r\n" + self.BODY + b"+OK\r\n"
        data, rest = self.collect([wire[i : i + size] for i in range(0, len(wire), size)])
        assert data == b"1 10\r\n.2 20\r\n3 30\r\n"
        assert rest == [OkReply("3", None, b"", 3), OkReply("")]

    def test_caps_still_apply(self) -> None:
        """The line cap ends an endless streamed listing."""
        conn = greeted(Limits(max_response_lines=2))
        conn.send(self.STREAM)
        conn.receive_data(b"+OK\r\n1 1\r\n2 2\r\n")
        assert drain(conn) == [Data(b"1 1\r\n2 2\r\n")]
        conn.receive_data(b"3 3\r\n")
        with pytest.raises(RemoteProtocolError, match="longer than 2 lines"):
            drain(conn)
