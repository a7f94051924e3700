"""POP3 authentication as pure code: which login method, APOP, and the SASL mechanisms.

No I/O here. The client drives a SASL exchange like this (RFC 5034 §4)::

    name = choose_mechanism(caps.sasl, caps.user, configured, have_token)
    mech = create_mechanism(name, user, password, token)
    send(protocol.auth(mech.name, mech.start()))   # base64 IR or None
    on Continuation(data):
        try:
            answer = mech.step(decode_challenge(data.data))
        except SaslError:                          # also a ValueError
            send(protocol.sasl_cancel())           # "*" (HARDENING B.29)
        else:
            send(protocol.sasl_response(encode_response(answer)))
    on OkReply:  mech.check_success()   # SCRAM: raises unless the server proved itself
    on ErrReply: login failed

The mechanisms live in :mod:`popview.pop3.sasl` (base class, PLAIN, LOGIN,
CRAM-MD5, OAuth) and :mod:`popview.pop3.scram` (SCRAM, SASLprep); this module
re-exports them so callers need only ``popview.pop3.auth_methods``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

from popview.errors import AuthError, ConfigError, printable
from popview.pop3.replies import parse_timestamp
from popview.pop3.sasl import (
    MAX_AUTH_LINE,
    MAX_CHALLENGE,
    CramMd5,
    InvalidCredentialError,
    Login,
    Mechanism,
    OAuthBearer,
    Plain,
    SaslError,
    SaslMechanism,
    XOAuth2,
    decode_challenge,
    encode_response,
    validate_credential,
    validate_credentials,
)
from popview.pop3.scram import ScramSha1, ScramSha256, saslprep

__all__ = [
    "MAX_AUTH_LINE",
    "MAX_CHALLENGE",
    "SUPPORTED_MECHANISMS",
    "CramMd5",
    "InvalidCredentialError",
    "Login",
    "Mechanism",
    "OAuthBearer",
    "Plain",
    "SaslError",
    "SaslMechanism",
    "ScramSha1",
    "ScramSha256",
    "XOAuth2",
    "apop_digest",
    "choose_mechanism",
    "create_mechanism",
    "decode_challenge",
    "encode_response",
    "saslprep",
    "validate_credential",
    "validate_credentials",
]

# Strongest first. OAuth mechanisms are only chosen when a token is at hand.
_PASSWORD_ORDER: Final = ("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN")
_TOKEN_ORDER: Final = ("OAUTHBEARER", "XOAUTH2")
SUPPORTED_MECHANISMS: Final = (*_PASSWORD_ORDER, *_TOKEN_ORDER)
"""SASL mechanisms :func:`create_mechanism` knows."""


def apop_digest(timestamp: str, password: str) -> str:
    """Return the APOP digest: hex MD5 of timestamp + password (RFC 1939 §7).

    Raises:
        ValueError: ``timestamp`` is not a valid msg-id (HARDENING B.28).
    """
    if parse_timestamp(timestamp) != timestamp:
        raise ValueError("APOP timestamp is not a valid msg-id")
    validate_credential(password)
    data = (timestamp + password).encode("utf-8")
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# --------------------------------------------------------------------------- choice


def create_mechanism(
    name: str,
    username: str,
    password: str | None = None,
    token: str | None = None,
    authzid: str = "",
) -> SaslMechanism:
    """Build the mechanism object for ``name`` (one of :data:`SUPPORTED_MECHANISMS`).

    Raises:
        ValueError: Unknown mechanism, or the credential it needs is missing.
        InvalidCredentialError: A credential holds CR, LF or NUL.
    """
    name = name.upper()
    if name in _TOKEN_ORDER:
        if token is None:
            raise ValueError(f"{name} needs an OAuth token")
        return XOAuth2(username, token) if name == "XOAUTH2" else OAuthBearer(username, token)
    if name not in _PASSWORD_ORDER:
        raise ValueError(f"unsupported SASL mechanism {name!r}")
    if password is None:
        raise ValueError(f"{name} needs a password")
    validate_credentials(username, password)
    if name == "PLAIN":
        validate_credential(authzid, "authorization id")
        return Plain(username, password, authzid)
    if name == "LOGIN":
        return Login(username, password)
    if name == "CRAM-MD5":
        return CramMd5(username, password)
    return (
        ScramSha256(username, password)
        if name == "SCRAM-SHA-256"
        else ScramSha1(username, password)
    )


def choose_mechanism(
    server_sasl: Iterable[str],
    has_user_cmd: bool,
    configured: str | None = None,
    have_token: bool = False,
) -> str:
    """Pick how to log in: a SASL name, ``"USER"`` (USER/PASS) or ``"APOP"``.

    Without ``configured``, the strongest the server offers wins:
    OAUTHBEARER > XOAUTH2 (only with ``have_token``), then SCRAM-SHA-256 >
    SCRAM-SHA-1 > CRAM-MD5 > PLAIN > LOGIN > USER. APOP is never chosen
    automatically (the caller must also check the greeting's timestamp).

    Args:
        server_sasl: Mechanisms from CAPA's SASL line.
        has_user_cmd: Whether USER/PASS is available (CAPA ``USER``).
        configured: The mechanism the user configured, if any.
        have_token: Whether an OAuth bearer token is available.

    Raises:
        ConfigError: ``configured`` is a method popview does not know.
        AuthError: The server offers nothing usable, or not ``configured``.
    """
    offered = {m.upper() for m in server_sasl}
    if configured is not None:
        wanted = configured.upper()
        if wanted == "APOP":
            return wanted
        if wanted not in (*SUPPORTED_MECHANISMS, "USER"):
            raise ConfigError(
                f"popview does not support the login method {printable(configured)!r}."
            )
        if (wanted == "USER" and has_user_cmd) or wanted in offered:
            return wanted
        raise AuthError(
            f"The server does not offer the configured login method {wanted}.",
            title="Login method unavailable",
        )
    order = (*_TOKEN_ORDER, *_PASSWORD_ORDER) if have_token else _PASSWORD_ORDER
    for name in order:
        if name in offered:
            return name
    if has_user_cmd:
        return "USER"
    raise AuthError(
        "The server offers no login method popview supports.", title="Login method unavailable"
    )
