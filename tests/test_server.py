"""The embedded POP3 server, checked with the stdlib ``poplib`` as an independent client.

Where poplib cannot say what is on the wire (byte-stuffing, pipelining, SASL,
faults that break framing) a raw loopback socket reads the exact bytes.
"""

from __future__ import annotations

import asyncio
import base64
import poplib
import socket
import ssl
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from popview.server import (
    Fault,
    MaildirMailbox,
    MemoryMailbox,
    Pop3Server,
    ServerThread,
    default_capabilities,
    generated_listing,
)
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER

MakeThread = Callable[..., ServerThread]


class Wire:
    """A raw POP3 client socket: send bytes, read lines exactly as sent."""

    def __init__(self, port: int, *, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname="127.0.0.1")
        self.sock = sock
        self.file = sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        """One line including its CRLF (b"" at EOF)."""
        return self.file.readline()

    def multiline(self) -> bytes:
        """The raw bytes of a multi-line response up to and including ``.\\r\\n``."""
        out = b""
        while True:
            line = self.file.readline()
            if not line:
                raise EOFError(out)
            out += line
            if line == b".\r\n":
                return out

    def login(self) -> None:
        assert self.line().startswith(b"+OK")
        self.send(f"USER {POP3_USER}\r\nPASS {POP3_PASSWORD}\r\n".encode())
        assert self.line().startswith(b"+OK")
        assert self.line().startswith(b"+OK")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def wire(pop3_server_thread: ServerThread) -> Iterator[Wire]:
    """A raw connection to the embedded server, its greeting read; closed after the test."""
    connection = Wire(pop3_server_thread.port)
    connection.line()
    yield connection
    connection.close()


def login(srv: ServerThread) -> poplib.POP3:
    client = poplib.POP3("127.0.0.1", srv.port, timeout=10)
    try:
        client.user(POP3_USER)
        client.pass_(POP3_PASSWORD)
    except BaseException:
        client.close()
        raise
    return client


def body_lines(message: bytes) -> list[bytes]:
    """What poplib returns for a message: its lines without CRLF."""
    return message.split(b"\r\n")[:-1]


class TestGreetingAndLogin:
    """AUTHORIZATION state: greeting, USER/PASS, APOP (RFC 1939 §4, §7)."""

    def test_greeting_is_ok(self, pop3_server_thread: ServerThread) -> None:
        """A client is greeted with +OK and no APOP timestamp by default."""
        client = poplib.POP3("127.0.0.1", pop3_server_thread.port, timeout=10)
        assert client.getwelcome().startswith(b"+OK")
        assert b"<" not in client.getwelcome()
        client.close()

    def test_user_pass_logs_in(self, pop3_server_thread: ServerThread) -> None:
        """The right password opens the maildrop."""
        client = login(pop3_server_thread)
        assert client.stat()[0] == 3
        client.close()

    def test_bad_password_is_refused_with_auth_code(self, pop3_server_thread: ServerThread) -> None:
        """A wrong password gets -ERR [AUTH] and the session can try again."""
        client = poplib.POP3("127.0.0.1", pop3_server_thread.port, timeout=10)
        client.user(POP3_USER)
        with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\]"):
            client.pass_("wrong")
        with pytest.raises(poplib.error_proto, match="-ERR"):
            client.stat()
        client.user(POP3_USER)
        client.pass_(POP3_PASSWORD)
        assert client.stat()[0] == 3
        client.close()

    def test_unknown_user_is_refused(self, pop3_server_thread: ServerThread) -> None:
        """A user not in the table cannot log in."""
        client = poplib.POP3("127.0.0.1", pop3_server_thread.port, timeout=10)
        client.user("mallory")
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            client.pass_(POP3_PASSWORD)
        client.close()

    def test_pass_without_user_is_refused(self, pop3_server_thread: ServerThread) -> None:
        """PASS must follow USER."""
        client = poplib.POP3("127.0.0.1", pop3_server_thread.port, timeout=10)
        with pytest.raises(poplib.error_proto, match="USER first"):
            client.pass_(POP3_PASSWORD)
        client.close()

    def test_apop(self, make_pop3_server_thread: MakeThread) -> None:
        """With apop=True the greeting has a timestamp and poplib's APOP logs in."""
        srv = make_pop3_server_thread(apop=True)
        client = poplib.POP3("127.0.0.1", srv.port, timeout=10)
        assert b"@popview.localhost>" in client.getwelcome()
        client.apop(POP3_USER, POP3_PASSWORD)
        assert client.stat()[0] == 3
        client.close()

    def test_apop_wrong_digest(self, make_pop3_server_thread: MakeThread) -> None:
        """A digest made with another password is refused."""
        srv = make_pop3_server_thread(apop=True)
        client = poplib.POP3("127.0.0.1", srv.port, timeout=10)
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            client.apop(POP3_USER, "not-it")
        client.close()

    def test_apop_disabled(self, wire: Wire) -> None:
        """Without apop=True, APOP is refused."""
        wire.send(b"APOP alice 0123456789abcdef0123456789abcdef\r\n")
        assert wire.line().startswith(b"-ERR")

    def test_transaction_commands_need_login(self, wire: Wire) -> None:
        """STAT, RETR and DELE before login get -ERR."""
        wire.send(b"STAT\r\nRETR 1\r\nDELE 1\r\n")
        assert [wire.line()[:4] for _ in range(3)] == [b"-ERR"] * 3


class TestSaslPlain:
    """AUTH PLAIN (RFC 5034, RFC 4616), read off the wire."""

    @staticmethod
    def plain(user: str, password: str, authzid: str = "") -> bytes:
        return base64.b64encode(f"{authzid}\0{user}\0{password}".encode())

    def test_initial_response(self, wire: Wire) -> None:
        """AUTH PLAIN with an initial response logs in in one step."""
        wire.send(b"AUTH PLAIN " + self.plain(POP3_USER, POP3_PASSWORD) + b"\r\nSTAT\r\n")
        assert wire.line().startswith(b"+OK")
        assert wire.line().startswith(b"+OK 3 ")

    def test_continuation(self, wire: Wire) -> None:
        """Without an initial response the server sends "+ " and reads one line."""
        wire.send(b"AUTH PLAIN\r\n")
        assert wire.line() == b"+ \r\n"
        wire.send(self.plain(POP3_USER, POP3_PASSWORD) + b"\r\n")
        assert wire.line().startswith(b"+OK")

    def test_star_cancels(self, wire: Wire) -> None:
        """A "*" response cancels the exchange with -ERR; the session goes on."""
        wire.send(b"AUTH PLAIN\r\n")
        assert wire.line() == b"+ \r\n"
        wire.send(b"*\r\n")
        assert wire.line().startswith(b"-ERR")
        wire.send(b"CAPA\r\n")
        assert wire.line().startswith(b"+OK")

    @pytest.mark.parametrize(
        "response",
        [
            b"not-base64!",
            base64.b64encode(b"\0alice\0wrong"),
            base64.b64encode(b"bob\0alice\0" + POP3_PASSWORD.encode()),
            base64.b64encode(b"no separators"),
        ],
    )
    def test_bad_responses_fail(self, wire: Wire, response: bytes) -> None:
        """Bad base64, a wrong password, a foreign authzid or no NULs: -ERR [AUTH]."""
        wire.send(b"AUTH PLAIN " + response + b"\r\n")
        assert wire.line().startswith(b"-ERR [AUTH]")

    def test_overlong_response_is_masked_in_transcript(
        self, pop3_server_thread: ServerThread
    ) -> None:
        """A SASL response over the line cap is refused, and the transcript records
        it as ``*** [line too long]``: its first bytes are the base64 credentials."""
        response = self.plain(POP3_USER, POP3_PASSWORD + "x" * 9000)
        wire = Wire(pop3_server_thread.port)
        wire.line()
        wire.send(b"AUTH PLAIN\r\n")
        assert wire.line() == b"+ \r\n"
        wire.send(response + b"\r\n")
        assert wire.line().startswith(b"-ERR")
        assert wire.line() == b""
        wire.close()
        assert pop3_server_thread.commands() == ["AUTH PLAIN", "*** [line too long]"]

    def test_unknown_mechanism(self, wire: Wire) -> None:
        """Only PLAIN is offered; AUTH without argument lists it."""
        wire.send(b"AUTH CRAM-MD5\r\nAUTH\r\n")
        assert wire.line().startswith(b"-ERR")
        assert wire.line() == b"+OK\r\n"
        assert wire.multiline() == b"PLAIN\r\n.\r\n"


class TestCapa:
    """CAPA (RFC 2449)."""

    def test_default_capabilities(self, pop3_server_thread: ServerThread) -> None:
        """The default list, without STLS when no STLS context is given."""
        client = poplib.POP3("127.0.0.1", pop3_server_thread.port, timeout=10)
        caps = client.capa()
        assert caps == {
            "TOP": [],
            "UIDL": [],
            "USER": [],
            "PIPELINING": [],
            "RESP-CODES": [],
            "AUTH-RESP-CODE": [],
            "SASL": ["PLAIN"],
            "IMPLEMENTATION": ["popview"],
        }
        client.close()

    def test_stls_advertised_only_before_tls(
        self, pop3_server_thread_stls: ServerThread, tls_client_context: ssl.SSLContext
    ) -> None:
        """STLS is listed on the plain connection and gone after the upgrade."""
        client = poplib.POP3("127.0.0.1", pop3_server_thread_stls.port, timeout=10)
        assert "STLS" in client.capa()
        client.stls(tls_client_context)
        assert "STLS" not in client.capa()
        client.close()

    def test_override_drops_pipelining_and_uidl(self, make_pop3_server_thread: MakeThread) -> None:
        """A capabilities list replaces the default; UIDL left out becomes unknown."""
        caps = [c for c in default_capabilities() if c not in ("PIPELINING", "UIDL")]
        srv = make_pop3_server_thread(capabilities=caps)
        client = login(srv)
        assert "PIPELINING" not in client.capa()
        with pytest.raises(poplib.error_proto, match="-ERR"):
            client.uidl()
        assert client.top(1, 0)[0].startswith(b"+OK")
        client.close()


class TestTransaction:
    """STAT, LIST, UIDL, TOP, RETR, NOOP and bad arguments (RFC 1939 §5, §7)."""

    def test_stat_list_uidl(
        self, pop3_server_thread: ServerThread, sample_messages: list[bytes]
    ) -> None:
        """Counts, sizes in octets as sent, and UIDs."""
        client = login(pop3_server_thread)
        sizes = [len(m) for m in sample_messages]
        assert client.stat() == (3, sum(sizes))
        assert client.list()[1] == [f"{n} {s}".encode() for n, s in enumerate(sizes, 1)]
        assert client.list(2) == f"+OK 2 {sizes[1]}".encode()
        assert client.uidl()[1] == [b"1 uid-0001", b"2 uid-0002", b"3 uid-0003"]
        assert client.uidl(3) == b"+OK 3 uid-0003"
        client.close()

    def test_retr_is_byte_exact(
        self, pop3_server_thread: ServerThread, sample_messages: list[bytes]
    ) -> None:
        """Every message comes back exactly, including the ".", ".." and ".x" lines."""
        client = login(pop3_server_thread)
        for n, message in enumerate(sample_messages, 1):
            assert client.retr(n)[1] == body_lines(message)
        client.close()

    def test_retr_is_byte_stuffed_on_the_wire(self, pop3_server_thread: ServerThread) -> None:
        """RFC 1939 §3: lines starting with "." get one more; the size header is unstuffed."""
        wire = Wire(pop3_server_thread.port)
        wire.login()
        wire.send(b"RETR 2\r\n")
        assert wire.line().startswith(b"+OK")
        assert b"\r\nbefore\r\n..\r\n...\r\n..x\r\nafter\r\n.\r\n" in wire.multiline()
        wire.close()

    def test_bare_lf_is_served_as_crlf(self, make_pop3_server_thread: MakeThread) -> None:
        """A stored LF-only message is sent with CRLF and sized as sent."""
        mbox = MemoryMailbox([b"Subject: lf\n\n.dot\nlast line without newline"])
        srv = make_pop3_server_thread(mailbox=mbox)
        wire = Wire(srv.port)
        wire.login()
        sent = b"Subject: lf\r\n\r\n.dot\r\nlast line without newline\r\n"
        wire.send(b"LIST 1\r\nRETR 1\r\n")
        assert wire.line() == f"+OK 1 {len(sent)}\r\n".encode()
        assert wire.line().startswith(b"+OK")
        assert wire.multiline() == sent.replace(b"\n.dot", b"\n..dot") + b".\r\n"
        wire.close()

    def test_top(self, pop3_server_thread: ServerThread, sample_messages: list[bytes]) -> None:
        """TOP n 0 gives the header and the blank line; TOP n 2 two body lines, stuffed."""
        client = login(pop3_server_thread)
        head = sample_messages[1].split(b"\r\n\r\n")[0].split(b"\r\n")
        assert client.top(2, 0)[1] == [*head, b""]
        assert client.top(2, 2)[1] == [*head, b"", b"before", b"."]
        assert client.top(2, 99)[1] == body_lines(sample_messages[1])
        client.close()

    @pytest.mark.parametrize(
        "command",
        [b"RETR 0", b"RETR 4", b"RETR abc", b"RETR -1", b"LIST 99", b"UIDL x", b"TOP 1",
         b"TOP 1 x", b"DELE", b"RETR 1 2", b"STAT 1", b"FOO", b""],
    )  # fmt: skip
    def test_bad_commands_get_err(self, pop3_server_thread: ServerThread, command: bytes) -> None:
        """Bad message numbers, bad or missing arguments and unknown verbs: -ERR, session lives."""
        wire = Wire(pop3_server_thread.port)
        wire.login()
        wire.send(command + b"\r\nNOOP\r\n")
        assert wire.line().startswith(b"-ERR ")
        assert wire.line() == b"+OK\r\n"
        wire.close()

    def test_deleted_message_is_gone_from_listing(self, pop3_server_thread: ServerThread) -> None:
        """After DELE 1: RETR 1, LIST 1 and DELE 1 are refused; STAT and LIST skip it."""
        client = login(pop3_server_thread)
        client.dele(1)
        for call in (lambda: client.retr(1), lambda: client.list(1), lambda: client.dele(1)):
            with pytest.raises(poplib.error_proto, match="deleted"):
                call()
        assert client.stat()[0] == 2
        assert [row.split()[0] for row in client.list()[1]] == [b"2", b"3"]
        client.close()

    def test_pipelined_commands_answered_in_order(self, wire: Wire) -> None:
        """Commands sent in one write are each answered, in order (RFC 2449 PIPELINING)."""
        commands = ["STAT", "UIDL 2", "LIST", "NOOP"]
        login = f"USER {POP3_USER}\r\nPASS {POP3_PASSWORD}\r\n"
        wire.send((login + "".join(c + "\r\n" for c in commands)).encode())
        assert wire.line().startswith(b"+OK")
        assert wire.line().startswith(b"+OK Logged in")
        assert wire.line().startswith(b"+OK 3 ")
        assert wire.line() == b"+OK 2 uid-0002\r\n"
        assert wire.line().startswith(b"+OK 3 messages")
        assert wire.multiline().count(b"\r\n") == 4
        assert wire.line() == b"+OK\r\n"

    def test_overlong_line_is_refused_and_closed(self, pop3_server_thread: ServerThread) -> None:
        """A line over 8 KiB gets -ERR and the connection is closed."""
        wire = Wire(pop3_server_thread.port)
        wire.line()
        wire.send(b"PASS " + b"x" * 9000 + b"\r\nNOOP\r\n")
        assert wire.line().startswith(b"-ERR")
        assert wire.line() == b""
        wire.close()
        assert pop3_server_thread.commands() == ["PASS *** [line too long]"]


class TestUpdate:
    """Deletions happen only at QUIT (RFC 1939 §6)."""

    def test_dele_quit_removes_exactly_that_message(
        self, pop3_server_thread: ServerThread, memory_mailbox: MemoryMailbox
    ) -> None:
        """DELE 2 then QUIT leaves messages 1 and 3."""
        before = memory_mailbox.messages
        client = login(pop3_server_thread)
        client.dele(2)
        assert memory_mailbox.messages == before  # still there before QUIT
        assert client.quit().startswith(b"+OK")
        assert memory_mailbox.messages == [before[0], before[2]]
        assert memory_mailbox.deleted == ["uid-0002"]

    def test_maildir_file_removed_at_quit(
        self, make_pop3_server_thread: MakeThread, maildir: Path
    ) -> None:
        """In a Maildir the DELE'd message's file is gone from disk, the others stay."""
        files = sorted((maildir / "cur").iterdir())
        srv = make_pop3_server_thread(mailbox=MaildirMailbox(maildir))
        client = login(srv)
        assert client.uidl(1).split()[-1] == files[0].name.split(":")[0].encode()
        client.dele(1)
        client.quit()
        assert sorted((maildir / "cur").iterdir()) == files[1:]

    def test_maildir_reads_new_and_cur(
        self, make_pop3_server_thread: MakeThread, maildir: Path
    ) -> None:
        """A message delivered to new/ is served too, with CRLF."""
        (maildir / "new" / "1800000000.M1P1.host").write_bytes(b"Subject: new\n\nfresh\n")
        srv = make_pop3_server_thread(mailbox=MaildirMailbox(maildir))
        client = login(srv)
        assert client.stat()[0] == 4
        assert client.retr(4)[1] == [b"Subject: new", b"", b"fresh"]
        client.close()

    def test_dropped_connection_deletes_nothing(
        self, pop3_server_thread: ServerThread, memory_mailbox: MemoryMailbox
    ) -> None:
        """DELE then closing the socket without QUIT removes nothing."""
        client = login(pop3_server_thread)
        client.dele(1)
        client.dele(3)
        client.close()
        pop3_server_thread.wait_idle()
        assert len(memory_mailbox.messages) == 3
        assert memory_mailbox.deleted == []

    def test_rset_unmarks(
        self, pop3_server_thread: ServerThread, memory_mailbox: MemoryMailbox
    ) -> None:
        """DELE, RSET, QUIT removes nothing."""
        client = login(pop3_server_thread)
        client.dele(1)
        assert client.rset().startswith(b"+OK")
        assert client.stat()[0] == 3
        client.quit()
        assert len(memory_mailbox.messages) == 3

    def test_next_session_renumbers(self, pop3_server_thread: ServerThread) -> None:
        """After a committed delete the next session sees the rest, renumbered."""
        client = login(pop3_server_thread)
        client.dele(1)
        client.quit()
        client = login(pop3_server_thread)
        assert client.uidl()[1] == [b"1 uid-0002", b"2 uid-0003"]
        client.close()


class TestLocking:
    """One session per maildrop (RFC 1939 §4, RFC 2449 IN-USE)."""

    def test_second_login_gets_in_use(self, pop3_server_thread: ServerThread) -> None:
        """While one session holds the maildrop another gets -ERR [IN-USE]; after QUIT it works."""
        first = login(pop3_server_thread)
        second = poplib.POP3("127.0.0.1", pop3_server_thread.port, timeout=10)
        second.user(POP3_USER)
        with pytest.raises(poplib.error_proto, match=r"-ERR \[IN-USE\]"):
            second.pass_(POP3_PASSWORD)
        first.quit()
        second.user(POP3_USER)
        second.pass_(POP3_PASSWORD)
        second.close()

    def test_factory_mailboxes_lock_by_user(self, make_pop3_server_thread: MakeThread) -> None:
        """With a fresh mailbox per login the user name is still locked."""
        srv = make_pop3_server_thread(mailbox=lambda: MemoryMailbox([b"Subject: x\r\n\r\n"]))
        first = login(srv)
        with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
            login(srv)
        first.close()


class TestTls:
    """STLS (RFC 2595) and implicit TLS (RFC 8314) with a trustme certificate."""

    def test_stls_with_poplib(
        self, pop3_server_thread_stls: ServerThread, tls_client_context: ssl.SSLContext
    ) -> None:
        """poplib upgrades with STLS, verifies the cert, then logs in over TLS."""
        client = poplib.POP3("127.0.0.1", pop3_server_thread_stls.port, timeout=10)
        client.stls(tls_client_context)
        assert isinstance(client.sock, ssl.SSLSocket)
        client.user(POP3_USER)
        client.pass_(POP3_PASSWORD)
        assert client.stat()[0] == 3
        client.quit()
        assert pop3_server_thread_stls.commands()[:3] == ["CAPA", "STLS", "USER alice"]

    def test_implicit_tls_with_poplib(
        self, pop3_server_thread_implicit_tls: ServerThread, tls_client_context: ssl.SSLContext
    ) -> None:
        """POP3_SSL connects, verifies the cert and retrieves mail; STLS is refused."""
        srv = pop3_server_thread_implicit_tls
        client = poplib.POP3_SSL("127.0.0.1", srv.port, context=tls_client_context, timeout=10)
        assert client.getwelcome().startswith(b"+OK")
        with pytest.raises(poplib.error_proto, match="-ERR"):
            client._shortcmd("STLS")
        client.user(POP3_USER)
        client.pass_(POP3_PASSWORD)
        assert client.stat()[0] == 3
        client.quit()

    def test_untrusting_client_fails(self, pop3_server_thread_implicit_tls: ServerThread) -> None:
        """A client without the trustme CA refuses the certificate; the server survives."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        with pytest.raises(ssl.SSLCertVerificationError):
            poplib.POP3_SSL("127.0.0.1", pop3_server_thread_implicit_tls.port, context=context)
        assert pop3_server_thread_implicit_tls.commands() == []

    def test_stls_not_configured(self, wire: Wire) -> None:
        """Without an STLS context, STLS gets -ERR."""
        wire.send(b"STLS\r\n")
        assert wire.line().startswith(b"-ERR")

    def test_bytes_before_handshake_are_discarded(
        self, pop3_server_thread_stls: ServerThread, tls_client_context: ssl.SSLContext
    ) -> None:
        """A command sent in plaintext with STLS is never run (CVE-2011-0411 class)."""
        wire = Wire(pop3_server_thread_stls.port)
        wire.line()
        wire.send(b"STLS\r\nUSER injected\r\n")
        assert wire.line().startswith(b"+OK")
        tls = tls_client_context.wrap_socket(wire.sock, server_hostname="127.0.0.1")
        tls.sendall(b"NOOP\r\n")
        assert tls.makefile("rb").readline().startswith(b"-ERR")  # not logged in
        tls.close()
        assert pop3_server_thread_stls.commands() == ["STLS", "NOOP"]


class TestTranscript:
    """The command transcript, with secrets masked."""

    def test_secrets_masked(self, make_pop3_server_thread: MakeThread) -> None:
        """PASS, APOP, AUTH PLAIN and SASL responses are recorded without the secret."""
        srv = make_pop3_server_thread(apop=True)
        client = poplib.POP3("127.0.0.1", srv.port, timeout=10)
        client.user(POP3_USER)
        with pytest.raises(poplib.error_proto):
            client.pass_(POP3_PASSWORD + "-typo")
        client.apop(POP3_USER, POP3_PASSWORD)
        client.quit()
        plain = base64.b64encode(f"\0{POP3_USER}\0{POP3_PASSWORD}".encode())
        wire = Wire(srv.port)
        wire.line()
        wire.send(b"AUTH PLAIN " + plain + b"\r\n")
        wire.line()
        wire.send(b"QUIT\r\n")
        wire.line()
        wire.close()
        wire = Wire(srv.port)
        wire.line()
        wire.send(b"AUTH PLAIN\r\n")
        wire.line()
        wire.send(plain + b"\r\n")
        wire.line()
        wire.close()
        srv.wait_idle()
        assert [(e.session, e.line) for e in srv.transcript] == [
            (1, "USER alice"),
            (1, "PASS ***"),
            (1, "APOP alice ***"),
            (1, "QUIT"),
            (2, "AUTH PLAIN ***"),
            (2, "QUIT"),
            (3, "AUTH PLAIN"),
            (3, "***"),
        ]
        assert srv.server.sessions_opened == 3
        assert srv.commands(session=2) == ["AUTH PLAIN ***", "QUIT"]
        text = repr(srv.transcript)
        assert POP3_PASSWORD not in text
        assert plain.decode() not in text


class TestFaults:
    """Each fault hook does what SERVER_API.md says."""

    def test_chunked_reply_still_parses(
        self, make_pop3_server_thread: MakeThread, sample_messages: list[bytes]
    ) -> None:
        """chunk_size=1 on the greeting and RETR: poplib still gets the right replies."""
        srv = make_pop3_server_thread(
            faults=[Fault("GREETING", chunk_size=1), Fault("RETR", chunk_size=1)]
        )
        client = login(srv)
        assert client.retr(2)[1] == body_lines(sample_messages[1])
        assert [f.fired for f in srv.faults] == [1, 1]
        client.close()

    def test_err_code_not_executed(
        self, make_pop3_server_thread: MakeThread, memory_mailbox: MemoryMailbox
    ) -> None:
        """err_code answers -ERR [CODE] injected and the command does not take effect."""
        srv = make_pop3_server_thread(faults=[Fault("DELE", err_code="SYS/TEMP")])
        client = login(srv)
        with pytest.raises(poplib.error_proto, match=r"^b'-ERR \[SYS/TEMP\] injected'$"):
            client.dele(1)
        client.quit()
        assert len(memory_mailbox.messages) == 3

    def test_err_code_empty_and_on_pass(self, make_pop3_server_thread: MakeThread) -> None:
        """err_code="" gives a bare -ERR; on PASS it refuses even the right password."""
        srv = make_pop3_server_thread(
            faults=[Fault("PASS", err_code="IN-USE"), Fault("NOOP", err_code="")]
        )
        client = poplib.POP3("127.0.0.1", srv.port, timeout=10)
        client.user(POP3_USER)
        with pytest.raises(poplib.error_proto, match=r"\[IN-USE\] injected"):
            client.pass_(POP3_PASSWORD)
        client.user(POP3_USER)
        client.pass_(POP3_PASSWORD)
        with pytest.raises(poplib.error_proto, match=r"^b'-ERR injected'$"):
            client.noop()
        client.close()

    def test_replace_and_append(self, make_pop3_server_thread: MakeThread) -> None:
        """replace sends other bytes; append adds bytes after the real reply."""
        srv = make_pop3_server_thread(
            faults=[
                Fault("LIST", replace=b"+OK\r\nabc 1\r\n.\r\n"),
                Fault("NOOP", append=b"+OK extra\r\n"),
            ]
        )
        wire = Wire(srv.port)
        wire.login()
        wire.send(b"LIST\r\nNOOP\r\n")
        assert wire.line() == b"+OK\r\n"
        assert wire.multiline() == b"abc 1\r\n.\r\n"
        assert wire.line() == b"+OK\r\n"
        assert wire.line() == b"+OK extra\r\n"
        wire.close()

    def test_drop_before(
        self, make_pop3_server_thread: MakeThread, memory_mailbox: MemoryMailbox
    ) -> None:
        """drop_before closes without replying; QUIT dropped that way deletes nothing."""
        srv = make_pop3_server_thread(faults=[Fault("QUIT", drop_before=True)])
        client = login(srv)
        client.dele(1)
        with pytest.raises((poplib.error_proto, EOFError, ConnectionError)):
            client.quit()
        client.close()
        srv.wait_idle()
        assert len(memory_mailbox.messages) == 3

    def test_drop_after(
        self, make_pop3_server_thread: MakeThread, sample_messages: list[bytes]
    ) -> None:
        """drop_after sends the whole reply, then closes."""
        srv = make_pop3_server_thread(faults=[Fault("RETR", drop_after=True)])
        wire = Wire(srv.port)
        wire.login()
        wire.send(b"RETR 1\r\n")
        assert wire.line().startswith(b"+OK")
        assert wire.multiline() == sample_messages[0] + b".\r\n"
        assert wire.line() == b""
        wire.close()

    def test_silent_swallows_one_command(self, make_pop3_server_thread: MakeThread) -> None:
        """silent: the command gets no reply, the next one is answered."""
        srv = make_pop3_server_thread(faults=[Fault("NOOP", silent=True)])
        wire = Wire(srv.port)
        wire.login()
        wire.send(b"NOOP\r\nSTAT\r\n")
        assert wire.line().startswith(b"+OK 3 ")
        wire.close()
        assert srv.commands()[-2:] == ["NOOP", "STAT"]

    def test_delay_makes_client_time_out(self, make_pop3_server_thread: MakeThread) -> None:
        """A delayed reply does not arrive within a short client timeout."""
        srv = make_pop3_server_thread(faults=[Fault("STAT", delay=60)])
        client = login(srv)
        client.sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            client.stat()
        client.close()

    def test_stall_after_stls_ack(
        self,
        make_pop3_server_thread: MakeThread,
        tls_server_context: ssl.SSLContext,
        tls_client_context: ssl.SSLContext,
    ) -> None:
        """stall on STLS: the +OK arrives, then the handshake is never answered."""
        srv = make_pop3_server_thread(stls=tls_server_context, faults=[Fault("STLS", stall=True)])
        wire = Wire(srv.port)
        wire.line()
        wire.send(b"STLS\r\n")
        assert wire.line().startswith(b"+OK")
        wire.sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            tls_client_context.wrap_socket(wire.sock, server_hostname="127.0.0.1")
        wire.close()

    def test_silent_stalled_greeting(self, make_pop3_server_thread: MakeThread) -> None:
        """GREETING silent+stall: the server accepts, then never says anything."""
        srv = make_pop3_server_thread(faults=[Fault("GREETING", silent=True, stall=True)])
        wire = Wire(srv.port)
        wire.send(b"CAPA\r\n")
        wire.sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            wire.sock.recv(1)
        wire.close()
        assert srv.commands() == []

    def test_skip_times_and_arg(self, make_pop3_server_thread: MakeThread) -> None:
        """skip lets matches pass, times limits firing, arg filters on the first argument."""
        fault = Fault("RETR", arg="1", skip=1, times=2, err_code="X")
        srv = make_pop3_server_thread(faults=[fault])
        client = login(srv)
        results = []
        for n in (1, 2, 1, 1, 1):
            try:
                results.append(client.retr(n)[0][:3])
            except poplib.error_proto as exc:
                results.append(exc.args[0][:8])
        assert results == [b"+OK", b"+OK", b"-ERR [X]", b"-ERR [X]", b"+OK"]
        assert (fault.matched, fault.fired, fault.exhausted) == (3, 2, True)
        client.close()

    def test_star_matches_commands_not_greeting(self, make_pop3_server_thread: MakeThread) -> None:
        """verb "*" applies to any command but leaves the greeting alone."""
        srv = make_pop3_server_thread(faults=[Fault("*", times=None, err_code="SYS/PERM")])
        wire = Wire(srv.port)
        assert wire.line().startswith(b"+OK")
        wire.send(b"CAPA\r\nUSER alice\r\n")
        assert wire.line() == b"-ERR [SYS/PERM] injected\r\n"
        assert wire.line() == b"-ERR [SYS/PERM] injected\r\n"
        wire.close()

    def test_fault_added_while_running(self, pop3_server_thread: ServerThread) -> None:
        """A fault appended to a running server applies to the next command."""
        client = login(pop3_server_thread)
        pop3_server_thread.faults.append(Fault("NOOP", err_code="LOGIN-DELAY"))
        with pytest.raises(poplib.error_proto, match="LOGIN-DELAY"):
            client.noop()
        client.close()

    @pytest.mark.parametrize(
        ("fault", "first_line"),
        [
            (Fault("GREETING", err_code="SYS/TEMP"), b"-ERR [SYS/TEMP] injected\r\n"),
            (Fault("GREETING", replace=b"+OK other\r\n"), b"+OK other\r\n"),
            (Fault("GREETING", silent=True), b"+OK Capability list follows\r\n"),
            (Fault("GREETING", drop_before=True), b""),
        ],
    )
    def test_greeting_faults(
        self, make_pop3_server_thread: MakeThread, fault: Fault, first_line: bytes
    ) -> None:
        """GREETING faults: an -ERR greeting, other bytes, no greeting at all, or a drop."""
        srv = make_pop3_server_thread(faults=[fault])
        wire = Wire(srv.port)
        if fault.silent:
            wire.send(b"CAPA\r\n")
        assert wire.line() == first_line
        wire.close()

    def test_custom_greeting(self, make_pop3_server_thread: MakeThread) -> None:
        """greeting= replaces the greeting line."""
        srv = make_pop3_server_thread(greeting=b"-ERR Permission denied\r\n")
        wire = Wire(srv.port)
        assert wire.line() == b"-ERR Permission denied\r\n"
        wire.close()


class TestStreamedReplies:
    """``Fault.replace`` as a stream: endless or huge replies at bounded memory (A.7)."""

    @pytest.mark.slow  # a memory measurement over megabytes of listing
    def test_endless_listing_costs_bounded_memory(
        self, make_pop3_server_thread: MakeThread
    ) -> None:
        """An endless generated LIST goes on past 2,000,000 rows (~24 MB) while
        everything allocated meanwhile, server thread included, stays under 8 MB;
        when the client hangs up the server drops the session."""
        srv = make_pop3_server_thread(faults=[Fault("LIST", replace=generated_listing("LIST"))])
        wire = Wire(srv.port)
        wire.login()
        wire.send(b"LIST\r\n")
        assert wire.line() == b"+OK generated listing\r\n"
        wanted = 2_000_000
        lines, tail, received = 0, b"", 0
        tracemalloc.start()
        try:
            while lines < wanted:
                data = wire.file.read1(256 * 1024)
                assert data, "the server ended an endless listing"
                received += len(data)
                lines += data.count(b"\n")
                tail = (tail + data)[-64:]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        wire.close()
        assert received > 20 * 1024 * 1024
        last_row = tail.split(b"\r\n")[-2]
        number, size = last_row.split(b" ")
        assert int(number) >= wanted and size == b"100"
        assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"
        srv.wait_idle()
        assert srv.server.active_sessions == 0

    def test_counted_listing_is_exact(self, make_pop3_server_thread: MakeThread) -> None:
        """With a count, the generated UIDL has exactly those rows and its "." end."""
        srv = make_pop3_server_thread(
            faults=[Fault("UIDL", replace=generated_listing("uidl", count=5, batch=2))]
        )
        wire = Wire(srv.port)
        wire.login()
        wire.send(b"UIDL\r\n")
        assert wire.line() == b"+OK generated listing\r\n"
        assert wire.multiline() == b"".join(b"%d uid-%d\r\n" % (n, n) for n in range(1, 6)) + (
            b".\r\n"
        )
        wire.close()

    def test_callable_gives_a_fresh_stream_each_firing(
        self, make_pop3_server_thread: MakeThread
    ) -> None:
        """A callable is called at each firing; chunk_size splits its chunks and
        append follows the stream; a plain list of chunks works too."""
        calls: list[int] = []

        def stream() -> list[bytes]:
            calls.append(1)
            return [b"+OK fr", b"esh"]

        srv = make_pop3_server_thread(
            faults=[
                Fault("NOOP", replace=stream, times=2, chunk_size=2, append=b"\r\n"),
                Fault("STAT", replace=[b"+OK 0", b" 0\r\n"]),
            ]
        )
        wire = Wire(srv.port)
        wire.login()
        wire.send(b"NOOP\r\nNOOP\r\nSTAT\r\nNOOP\r\n")
        assert [wire.line() for _ in range(4)] == [
            b"+OK fresh\r\n",
            b"+OK fresh\r\n",
            b"+OK 0 0\r\n",
            b"+OK\r\n",
        ]
        wire.close()
        assert len(calls) == 2

    def test_err_code_wins_over_a_stream(self, make_pop3_server_thread: MakeThread) -> None:
        """With err_code set the stream is never asked for: -ERR [CODE] injected."""
        calls: list[int] = []

        def stream() -> list[bytes]:
            calls.append(1)
            return [b"+OK no\r\n"]

        srv = make_pop3_server_thread(faults=[Fault("NOOP", replace=stream, err_code="SYS/TEMP")])
        wire = Wire(srv.port)
        wire.login()
        wire.send(b"NOOP\r\n")
        assert wire.line() == b"-ERR [SYS/TEMP] injected\r\n"
        wire.close()
        assert calls == []

    def test_bad_arguments(self) -> None:
        """A str replace and impossible listings are refused when built."""
        with pytest.raises(TypeError):
            Fault("LIST", replace="+OK\r\n")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            generated_listing("RETR")
        with pytest.raises(ValueError):
            generated_listing("LIST", batch=0)
        with pytest.raises(ValueError):
            generated_listing("LIST", count=-1)


class TestLifecycle:
    """Loopback only, async use, and clean thread shutdown."""

    @pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::", "example.com", ""])
    def test_refuses_non_loopback(self, memory_mailbox: MemoryMailbox, host: str) -> None:
        """Binding anything but loopback raises ValueError."""
        with pytest.raises(ValueError, match="loopback"):
            Pop3Server(memory_mailbox, {}, host=host)

    def test_localhost_means_ipv4_loopback(self, memory_mailbox: MemoryMailbox) -> None:
        """ "localhost" binds 127.0.0.1 only (one port)."""
        assert Pop3Server(memory_mailbox, {}, host="localhost").host == "127.0.0.1"

    async def test_async_use(self, pop3_server: Pop3Server) -> None:
        """A started server answers on its port in the test's own event loop."""
        reader, writer = await asyncio.open_connection("127.0.0.1", pop3_server.port)
        assert (await reader.readline()).startswith(b"+OK")
        writer.write(f"USER {POP3_USER}\r\nPASS {POP3_PASSWORD}\r\nRETR 2\r\n".encode())
        await reader.readline()
        await reader.readline()
        assert (await reader.readline()).startswith(b"+OK")
        assert (await reader.readuntil(b"\r\n.\r\n")).startswith(b"From: Carol")
        writer.close()
        await writer.wait_closed()

    async def test_close_drops_open_sessions(
        self, memory_mailbox: MemoryMailbox, sample_messages: list[bytes]
    ) -> None:
        """Closing the server ends open connections without UPDATE."""
        async with Pop3Server(memory_mailbox, {POP3_USER: POP3_PASSWORD}) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            await reader.readline()
            writer.write(f"USER {POP3_USER}\r\nPASS {POP3_PASSWORD}\r\nDELE 1\r\n".encode())
            for _ in range(3):
                await reader.readline()
        assert await reader.read() == b""
        assert memory_mailbox.messages == sample_messages
        writer.close()

    async def test_async_tls_fixtures(
        self,
        pop3_server_implicit_tls: Pop3Server,
        pop3_server_stls: Pop3Server,
        tls_client_context: ssl.SSLContext,
    ) -> None:
        """The async implicit-TLS and STLS fixtures serve verified TLS to asyncio clients."""
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", pop3_server_implicit_tls.port, ssl=tls_client_context
        )
        assert (await reader.readline()).startswith(b"+OK")
        writer.close()
        await writer.wait_closed()
        reader, writer = await asyncio.open_connection("127.0.0.1", pop3_server_stls.port)
        await reader.readline()
        writer.write(b"STLS\r\n")
        assert (await reader.readline()).startswith(b"+OK")
        await writer.start_tls(tls_client_context, server_hostname="127.0.0.1")
        writer.write(b"CAPA\r\n")
        assert (await reader.readuntil(b".\r\n")).startswith(b"+OK")
        writer.close()
        await writer.wait_closed()

    def test_thread_stops_cleanly(self, memory_mailbox: MemoryMailbox) -> None:
        """After the with block no server thread is left, even with a connection open."""
        before = set(threading.enumerate())
        with ServerThread(Pop3Server(memory_mailbox, {POP3_USER: POP3_PASSWORD})) as srv:
            client = login(srv)
        assert set(threading.enumerate()) <= before
        with pytest.raises((poplib.error_proto, EOFError, ConnectionError)):
            client.stat()
        client.close()

    def test_thread_reports_bind_failure(self, memory_mailbox: MemoryMailbox) -> None:
        """A port already in use raises OSError from start()."""
        with ServerThread(Pop3Server(memory_mailbox, {})) as first:
            second = ServerThread(Pop3Server(memory_mailbox, {}, port=first.port))
            with pytest.raises(OSError):
                second.start()
