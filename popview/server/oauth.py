"""OAuth2 SASL for the embedded server: XOAUTH2 and OAUTHBEARER (RFC 7628).

The server does not judge tokens itself: it hands ``(user, token)`` to the
``token_checker`` it was given (the tests ask a real authorization server's
introspection endpoint, RFC 7662). A refused token is answered as the
providers do: a ``+`` challenge holding a JSON error, which the client
acknowledges, then ``-ERR`` (RFC 7628 §3.2.2).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

__all__ = ["OAUTH_MECHANISMS", "TokenChecker", "failure_challenge", "parse_oauth_response"]

OAUTH_MECHANISMS = frozenset({"XOAUTH2", "OAUTHBEARER"})
"""The bearer-token SASL mechanisms the embedded server can take."""

TokenChecker = Callable[[str, str], bool]
"""``(user, token) -> valid``; may block (HTTP), so the server runs it in a thread."""


def parse_oauth_response(mechanism: str, response: str) -> tuple[str, str] | None:
    """The user and the bearer token of a base64 client response, or ``None`` if malformed.

    XOAUTH2: ``user=U ^A auth=Bearer T ^A ^A``. OAUTHBEARER (RFC 7628 §3.1):
    ``n,a=U, ^A auth=Bearer T ^A ^A``, with ``=2C``/``=3D`` escapes in U.
    """
    try:
        raw = base64.b64decode(response.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    if not raw.endswith("\x01\x01"):
        return None
    head, *pairs = raw[:-2].split("\x01")
    user = None
    if mechanism == "OAUTHBEARER":
        fields = head.split(",")
        if len(fields) < 2 or fields[0] not in ("n", "y"):
            return None
        for item in fields[1:]:
            if item.startswith("a="):
                user = item[2:].replace("=2C", ",").replace("=3D", "=")
    else:
        pairs = [head, *pairs]
    values = dict(p.split("=", 1) for p in pairs if "=" in p)
    user = values.get("user", user)
    auth = values.get("auth", "")
    if not user or not auth.lower().startswith("bearer "):
        return None
    return user, auth[7:]


def failure_challenge() -> bytes:
    """The ``+`` line that reports a refused token (RFC 7628 §3.2.2; Google's XOAUTH2 too)."""
    status = {"status": "invalid_token", "schemes": "bearer", "scope": ""}
    return b"+ " + base64.b64encode(json.dumps(status).encode()) + b"\r\n"
