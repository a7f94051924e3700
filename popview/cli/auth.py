"""``popview auth ACCOUNT [--device]``: authorize popview for an OAuth2 account, once.

The browser flow prints the authorization URL and opens it; the device flow
(``--device``, for a terminal without a browser) prints a URL and a code to
enter on any device. The refresh token then goes to the keyring, or to a 0600
file when there is none (:mod:`popview.oauth2.storage`); later logins refresh
the access token from it by themselves. No token is ever printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from popview.errors import ConfigError, printable

__all__ = ["run_auth"]


def run_auth(args: argparse.Namespace, config: Any, account: Any) -> int:
    """Run the chosen flow for ``account`` and store what it gave; return the exit status."""
    from popview.oauth2.flows import authorize_in_browser, authorize_on_device
    from popview.oauth2.storage import TokenStore
    from popview.oauth2.tokens import save_grant

    name = printable(account.name, 80)
    settings = account.oauth2
    if settings is None:
        raise ConfigError(
            f'Account {name!r} does not use OAuth2: set auth = "oauth2" and oauth2_provider '
            "in its table (see README, OAuth2)."
        )
    if settings.token_command is not None:
        raise ConfigError(
            f"Account {name!r} gets its tokens from oauth2_token_command; popview auth is "
            "only for popview's own authorization."
        )

    def say(text: str) -> None:
        print(text, flush=True)

    if getattr(args, "device", False):
        answer = authorize_on_device(settings, say=say)
    else:
        answer = authorize_in_browser(settings, say=say)
    where, _access = save_grant(TokenStore(account.key), answer)
    print(f"Authorized account {name!r}; the refresh token is kept in {where}.")
    sys.stdout.flush()
    return 0
