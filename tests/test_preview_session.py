"""Previews at the session level: one pipelined ``TOP n k`` batch, against the
embedded server and the private Dovecot (issue 12).

Dovecot's ``TOP`` counts body lines of the stored message (LF endings on
disk): the preview must read the same there as on the embedded server.
"""

from __future__ import annotations

import base64

import pytest

from popview.config import Account
from popview.mail.preview import render_preview
from popview.server import MemoryMailbox, Pop3Server
from popview.session import MailboxSession
from tests.fixtures.dovecot import DovecotServer, MailUser
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER


def message(n: int, headers: str, body: str) -> bytes:
    return (
        f"From: Sender {n} <s{n}@example.org>\nSubject: Message {n}\nMessage-ID: <{n}@x>\n"
        f"{headers}\n"
    ).encode() + body.encode("latin-1")


PLAIN = message(1, "", "".join(f"plain line {i}\n" for i in range(1, 41)))
BASE64 = message(
    2,
    "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n",
    base64.encodebytes("Grüße aus Köln\nzweite Zeile\n".encode() * 30).decode(),
)
QUOTED = message(
    3,
    "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n",
    "Caf=E9 cr=E8me, soft=\n break\n" * 30,
)
HTML = message(
    4,
    "Content-Type: text/html; charset=utf-8\n",
    "<html><body><p>Hello <b>HTML</b> only</p>\n" + "<p>more</p>\n" * 40 + "</body></html>\n",
)
MESSAGES = [PLAIN, BASE64, QUOTED, HTML]


async def previews(session: MailboxSession, lines: int = 20) -> dict[str, tuple[str, ...]]:
    await session.open()
    try:
        keys = []
        async for update in session.list_messages():
            keys.extend(env.uid for env in update.envelopes if env.uid is not None)
        blocks = await session.preview_blocks(keys, lines)
        return {key: render_preview(blocks[key], lines).lines for key in keys if key in blocks}
    finally:
        await session.close()


def check(shown: dict[str, tuple[str, ...]]) -> None:
    # Keys in message order (the listing itself goes newest first).
    first, second, third, fourth = (shown[key] for key in sorted(shown))
    assert first == tuple(f"plain line {i}" for i in range(1, 21))
    assert first and second[:2] == ("Grüße aus Köln", "zweite Zeile")
    assert third[0] == "Café crème, soft break" and len(third) == 10  # 20 raw lines, 2 each
    assert fourth[0] == "Hello HTML only"


async def test_embedded_server_one_batch(make_pop3_server: object) -> None:
    crlf = [m.replace(b"\n", b"\r\n") for m in MESSAGES]
    server: Pop3Server = await make_pop3_server(mailbox=MemoryMailbox(crlf))  # type: ignore[operator]
    account = Account(name="t", host="127.0.0.1", port=server.port, user=POP3_USER, tls="none")
    check(await previews(MailboxSession(account, POP3_PASSWORD)))
    tops = [c for c in server.commands() if c.startswith("TOP") and c.endswith(" 20")]
    assert sorted(tops) == ["TOP 1 20", "TOP 2 20", "TOP 3 20", "TOP 4 20"]
    assert not [c for c in server.commands() if c.startswith("RETR")]


@pytest.mark.dovecot
async def test_dovecot_top_20(dovecot: DovecotServer, dovecot_user: MailUser) -> None:
    dovecot.seed(dovecot_user.name, list(MESSAGES))
    account = Account(
        name="dc", host="127.0.0.1", port=dovecot.pop3s_port, user=dovecot_user.name,
        tls="implicit",
    )  # fmt: skip
    session = MailboxSession(account, dovecot_user.password, ssl_context=dovecot.client_context())
    check(await previews(session))


async def test_top_ignoring_k_with_a_huge_body_drops_the_connection(
    make_pop3_server: object,
) -> None:
    """A server that answers TOP n 20 with 5 MB: the reply is refused at the cap,
    the connection dropped (never reused), no QUIT sent, nothing deleted."""
    from popview.errors import Pop3ProtocolError
    from popview.server import Fault

    huge = b"+OK\r\nFrom: a@b.test\r\n\r\n" + b"x" * 998 + b"\r\n" * 1
    huge += (b"y" * 998 + b"\r\n") * 5300 + b".\r\n"
    crlf = [m.replace(b"\n", b"\r\n") for m in MESSAGES]
    server: Pop3Server = await make_pop3_server(  # type: ignore[operator]
        mailbox=MemoryMailbox(crlf), faults=[Fault(verb="TOP", skip=4, replace=huge)]
    )
    account = Account(name="t", host="127.0.0.1", port=server.port, user=POP3_USER, tls="none")
    session = MailboxSession(account, POP3_PASSWORD)
    await session.open()
    try:
        keys = []
        async for update in session.list_messages():
            keys.extend(env.uid for env in update.envelopes if env.uid is not None)
        with pytest.raises(Pop3ProtocolError):
            await session.preview_blocks(sorted(keys)[:1], 20)
        assert not session.connected
    finally:
        await session.close()
    assert "QUIT" not in server.commands()
