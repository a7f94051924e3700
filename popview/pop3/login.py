"""The login exchange: USER/PASS, APOP and SASL (RFC 1939 §7, RFC 5034).

:func:`log_in` refuses hostile credentials and plaintext passwords before a
byte is written, picks the strongest method offered, and runs it over a
:class:`~popview.pop3.channel.Channel`. The mechanisms themselves are sans-IO,
in :mod:`popview.pop3.auth_methods`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from popview.errors import (
    AuthError,
    Pop3Error,
    Pop3ProtocolError,
    Pop3ServerError,
    Pop3TimeoutError,
    printable,
)
from popview.pop3 import auth_methods, protocol
from popview.pop3 import pipeline as pipelined_replies
from popview.pop3.channel import Channel
from popview.pop3.pipeline import Reply, Sink
from popview.pop3.protocol import Capabilities, Command, Continuation, ErrReply, OkReply
from popview.pop3.wording import WHAT, server_error

__all__ = ["log_in"]

_WHAT = "the login"


async def log_in(
    channel: Channel,
    *,
    capabilities: Capabilities,
    apop_timestamp: str | None,
    plaintext_allowed: bool,
    user: str,
    password: str,
    mechanism: str | None,
    apop: bool,
    oauth_token: str | None,
    pipelined: bool = False,
    then: Sequence[Command] = (),
    sinks: Mapping[str, Sink] | None = None,
) -> list[Reply | Pop3ServerError] | None:
    """Authenticate; see :meth:`popview.pop3.client.Pop3Client.login`.

    Args:
        channel: The connection.
        capabilities: What the server offers (empty: no CAPA).
        apop_timestamp: The greeting's APOP timestamp, if valid.
        plaintext_allowed: Whether the user chose ``tls="none"``.
        user: User name.
        password: Password (never logged, traced or put in an error).
        mechanism: A forced method, or ``None`` for the strongest offered.
        apop: Use APOP.
        oauth_token: An OAuth 2 bearer token.
        pipelined: Send USER and PASS in one write (the server is known to
            pipeline, RFC 2449 §6.6): one round trip instead of two.
        then: Commands for after the login, sent in that same write when it
            is USER and PASS pipelined.
        sinks: Per verb, a callable given the lines of that verb's blocks
            among ``then`` (see :func:`~popview.pop3.pipeline.pipeline`).

    Returns:
        The replies to ``then`` when they went with the login, else ``None``
        (the caller sends them).
    """
    # HARDENING B.30: refuse CR/LF/NUL before a single byte is written.
    auth_methods.validate_credentials(user, password)
    if oauth_token is not None:
        auth_methods.validate_credential(oauth_token, "access token")
    channel.ensure_open()
    if not channel.encrypted and not plaintext_allowed:
        # RFC 8314 §5 / HARDENING B.27: plaintext only when asked for.
        raise Pop3Error(
            "The connection is not encrypted, so your password was not sent.",
            title="Connection not encrypted",
        )
    caps = capabilities
    choice = "APOP" if apop else _choose(channel, caps, mechanism, oauth_token is not None)
    if choice in ("USER", "APOP"):
        _check_utf8_user(caps, user)
    if caps.utf8:
        await _enable_utf8(channel)
    if choice == "APOP":
        await _login_apop(channel, apop_timestamp, user, password)
    elif choice == "USER" and pipelined:
        return await _login_user_pipelined(channel, user, password, then, sinks)
    elif choice == "USER":
        await channel.exchange(protocol.user(user), _WHAT, login=True)
        await channel.exchange(protocol.pass_(password), _WHAT, login=True)
    else:
        mech = auth_methods.create_mechanism(choice, user, password, oauth_token)
        return await _login_sasl(channel, mech, then if pipelined else (), sinks)
    return None


async def _login_user_pipelined(
    channel: Channel,
    user: str,
    password: str,
    then: Sequence[Command],
    sinks: Mapping[str, Sink] | None,
) -> list[Reply | Pop3ServerError] | None:
    """USER, PASS and ``then`` in one write (RFC 2449 §6.6); the login's two
    replies read under one deadline. A ``-ERR`` to USER makes the server refuse
    PASS too (RFC 1939 §7): the first ``-ERR`` is the one reported.

    After a refused login the server answers ``then`` with ``-ERR`` in the
    AUTHORIZATION state (RFC 1939 §3; the core's state is back there too): those
    replies are not waited for, the connection is dropped (never with QUIT)
    instead of being left with replies unread.
    """
    commands = [protocol.user(user), protocol.pass_(password)]
    queued = [pipelined_replies.for_pipeline(channel, command) for command in then]
    async with channel.lock:
        channel.ensure_open()
        # pipelined > 1: a server that never answers PASS is one that does not
        # pipeline (HARDENING A.19), remembered so the next login is sequential.
        async with channel.guard(_WHAT, pipelined=len(commands) + len(queued)):
            await channel.check_in_step()
            channel.write([*commands, *queued])
            replies = [await channel.reply(_WHAT) for _ in commands]
        for command, reply in zip(commands, replies, strict=True):
            if isinstance(reply, ErrReply):
                if queued:
                    channel.abort("the login was refused with commands queued behind it")
                raise server_error(reply, command.verb, login=True)
        if not queued:
            return None
        return await pipelined_replies.read_queued(channel, queued, sinks, answered=2)


def _choose(channel: Channel, caps: Capabilities, mechanism: str | None, have_token: bool) -> str:
    """The login method; USER/PASS when CAPA names none popview can use."""
    if mechanism is None:
        try:
            return auth_methods.choose_mechanism(caps.sasl, caps.user, None, have_token)
        except AuthError:
            # HARDENING F.61: USER/PASS is RFC 1939's baseline; a minimal server
            # (or one without CAPA) may take it without listing it.
            channel.emit(
                "popview: the server's CAPA names no login method popview can use; "
                "trying USER/PASS (RFC 1939)"
            )
            return "USER"
    return auth_methods.choose_mechanism(
        caps.sasl, caps.user or not caps.raw, mechanism, have_token
    )


def _check_utf8_user(caps: Capabilities, user: str) -> None:
    """RFC 6856 §3: a UTF-8 user name in USER or APOP only when CAPA says
    ``UTF8 USER`` (SASL carries UTF-8 names by itself, RFC 4616)."""
    if user.isascii() or caps.utf8_user:
        return
    raise AuthError(
        "Your user name has non-ASCII characters, and the server does not accept them "
        'with USER/PASS (its CAPA has no "UTF8 USER"). Nothing was sent.',
        title="Login method unavailable",
    )


async def _enable_utf8(channel: Channel) -> None:
    """RFC 6856 §2: UTF8 in the AUTHORIZATION state whenever offered, so the
    server sends messages unchanged instead of downgrading 8-bit headers."""
    reply = await channel.exchange(protocol.utf8(), WHAT["UTF8"], raise_err=False)
    if isinstance(reply, ErrReply):
        # Not fatal: the server then treats us as a client without UTF8.
        channel.emit("popview: the server refused UTF8; going on without it")


async def _login_apop(channel: Channel, timestamp: str | None, user: str, password: str) -> None:
    # HARDENING B.28: only with a greeting timestamp that is a valid msg-id.
    if timestamp is None:
        raise AuthError(
            "APOP login was asked for, but the server's greeting has no valid APOP "
            "timestamp. Use another login method.",
            title="Login method unavailable",
        )
    digest = auth_methods.apop_digest(timestamp, password)
    await channel.exchange(protocol.apop(user, digest), _WHAT, login=True)


async def _login_sasl(
    channel: Channel,
    mech: auth_methods.SaslMechanism,
    then: Sequence[Command] = (),
    sinks: Mapping[str, Sink] | None = None,
) -> list[Reply | Pop3ServerError] | None:
    """RFC 5034 §4: AUTH with an initial response, then challenge/response,
    through the channel's one reply loop.

    With ``then`` (the server pipelines, RFC 2449 §6.6), once the mechanism has
    only the empty line left that acknowledges the server's final data (SCRAM's
    server signature), that line and ``then`` go in the same write as the last
    real response: the server's signature is checked when it arrives, before any
    reply to ``then`` is read, and a refused or unproven login drops the
    connection (never QUIT) instead of reading those replies. Nothing in
    ``then`` carries a secret.

    Returns:
        The replies to ``then`` when they went with the login, else ``None``.
    """
    queued = [pipelined_replies.for_pipeline(channel, command) for command in then]
    cancelled: list[auth_methods.SaslError] = []
    sent_ahead: list[Command] = []  # the acknowledgement and ``then``, once written

    def answer(event: Continuation) -> list[Command]:
        if cancelled:
            raise Pop3ProtocolError("The server kept challenging after the login was cancelled.")
        try:
            if event.overlong:
                raise auth_methods.SaslError(
                    "The server sent a login challenge too long to accept."
                )
            response = mech.step(auth_methods.decode_challenge(event.data))
        except auth_methods.SaslError as exc:
            if sent_ahead:  # "*" can no longer go: the acknowledgement is on its way
                channel.abort("the server did not prove its identity")
                raise
            # RFC 5034 §4 / HARDENING B.29: "*" cancels; the server answers -ERR.
            cancelled.append(exc)
            return [protocol.sasl_cancel()]
        if sent_ahead:
            if response:  # the mechanism wanted more than the empty line sent ahead
                channel.abort("the login exchange went out of step")
                raise Pop3ProtocolError("The server kept challenging after the last login line.")
            return []
        line = protocol.sasl_response(auth_methods.encode_response(response))
        if not (queued and mech.only_acknowledgement_left):
            return [line]
        sent_ahead.extend([protocol.sasl_response("", last=True), *queued])
        return [line, *sent_ahead]

    command = protocol.auth(mech.name, mech.start())
    async with channel.lock:
        channel.ensure_open()
        try:
            async with channel.guard(_WHAT):
                await channel.check_in_step()
                channel.write([command])
                reply = await channel.reply(_WHAT, challenge=answer)
        except Pop3TimeoutError:
            # HARDENING A.19: a server stalled by lines sent ahead does not pipeline.
            channel.pipelining_broken = channel.pipelining_broken or bool(sent_ahead)
            raise
        assert isinstance(reply, OkReply | ErrReply)
        if sent_ahead and isinstance(reply, ErrReply):
            channel.abort("the login was refused with commands queued behind it")
        if cancelled:
            text = printable(reply.text, 200)
            raise auth_methods.SaslError(
                f"{cancelled[0].message} The login was cancelled; try another login method.",
                reply_text=text,
            )
        if isinstance(reply, ErrReply):
            raise server_error(reply, "AUTH", login=True)
        # SCRAM: a server that did not prove itself is not trusted.
        try:
            mech.check_success()
        except auth_methods.SaslError:
            channel.abort("the server did not prove its identity")
            raise
        if not sent_ahead:
            return None
        return await pipelined_replies.read_queued(channel, queued, sinks, answered=1)
