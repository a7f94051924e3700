"""An access token when a login needs one: cached, else refreshed (RFC 6749 §6).

:func:`token_source` gives the session its :data:`~popview.oauth2.credential.TokenSource`
for an account authorized with ``popview auth``. A refresh refused with
``invalid_grant`` (RFC 6749 §5.2: the grant was revoked or has expired) drops
the stored tokens and says, once, to run ``popview auth ACCOUNT`` again; it is
never retried (HARDENING F.63).
"""

from __future__ import annotations

import logging
from typing import Any

from popview.config.model import Account, OAuth2Settings
from popview.errors import printable
from popview.oauth2.credential import TokenSource
from popview.oauth2.flows import OAuth2Error, new_session, oauth_failure
from popview.oauth2.storage import TokenStore

__all__ = ["RevokedGrantError", "save_grant", "token_source"]

log = logging.getLogger(__name__)


class RevokedGrantError(OAuth2Error):
    """The provider no longer honours the stored grant: ``popview auth`` must run again."""

    title = "Authorization revoked"


def token_source(account: Account, store: TokenStore | None = None) -> TokenSource:
    """Access tokens for ``account`` (which must have ``auth = "oauth2"``)."""
    settings = account.oauth2
    assert settings is not None
    tokens = store or TokenStore(account.key)

    def get(fresh: bool) -> str:
        if fresh:
            tokens.forget_access_token()
        else:
            cached = tokens.access_token()
            if cached is not None and cached.usable:
                log.debug("account %s: cached access token", printable(account.name, 80))
                return cached.access_token
        return _refresh(account, settings, tokens)

    return get


def _refresh(account: Account, settings: OAuth2Settings, tokens: TokenStore) -> str:
    name = printable(account.name, 80)
    refresh_token = tokens.refresh_token()
    if refresh_token is None:
        raise OAuth2Error(
            f"Account {name!r} is not authorized yet: run `popview auth {name}` once.",
            title="OAuth2 authorization needed",
        )
    session = new_session(settings)
    try:
        answer = session.refresh_token(settings.token_url, refresh_token=refresh_token)
    except Exception as exc:
        if getattr(exc, "error", None) == "invalid_grant":
            tokens.forget()
            raise RevokedGrantError(
                f"The OAuth2 authorization of account {name!r} was revoked or has expired. "
                f"Run `popview auth {name}` to authorize popview again."
            ) from None
        raise oauth_failure(exc, "Refreshing the OAuth2 access token") from None
    log.debug("account %s: access token refreshed", name)
    return save_grant(tokens, dict(answer), keep=refresh_token)[1]


def save_grant(
    tokens: TokenStore, answer: dict[str, Any], keep: str | None = None
) -> tuple[str, str]:
    """Store a token response; return where the refresh token went, and the access token.

    A new refresh token replaces the old one (providers rotate them); a
    response without one keeps ``keep``.

    Raises:
        CredentialError: The response holds no access token, or no refresh
            token when there was none before.
    """
    access = answer.get("access_token")
    if not isinstance(access, str) or not access:
        raise OAuth2Error("The provider's token response held no access token.")
    refresh = answer.get("refresh_token")
    where = "unchanged"
    if isinstance(refresh, str) and refresh and refresh != keep:
        where = tokens.save_refresh_token(refresh)
    elif keep is None:
        raise OAuth2Error(
            "The provider gave no refresh token, so popview could not log in again later. "
            "Check the scopes (Microsoft needs offline_access)."
        )
    tokens.save_access_token(access, answer.get("expires_in"))
    return where, access
