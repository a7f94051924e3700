"""Checking an account's OAuth2 keys: ``auth = "oauth2"`` and the ``oauth2_*`` keys.

Called by :meth:`popview.config.validate.Parser.account`; problems go to the
same list, so a user fixes the whole file in one go. The client secret is
never shown in a problem, not even a mistyped one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from popview.config.model import OAuth2Settings
from popview.config.oauth2 import OAUTH2_PROVIDERS, PROVIDERS
from popview.errors import printable

if TYPE_CHECKING:
    from popview.config.validate import Parser

__all__ = ["OAUTH2_KEYS", "oauth2_settings"]

OAUTH2_KEYS = (
    "oauth2_provider",
    "oauth2_client_id",
    "oauth2_client_secret",
    "oauth2_authorize_url",
    "oauth2_token_url",
    "oauth2_device_url",
    "oauth2_scopes",
    "oauth2_token_command",
)
"""The account keys that only make sense with ``auth = "oauth2"``."""


def oauth2_settings(parser: Parser, prefix: str, table: Mapping[str, Any]) -> OAuth2Settings | None:
    """The account's OAuth2 settings, or ``None`` when it logs in with a password."""
    auth = table.get("auth")
    wants = isinstance(auth, str) and auth.strip().lower() == "oauth2"
    present = [k for k in OAUTH2_KEYS if k in table]
    if not wants:
        if present:
            parser.problems.append(
                f'{prefix}{present[0]} needs {prefix}auth = "oauth2" (or remove the key)'
            )
        return None
    command = parser._command(f"{prefix}oauth2_token_command", table.get("oauth2_token_command"))
    provider = table.get("oauth2_provider", "custom")
    if provider not in OAUTH2_PROVIDERS:
        parser.problems.append(
            f"{prefix}oauth2_provider must be one of {', '.join(OAUTH2_PROVIDERS)} "
            f"(got {printable(repr(provider), 80)})"
        )
        return None
    preset = PROVIDERS.get(provider)
    urls = {}
    for what in ("authorize", "token", "device"):
        key = f"oauth2_{what}_url"
        urls[what] = _url(parser, f"{prefix}{key}", table.get(key))
        if urls[what] is None and preset is not None:
            urls[what] = getattr(preset, f"{what}_url")
    secret = table.get("oauth2_client_secret")
    if secret is not None and (not isinstance(secret, str) or not secret.strip()):
        parser.problems.append(f"{prefix}oauth2_client_secret must be a non-empty string")
        secret = None
    settings = OAuth2Settings(
        provider=provider,
        client_id=parser._text(f"{prefix}oauth2_client_id", table.get("oauth2_client_id")),
        client_secret=secret,
        authorize_url=urls["authorize"],
        token_url=urls["token"],
        device_url=urls["device"],
        scopes=_scopes(parser, f"{prefix}oauth2_scopes", table.get("oauth2_scopes"))
        or (preset.scopes if preset is not None else ()),
        token_command=command,
    )
    if command is None:
        _check_complete(parser, prefix, settings)
    return settings


def _check_complete(parser: Parser, prefix: str, settings: OAuth2Settings) -> None:
    """popview's own flows need a client id, a token endpoint and a way to authorize."""
    if settings.client_id is None:
        parser.problems.append(
            f"{prefix}oauth2_client_id is required (the client id you registered with the "
            "provider; see README, OAuth2), or set oauth2_token_command"
        )
    preset = PROVIDERS.get(settings.provider)
    if preset is not None and preset.needs_secret and settings.client_secret is None:
        parser.problems.append(
            f"{prefix}oauth2_client_secret is required for {settings.provider} (its "
            '"Desktop app" client comes with one)'
        )
    if settings.token_url is None:
        parser.problems.append(f"{prefix}oauth2_token_url is required for a custom provider")
    if settings.authorize_url is None and settings.device_url is None:
        parser.problems.append(
            f"{prefix}oauth2_authorize_url or oauth2_device_url is required for a custom provider"
        )


def _url(parser: Parser, name: str, value: Any) -> str | None:
    """An https URL; http only to a loopback address (a local test server)."""
    text = parser._text(name, value)
    if text is None:
        return None
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    if parts is not None and parts.scheme == "https" and host:
        return text
    if parts is not None and parts.scheme == "http" and _loopback(host):
        return text
    parser.problems.append(
        f"{name} must be an https:// URL (got {printable(repr(text), 80)}); tokens never "
        "travel in clear"
    )
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _scopes(parser: Parser, name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split()
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v and v.isprintable() and " " not in v for v in value)
    ):
        parser.problems.append(
            f'{name} must be a list of scopes such as ["https://mail.google.com/"] '
            "or one space-separated string"
        )
        return ()
    return tuple(value)
