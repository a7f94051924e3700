"""OAuth2 for POP3 logins (XOAUTH2, OAUTHBEARER): tokens, their storage, and the flows.

* :mod:`~popview.oauth2.credential` - :class:`OAuth2Credential`, what the
  session logs in with instead of a password;
* :mod:`~popview.oauth2.storage` - the refresh token (keyring, else a private
  file) and the cached access token;
* :mod:`~popview.oauth2.flows` - ``popview auth``: the authorization-code flow
  with PKCE on a loopback redirect (RFC 6749 §4.1, RFC 7636, RFC 8252 §7.3) and
  the device flow (RFC 8628);
* :mod:`~popview.oauth2.tokens` - an access token when one is needed, refreshed
  when it expires (RFC 6749 §6).

The HTTP side is Authlib's (the optional ``popview[oauth2]`` extra), imported
only when a token must be fetched, so ``popview list`` with a password account
never loads it. No token ever reaches a log, a trace or an error message.
"""
