"""TLS for the POP3 client: verification, host names, pins, STARTTLS, TlsInfo.

Real TLS on loopback with certificates from a throw-away trustme CA. Every
refusal is checked on the server's transcript too: no credential may have
been sent, and for implicit TLS not even a command.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from popview.errors import Pop3ConnectionError, TLSVerificationError
from popview.pop3.client import Pop3Client
from popview.pop3.tls import (
    check_pin,
    client_context,
    fingerprint_of,
    format_fingerprint,
    normalize_fingerprint,
)
from popview.server import Pop3Server
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER

MakeServer = Callable[..., Awaitable[Pop3Server]]


def leaf_context(ca: trustme.CA, *names: str) -> tuple[ssl.SSLContext, str]:
    """A server context with a fresh cert for ``names``, and that cert's fingerprint."""
    cert = ca.issue_cert(*names)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode("ascii"))
    return context, fingerprint_of(der)


async def connect(server: Pop3Server, **kwargs: Any) -> Pop3Client:
    kwargs.setdefault("connect_timeout", 5)
    kwargs.setdefault("command_timeout", 5)
    return await Pop3Client.connect("127.0.0.1", server.port, **kwargs)


class TestFingerprints:
    def test_pin_forms_are_normalized(self) -> None:
        """Colon or plain hex, any case, with or without "sha256:" mean the same pin."""
        digest = hashlib.sha256(b"x").hexdigest()
        colon = format_fingerprint(digest)
        assert colon.count(":") == 31 and colon == colon.upper()
        for form in (digest, digest.upper(), colon, colon.lower(), f"SHA256:{colon}"):
            assert normalize_fingerprint(form) == digest

    @pytest.mark.parametrize("bad", ["", "abc", "zz" * 32, "ab" * 31, "ab" * 33])
    def test_non_fingerprints_are_rejected(self, bad: str) -> None:
        """Anything but 64 hex digits is a ValueError, not a pin that never matches."""
        with pytest.raises(ValueError):
            normalize_fingerprint(bad)

    def test_default_context_verifies_and_needs_tls12(self) -> None:
        """The default context checks chain and host name and refuses TLS < 1.2."""
        context = client_context()
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


class TestImplicitTls:
    async def test_trusted_ca_file_connects_and_fills_tls_info(
        self, make_pop3_server: MakeServer, tls_ca: trustme.CA, tmp_path: Path
    ) -> None:
        """A CA given as a file is trusted; tls_info shows version, cipher, fingerprint."""
        server_ctx, fingerprint = leaf_context(tls_ca, "127.0.0.1")
        server = await make_pop3_server(implicit_tls=server_ctx)
        cafile = tmp_path / "ca.pem"
        tls_ca.cert_pem.write_to_path(str(cafile))
        async with await connect(server, ssl_context=client_context(cafile=cafile)) as client:
            assert client.encrypted
            info = client.tls_info
            assert info is not None
            assert info.version in ("TLSv1.2", "TLSv1.3")
            assert info.cipher and info.fingerprint == fingerprint
            assert info.verified and not info.pinned
            await client.login(POP3_USER, POP3_PASSWORD)
            assert await client.stat()

    async def test_untrusted_ca_is_refused_before_anything_is_sent(
        self, make_pop3_server: MakeServer, tls_ca: trustme.CA
    ) -> None:
        """System trust only: TLSVerificationError naming the problem and the fingerprint."""
        server_ctx, fingerprint = leaf_context(tls_ca, "127.0.0.1")
        server = await make_pop3_server(implicit_tls=server_ctx)
        with pytest.raises(TLSVerificationError) as info:
            await connect(server)
        assert "not signed by an authority" in str(info.value)
        assert info.value.fingerprint == fingerprint
        assert server.commands() == []

    @pytest.mark.parametrize("name", [None, "pop.example.net"])
    async def test_certificate_for_another_host_is_refused(
        self,
        make_pop3_server: MakeServer,
        tls_ca: trustme.CA,
        tls_client_context: ssl.SSLContext,
        name: str | None,
    ) -> None:
        """A valid cert for mail.example.org passes neither for 127.0.0.1 nor another name."""
        server_ctx, fingerprint = leaf_context(tls_ca, "mail.example.org")
        server = await make_pop3_server(implicit_tls=server_ctx)
        with pytest.raises(TLSVerificationError, match="not valid for the host name") as info:
            await connect(server, ssl_context=tls_client_context, server_hostname=name)
        assert info.value.fingerprint == fingerprint
        assert server.commands() == []

    async def test_server_hostname_is_what_is_checked(
        self, make_pop3_server: MakeServer, tls_ca: trustme.CA, tls_client_context: ssl.SSLContext
    ) -> None:
        """Connecting by address but naming the host verifies against that name."""
        server_ctx, _ = leaf_context(tls_ca, "mail.example.org")
        server = await make_pop3_server(implicit_tls=server_ctx)
        client = await connect(
            server, ssl_context=tls_client_context, server_hostname="mail.example.org"
        )
        assert client.encrypted
        await client.close()

    async def test_pin_match_is_accepted_without_a_trusted_ca(
        self, make_pop3_server: MakeServer, tls_ca: trustme.CA
    ) -> None:
        """ "Trust this certificate": a matching pin connects though the CA is unknown."""
        server_ctx, fingerprint = leaf_context(tls_ca, "127.0.0.1")
        server = await make_pop3_server(implicit_tls=server_ctx)
        pin = fingerprint.replace(":", "").lower()
        async with await connect(server, pin=pin) as client:
            assert client.tls_info is not None
            assert client.tls_info.pinned and not client.tls_info.verified
            await client.login(POP3_USER, POP3_PASSWORD)

    async def test_pin_mismatch_is_refused_before_any_command(
        self, make_pop3_server: MakeServer, tls_ca: trustme.CA, tls_client_context: ssl.SSLContext
    ) -> None:
        """A different certificate than pinned: refused, even when its CA is trusted."""
        server_ctx, fingerprint = leaf_context(tls_ca, "127.0.0.1")
        server = await make_pop3_server(implicit_tls=server_ctx)
        with pytest.raises(TLSVerificationError) as info:
            await connect(server, ssl_context=tls_client_context, pin="ab" * 32)
        assert info.value.fingerprint == fingerprint
        assert fingerprint in str(info.value)
        assert server.commands() == []

    def test_check_pin_reads_the_der_certificate(self, tls_ca: trustme.CA) -> None:
        """check_pin compares the SHA-256 of the peer's DER certificate."""
        server_ctx, fingerprint = leaf_context(tls_ca, "localhost")
        client_ctx = client_context(pinned=True)
        c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
        client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
        server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
        for _ in range(10):  # pump the handshake through memory
            for side in (client, server):
                with contextlib.suppress(ssl.SSLWantReadError):
                    side.do_handshake()
            s_in.write(c_out.read())
            c_in.write(s_out.read())
        assert check_pin(client, fingerprint) == fingerprint
        with pytest.raises(TLSVerificationError):
            check_pin(client, "00" * 32)


class TestStartTls:
    async def test_stls_upgrades_then_capa_and_login(
        self, make_pop3_server: MakeServer, tls_server_context: ssl.SSLContext,
        tls_client_context: ssl.SSLContext,
    ) -> None:  # fmt: skip
        """CAPA, STLS, handshake, CAPA again; the login happens inside TLS."""
        server = await make_pop3_server(stls=tls_server_context)
        client = await connect(server, tls="starttls", ssl_context=tls_client_context)
        assert client.encrypted and client.tls_info is not None
        assert not client.capabilities.stls  # the post-TLS list, which drops STLS
        await client.login(POP3_USER, POP3_PASSWORD)
        await client.close()
        assert server.commands()[:3] == ["CAPA", "STLS", "CAPA"]
        assert server.commands()[-1] == "CAPA"

    async def test_missing_stls_fails_before_user(
        self, make_pop3_server: MakeServer, tls_client_context: ssl.SSLContext
    ) -> None:
        """No STLS in CAPA: a clear failure and the transcript ends at CAPA."""
        server = await make_pop3_server()
        with pytest.raises(Pop3ConnectionError, match="does not offer STARTTLS"):
            await connect(server, tls="starttls", ssl_context=tls_client_context)
        assert server.commands() == ["CAPA"]

    async def test_untrusted_certificate_after_stls_sends_no_credentials(
        self, make_pop3_server: MakeServer, tls_server_context: ssl.SSLContext
    ) -> None:
        """STLS to an unknown CA: TLSVerificationError with the fingerprint; no USER/PASS."""
        server = await make_pop3_server(stls=tls_server_context)
        with pytest.raises(TLSVerificationError) as info:
            await connect(server, tls="starttls")
        assert info.value.fingerprint is not None
        assert set(server.commands()) <= {"CAPA", "STLS"}
