"""SASL for POP3 (RFC 5034) as pure code: the mechanism base class and the simple mechanisms.

No I/O here. A :class:`SaslMechanism` produces the client's messages as raw
bytes; :func:`decode_challenge` and :func:`encode_response` do the base64 of
the ``+ `` lines. SCRAM lives in :mod:`popview.pop3.scram`; choosing and
building a mechanism in :mod:`popview.pop3.auth_methods`, which re-exports all of this.

The credential checks are here too: every mechanism and every login command
refuses a value that could break the command line (HARDENING B.30).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import ClassVar, Final

from popview.errors import AuthError, printable

__all__ = [
    "MAX_AUTH_LINE",
    "MAX_CHALLENGE",
    "CramMd5",
    "InvalidCredentialError",
    "Login",
    "Mechanism",
    "OAuthBearer",
    "Plain",
    "SaslError",
    "SaslMechanism",
    "XOAuth2",
    "decode_challenge",
    "encode_response",
    "validate_credential",
    "validate_credentials",
]

MAX_CHALLENGE: Final = 64 * 1024
"""Largest decoded SASL challenge accepted (HARDENING B.29)."""

MAX_AUTH_LINE: Final = 255
"""RFC 5034 §4: an AUTH command with initial response is at most 255 octets."""


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

    @property
    def only_acknowledgement_left(self) -> bool:
        """Whether the server's next message can only be its final data, answered
        with an empty line (RFC 5034 §4), so that line may be sent ahead."""
        return False

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
