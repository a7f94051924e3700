"""TLS for the POP3 client: contexts, certificate pins and what to tell the user.

Verification is on by default (RFC 8314 §5, RFC 2595 §2.4): the system trust
store, host name checking, TLS 1.2 or newer. A configured CA file is trusted in
addition. A SHA-256 *pin* is the "trust this certificate" answer for a
self-signed server: with a pin the chain is not checked against a CA, the exact
certificate is, right after the handshake and before any credential is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import ssl
from dataclasses import dataclass
from os import PathLike

from popview.errors import ConfigError, TLSVerificationError, printable

__all__ = [
    "TlsInfo",
    "check_pin",
    "client_context",
    "fingerprint_of",
    "format_fingerprint",
    "normalize_fingerprint",
    "tls_info",
    "verification_error",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")

# OpenSSL X509_V_ERR_* codes worth a sentence of their own.
_UNKNOWN_CA = {
    2,  # unable to get issuer certificate
    18,  # self-signed certificate
    19,  # self-signed certificate in chain
    20,  # unable to get local issuer certificate
    21,  # unable to verify the first certificate
}
_EXPIRED = {9, 10}  # not yet valid, expired
_HOSTNAME_MISMATCH = {62, 64}  # host name, IP address


@dataclass(frozen=True)
class TlsInfo:
    """What the server's TLS session looks like, for the "server info" screen.

    Attributes:
        version: Protocol version, e.g. ``"TLSv1.3"``.
        cipher: Cipher suite name.
        bits: Secret bits of the cipher, when known.
        fingerprint: SHA-256 of the server's certificate (DER), upper-case hex
            with colons.
        verified: Whether the certificate chain and host name were verified.
        pinned: Whether the certificate matched a configured pin.
    """

    version: str
    cipher: str
    bits: int | None
    fingerprint: str
    verified: bool
    pinned: bool = False


def client_context(
    *, cafile: str | PathLike[str] | None = None, pinned: bool = False
) -> ssl.SSLContext:
    """Build the SSL context for a POP3 connection.

    Args:
        cafile: An extra CA bundle (PEM) trusted on top of the system store.
        pinned: Whether the caller checks a certificate pin after the handshake
            (:func:`check_pin`). The pin then replaces chain and host name
            verification: it is stricter (one exact certificate).

    Returns:
        A client context requiring TLS 1.2 or newer.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafile is not None:
        _load_cafile(context, cafile)
    if pinned:
        # The pin check after the handshake is the verification (see module doc).
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _load_cafile(context: ssl.SSLContext, cafile: str | PathLike[str]) -> None:
    """Trust the CA certificates in ``cafile``, or say plainly why not.

    Raises:
        ConfigError: The file is missing, unreadable or holds no PEM
            certificate (HARDENING F.64: one clear sentence naming the file,
            never an ``OSError`` the UI would call "cannot reach the server").
    """
    name = printable(os.fspath(cafile), 200)
    try:
        context.load_verify_locations(cafile=cafile)
    except FileNotFoundError:
        reason = "it does not exist"
    except IsADirectoryError:
        reason = "it is a directory, not a file"
    except PermissionError:
        reason = "popview may not read it (permission denied)"
    except ssl.SSLError:
        reason = "it holds no PEM certificate"
    except OSError as exc:
        reason = f"it cannot be read ({printable(exc.strerror or str(exc), 100)})"
    else:
        return
    raise ConfigError(
        f"The CA file {name} cannot be used: {reason}. Fix the account's cafile "
        "(or --cafile); nothing was sent to the server.",
        title="Bad CA file",
    )


def normalize_fingerprint(value: str) -> str:
    """Return a SHA-256 fingerprint as 64 lower-case hex digits.

    Accepts ``AB:CD:...``, ``abcd...``, optionally prefixed ``sha256:`` or
    with spaces.

    Raises:
        ValueError: The value is not a SHA-256 fingerprint.
    """
    text = value.strip().lower()
    if text.startswith("sha256:") or text.startswith("sha-256:"):
        text = text.split(":", 1)[1]
    text = text.replace(":", "").replace(" ", "")
    if not _HEX64.fullmatch(text):
        raise ValueError(
            f"{printable(value, 120)!r} is not a SHA-256 fingerprint (64 hex digits, "
            "with or without colons)."
        )
    return text


def format_fingerprint(digest_hex: str) -> str:
    """Format 64 hex digits as ``AB:CD:...`` (the form shown to the user)."""
    upper = digest_hex.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))


def fingerprint_of(der: bytes) -> str:
    """Return the SHA-256 fingerprint of a DER certificate, colon-separated."""
    return format_fingerprint(hashlib.sha256(der).hexdigest())


def _peer_der(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> bytes:
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise TLSVerificationError(
            "The server presented no certificate, so its identity cannot be checked."
        )
    return der


def check_pin(ssl_object: ssl.SSLObject | ssl.SSLSocket, pin: str) -> str:
    """Compare the presented certificate with a pin, right after the handshake.

    Args:
        ssl_object: The completed TLS session.
        pin: The expected SHA-256 fingerprint (any form
            :func:`normalize_fingerprint` accepts).

    Returns:
        The presented fingerprint (colon form).

    Raises:
        TLSVerificationError: The certificate differs from the pin (its
            ``fingerprint`` is the one presented, so the UI can offer to trust it).
        ValueError: ``pin`` is not a fingerprint.
    """
    expected = normalize_fingerprint(pin)
    der = _peer_der(ssl_object)
    presented = hashlib.sha256(der).hexdigest()
    if not hmac.compare_digest(presented, expected):
        shown = format_fingerprint(presented)
        raise TLSVerificationError(
            "The server's certificate is not the one you trusted before "
            f"(it now has fingerprint {shown}). If the server's certificate was "
            "renewed, check the new fingerprint and trust it; otherwise do not connect.",
            fingerprint=shown,
        )
    return format_fingerprint(presented)


def tls_info(
    ssl_object: ssl.SSLObject | ssl.SSLSocket, *, verified: bool, pinned: bool = False
) -> TlsInfo:
    """Describe a completed TLS session.

    Args:
        ssl_object: The completed TLS session (``get_extra_info("ssl_object")``).
        verified: Whether the context verified chain and host name.
        pinned: Whether a pin was checked.
    """
    cipher = ssl_object.cipher()
    name, bits = (cipher[0], cipher[2]) if cipher else ("unknown", None)
    return TlsInfo(
        version=ssl_object.version() or "unknown",
        cipher=name,
        bits=bits,
        fingerprint=fingerprint_of(_peer_der(ssl_object)),
        verified=verified,
        pinned=pinned,
    )


def verification_error(
    error: ssl.SSLCertVerificationError, host: str, *, fingerprint: str | None = None
) -> TLSVerificationError:
    """Turn OpenSSL's verification failure into a sentence a user understands.

    Args:
        error: What the handshake raised.
        host: The host name the certificate was checked against.
        fingerprint: The presented certificate's fingerprint, if it could be
            fetched (so the UI can offer "trust this certificate").
    """
    code = getattr(error, "verify_code", None)
    detail = printable(str(getattr(error, "verify_message", "") or error), 200)
    name = printable(host, 200)
    if code in _HOSTNAME_MISMATCH:
        message = (
            f"The server's certificate is not valid for the host name {name}. "
            "You may be talking to the wrong server, or to an attacker."
        )
    elif code in _UNKNOWN_CA:
        message = (
            f"The certificate of {name} is not signed by an authority this computer "
            "trusts (it may be self-signed). Check its fingerprint with the server's "
            "administrator before trusting it."
        )
    elif code in _EXPIRED:
        message = f"The certificate of {name} has expired or is not valid yet ({detail})."
    else:
        message = f"The certificate of {name} could not be verified ({detail})."
    return TLSVerificationError(message, fingerprint=fingerprint)
