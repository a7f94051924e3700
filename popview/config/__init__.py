"""The configuration file: TOML into frozen dataclasses, every mistake named.

Where it is read from, first match wins: the ``--config`` argument, the
``POPVIEW_CONFIG`` environment variable, then ``config.toml`` in the platform
config directory (``~/.config/popview/`` on Linux). A missing default file
is an empty configuration (accounts can be given on the command line); a
missing file that was named explicitly is an error.

Every error names the file, the key and the fix, for example::

    /home/bob/.config/popview/config.toml: accounts.work.tls must be one of
    implicit, starttls, none (got 'yes')

A file that holds a password in clear must be private: one readable or
writable by group or others, or owned by another user, is refused, as
fetchmail and netrc do (HARDENING C.31). Any config must be ours (or root's)
and not writable by group or others, as ssh requires: its password_command
runs as us and its TLS settings decide whom we trust. See
``config.example.toml`` for every key.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from platformdirs import user_config_path

from popview.config.model import DEFAULT_PORTS, Account, Config, General, Rule, TlsMode
from popview.config.validate import Parser, check_owner_and_mode, check_private
from popview.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "Account",
    "Config",
    "General",
    "Rule",
    "TlsMode",
    "account_from_options",
    "config_path",
    "default_port",
    "load_config",
]

CONFIG_ENV = "POPVIEW_CONFIG"
"""Environment variable naming the configuration file."""


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the config file path: ``explicit``, else ``$POPVIEW_CONFIG``, else the default."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return user_config_path("popview", appauthor=False) / "config.toml"


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Read and check the configuration file.

    Args:
        explicit: The ``--config`` argument, if any.

    Returns:
        The configuration; an empty one when the default file does not exist.

    Raises:
        ConfigError: The file is unreadable, not TOML, has bad or unknown
            keys, or holds a password and is not private. The message names
            the file, the key and the fix.
    """
    named = explicit is not None or bool(os.environ.get(CONFIG_ENV))
    path = config_path(explicit)
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        if not named:
            return Config()
        raise ConfigError(f"{path}: no such file. Check the path given.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}. Fix the syntax there.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc}).") from exc
    config = Parser(path).parse(data)
    if any(a.password is not None for a in config.accounts.values()):
        check_private(path, info)
    else:
        check_owner_and_mode(path, info)
    return config


def default_port(tls: TlsMode) -> int:
    """Return the standard port for a TLS mode: 995 implicit, 110 otherwise (RFC 8314 §3.3)."""
    return DEFAULT_PORTS[tls]


def account_from_options(
    *,
    host: str,
    user: str,
    tls: str = "implicit",
    port: int | None = None,
    cafile: str | None = None,
    fingerprint: str | None = None,
    auth: str | None = None,
    apop: bool = False,
    timeout: float | None = None,
    name: str = "command line",
) -> Account:
    """Build an account from command-line options, checked like a config table.

    Errors name the options (``--tls must be one of ...``).

    Raises:
        ConfigError: A value is invalid.
    """
    table: dict[str, Any] = {"host": host, "user": user, "tls": tls, "apop": apop}
    optional = {"port": port, "cafile": cafile, "fingerprint": fingerprint, "auth": auth}
    table.update({k: v for k, v in optional.items() if v is not None})
    if timeout is not None:
        table["timeout"] = timeout
    parser = Parser(None, source="command line")
    account = parser.account(name, "--", table)
    parser.fail_if_problems()
    assert account is not None  # no problems means an account was built
    return account
