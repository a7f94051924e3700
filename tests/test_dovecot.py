"""popview against a real Dovecot (the private one from ``tests/fixtures/dovecot.py``).

First the fixture itself is checked with the stdlib ``poplib``, so a failure further down is
popview's and not the fixture's. Then popview's client is run in each TLS mode against it,
and the Maildir on disk is the judge of what was deleted.
"""

from __future__ import annotations

import asyncio
import poplib
import ssl
from pathlib import Path
from typing import Any

import pytest

from popview.config import Account
from popview.errors import AuthError, TLSVerificationError
from popview.pop3 import protocol
from popview.pop3.client import Pop3Client
from popview.pop3.tls import client_context, fingerprint_of
from popview.session import MailboxSession
from popview.session.identity import is_valid_uidl
from popview.store import Store
from tests.fixtures.dovecot import DovecotServer, MailUser, unavailable
from tests.fixtures.maildir import served
from tests.test_engine_hardening import HalfPipeliningProxy, commands_per_write

pytestmark = pytest.mark.slow  # each test starts a private Dovecot


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
                assert isinstance(conn.sock, ssl.SSLSocket)
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


class _BrokenConfig(DovecotServer):
    def _config(self, cert_path: Path, key_path: Path) -> str:
        return "this is not { a dovecot config\n"


@pytest.mark.dovecot
class TestStartFailure:
    """A Dovecot that does not come up is reported with its own words."""

    def test_start_failure_shows_the_log(self, dovecot: DovecotServer) -> None:
        """A Dovecot that exits at start-up is reported with the tail of what it wrote."""
        broken = _BrokenConfig(dovecot.executable)
        try:
            with pytest.raises(RuntimeError, match=r"dovecot exited[\s\S]*dovecot\.stderr"):
                broken.start()
        finally:
            broken.stop()


# --------------------------------------------------------------------------------------------
# popview's client against Dovecot, in each TLS mode.

MODES = ["none", "starttls", "implicit"]


def headers_of(message: bytes) -> bytes:
    """What ``TOP n 0`` returns: the header block and the empty line, with CRLF."""
    wire = served(message)
    return wire[: wire.index(b"\r\n\r\n") + 4]


def fingerprint_of_server(dovecot: DovecotServer) -> str:
    """The SHA-256 fingerprint of the certificate Dovecot presents (colon form)."""
    pem = dovecot.cert_path.read_text()
    first = pem[: pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    return fingerprint_of(ssl.PEM_cert_to_DER_cert(first))


async def open_client(
    dovecot: DovecotServer,
    mode: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    trace: list[str] | None = None,
    **kwargs: Any,
) -> Pop3Client:
    """Connect popview's client in ``mode``; TLS modes trust the session's CA."""
    port = dovecot.pop3s_port if mode == "implicit" else dovecot.pop3_port
    if ssl_context is None and mode != "none":
        ssl_context = client_context(cafile=dovecot.ca_pem)
    return await Pop3Client.connect(
        dovecot.host,
        port,
        tls=mode,  # type: ignore[arg-type]
        ssl_context=ssl_context,
        trace=None if trace is None else trace.append,
        command_timeout=30,
        **kwargs,
    )


async def logged_in(dovecot: DovecotServer, mode: str, user: MailUser) -> Pop3Client:
    client = await open_client(dovecot, mode)
    try:
        await client.login(user.name, user.password)
    except BaseException:
        await client.close()
        raise
    return client


async def session_end(dovecot: DovecotServer, user: MailUser) -> str:
    """Wait for Dovecot to log the end of ``user``'s (single) mail session; return that line.

    Waits in a thread so the event loop keeps running: an aborted asyncio transport closes
    its socket only when the loop next runs.
    """
    needle = f"pop3({user.name})"
    log = await asyncio.to_thread(dovecot.wait_for_log, needle)
    lines = [line for line in log.splitlines() if needle in line]
    assert lines, f"Dovecot never logged the end of {user.name}'s session"
    return lines[-1]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Each TLS mode: plaintext (asked for), STLS on the plain port, implicit TLS."""
    return str(request.param)


@pytest.mark.dovecot
class TestClientLogin:
    """popview logs in to Dovecot with each method, in each TLS mode."""

    @pytest.mark.parametrize(
        ("mechanism", "sent", "logged"),
        [
            ("USER", "USER ", "PLAIN"),
            ("PLAIN", "AUTH PLAIN", "PLAIN"),
            ("LOGIN", "AUTH LOGIN", "LOGIN"),
            ("CRAM-MD5", "AUTH CRAM-MD5", "CRAM-MD5"),
            ("SCRAM-SHA-1", "AUTH SCRAM-SHA-1", "SCRAM-SHA-1"),
            ("SCRAM-SHA-256", "AUTH SCRAM-SHA-256", "SCRAM-SHA-256"),
        ],
    )
    async def test_login_with_each_method(
        self,
        dovecot: DovecotServer,
        dovecot_user: MailUser,
        mode: str,
        mechanism: str,
        sent: str,
        logged: str,
    ) -> None:
        """The chosen method is what goes on the wire; Dovecot logs the user in with it,
        over TLS when the mode has it, and the password is in no trace line."""
        trace: list[str] = []
        client = await open_client(dovecot, mode, trace=trace)
        try:
            assert client.encrypted is (mode != "none")
            if mode != "none":
                assert client.tls_info is not None and client.tls_info.verified
            await client.login(dovecot_user.name, dovecot_user.password, mechanism=mechanism)
            assert client.authenticated
            assert await client.stat() == (0, 0)
            await client.quit()
        finally:
            await client.close()
        assert any(line.startswith(f"C: {sent}") for line in trace), trace
        assert not any(dovecot_user.password in line for line in trace)
        await session_end(dovecot, dovecot_user)
        log = dovecot.log_text()
        assert f"Login: user=<{dovecot_user.name}>, method={logged}," in log
        login_line = next(
            line for line in log.splitlines() if f"Login: user=<{dovecot_user.name}>" in line
        )
        assert ("TLS" in login_line) is (mode != "none")
        assert dovecot_user.password not in log

    async def test_strongest_method_is_chosen(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """Without a configured method popview picks SCRAM-SHA-256, the strongest one
        Dovecot advertises, and logs in with it (Dovecot proved itself: SCRAM's server
        signature checked out, or login() would have raised)."""
        trace: list[str] = []
        client = await open_client(dovecot, "starttls", trace=trace)
        try:
            assert "SCRAM-SHA-256" in client.capabilities.sasl
            await client.login(dovecot_user.name, dovecot_user.password)
            assert client.authenticated
            await client.quit()
        finally:
            await client.close()
        assert any(line.startswith("C: AUTH SCRAM-SHA-256") for line in trace), trace
        await session_end(dovecot, dovecot_user)
        assert f"Login: user=<{dovecot_user.name}>, method=SCRAM-SHA-256," in dovecot.log_text()

    @pytest.mark.parametrize(
        "mechanism", ["USER", "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]
    )
    async def test_wrong_password_is_refused(
        self, dovecot: DovecotServer, dovecot_user: MailUser, mode: str, mechanism: str
    ) -> None:
        """A wrong password raises AuthError whose message does not contain it."""
        wrong = "not-the-password-canary"
        client = await open_client(dovecot, mode)
        try:
            with pytest.raises(AuthError) as info:
                await client.login(dovecot_user.name, wrong, mechanism=mechanism)
            assert wrong not in str(info.value)
            assert not client.authenticated
        finally:
            await client.close()


@pytest.mark.dovecot
class TestClientReads:
    """STAT, LIST, UIDL, TOP and RETR give exactly what is in the Maildir, with CRLF."""

    async def test_stat_list_uidl(
        self, dovecot: DovecotServer, dovecot_user: MailUser, mode: str
    ) -> None:
        """Counts and sizes match the files as served; UIDLs are distinct and stable
        across sessions."""
        messages = [sample(1), DOTS, sample(3, b"x" * 5000 + b"\n")]
        dovecot.seed(dovecot_user.name, messages)
        sizes = [len(served(m)) for m in messages]
        uids = []
        for _ in range(2):
            client = await logged_in(dovecot, mode, dovecot_user)
            try:
                assert await client.stat() == (3, sum(sizes))
                listing = await client.list()
                assert listing.rejected == ()
                assert [(e.number, e.size) for e in listing.entries] == [
                    (1, sizes[0]),
                    (2, sizes[1]),
                    (3, sizes[2]),
                ]
                assert (await client.list(2)).size == sizes[1]
                ids = await client.uidl()
                assert ids.rejected == ()
                assert [e.number for e in ids.entries] == [1, 2, 3]
                assert all(is_valid_uidl(e.uid) for e in ids.entries)
                assert len({e.uid for e in ids.entries}) == 3
                assert (await client.uidl(3)).uid == ids.entries[2].uid
                uids.append([e.uid for e in ids.entries])
            finally:
                await client.close()
        assert uids[0] == uids[1]

    async def test_retr_and_top_are_the_files(
        self, dovecot: DovecotServer, dovecot_user: MailUser, mode: str
    ) -> None:
        """RETR equals each file with LF made CRLF, dot lines (".", "..", ".x") included;
        TOP n 0 is its header block and TOP n 2 adds two body lines."""
        paths = dovecot.seed(dovecot_user.name, [sample(1), DOTS])
        client = await logged_in(dovecot, mode, dovecot_user)
        try:
            for n, path in enumerate(paths, start=1):
                on_disk = path.read_bytes()
                wire = on_disk.replace(b"\n", b"\r\n")
                assert await client.retr(n) == wire
                assert await client.top(n, 0) == headers_of(on_disk)
            body = await client.top(2, 2)
            assert body == headers_of(DOTS) + b".\r\n..\r\n"
            retr = await client.retr(2)
            assert b"\r\n.\r\n..\r\n.x\r\n...\r\n. x\r\n" in retr
        finally:
            await client.quit()


@pytest.mark.dovecot
class TestClientDeletion:
    """What reaches the disk: only a committed DELE removes a file (RFC 1939 §6)."""

    async def test_dele_quit_removes_exactly_the_marked_message(
        self, dovecot: DovecotServer, dovecot_user: MailUser, mode: str
    ) -> None:
        """DELE 2 then QUIT removes the second file and leaves the others byte-identical."""
        paths = dovecot.seed(dovecot_user.name, [sample(1), sample(2), sample(3)])
        before = {p: p.read_bytes() for p in paths}
        client = await logged_in(dovecot, mode, dovecot_user)
        await client.dele(2)
        await client.quit()
        assert client.closed
        assert "Logged out" in await session_end(dovecot, dovecot_user)
        assert dovecot.files(dovecot_user.name) == [paths[0], paths[2]]
        assert all(p.read_bytes() == before[p] for p in (paths[0], paths[2]))

    async def test_dele_then_dropped_connection_removes_nothing(
        self, dovecot: DovecotServer, dovecot_user: MailUser, mode: str
    ) -> None:
        """DELE then close() without QUIT: Dovecot deletes nothing, and a new session
        still sees every message."""
        paths = dovecot.seed(dovecot_user.name, [sample(1), sample(2), sample(3)])
        client = await logged_in(dovecot, mode, dovecot_user)
        await client.dele(1)
        await client.dele(3)
        await client.close()
        # Dovecot saw the connection end without QUIT ("Logged out" would mean QUIT).
        assert "Disconnected: Connection closed" in await session_end(dovecot, dovecot_user)
        assert dovecot.files(dovecot_user.name) == paths
        again = await logged_in(dovecot, mode, dovecot_user)
        try:
            assert (await again.stat())[0] == 3
        finally:
            await again.close()

    async def test_dele_then_abort_removes_nothing(
        self, dovecot: DovecotServer, dovecot_user: MailUser, mode: str
    ) -> None:
        """DELE then abort() (the crash path: socket reset) deletes nothing either."""
        paths = dovecot.seed(dovecot_user.name, [sample(1), sample(2)])
        client = await logged_in(dovecot, mode, dovecot_user)
        await client.dele(2)
        client.abort("test")
        assert "Disconnected: Connection closed" in await session_end(dovecot, dovecot_user)
        assert dovecot.files(dovecot_user.name) == paths

    async def test_dele_rset_quit_removes_nothing(
        self, dovecot: DovecotServer, dovecot_user: MailUser, mode: str
    ) -> None:
        """DELE, RSET, QUIT: the mark is undone and every file stays."""
        paths = dovecot.seed(dovecot_user.name, [sample(1), sample(2), sample(3)])
        client = await logged_in(dovecot, mode, dovecot_user)
        await client.dele(1)
        await client.dele(2)
        await client.rset()
        await client.quit()
        assert dovecot.files(dovecot_user.name) == paths

    async def test_rset_then_new_mark_removes_only_the_new_one(
        self, dovecot: DovecotServer, dovecot_user: MailUser, mode: str
    ) -> None:
        """DELE 1, RSET, DELE 3, QUIT (the "unmark" key): only message 3 goes."""
        paths = dovecot.seed(dovecot_user.name, [sample(1), sample(2), sample(3)])
        client = await logged_in(dovecot, mode, dovecot_user)
        await client.dele(1)
        await client.rset()
        await client.dele(3)
        await client.quit()
        assert dovecot.files(dovecot_user.name) == paths[:2]


@pytest.mark.dovecot
class TestClientPipelining:
    """One pipelined batch of 1,000 TOP n 0 against Dovecot."""

    async def test_thousand_tops_in_order(
        self, dovecot: DovecotServer, dovecot_user: MailUser, mode: str
    ) -> None:
        """1,000 header blocks come back in order, each the headers of its own file."""
        messages = [sample(n) for n in range(1, 1001)]
        dovecot.seed(dovecot_user.name, messages)
        client = await logged_in(dovecot, mode, dovecot_user)
        try:
            assert client.capabilities.pipelining
            assert client.pipelining
            results = [item async for item in client.top_many(range(1, 1001), 0)]
            assert [n for n, _ in results] == list(range(1, 1001))
            for n, block in results:
                assert block == headers_of(messages[n - 1]), n
            assert await client.stat() == (1000, sum(len(served(m)) for m in messages))
        finally:
            await client.quit()


@pytest.mark.dovecot
class TestClientCertificate:
    """A certificate the system store does not trust is refused before any credential."""

    @pytest.mark.parametrize("tls_mode", ["starttls", "implicit"])
    async def test_untrusted_certificate_refused_without_credentials(
        self, dovecot: DovecotServer, dovecot_user: MailUser, tls_mode: str
    ) -> None:
        """Without the test CA, connect raises TLSVerificationError naming the presented
        fingerprint; Dovecot sees no login attempt, and no USER, PASS or AUTH was sent."""
        before = dovecot.log_text().count("no auth attempts")
        trace: list[str] = []
        with pytest.raises(TLSVerificationError) as info:
            client = await open_client(dovecot, tls_mode, ssl_context=client_context(), trace=trace)
            await client.login(dovecot_user.name, dovecot_user.password)  # never reached
        assert info.value.fingerprint == fingerprint_of_server(dovecot)
        assert dovecot_user.password not in str(info.value)
        assert not any(line.startswith(("C: USER", "C: PASS", "C: AUTH")) for line in trace)
        log = await asyncio.to_thread(dovecot.wait_for_log, "no auth attempts", before + 1)
        assert log.count("no auth attempts") >= before + 1
        assert f"user=<{dovecot_user.name}>" not in log


@pytest.mark.dovecot
class TestSessionLoginFlight:
    """USER, PASS (or SCRAM's last lines) and the listing in one write to Dovecot,
    once its CAPA is known, fresh or remembered."""

    @staticmethod
    def _account(dovecot: DovecotServer, port: int, user: MailUser) -> Account:
        return Account(
            name="d", host=dovecot.host, port=port, user=user.name, tls="none", auth="USER"
        )

    async def test_one_flight_lists_the_mailbox_and_a_refused_password_logs_nobody_in(
        self, dovecot: DovecotServer, dovecot_user: MailUser, tmp_path: Path
    ) -> None:
        """Dovecot takes the flight (its login process hands the queued commands to
        the mail process): after CAPA on a first visit, and at once on the second,
        one write holds all six commands and lists the mailbox. With a wrong
        password in the flight, the login error is the usual one and Dovecot logs
        that session in never."""
        messages = [sample(n) for n in range(1, 4)]
        dovecot.seed(dovecot_user.name, messages)
        proxy = HalfPipeliningProxy(dovecot.pop3_port, frozenset())
        await proxy.start()
        account = self._account(dovecot, proxy.port, dovecot_user)
        try:
            with Store.open(tmp_path / "cache") as store:
                for _ in range(2):
                    session = MailboxSession(account, dovecot_user.password, store=store)
                    info = await session.open()
                    assert info.message_count == 3
                    listed = [e async for u in session.list_messages() for e in u.envelopes]
                    assert len(listed) == 3
                    await session.close()
                wrong = "not-the-password-canary"
                refused = MailboxSession(account, wrong, store=store)
                with pytest.raises(AuthError) as error:
                    await refused.open()
                assert wrong not in str(error.value)
        finally:
            await proxy.close()
        assert commands_per_write(proxy.writes[0][:2]) == [1, 6]  # CAPA, login + listing
        for flight in (proxy.writes[0][1], proxy.writes[1][0], proxy.writes[2][0]):
            assert flight.startswith(f"USER {dovecot_user.name}\r\nPASS ".encode())
            assert flight.endswith(b"\r\nCAPA\r\nSTAT\r\nLIST\r\nUIDL\r\n")
        await asyncio.to_thread(dovecot.wait_for_log, "auth failed")
        log = dovecot.log_text()
        assert log.count(f"Login: user=<{dovecot_user.name}>") == 2
        assert wrong not in log and dovecot_user.password not in log

    @pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-1"])
    async def test_scram_sends_the_listing_behind_its_last_line(
        self, dovecot: DovecotServer, dovecot_user: MailUser, tmp_path: Path, mechanism: str
    ) -> None:
        """SCRAM's client-final message, the empty line that acknowledges the server's
        signature (RFC 5034 §4) and CAPA, STAT, LIST, UIDL go in one write: Dovecot
        lists the mailbox in two round trips after CAPA. A wrong password in that
        flight is the usual login error, nobody is logged in, and no QUIT is sent."""
        dovecot.seed(dovecot_user.name, [sample(n) for n in range(1, 4)])
        proxy = HalfPipeliningProxy(dovecot.pop3_port, frozenset())
        await proxy.start()
        account = Account(
            name="d", host=dovecot.host, port=proxy.port, user=dovecot_user.name, tls="none",
            auth=mechanism,
        )  # fmt: skip
        wrong = "not-the-password-canary"
        try:
            session = MailboxSession(account, dovecot_user.password)
            info = await session.open()
            assert info.message_count == 3
            assert len([e async for u in session.list_messages() for e in u.envelopes]) == 3
            await session.close()
            with pytest.raises(AuthError) as error:
                await MailboxSession(account, wrong).open()
            assert wrong not in str(error.value)
        finally:
            await proxy.close()
        listed, refused = proxy.writes
        assert listed[0] == b"CAPA\r\n"
        assert listed[1].startswith(f"AUTH {mechanism} ".encode())
        assert listed[2].endswith(b"\r\n\r\nCAPA\r\nSTAT\r\nLIST\r\nUIDL\r\n")
        assert commands_per_write(listed[:3]) == [1, 1, 6]
        assert commands_per_write(refused[:3]) == [1, 1, 6]
        assert not any(b"QUIT" in write for write in refused)
        await asyncio.to_thread(dovecot.wait_for_log, "auth failed")
        log = dovecot.log_text()
        assert log.count(f"Login: user=<{dovecot_user.name}>, method={mechanism}") == 1
        assert wrong not in log and dovecot_user.password not in log

    async def test_a_server_that_cannot_prove_itself_gets_no_reply_read(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """An impostor (here a proxy that alters Dovecot's SCRAM signature) is caught
        when its signature arrives, though the listing was sent behind the last line:
        the login fails as an impostor, no listing is read, and the connection is
        dropped without QUIT."""
        dovecot.seed(dovecot_user.name, [sample(1)])
        proxy = HalfPipeliningProxy(dovecot.pop3_port, frozenset())

        def forge(data: bytes) -> bytes:
            head, sep, rest = data.partition(b"+ dj")  # base64 of "v=..."
            other = b"B" if rest[8:9] == b"A" else b"A"  # still base64, another signature
            return head + sep + rest[:8] + other + rest[9:] if sep else data

        proxy.rewrite = forge
        await proxy.start()
        account = Account(
            name="d", host=dovecot.host, port=proxy.port, user=dovecot_user.name, tls="none"
        )
        try:
            session = MailboxSession(account, dovecot_user.password)
            with pytest.raises(AuthError, match="impostor"):
                await session.open()
        finally:
            await proxy.close()
        (writes,) = proxy.writes
        assert writes[-1].endswith(b"\r\n\r\nCAPA\r\nSTAT\r\nLIST\r\nUIDL\r\n")
        assert not any(b"QUIT" in write for write in writes)

    async def test_a_client_refused_with_the_listing_queued_is_dropped(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """Pop3Client.login with SCRAM and commands queued behind its last line: a
        wrong password raises the login error and closes the connection, since the
        queued replies are unread (never reused, never QUIT); the trace masks every
        SCRAM line."""
        trace: list[str] = []
        client = await open_client(dovecot, "none", trace=trace)
        wrong = "not-the-password-canary"
        with pytest.raises(AuthError):
            await client.login(
                dovecot_user.name, wrong, capa=False, pipelined=True, then=[protocol.stat()]
            )
        assert client.closed
        sent = [line for line in trace if line.startswith("C: ")]
        assert sent[-3:] == ["C: ***", "C: ***", "C: STAT"], sent
        assert not any(wrong in line for line in trace)
        assert "C: QUIT" not in sent
