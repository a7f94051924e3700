"""Logging in with an OAuth2 credential: the token goes to XOAUTH2 or OAUTHBEARER, never PLAIN.

A refused login is retried once, on the same connection (RFC 5034 §4: a failed
AUTH leaves the session in the AUTHORIZATION state), with a freshly refreshed
token: the cached one may have expired or been revoked early. A second refusal,
or a refresh the provider refuses, ends it; there is no retry loop (HARDENING F.63).
"""

from __future__ import annotations

import asyncio
import logging

from popview.errors import AuthError
from popview.oauth2.credential import OAuth2Credential
from popview.pop3.client import Pop3Client

__all__ = ["OAuth2Credential", "log_in_oauth2"]

log = logging.getLogger(__name__)


async def log_in_oauth2(client: Pop3Client, credential: OAuth2Credential) -> None:
    """Authenticate ``client`` with a bearer token from ``credential``.

    Raises:
        AuthError: The server offers no OAuth2 mechanism, or refused the token
            twice (the second time right after a refresh).
        CredentialError: No token could be had (not authorized, revoked grant).
    """
    offered = {name.upper() for name in client.capabilities.sasl}
    mechanism = credential.choose_mechanism(frozenset(offered))
    if mechanism not in offered:
        raise AuthError(
            f"The server does not offer {mechanism} or OAUTHBEARER, so it cannot take an "
            "OAuth2 token. Check the host, or use a password account.",
            title="Login method unavailable",
        )
    # The token source may do HTTP: keep it off the event loop.
    token = await asyncio.to_thread(credential.token)
    try:
        await client.login(credential.user, "", mechanism=mechanism, oauth_token=token, capa=False)
        return
    except AuthError:
        if not credential.can_refresh or client.closed:
            raise
    log.info("OAuth2 token refused; refreshing it and retrying the login once")
    fresh = await asyncio.to_thread(credential.token, fresh=True)
    try:
        await client.login(credential.user, "", mechanism=mechanism, oauth_token=fresh, capa=False)
    except AuthError as exc:
        raise AuthError(
            "The server refused the OAuth2 access token, also right after refreshing it. "
            "Check the user name and that POP access is enabled for the account."
            + (f" The server said: {exc.reply_text!r}" if exc.reply_text else ""),
            reply_text=exc.reply_text,
            code=exc.code,
        ) from None
