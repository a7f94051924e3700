"""Opening a POP3 connection: TCP, TLS, the greeting and the first CAPA.

:func:`open_channel` connects with implicit TLS (RFC 8314), upgrades with STLS
(RFC 2595) or stays plaintext only when asked, checks a certificate pin before
any credential could be written, and reads the greeting and capabilities. On a
certificate error it can make one more TLS-only connection to learn the
fingerprint the server presented, so the user can decide to pin it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from popview.errors import (
    Pop3ConnectionError,
    Pop3Error,
    Pop3ProtocolError,
    Pop3ServerError,
    Pop3TimeoutError,
    printable,
)
from popview.pop3 import protocol
from popview.pop3.channel import Channel, Stream
from popview.pop3.predial import DialAhead
from popview.pop3.protocol import (
    Capabilities,
    ErrReply,
    Greeting,
    Limits,
    Pop3Connection,
    block_lines,
)
from popview.pop3.tls import TlsInfo, check_pin, client_context, tls_info, verification_error
from popview.pop3.wording import WHAT

__all__ = [
    "MAX_CAPA_LINES",
    "Opened",
    "TlsMode",
    "greeting_key",
    "open_channel",
    "read_capabilities",
]

TlsMode = Literal["implicit", "starttls", "none"]
MAX_CAPA_LINES = 600  # parse_capa reads 512 and notes that more were ignored


@dataclass(frozen=True)
class Opened:
    """A connection ready for login.

    Attributes:
        channel: The command engine over the (TLS) stream.
        greeting: The greeting (raw; sanitize before showing).
        tls_info: The TLS session, or ``None`` on a plaintext connection.
        capabilities: The capabilities from CAPA (after TLS, when STLS was used).
        remembered: Whether ``capabilities`` were the remembered ones (no CAPA
            was sent because the greeting matched).
    """

    channel: Channel
    greeting: Greeting
    tls_info: TlsInfo | None
    capabilities: Capabilities
    remembered: bool = False


def greeting_key(greeting: Greeting) -> str:
    """The greeting as capabilities are remembered under it: without the APOP
    timestamp (RFC 1939 §7), which is new in every session."""
    text = greeting.text
    if greeting.timestamp:
        text = text.replace(greeting.timestamp, "<>")
    return text


@dataclass(frozen=True)
class _Settings:
    host: str
    port: int
    tls: TlsMode
    name: str
    connect_timeout: float
    greeting_timeout: float
    command_timeout: float
    trace: Callable[[str], None] | None
    limits: Limits | None
    remembered: tuple[str, Capabilities] | None = None
    dialled: DialAhead | None = None


async def open_channel(
    host: str,
    port: int,
    *,
    tls: TlsMode,
    ssl_context: ssl.SSLContext | None,
    pin: str | None,
    connect_timeout: float,
    command_timeout: float,
    greeting_timeout: float | None,
    server_hostname: str | None,
    trace: Callable[[str], None] | None,
    limits: Limits | None,
    fetch_fingerprint: bool,
    remembered: tuple[str, Capabilities] | None = None,
    dialled: DialAhead | None = None,
) -> Opened:
    """Connect, read the greeting, set up TLS and read the capabilities.

    The arguments are those of :meth:`popview.pop3.client.Pop3Client.connect`;
    ``remembered`` is ``(greeting key, capabilities)`` from an earlier session:
    when the greeting's :func:`greeting_key` is the same, no CAPA is sent and
    these capabilities are used (with STLS, CAPA before TLS is still asked);
    ``dialled`` is a connection to the same host and port opened ahead
    (:mod:`popview.pop3.predial`), adopted instead of dialling again.

    Raises:
        TLSVerificationError: Certificate not trusted or not matching the pin.
        Pop3ConnectionError: Could not connect, or STLS not possible.
        Pop3TimeoutError: A deadline passed.
        Pop3ServerError: The greeting was ``-ERR``.
        Pop3ProtocolError: The server broke the protocol.
    """
    if tls not in ("implicit", "starttls", "none"):
        raise ValueError(f"tls must be 'implicit', 'starttls' or 'none', not {tls!r}")
    context: ssl.SSLContext | None = None
    if tls != "none":
        context = ssl_context or client_context(pinned=pin is not None)
    settings = _Settings(
        host, port, tls, server_hostname or host, connect_timeout,
        greeting_timeout or connect_timeout, command_timeout, trace, limits, remembered,
        dialled,
    )  # fmt: skip
    try:
        return await _open(settings, context, pin)
    except ssl.SSLCertVerificationError as exc:
        fingerprint = await _presented_fingerprint(settings) if fetch_fingerprint else None
        raise verification_error(exc, settings.name, fingerprint=fingerprint) from None


async def read_capabilities(channel: Channel) -> Capabilities:
    """Send CAPA (RFC 2449); ``-ERR`` means "no capabilities".

    More than a few hundred lines are ignored after the first ones (HARDENING A.18).
    """
    reply = await channel.exchange(protocol.capa(), WHAT["CAPA"], raise_err=False)
    if isinstance(reply, ErrReply):
        return Capabilities()
    return protocol.parse_capa(block_lines(reply.data or b"")[:MAX_CAPA_LINES])


async def _open(
    settings: _Settings, context: ssl.SSLContext | None, pin: str | None, *, probe: bool = False
) -> Opened:
    """Open the stream, then greeting, TLS and (unless ``probe``) CAPA."""
    channel = await _connect_stream(settings, context)
    try:
        greeting = await _read_greeting(channel, settings)
        info = None
        if settings.tls == "implicit":
            info = _check_tls(channel, pin, context)
        elif settings.tls == "starttls":
            assert context is not None
            info = await _starttls(channel, settings, context, pin, probe)
        known = settings.remembered
        if probe:
            caps, remembered = Capabilities(), False
        elif known is not None and known[0] == greeting_key(greeting):
            caps, remembered = known[1], True
        else:
            caps, remembered = await read_capabilities(channel), False
    except BaseException:
        channel.abort("the connection could not be set up")
        raise
    return Opened(channel, greeting, info, caps, remembered)


async def _connect_stream(settings: _Settings, context: ssl.SSLContext | None) -> Channel:
    host, port, timeout = settings.host, settings.port, settings.connect_timeout
    loop = asyncio.get_running_loop()
    stream = Stream(Pop3Connection(settings.limits))
    implicit = context if settings.tls == "implicit" else None
    ahead = await settings.dialled.take(host, port) if settings.dialled is not None else None
    try:
        if isinstance(ahead, TimeoutError):
            raise ahead  # reported now, not after waiting as long again
        # Adopt a socket dialled ahead; one that failed otherwise is dialled again,
        # so its error reads as ever.
        where: dict[str, Any] = {"host": host, "port": port}
        if isinstance(ahead, socket.socket):
            where = {"sock": ahead}
        async with asyncio.timeout(timeout):
            transport, _ = await loop.create_connection(
                lambda: stream,
                **where,
                ssl=implicit,
                server_hostname=settings.name if implicit else None,
                ssl_handshake_timeout=timeout if implicit else None,
            )
    except TimeoutError:
        raise Pop3TimeoutError(
            f"Could not connect to {printable(host)} port {port} within "
            f"{timeout:g} seconds. Check the server name and port, and your network."
        ) from None
    except ssl.SSLCertVerificationError:
        raise
    except ssl.SSLError as exc:
        raise _handshake_error(host, exc) from None
    except OSError as exc:
        reason = printable(exc.strerror or str(exc))
        raise Pop3ConnectionError(
            f"Could not connect to {printable(host)} port {port}: {reason}. "
            "Check the server name and port."
        ) from None
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        # Pipelined windows are written in one send each: no Nagle delay.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return Channel(
        stream, host=host, command_timeout=settings.command_timeout, trace=settings.trace
    )


async def _presented_fingerprint(settings: _Settings) -> str | None:
    """Handshake once more without verification just to read the
    certificate; nothing but (for STLS) the greeting and STLS is exchanged."""
    timeout = settings.connect_timeout
    probe = _Settings(
        settings.host, settings.port, settings.tls, settings.name, timeout, timeout, timeout,
        None, settings.limits,
    )  # fmt: skip
    try:
        opened = await _open(probe, client_context(pinned=True), None, probe=True)
    except (Pop3Error, OSError, ssl.SSLError, ValueError):
        return None
    opened.channel.abort("certificate fetched")
    return opened.tls_info.fingerprint if opened.tls_info else None


async def _read_greeting(channel: Channel, settings: _Settings) -> Greeting:
    timeout = settings.greeting_timeout
    try:
        async with asyncio.timeout(timeout):
            event = await channel.reply("its greeting")
    except TimeoutError:
        channel.abort("no greeting")
        hint = "It may be overloaded, or this is not a POP3 port."
        if settings.port == 995 and settings.tls != "implicit":
            # RFC 8314 §3.3: 995 is POP3 over implicit TLS; it waits for our
            # TLS handshake while we wait for its greeting.
            hint = 'Port 995 usually expects implicit TLS: use tls = "implicit" (--tls implicit).'
        raise Pop3TimeoutError(
            f"The server accepted the connection but did not greet within {timeout:g} "
            f"seconds. {hint}"
        ) from None
    if isinstance(event, ErrReply):
        channel.abort("the server refused the connection")
        text = printable(event.text, 200)
        raise Pop3ServerError(
            f'The server refused the connection. It said: "{text}"',
            reply_text=text,
            code=event.code,
        )
    if not isinstance(event, Greeting):
        raise Pop3ProtocolError("The server did not start with a POP3 greeting.")
    return event


def _check_tls(channel: Channel, pin: str | None, context: ssl.SSLContext | None) -> TlsInfo:
    ssl_object = channel.ssl_object
    if ssl_object is None:
        raise Pop3ConnectionError("The TLS session could not be established.")
    if pin is not None:
        check_pin(ssl_object, pin)  # before any credential is written
    verified = context is not None and context.verify_mode == ssl.CERT_REQUIRED
    return tls_info(ssl_object, verified=verified, pinned=pin is not None)


async def _starttls(
    channel: Channel,
    settings: _Settings,
    context: ssl.SSLContext,
    pin: str | None,
    probe: bool,
) -> TlsInfo:
    """RFC 2595 §4: STLS, then the TLS handshake; the caller then forgets the
    capabilities learned before TLS and asks again."""
    if not probe and not (await read_capabilities(channel)).stls:
        channel.abort("STARTTLS not offered")
        raise Pop3ConnectionError(
            "The server does not offer STARTTLS, so the connection cannot be "
            "encrypted; your password was not sent. Use implicit TLS (port 995) "
            "if the server has it.",
            title="Encryption not available",
        )
    command = protocol.stls()
    async with channel.guard(WHAT["STLS"]):
        channel.write([command])
        reply = await channel.reply(WHAT["STLS"])
        assert reply is not None
    if isinstance(reply, ErrReply):
        channel.abort("STARTTLS refused")
        text = printable(reply.text, 200)
        raise Pop3ConnectionError(
            "The server refused to start TLS, so the connection cannot be encrypted; "
            f'your password was not sent. It said: "{text}"',
            title="Encryption not available",
        )
    if channel.core.has_buffered_data:
        # Anything after "+OK" was sent before the handshake, in the clear.
        channel.abort("data injected before TLS")
        raise Pop3ProtocolError(
            "The server sent extra data right after agreeing to start TLS, before "
            "encryption began. This can be an attack, so the connection was closed."
        )
    timeout = settings.connect_timeout
    try:
        async with asyncio.timeout(timeout):
            await channel.start_tls(context, server_hostname=settings.name, timeout=timeout)
    except TimeoutError:
        raise Pop3TimeoutError(
            f"The TLS handshake with {printable(channel.host)} did not finish within "
            f"{timeout:g} seconds. The connection was closed."
        ) from None
    except ssl.SSLCertVerificationError:
        raise
    except ssl.SSLError as exc:
        raise _handshake_error(channel.host, exc) from None
    except (ConnectionError, OSError) as exc:
        raise Pop3ConnectionError(
            "The connection was lost during the TLS handshake. Try again."
        ) from exc
    if channel.core.has_buffered_data:
        channel.abort("data injected before TLS")
        raise Pop3ProtocolError(
            "The server sent data in the clear while TLS was being set up. This can "
            "be an attack, so the connection was closed."
        )
    return _check_tls(channel, pin, context)


def _handshake_error(host: str, exc: ssl.SSLError) -> Pop3ConnectionError:
    reason = printable(exc.reason or str(exc), 200) if hasattr(exc, "reason") else str(exc)
    return Pop3ConnectionError(
        f"The TLS handshake with {printable(host)} failed ({reason}). The server may not "
        "speak TLS on this port, or only outdated TLS versions.",
        title="Secure connection failed",
    )
