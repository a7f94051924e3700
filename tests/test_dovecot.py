"""popview against a real Dovecot (the private one from ``tests/fixtures/dovecot.py``).

First the fixture itself is checked with the stdlib ``poplib``, so a failure further down is
popview's and not the fixture's. Then popview's client is run in each TLS mode against it,
and the Maildir on disk is the judge of what was deleted.
"""

from __future__ import annotations

import poplib
import ssl
import time

import pytest

from tests.fixtures.dovecot import DovecotServer, MailUser, unavailable
from tests.fixtures.maildir import served


def sample(n: int, body: bytes = b"Hello.\n") -> bytes:
    """A small message numbered ``n``, with LF endings as a delivery agent writes it."""
    return (
        f"From: Sender {n} <s{n}@example.org>\n"
        f"To: alice@example.org\n"
        f"Subject: Message {n}\n"
        f"Message-ID: <{n}@example.org>\n"
        "\n"
    ).encode() + body


DOTS = b"From: dots@example.org\r\nSubject: dot lines\r\n\r\n.\r\n..\r\n.x\r\n...\r\n. x\r\nend\r\n"


def wait_for_log(dovecot: DovecotServer, needle: str, count: int = 1) -> str:
    """Wait until Dovecot's log holds ``needle`` ``count`` times (it logs at disconnect)."""
    deadline = time.monotonic() + 10
    while True:
        text = dovecot.log_path.read_text(errors="replace")
        if text.count(needle) >= count or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def poplib_login(dovecot: DovecotServer, user: MailUser) -> poplib.POP3:
    conn = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=10)
    conn.user(user.name)
    conn.pass_(user.password)
    return conn


@pytest.mark.dovecot
class TestFixtureWithPoplib:
    """The private Dovecot answers the stdlib client as a POP3 server should."""

    def test_greeting(self, dovecot: DovecotServer) -> None:
        """Both listeners greet with +OK; the implicit one only over TLS with the test CA."""
        conn = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=10)
        try:
            assert conn.getwelcome().startswith(b"+OK")
        finally:
            conn.quit()
        tls = poplib.POP3_SSL(
            dovecot.host, dovecot.pop3s_port, timeout=10, context=dovecot.client_context()
        )
        try:
            assert tls.getwelcome().startswith(b"+OK")
        finally:
            tls.quit()

    def test_default_users_log_in(self, dovecot: DovecotServer) -> None:
        """alice and bob exist with their canary passwords; a wrong password is refused."""
        assert dovecot.users["alice"] == "s3cret-canary"
        for name in ("alice", "bob"):
            conn = poplib_login(dovecot, dovecot.user(name))
            assert conn.stat()[0] >= 0
            conn.quit()
        conn = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=10)
        conn.user("alice")
        with pytest.raises(poplib.error_proto, match=r"-ERR"):
            conn.pass_("wrong")
        conn.quit()

    def test_stat_counts_seeded_messages(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """STAT gives the number of seeded messages and their size with CRLF endings."""
        messages = [sample(1), sample(2), DOTS]
        dovecot.seed(dovecot_user.name, messages)
        conn = poplib_login(dovecot, dovecot_user)
        try:
            assert conn.stat() == (3, sum(len(served(m)) for m in messages))
        finally:
            conn.quit()

    def test_retr_is_the_file_with_crlf(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """RETR (unstuffed by poplib) equals the file on disk with LF turned into CRLF."""
        paths = dovecot.seed(dovecot_user.name, [sample(1), DOTS])
        conn = poplib_login(dovecot, dovecot_user)
        try:
            for n, path in enumerate(paths, start=1):
                _, lines, _ = conn.retr(n)
                on_disk = path.read_bytes()
                assert b"\r" not in on_disk
                assert b"".join(line + b"\r\n" for line in lines) == on_disk.replace(b"\n", b"\r\n")
        finally:
            conn.quit()

    def test_uidl_is_unique_per_message(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """UIDL gives one distinct printable id per message (RFC 1939 §7)."""
        dovecot.seed(dovecot_user.name, [sample(n) for n in range(1, 6)])
        conn = poplib_login(dovecot, dovecot_user)
        try:
            _, lines, _ = conn.uidl()
        finally:
            conn.quit()
        ids = [line.split(b" ", 1)[1] for line in lines]
        assert len(set(ids)) == 5
        assert all(0x21 <= c <= 0x7E for uid in ids for c in uid)

    def test_dele_quit_removes_the_file(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """DELE 2 then QUIT removes exactly the second file from the Maildir."""
        paths = dovecot.seed(dovecot_user.name, [sample(1), sample(2), sample(3)])
        conn = poplib_login(dovecot, dovecot_user)
        conn.dele(2)
        conn.quit()
        assert dovecot.files(dovecot_user.name) == [paths[0], paths[2]]

    def test_stls_with_the_test_ca(self, dovecot: DovecotServer, dovecot_user: MailUser) -> None:
        """STLS upgrades the plain port; login and RETR work over the verified session."""
        dovecot.seed(dovecot_user.name, [sample(1)])
        conn = poplib.POP3(dovecot.host, dovecot.pop3_port, timeout=10)
        try:
            assert "STLS" in conn.capa()
            conn.stls(context=dovecot.client_context())
            assert isinstance(conn.sock, ssl.SSLSocket)
            conn.user(dovecot_user.name)
            conn.pass_(dovecot_user.password)
            assert b"".join(x + b"\r\n" for x in conn.retr(1)[1]) == served(sample(1))
        finally:
            conn.quit()

    def test_pop3_ssl_with_the_test_ca(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """POP3S (implicit TLS) verifies against the test CA for 127.0.0.1 and localhost."""
        dovecot.seed(dovecot_user.name, [sample(1)])
        for host in ("127.0.0.1", "localhost"):
            conn = poplib.POP3_SSL(
                host, dovecot.pop3s_port, timeout=10, context=dovecot.client_context()
            )
            try:
                assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
                conn.user(dovecot_user.name)
                conn.pass_(dovecot_user.password)
                assert conn.stat() == (1, len(served(sample(1))))
            finally:
                conn.quit()

    def test_system_store_does_not_trust_the_test_ca(self, dovecot: DovecotServer) -> None:
        """Without the test CA, the handshake fails verification (so the CA is really needed)."""
        with pytest.raises(ssl.SSLCertVerificationError):
            poplib.POP3_SSL(
                dovecot.host,
                dovecot.pop3s_port,
                timeout=10,
                context=ssl.create_default_context(),
            )

    def test_users_do_not_share_mail(self, dovecot: DovecotServer) -> None:
        """Each added user starts empty; seeding one leaves the other untouched."""
        first, second = dovecot.add_user(), dovecot.add_user()
        assert first.name != second.name
        dovecot.seed(first.name, [sample(1)])
        assert len(dovecot.files(first.name)) == 1
        assert dovecot.files(second.name) == []
        conn = poplib_login(dovecot, second)
        try:
            assert conn.stat() == (0, 0)
        finally:
            conn.quit()
        dovecot.clear(first.name)
        assert dovecot.files(first.name) == []


class TestUnavailable:
    """Skipping versus failing when Dovecot cannot be used."""

    def test_skips_by_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without POPVIEW_REQUIRE_DOVECOT the test is skipped with the reason."""
        monkeypatch.delenv("POPVIEW_REQUIRE_DOVECOT", raising=False)
        with pytest.raises(pytest.skip.Exception, match="no dovecot here"):
            unavailable("no dovecot here")

    def test_fails_when_required(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With POPVIEW_REQUIRE_DOVECOT=1 the same reason fails the test instead."""
        monkeypatch.setenv("POPVIEW_REQUIRE_DOVECOT", "1")
        with pytest.raises(pytest.fail.Exception, match="no dovecot here"):
            unavailable("no dovecot here")


@pytest.mark.dovecot
class TestStartFailure:
    """A Dovecot that does not come up is reported with its own words."""

    def test_start_failure_shows_the_log(self, dovecot: DovecotServer) -> None:
        """A Dovecot that exits at start-up is reported with the tail of what it wrote."""
        broken = DovecotServer(dovecot.executable)
        broken._config = lambda cert, key: "this is not { a dovecot config\n"  # type: ignore[method-assign]
        try:
            with pytest.raises(RuntimeError, match=r"dovecot exited[\s\S]*dovecot\.stderr"):
                broken.start()
        finally:
            broken.stop()
