"""OAuth2 provider presets: the endpoints, scopes, POP server and SASL mechanism of each.

The user registers an OAuth client with the provider and supplies its client id
(and, for Google's "Desktop app" clients, the client secret Google issues with
it: Google's token endpoint requires it although an installed app cannot keep
it secret, RFC 8252 §8.5). Everything else comes from here; any ``oauth2_*``
key in the account overrides the preset's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["OAUTH2_PROVIDERS", "PROVIDERS", "Provider"]


@dataclass(frozen=True)
class Provider:
    """What popview knows about one OAuth2 provider's POP service."""

    authorize_url: str
    """Authorization endpoint (RFC 6749 §3.1)."""
    token_url: str
    """Token endpoint (RFC 6749 §3.2)."""
    device_url: str | None
    """Device authorization endpoint (RFC 8628 §3.1); ``None`` when the provider
    refuses mail scopes on the device flow."""
    scopes: tuple[str, ...]
    """Scopes that grant POP access (and a refresh token)."""
    host: str
    """The provider's POP3 server."""
    port: int
    """Its implicit-TLS port (RFC 8314)."""
    mechanism: str
    """The SASL mechanism it wants; OAUTHBEARER is used instead when advertised."""
    needs_secret: bool
    """Whether its token endpoint requires the client secret."""


PROVIDERS: Mapping[str, Provider] = MappingProxyType(
    {
        # https://developers.google.com/gmail/imap/xoauth2-protocol; Google's
        # device flow does not allow the mail scope, so there is no device_url.
        "gmail": Provider(
            authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
            token_url="https://oauth2.googleapis.com/token",  # noqa: S106 - a URL
            device_url=None,
            scopes=("https://mail.google.com/",),
            host="pop.gmail.com",
            port=995,
            mechanism="XOAUTH2",
            needs_secret=True,
        ),
        # https://learn.microsoft.com/exchange/client-developer/legacy-protocols/
        # how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth;
        # "common" serves both Outlook.com and Microsoft 365 accounts.
        "microsoft": Provider(
            authorize_url="https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
            token_url="https://login.microsoftonline.com/common/oauth2/v2.0/token",  # noqa: S106
            device_url="https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
            scopes=("https://outlook.office.com/POP.AccessAsUser.All", "offline_access"),
            host="outlook.office365.com",
            port=995,
            mechanism="XOAUTH2",
            needs_secret=False,
        ),
    }
)
"""The presets by ``oauth2_provider`` name."""

OAUTH2_PROVIDERS = (*PROVIDERS, "custom")
"""The values ``oauth2_provider`` may take."""
