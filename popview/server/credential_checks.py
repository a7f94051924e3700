"""Credential checks for the embedded server: APOP (RFC 1939 §7) and SASL PLAIN (RFC 4616)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import os
import time
from collections.abc import Mapping

__all__ = [
    "apop_digest",
    "check_apop",
    "check_password",
    "check_plain",
    "make_timestamp",
    "mask_command",
]

_timestamps = itertools.count(1)


def make_timestamp() -> str:
    """A fresh APOP greeting timestamp, an RFC 5322 msg-id (RFC 1939 §7)."""
    return f"<{os.getpid()}.{next(_timestamps)}.{time.time_ns()}@popview.localhost>"


def apop_digest(timestamp: str, password: str) -> str:
    """The APOP digest a client sends: MD5 of timestamp + password, in hex."""
    data = (timestamp + password).encode("utf-8")
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def check_apop(users: Mapping[str, str], timestamp: str, user: str, digest: str) -> bool:
    """Whether ``digest`` is right for ``user``."""
    password = users.get(user)
    if password is None:
        return False
    return hmac.compare_digest(apop_digest(timestamp, password), digest.lower())


def check_plain(users: Mapping[str, str], response: str) -> str | None:
    """Check a base64 SASL PLAIN response (RFC 4616 §2).

    Returns:
        The authenticated user name, or ``None`` when the response is not
        base64, not ``authzid NUL authcid NUL passwd``, names another
        authorization identity, or the password is wrong.
    """
    try:
        raw = base64.b64decode(response.encode("ascii"), validate=True)
        authzid, authcid, password = raw.decode("utf-8").split("\0")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    if authzid not in ("", authcid):
        return None
    expected = users.get(authcid)
    if expected is None or not hmac.compare_digest(
        expected.encode("utf-8"), password.encode("utf-8")
    ):
        return None
    return authcid


def check_password(users: Mapping[str, str], user: str, password: bytes) -> bool:
    """Whether ``password`` (as sent, UTF-8) is ``user``'s (USER/PASS, RFC 1939 §7)."""
    expected = users.get(user)
    return expected is not None and hmac.compare_digest(expected.encode("utf-8"), password)


def mask_command(line: str) -> str:
    """Hide the secret in a command line for the transcript.

    ``PASS x`` becomes ``PASS ***``, ``APOP alice d`` becomes ``APOP alice ***``
    and ``AUTH PLAIN x`` becomes ``AUTH PLAIN ***``.
    """
    words = line.split(" ")
    verb = words[0].upper()
    if verb == "PASS" and len(words) > 1:
        return f"{words[0]} ***"
    if verb == "APOP" and len(words) > 2:
        return f"{words[0]} {words[1]} ***"
    if verb == "AUTH" and len(words) > 2:
        return f"{words[0]} {words[1]} ***"
    return line
