"""TLS checks as an account configures them, through the session: a CA file
(HARDENING F.57), a pin with STARTTLS (F.58), a STARTTLS aimed at port 995.

Each refusal is checked on the server's transcript: no credential may have been
sent (implicit TLS: nothing at all; STARTTLS: nothing after STLS).
"Break it" checks: with ``check_hostname`` off for a CA file, or without the
pin check after STLS, the refusal tests here fail.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from popview.config import Account
from popview.errors import Pop3TimeoutError, TLSVerificationError
from popview.pop3.client import Pop3Client
from popview.server import Pop3Server
from popview.session import MailboxSession
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER
from tests.test_tls import leaf_context

MakeServer = Callable[..., Awaitable[Pop3Server]]


def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "my-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def account(server: Pop3Server, **fields: Any) -> Account:
    return Account(name="t", host="127.0.0.1", port=server.port, user=POP3_USER, **fields)


async def open_session(acct: Account) -> MailboxSession:
    session = MailboxSession(acct, POP3_PASSWORD)
    await session.open()
    return session


class TestConfiguredCaFile:
    """HARDENING F.57: the CA file adds trust; it never turns off the host name check."""

    @pytest.mark.parametrize("tls", ["implicit", "starttls"])
    async def test_the_right_host_connects(
        self, make_pop3_server: MakeServer, tls_ca: trustme.CA, tmp_path: Path, tls: str
    ) -> None:
        context, _ = leaf_context(tls_ca, "127.0.0.1")
        server = await make_pop3_server(
            **{"implicit_tls" if tls == "implicit" else "stls": context}
        )
        session = await open_session(account(server, tls=tls, cafile=ca_file(tls_ca, tmp_path)))
        assert session.info is not None and session.info.encrypted
        await session.close()

    @pytest.mark.parametrize("tls", ["implicit", "starttls"])
    async def test_a_certificate_for_another_host_is_refused_before_credentials(
        self, make_pop3_server: MakeServer, tls_ca: trustme.CA, tmp_path: Path, tls: str
    ) -> None:
        context, fingerprint = leaf_context(tls_ca, "mail.example.org")  # same CA, other name
        server = await make_pop3_server(
            **{"implicit_tls" if tls == "implicit" else "stls": context}
        )
        acct = account(server, tls=tls, cafile=ca_file(tls_ca, tmp_path))
        with pytest.raises(TLSVerificationError, match="not valid for the host name") as info:
            await open_session(acct)
        assert info.value.fingerprint == fingerprint
        # STARTTLS: the refused session, and the one that fetched the fingerprint.
        assert set(server.commands()) <= ({"CAPA", "STLS"} if tls == "starttls" else set())


class TestPinAfterStls:
    """HARDENING F.58: the pin is checked on the certificate that STLS brought."""

    async def test_the_pinned_certificate_connects(
        self, make_pop3_server: MakeServer, tls_ca: trustme.CA
    ) -> None:
        context, fingerprint = leaf_context(tls_ca, "127.0.0.1")
        server = await make_pop3_server(stls=context)
        session = await open_session(account(server, tls="starttls", fingerprint=fingerprint))
        assert session.info is not None and session.info.tls is not None
        assert session.info.tls.pinned
        await session.close()

    async def test_another_certificate_is_refused_before_credentials(
        self, make_pop3_server: MakeServer, tls_ca: trustme.CA
    ) -> None:
        _, pinned = leaf_context(tls_ca, "127.0.0.1")
        # The same CA and name: only the pin differs.
        context, presented = leaf_context(tls_ca, "127.0.0.1")
        server = await make_pop3_server(stls=context)
        acct = account(server, tls="starttls", fingerprint=pinned)
        with pytest.raises(TLSVerificationError, match="not the one you trusted") as info:
            await open_session(acct)
        assert info.value.fingerprint == presented
        assert server.commands(1) == ["CAPA", "STLS"]
        assert set(server.commands()) <= {"CAPA", "STLS"}


class TestStartTlsOnPort995:
    async def test_a_silent_greeting_says_implicit_tls(
        self, make_pop3_server: MakeServer, tls_server_context: ssl.SSLContext
    ) -> None:
        """A POP3S port waits for our handshake while we wait for its greeting."""
        host = f"127.0.{random.randint(1, 250)}.{random.randint(2, 250)}"
        try:
            server = await make_pop3_server(host=host, port=995, implicit_tls=tls_server_context)
        except OSError as exc:  # pragma: no cover - the port is taken on this machine
            pytest.skip(f"cannot bind {host}:995: {exc}")
        with pytest.raises(Pop3TimeoutError, match="Port 995 usually expects implicit TLS"):
            await asyncio.wait_for(
                Pop3Client.connect(host, 995, tls="starttls", greeting_timeout=0.5), 10
            )
        assert server.commands() == []
