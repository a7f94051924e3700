"""What an OAuth2 account logs in with: the user name and a source of access tokens.

The session holds one :class:`OAuth2Credential` where a password account holds
its password. Each login asks it for a token (refreshed when it has expired);
a login the server refuses is retried once with :meth:`OAuth2Credential.token`
``(fresh=True)`` (HARDENING F.63).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["OAuth2Credential", "TokenSource"]

TokenSource = Callable[[bool], str]
"""Returns an access token; ``True`` asks for a fresh one (not the cached one).
It may block (HTTP), so the session calls it in a thread."""


@dataclass(frozen=True)
class OAuth2Credential:
    """A user name and where its bearer tokens come from (never the token itself).

    Attributes:
        user: The login name sent in the SASL exchange.
        source: Returns an access token (see :data:`TokenSource`).
        mechanism: The SASL mechanism the provider wants when the server does
            not advertise OAUTHBEARER (``"XOAUTH2"``).
        can_refresh: Whether asking for a fresh token can give a different one,
            i.e. whether retrying a refused login makes sense.
    """

    user: str
    source: TokenSource = field(repr=False, compare=False)
    mechanism: str = "XOAUTH2"
    can_refresh: bool = True

    def token(self, *, fresh: bool = False) -> str:
        """Return an access token (blocking); ``fresh`` skips the cached one.

        Raises:
            CredentialError: No token could be had; the message says what to do.
        """
        return self.source(fresh)

    def choose_mechanism(self, offered: set[str] | frozenset[str]) -> str:
        """The SASL mechanism to use: OAUTHBEARER (RFC 7628) when advertised,
        else XOAUTH2 when advertised, else the provider's. Never PLAIN: a token
        is not a password."""
        for name in ("OAUTHBEARER", "XOAUTH2"):
            if name in offered:
                return name
        return self.mechanism
