"""POP3 authentication as pure code: credential checks, APOP, SASL mechanisms.

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

Challenges and responses are raw bytes here; :func:`decode_challenge` and
:func:`encode_response` do the base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from collections.abc import Iterable
from typing import ClassVar, Final

from popview.errors import AuthError, ConfigError, printable
from popview.pop3.protocol import parse_timestamp

__all__ = [
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

MAX_CHALLENGE: Final = 64 * 1024
"""Largest decoded SASL challenge accepted (HARDENING B.29)."""

MAX_AUTH_LINE: Final = 255
"""RFC 5034 §4: an AUTH command with initial response is at most 255 octets."""

# Strongest first. OAuth mechanisms are only chosen when a token is at hand.
_PASSWORD_ORDER: Final = ("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN")
_TOKEN_ORDER: Final = ("OAUTHBEARER", "XOAUTH2")
SUPPORTED_MECHANISMS: Final = (*_PASSWORD_ORDER, *_TOKEN_ORDER)
"""SASL mechanisms :func:`create_mechanism` knows."""


class InvalidCredentialError(AuthError, ValueError):
    """A user name or password that cannot be sent (CR, LF, NUL...)."""

    title = "Unusable credentials"


class SaslError(AuthError, ValueError):
    """The SASL exchange cannot go on: cancel it with ``*`` (also a ValueError)."""


# --------------------------------------------------------------------------- checks


def validate_credential(value: str, what: str = "password") -> None:
    """Refuse a credential that would break the command line (HARDENING B.30).

    Args:
        value: The user name or password.
        what: What it is, for the message (never the value itself).

    Raises:
        InvalidCredentialError: ``value`` holds CR, LF or NUL (also a ValueError).
    """
    if "\r" in value or "\n" in value or "\0" in value:
        raise InvalidCredentialError(
            f"The {what} contains a line break or NUL character; popview will not send it."
        )
    if not value.isascii() and any("\ud800" <= ch <= "\udfff" for ch in value):
        # Bytes that were not UTF-8 (surrogateescape): encoding would raise a
        # UnicodeEncodeError whose repr carries the value.
        raise InvalidCredentialError(
            f"The {what} is not valid UTF-8 text; popview will not send it."
        )


def validate_credentials(username: str, password: str | None) -> None:
    """Check a user name (non-empty) and an optional password before login.

    Raises:
        InvalidCredentialError: Either is unusable.
    """
    if not username:
        raise InvalidCredentialError("The user name is empty.")
    validate_credential(username, "user name")
    if password is not None:
        validate_credential(password)


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


def saslprep(text: str, what: str = "password") -> str:
    """SASLprep (RFC 4013) with the stdlib ``stringprep`` tables.

    Raises:
        SaslError: ``text`` holds a prohibited character.
    """
    # RFC 4013 §2.1: non-ASCII spaces map to SPACE, "commonly mapped to
    # nothing" characters are removed; §2.2: NFKC (Unicode 3.2).
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else "" if stringprep.in_table_b1(ch) else ch
        for ch in text
    )
    prepared = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    prohibited = (
        stringprep.in_table_a1,
        stringprep.in_table_c12,
        stringprep.in_table_c21_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
    )
    bad = any(test(ch) for ch in prepared for test in prohibited)
    # RFC 3454 §6: RandALCat text must not mix with LCat and must start and end in it.
    if any(stringprep.in_table_d1(ch) for ch in prepared):
        bad = bad or any(stringprep.in_table_d2(ch) for ch in prepared)
        bad = bad or not (
            stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])
        )
    if bad:
        raise SaslError(f"The {what} contains characters SASLprep (RFC 4013) forbids.")
    return prepared


# --------------------------------------------------------------------------- base64


def decode_challenge(data: str) -> bytes:
    """Decode a ``+ `` challenge's base64 (RFC 5034 §4).

    Raises:
        SaslError: Not base64, or larger than :data:`MAX_CHALLENGE` once
            decoded (HARDENING B.29). Answer with ``*``.
    """
    if len(data) > (MAX_CHALLENGE + 2) // 3 * 4:
        raise SaslError("The server sent an oversized login challenge.")
    try:
        return base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SaslError(
            f"The server sent a login challenge that is not base64: {printable(data, 60)!r}."
        ) from None


def encode_response(data: bytes) -> str:
    """Base64 a SASL response line (an empty response is an empty line)."""
    return base64.b64encode(data).decode("ascii")


# --------------------------------------------------------------------------- mechanisms


class SaslMechanism:
    """One client-side SASL exchange. Subclasses implement the mechanism.

    Call :meth:`initial_response` once (before sending ``AUTH``), then
    :meth:`step` for each ``+ `` challenge, and :meth:`check_success` on
    ``+OK``.

    Attributes:
        name: The SASL name sent in ``AUTH``.
        send_initial_in_command: Whether the client-first message may ride on
            the AUTH line at all (XOAUTH2: no, Outlook refuses it).
        error_detail: A sanitized server error sent as a final challenge
            (OAuth mechanisms), for the error message.
    """

    name: ClassVar[str] = ""
    send_initial_in_command: ClassVar[bool] = True

    def __init__(self, max_line: int = MAX_AUTH_LINE) -> None:
        self._max_line = max_line
        self._initial: bytes | None = None
        self._initial_pending = False
        self._started = False
        self.error_detail: str | None = None

    def initial_response(self) -> bytes | None:
        """Return the initial response to put on the AUTH line, or None.

        RFC 5034 §4: it rides on the line only if ``AUTH <name> <base64>\r\n``
        fits in 255 octets; otherwise (and always for XOAUTH2) None is
        returned and :meth:`step` sends it after the first, empty, challenge.
        Repeated calls return the same answer.
        """
        if self._started:
            return None if self._initial_pending else self._initial
        self._started = True
        first = self._first_message()
        if first is None:
            return None
        line = f"AUTH {self.name} {encode_response(first) or '='}\r\n"
        if self.send_initial_in_command and len(line) <= self._max_line:
            self._initial = first
            return first
        self._initial, self._initial_pending = first, True
        return None

    def start(self) -> str | None:
        """Return :meth:`initial_response` as base64 for :func:`protocol.auth`
        (``"="`` for an empty one), or None."""
        first = self.initial_response()
        return None if first is None else encode_response(first) or "="

    def step(self, challenge: bytes) -> bytes:
        """Answer one server challenge (raw bytes, not base64).

        Raises:
            SaslError: The challenge is wrong; cancel the exchange with ``*``.
        """
        if not self._started:
            # initial_response() was never asked for, so AUTH went without it.
            self._started = True
            self._initial = self._first_message()
            self._initial_pending = self._initial is not None
        if self._initial_pending:
            self._initial_pending = False
            assert self._initial is not None
            return self._initial
        return self._step(challenge)

    respond = step

    def check_success(self) -> None:
        """Call on ``+OK``: raise if the mechanism expected more (SCRAM's proof).

        Raises:
            SaslError: The server accepted without proving itself.
        """

    def _first_message(self) -> bytes | None:
        """The client-first message, or None if the server speaks first."""
        return None

    def _step(self, challenge: bytes) -> bytes:
        raise SaslError(f"The server sent an unexpected {self.name} challenge.")


Mechanism = SaslMechanism
"""Alias of :class:`SaslMechanism`."""


class Plain(SaslMechanism):
    """PLAIN (RFC 4616): authzid NUL authcid NUL password."""

    name = "PLAIN"

    def __init__(self, username: str, password: str, authzid: str = "") -> None:
        super().__init__()
        self._message = "\0".join((authzid, username, password)).encode("utf-8")

    def _first_message(self) -> bytes:
        return self._message


class Login(SaslMechanism):
    """LOGIN (draft-murchison-sasl-login): user name, then password."""

    name = "LOGIN"

    def __init__(self, username: str, password: str) -> None:
        super().__init__()
        self._answers = [username.encode("utf-8"), password.encode("utf-8")]

    def _step(self, challenge: bytes) -> bytes:
        # The prompts ("Username:", "Password:") vary between servers; only
        # their order matters.
        if not self._answers:
            return super()._step(challenge)
        return self._answers.pop(0)


class CramMd5(SaslMechanism):
    """CRAM-MD5 (RFC 2195): user SP hex HMAC-MD5(password, challenge)."""

    name = "CRAM-MD5"

    def __init__(self, username: str, password: str) -> None:
        super().__init__()
        self._username = username
        self._password = password.encode("utf-8")
        self._done = False

    def _step(self, challenge: bytes) -> bytes:
        if self._done or not challenge:
            return super()._step(challenge)
        self._done = True
        digest = hmac.new(self._password, challenge, "md5").hexdigest()
        return f"{self._username} {digest}".encode()


class _Scram(SaslMechanism):
    """SCRAM (RFC 5802), without channel binding; verifies the server signature."""

    hash_name: ClassVar[str] = ""
    max_iterations: ClassVar[int] = 1_000_000  # a hostile server cannot make us spin

    def __init__(self, username: str, password: str, nonce: str | None = None) -> None:
        super().__init__()
        # RFC 5802 §5.1: "=" and "," in the name are escaped.
        self._username = username.replace("=", "=3D").replace(",", "=2C")
        self._password = saslprep(password).encode("utf-8")
        self._nonce = nonce or base64.b64encode(secrets.token_bytes(18)).decode("ascii")
        self._client_first_bare = f"n={self._username},r={self._nonce}"
        self._server_signature: bytes | None = None
        self._verified = False

    def _first_message(self) -> bytes:
        return ("n,," + self._client_first_bare).encode("utf-8")

    def _hmac(self, key: bytes, data: bytes) -> bytes:
        return hmac.new(key, data, self.hash_name).digest()

    def _step(self, challenge: bytes) -> bytes:
        if self._server_signature is None:
            return self._client_final(challenge)
        if not self._verified:
            return self._verify(challenge)
        return super()._step(challenge)

    def _client_final(self, challenge: bytes) -> bytes:
        server_first = challenge.decode("utf-8", "replace")
        attrs = _scram_attrs(server_first)
        nonce, salt_b64, iterations = attrs.get("r", ""), attrs.get("s", ""), attrs.get("i", "")
        if "m" in attrs or not nonce.startswith(self._nonce) or len(nonce) <= len(self._nonce):
            raise SaslError("The server's SCRAM challenge does not continue our nonce.")
        # ASCII digits only, and few of them: int() refuses "²" and 5,000 digits
        # with a ValueError that is not a SaslError.
        digits = iterations.isascii() and iterations.isdigit() and len(iterations) <= 10
        if not digits or not 1 <= int(iterations) <= self.max_iterations:
            raise SaslError("The server asked for an unreasonable SCRAM iteration count.")
        try:
            salt = base64.b64decode(salt_b64, validate=True)
        except (binascii.Error, ValueError):
            raise SaslError("The server's SCRAM salt is not base64.") from None
        salted = hashlib.pbkdf2_hmac(self.hash_name, self._password, salt, int(iterations))
        client_key = self._hmac(salted, b"Client Key")
        stored_key = hashlib.new(self.hash_name, client_key).digest()
        without_proof = f"c=biws,r={nonce}"  # biws = base64("n,,")
        auth_message = f"{self._client_first_bare},{server_first},{without_proof}".encode()
        signature = self._hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._server_signature = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode('ascii')}".encode()

    def _verify(self, challenge: bytes) -> bytes:
        attrs = _scram_attrs(challenge.decode("utf-8", "replace"))
        if "e" in attrs:
            raise SaslError(f"The server refused the login: {printable(attrs['e'], 80)!r}.")
        try:
            signature = base64.b64decode(attrs.get("v", ""), validate=True)
        except (binascii.Error, ValueError):
            signature = b""
        assert self._server_signature is not None
        if not hmac.compare_digest(signature, self._server_signature):
            raise SaslError(
                "The server could not prove it knows your password (SCRAM signature "
                "mismatch): it may be an impostor."
            )
        self._verified = True
        return b""  # RFC 5034 §4: final server data is acknowledged with an empty line

    def check_success(self) -> None:
        if not self._verified:
            raise SaslError("The server accepted the login without proving it knows your password.")


def _scram_attrs(message: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for part in message.split(","):
        key, eq, value = part.partition("=")
        if len(key) == 1 and eq and key not in attrs:
            attrs[key] = value
    return attrs


class ScramSha1(_Scram):
    """SCRAM-SHA-1 (RFC 5802)."""

    name = "SCRAM-SHA-1"
    hash_name = "sha1"


class ScramSha256(_Scram):
    """SCRAM-SHA-256 (RFC 7677)."""

    name = "SCRAM-SHA-256"
    hash_name = "sha256"


class _OAuth(SaslMechanism):
    """Shared by the bearer-token mechanisms: a server error arrives as a
    challenge holding JSON, which must be acknowledged before ``-ERR``."""

    error_ack: ClassVar[bytes] = b""

    def __init__(self, username: str, token: str) -> None:
        super().__init__()
        validate_credentials(username, token)
        self._username = username
        self._token = token

    def _step(self, challenge: bytes) -> bytes:
        if self.error_detail is not None:
            return super()._step(challenge)
        self.error_detail = printable(challenge.decode("utf-8", "replace"), 200)
        return self.error_ack


class XOAuth2(_OAuth):
    """XOAUTH2 (Google/Microsoft). Always two steps: Outlook rejects it inline."""

    name = "XOAUTH2"
    send_initial_in_command = False

    def _first_message(self) -> bytes:
        return f"user={self._username}\x01auth=Bearer {self._token}\x01\x01".encode()


class OAuthBearer(_OAuth):
    """OAUTHBEARER (RFC 7628); an error challenge is answered with ``%x01``."""

    name = "OAUTHBEARER"
    error_ack = b"\x01"

    def _first_message(self) -> bytes:
        # RFC 7628 §3.1: gs2-header, then kvpairs separated by %x01.
        user = self._username.replace("=", "=3D").replace(",", "=2C")
        return f"n,a={user},\x01auth=Bearer {self._token}\x01\x01".encode()


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
    has_user_cmd: bool | None = None,
    configured: str | None = None,
    have_token: bool = False,
    *,
    preferred: str | None = None,
    has_oauth_token: bool | None = None,
    user_command: bool | None = None,
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
        preferred: Alias of ``configured``.
        has_oauth_token: Alias of ``have_token``.
        user_command: Alias of ``has_user_cmd``.

    Raises:
        ConfigError: ``configured`` is a method popview does not know.
        AuthError: The server offers nothing usable, or not ``configured``.
    """
    has_user_cmd = bool(user_command) if has_user_cmd is None else has_user_cmd
    configured = configured if configured is not None else preferred
    have_token = have_token or bool(has_oauth_token)
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
