"""SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel binding, and SASLprep.

The client proves it knows the password without sending it, and checks the
server's signature in turn: a server that cannot prove it knows the password
is refused even if it says ``+OK`` (:meth:`_Scram.check_success`). A hostile
server cannot make the client spin (iteration counts are capped) or crash it
(every bad challenge is a :class:`~popview.pop3.sasl.SaslError`, answered
with ``*``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from typing import ClassVar

from popview.errors import printable
from popview.pop3.sasl import SaslError, SaslMechanism

__all__ = ["ScramSha1", "ScramSha256", "saslprep"]


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

    @property
    def only_acknowledgement_left(self) -> bool:
        # After the client-final message the server sends server-final as a
        # challenge (RFC 5802 §5, RFC 5034 §4), acknowledged with an empty line.
        return self._server_signature is not None and not self._verified

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
