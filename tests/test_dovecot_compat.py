"""popview against the private Dovecot where servers differ: UTF8, a CAPA
without a login method, and what ``popview info`` says before and after login.

Dovecot 2.3 (the version installed here, 2.3.19) implements no RFC 6856 in
POP3: its CAPA never lists ``UTF8`` and it answers the ``UTF8`` command
``-ERR``; ``doveconf -a`` has no UTF8 setting for POP3. What Dovecot does
offer is tested: it serves raw 8-bit headers as stored, so popview must not
send UTF8 there and must still receive the message unchanged.

Dovecot always lists ``USER`` when it would accept USER/PASS, and it counts a
loopback connection as secure, so its own CAPA never names "no login method".
The fallback is therefore tested through a small relay that strips the
``USER`` and ``SASL`` lines from Dovecot's CAPA, while the real Dovecot checks
the USER/PASS that follows.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from popview.cli import main
from popview.pop3.client import Pop3Client
from tests.fixtures.dovecot import DovecotServer, MailUser
from tests.fixtures.maildir import served
from tests.test_compat import eight_bit_mail

EIGHT_BIT = eight_bit_mail("juergen@example.org")


async def connect(dovecot: DovecotServer, trace: list[str], port: int | None = None) -> Pop3Client:
    return await Pop3Client.connect(
        dovecot.host, port or dovecot.pop3_port, tls="none", connect_timeout=10,
        command_timeout=10, trace=trace.append,
    )  # fmt: skip


@pytest.mark.dovecot
class TestUtf8WithDovecot:
    async def test_no_utf8_offered_none_sent_and_8bit_arrives_unchanged(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """HARDENING F.59 as far as Dovecot goes: no UTF8 in its CAPA, so
        popview sends none, and LIST size == RETR size == the file as served."""
        dovecot.seed(dovecot_user.name, [EIGHT_BIT])
        trace: list[str] = []
        async with await connect(dovecot, trace) as client:
            assert not client.capabilities.utf8
            await client.login(dovecot_user.name, dovecot_user.password)
            assert not client.capabilities.utf8
            size = (await client.list()).entries[0].size
            body = await client.retr(1)
        assert body == served(EIGHT_BIT)
        assert size == len(body)
        assert not [line for line in trace if line.startswith("C: UTF8")]

    async def test_dovecot_refuses_the_utf8_command(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """The claim in the module docstring: Dovecot 2.3 has no UTF8 command."""
        reader, writer = await asyncio.open_connection(dovecot.host, dovecot.pop3_port)
        try:
            await reader.readline()
            writer.write(b"UTF8\r\n")
            assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"-ERR")
        finally:
            writer.close()


@asynccontextmanager
async def capa_without_login_methods(dovecot: DovecotServer) -> AsyncIterator[int]:
    """A relay to Dovecot's plain port that drops ``USER`` and ``SASL ...``
    from CAPA replies; everything else passes unchanged. Yields its port."""

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, strip: bool) -> None:
        try:
            while line := await src.readline():
                if strip and re.fullmatch(rb"(USER|SASL( .*)?)\r\n", line):
                    continue
                dst.write(line)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(dovecot.host, dovecot.pop3_port)
        await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))

    relay = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield relay.sockets[0].getsockname()[1]
    finally:
        relay.close()


@pytest.mark.dovecot
class TestNoLoginMethodWithDovecot:
    async def test_user_pass_fallback_logs_in(
        self, dovecot: DovecotServer, dovecot_user: MailUser
    ) -> None:
        """HARDENING F.61: CAPA (relayed) names no method; USER/PASS is tried,
        the trace says so, and the real Dovecot accepts it."""
        dovecot.seed(dovecot_user.name, [EIGHT_BIT])
        trace: list[str] = []
        async with (
            capa_without_login_methods(dovecot) as port,
            await connect(dovecot, trace, port) as client,
        ):
            assert not client.capabilities.user and not client.capabilities.sasl
            assert client.capabilities.raw  # a CAPA, just without login methods
            await client.login(dovecot_user.name, dovecot_user.password)
            assert (await client.stat())[0] == 1
        sent = [line for line in trace if line.startswith("C: ")]
        assert sent[:3] == ["C: CAPA", f"C: USER {dovecot_user.name}", "C: PASS ***"]
        assert any("names no login method" in line for line in trace)
        assert not any(dovecot_user.password in line for line in trace)


@pytest.mark.dovecot
class TestInfoWithDovecot:
    def test_info_shows_the_offer_before_and_after_login(
        self,
        dovecot: DovecotServer,
        dovecot_user: MailUser,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Dovecot lists SASL only before login: `info` says what was offered then."""
        monkeypatch.setenv("POPVIEW_PASSWORD", dovecot_user.password)
        monkeypatch.setenv("POPVIEW_CACHE_DIR", str(dovecot.root / "cache-info"))
        code = main([
            "info", "--host", dovecot.host, "--port", str(dovecot.pop3s_port),
            "--user", dovecot_user.name, "--tls", "implicit", "--cafile", str(dovecot.ca_pem),
        ])  # fmt: skip
        out = capsys.readouterr().out
        assert code == 0
        mechanisms = re.search(r"^Auth mechanisms:\s+(.*)$", out, re.M)
        assert mechanisms and {"PLAIN", "LOGIN"} <= set(mechanisms.group(1).split())
        before, after = out.split("Capabilities before login:")[1].split(
            "Capabilities after login:"
        )
        assert re.search(r"^  SASL \S", before, re.M)
        assert not re.search(r"^  SASL \S", after, re.M)
