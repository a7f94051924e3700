"""``popview delete`` marks everything it deletes at once (``mark_many``), issue 12.

The DELEs go out pipelined, and QUIT goes only when the server holds exactly the
set the user confirmed: a refused DELE, or a message another client deleted in
between, deletes nothing. Checked on what the server received (its transcript, a
recording proxy) and on what is left in its mailbox, and against Dovecot.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from popview.cli import main
from popview.server import Fault, MemoryMailbox, Pop3Server, ServerThread
from tests.fixtures.dovecot import DovecotServer, MailUser
from tests.fixtures.embedded import account_args
from tests.test_cli_match import run, verbs
from tests.test_engine_hardening import HalfPipeliningProxy, commands_per_write
from tests.test_session import message

pytestmark = pytest.mark.usefixtures("cli_environment")

PROMOS = 500
KEPT = 40


def promo_mailbox() -> MemoryMailbox:
    """Messages 1-500 are promotions, 501-540 are not."""
    subjects = ["Big promo"] * PROMOS + ["Minutes"] * KEPT
    return MemoryMailbox([message(n, s) for n, s in enumerate(subjects, start=1)])


class TestPipelined:
    @pytest.fixture
    async def promos(
        self, make_pop3_server: Callable[..., Awaitable[Pop3Server]]
    ) -> AsyncIterator[tuple[Pop3Server, HalfPipeliningProxy, MemoryMailbox]]:
        mailbox = promo_mailbox()
        server = await make_pop3_server(mailbox=mailbox)
        proxy = HalfPipeliningProxy(server.port, frozenset())  # records, breaks nothing
        await proxy.start()
        yield server, proxy, mailbox
        await proxy.close()

    async def test_500_deles_go_in_a_few_writes_and_quit_deletes_exactly_them(
        self,
        promos: tuple[Pop3Server, HalfPipeliningProxy, MemoryMailbox],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """delete --match: 500 DELEs in a handful of writes (not one round trip each),
        then QUIT; the 500 promotions are gone, the 40 others are left."""
        server, proxy, mailbox = promos
        argv = ["delete", "--match", "~s promo", "--yes", *account_args(proxy.port)]
        code = await asyncio.to_thread(main, argv)
        out, err = capsys.readouterr()
        assert code == 0, err
        expected = [f"uid-{n:04d}" for n in range(1, PROMOS + 1)]
        assert sorted(line.split()[1] for line in out.splitlines()) == expected
        deles = [c for c in server.commands() if c.startswith("DELE")]
        assert sorted(int(c.split()[1]) for c in deles) == list(range(1, PROMOS + 1))
        (writes,) = proxy.writes
        with_dele = [w for w in writes if b"DELE " in w]
        assert len(with_dele) <= 20, commands_per_write(with_dele)  # one each: 500
        assert server.commands()[-1] == "QUIT"
        assert sorted(mailbox.deleted) == expected
        assert len(mailbox.uids) == KEPT


class TestNothingDeletedUnlessAll:
    @pytest.fixture
    def mailbox(self) -> MemoryMailbox:
        return promo_mailbox()

    @pytest.fixture
    def server(
        self, make_pop3_server_thread: Callable[..., ServerThread], mailbox: MemoryMailbox
    ) -> ServerThread:
        return make_pop3_server_thread(mailbox=mailbox)

    def test_one_refused_dele_deletes_none_and_names_it(
        self, server: ServerThread, mailbox: MemoryMailbox, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The server refuses DELE 7 of 500: the user confirmed 500, so nothing is
        deleted (no QUIT); stderr names message 7 and says none was deleted."""
        server.faults.append(Fault("DELE", arg="7", err_code="SYS/TEMP"))
        code, out, err = run(
            ["delete", "--match", "~s promo", "--yes", *account_args(server.port)], capsys
        )
        assert code == 1 and out == ""
        refused = [line for line in err.splitlines() if line.startswith("popview: refused:")]
        assert len(refused) == 1 and "#7 " in refused[0] and "Big promo" in refused[0]
        assert "refused to delete 1 of the 500 message(s) confirmed, so none was deleted" in err
        assert verbs(server).count("DELE") == PROMOS and "QUIT" not in verbs(server)
        assert mailbox.deleted == []

    def test_a_refused_dele_of_a_named_message_deletes_none(
        self, server: ServerThread, mailbox: MemoryMailbox, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """delete uid-0001 #2: DELE 2 refused, so uid-0001 is not deleted either."""
        server.faults.append(Fault("DELE", arg="2", err_code="IN-USE"))
        code, _, err = run(
            ["delete", "uid-0001", "#2", "--yes", *account_args(server.port)], capsys
        )
        assert code == 1 and "popview: refused: #2  uid-0002" in err
        assert "QUIT" not in verbs(server)
        assert mailbox.deleted == []

    def test_a_message_deleted_elsewhere_before_quit_deletes_none(
        self, server: ServerThread, mailbox: MemoryMailbox, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The link drops before the last DELE's reply, and another client deletes
        messages 3 and 540 meanwhile: the reconnect marks the 499 still there, but
        that is not what the user confirmed, so no QUIT: nothing of ours is deleted."""

        def deleted_elsewhere() -> Iterator[bytes]:
            items = mailbox.load()
            mailbox.expunge([items[2].key, items[-1].key])
            yield from ()  # no reply: the connection closes instead

        server.faults.append(
            Fault("DELE", arg=str(PROMOS), replace=deleted_elsewhere, drop_after=True, times=1)
        )
        code, out, err = run(
            ["delete", "--match", "~s promo", "--yes", *account_args(server.port)], capsys
        )
        assert code == 1 and out == "", err
        assert "nothing was deleted" in err
        assert "QUIT" not in verbs(server)
        assert mailbox.deleted == ["uid-0003", "uid-0540"]  # only the other client's


@pytest.mark.dovecot
def test_delete_match_against_dovecot_deletes_exactly_the_matching(
    dovecot: DovecotServer,
    dovecot_user: MailUser,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """300 messages, every third a promotion: delete --match removes exactly those
    100 files from the Maildir; list then shows the 200 others."""
    monkeypatch.setenv("POPVIEW_PASSWORD", dovecot_user.password)
    subjects = ["Big promo" if n % 3 == 0 else f"Note {n}" for n in range(1, 301)]
    dovecot.seed(dovecot_user.name, [message(n, s) for n, s in enumerate(subjects, start=1)])
    args = [
        "--host", "127.0.0.1", "--port", str(dovecot.pop3s_port), "--user", dovecot_user.name,
        "--tls", "implicit", "--cafile", str(dovecot.ca_pem),
    ]  # fmt: skip
    code, out, err = run(["delete", "--match", "~s promo", "--yes", *args], capsys)
    assert code == 0, err
    assert len(out.splitlines()) == 100
    left = [p.read_bytes() for p in dovecot.files(dovecot_user.name)]
    assert len(left) == 200 and not any(b"Big promo" in m for m in left)
    code, out, _ = run(["list", "--json", *args], capsys)
    assert code == 0
    assert [row["subject"] for row in json.loads(out)] == [s for s in subjects if s != "Big promo"]
