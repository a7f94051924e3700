"""Checking a configuration: TOML tables into :mod:`popview.config.model` values.

:class:`Parser` walks the tables and collects *every* problem before raising
one :class:`~popview.errors.ConfigError`, so a user fixes a file in one go.
Each problem names the key and the fix. A bad value is shown through
:func:`popview.errors.printable`; a password never is, not even a mistyped one.
:func:`check_owner_and_mode` refuses a file others could change and
:func:`check_private` one holding a password that others may read (HARDENING C.31).
"""

from __future__ import annotations

import difflib
import os
import shlex
import stat
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from popview.config.model import DEFAULT_PORTS, TLS_MODES, Account, Config, General, TlsMode
from popview.config.oauth2 import PROVIDERS
from popview.config.rules import parse_rules
from popview.config.validate_oauth2 import OAUTH2_KEYS, oauth2_settings
from popview.errors import ConfigError, printable

__all__ = ["Parser", "check_owner_and_mode", "check_private"]

_CONTROL = frozenset(chr(c) for c in (*range(0x20), 0x7F))


def check_owner_and_mode(path: Path, info: os.stat_result) -> None:
    """Refuse a config file that another user could have changed, whatever it holds.

    Its ``password_command`` runs as us, its ``cafile``/``fingerprint`` decide
    whom we trust and its ``tls`` whether the password travels in clear, so,
    like ssh with "Bad owner or permissions", a file owned by another user
    (root aside) or writable by group or others is not used.
    """
    if info.st_uid not in (os.geteuid(), 0):
        raise ConfigError(
            f"{path} belongs to another user (uid {info.st_uid}), who could make popview "
            "run their program or trust their server. Make it yours (chown) or use your own."
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        raise ConfigError(
            f"{path} can be changed by group or others (mode {mode:04o}), who could make "
            f"popview run their program or trust their server. Run: chmod go-w "
            f"{shlex.quote(str(path))}"
        )


def check_private(path: Path, info: os.stat_result) -> None:
    """Refuse a file holding a password that others may read or change (HARDENING C.31)."""
    if info.st_uid != os.geteuid():
        raise ConfigError(
            f"{path} holds a password but belongs to another user (uid {info.st_uid}), "
            "so it may have been changed by them. Make it yours (chown) or use "
            "password_command or keyring instead of password."
        )
    loose = stat.S_IMODE(info.st_mode) & 0o077
    if loose:
        raise ConfigError(
            f"{path} holds a password in clear but is accessible by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}). Run: chmod 600 {shlex.quote(str(path))}"
            " — or use password_command or keyring instead of password."
        )


class Parser:
    """Checks the TOML data table by table, collecting every problem."""

    def __init__(self, path: Path | None, source: str | None = None) -> None:
        self.path = path
        self.source = source or str(path)
        # Relative paths are relative to the config file, not to wherever
        # popview was started; on the command line, to the working directory.
        self.base = path.parent if path is not None else Path.cwd()
        self.problems: list[str] = []

    def fail_if_problems(self) -> None:
        """Raise one :class:`ConfigError` listing every problem found so far."""
        if self.problems:
            raise ConfigError("\n".join(f"{self.source}: {p}" for p in self.problems))

    def parse(self, data: Mapping[str, Any]) -> Config:
        """Check a whole TOML document and build the :class:`Config`.

        Raises:
            ConfigError: One or more problems, each on its own line.
        """
        self._unknown("", data, ("general", "accounts", "keymap", "rules"))
        general = self._general(self._table("general", data.get("general", {})))
        accounts_table = self._table("accounts", data.get("accounts", {}))
        accounts = {}
        for name, table in accounts_table.items():
            prefix = f"accounts.{_key(name)}"
            if not isinstance(table, dict):
                self.problems.append(f"{prefix} must be a table ([{prefix}])")
                continue
            account = self.account(name, f"{prefix}.", table)
            if account is not None:
                accounts[name] = account
        if general.default_account is not None and general.default_account not in accounts:
            known = ", ".join(sorted(accounts_table)) or "none defined"
            self.problems.append(
                f"general.default_account names no account "
                f"(got {printable(general.default_account, 80)!r}; accounts: {known})"
            )
        keymap = self._keymap(self._table("keymap", data.get("keymap", {})))
        rules = parse_rules(data.get("rules"), self.problems, _shown)
        self.fail_if_problems()
        return Config(
            self.path, general, MappingProxyType(accounts), MappingProxyType(keymap), rules
        )

    def _general(self, table: Mapping[str, Any]) -> General:
        fields = ("default_account", "prefer_html", "save_dir", "cache_dir")
        self._unknown("general", table, (*fields, "cache_bodies", "keepalive", "preview_lines"))
        defaults = General()
        save_dir = self._path("general.save_dir", table.get("save_dir"), must_exist=False)
        return General(
            default_account=self._text("general.default_account", table.get("default_account")),
            prefer_html=self._bool("general.prefer_html", table.get("prefer_html"), False),
            save_dir=save_dir or defaults.save_dir,
            cache_dir=self._path("general.cache_dir", table.get("cache_dir"), must_exist=False),
            cache_bodies=self._bool("general.cache_bodies", table.get("cache_bodies"), True),
            keepalive=self._number("general.keepalive", table.get("keepalive"), 45.0, 0, 3600),
            preview_lines=self._count("general.preview_lines", table.get("preview_lines"), 20, 200),
        )

    def account(self, name: str, prefix: str, table: Mapping[str, Any]) -> Account | None:
        """Check one account table; ``prefix`` names its keys ("accounts.work." or "--")."""
        self._unknown(prefix.rstrip("."), table, _ACCOUNT_KEYS)
        before = len(self.problems)
        oauth2 = oauth2_settings(self, prefix, table)
        preset = PROVIDERS.get(oauth2.provider) if oauth2 is not None else None
        if preset is not None and table.get("host") is None:
            table = {**table, "host": preset.host, "port": table.get("port", preset.port)}
        host = self._text(f"{prefix}host", table.get("host"), required=True)
        user = self._text(f"{prefix}user", table.get("user"), required=True)
        tls = table.get("tls", "implicit")
        if tls not in TLS_MODES:
            self.problems.append(
                f"{prefix}tls must be one of {', '.join(TLS_MODES)} (got {_shown(tls)})"
            )
            tls = "implicit"
        port = self._port(f"{prefix}port", table.get("port"), DEFAULT_PORTS[tls])
        password = table.get("password")
        if password is not None and (not isinstance(password, str) or not password):
            # Never echo the value: it may be a mistyped real password.
            self.problems.append(f"{prefix}password must be a non-empty string")
            password = None
        elif password is not None and any(c in _CONTROL for c in password):
            self.problems.append(
                f"{prefix}password contains a control character (a line break?); remove it"
            )
            password = None
        command = self._command(f"{prefix}password_command", table.get("password_command"))
        if password is not None and command is not None:
            self.problems.append(
                f"{prefix.rstrip('.')}: set password or password_command, not both "
                "(password_command is safer; remove password)"
            )
        account = Account(
            name=name,
            host=host or "",
            user=user or "",
            port=port,
            tls=cast(TlsMode, tls),
            auth=None
            if oauth2 is not None
            else self._mechanism(f"{prefix}auth", table.get("auth")),
            apop=self._bool(f"{prefix}apop", table.get("apop"), False),
            cafile=self._path(f"{prefix}cafile", table.get("cafile"), must_exist=True),
            fingerprint=self._fingerprint(f"{prefix}fingerprint", table.get("fingerprint")),
            password=password,
            password_command=command,
            keyring=self._bool(f"{prefix}keyring", table.get("keyring"), False),
            timeout=self._number(f"{prefix}timeout", table.get("timeout"), 30.0, 1, 3600),
            oauth2=oauth2,
        )
        return account if len(self.problems) == before else None

    def _keymap(self, table: Mapping[str, Any]) -> dict[str, str]:
        keymap: dict[str, str] = {}
        for binding, keys in table.items():
            name = f"keymap.{_key(binding)}"
            if not isinstance(keys, str) or not keys.strip() or _has_control(keys):
                self.problems.append(
                    f'{name} must be a string of key names, for example "d,delete" '
                    f"(got {_shown(keys)})"
                )
                continue
            keymap[binding] = keys
        return keymap

    # -- value checks ------------------------------------------------------------

    def _table(self, name: str, value: Any) -> Mapping[str, Any]:
        if isinstance(value, dict):
            return value
        self.problems.append(f"{name} must be a table ([{name}]), got {_shown(value)}")
        return {}

    def _unknown(self, prefix: str, table: Mapping[str, Any], known: tuple[str, ...]) -> None:
        for key in table:
            if key in known:
                continue
            name = f"{prefix}.{_key(key)}" if prefix else _key(key)
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
            self.problems.append(f"{name} is not a known key ({hint})")

    def _text(self, name: str, value: Any, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                self.problems.append(f'{name} is required; add {name.rsplit(".", 1)[1]} = "…"')
            return None
        if not isinstance(value, str) or not value.strip() or _has_control(value):
            self.problems.append(
                f"{name} must be a non-empty string without control characters "
                f"(got {_shown(value)})"
            )
            return None
        return value

    def _bool(self, name: str, value: Any, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problems.append(f"{name} must be true or false (got {_shown(value)})")
            return default
        return value

    def _number(self, name: str, value: Any, default: float, low: float, high: float) -> float:
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (low <= value <= high)
        ):
            self.problems.append(
                f"{name} must be a number of seconds from {low:g} to {high:g} (got {_shown(value)})"
            )
            return default
        return float(value)

    def _count(self, name: str, value: Any, default: int, high: int) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            self.problems.append(f"{name} must be a whole number 1-{high} (got {_shown(value)})")
            return default
        return value

    def _port(self, name: str, value: Any, default: int) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            self.problems.append(f"{name} must be a port number 1-65535 (got {_shown(value)})")
            return default
        return value

    def _path(self, name: str, value: Any, *, must_exist: bool) -> Path | None:
        text = self._text(name, value)
        if text is None:
            return None
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = self.base / path
        if must_exist and not path.is_file():
            self.problems.append(f"{name}: no such file {str(path)!r}; fix the path")
        return path

    def _mechanism(self, name: str, value: Any) -> str | None:
        text = self._text(name, value)
        if text is None:
            return None
        mechanism = text.upper()
        # RFC 4422 §3.1: 1-20 characters from A-Z, 0-9, "-" and "_".
        if not (
            len(mechanism) <= 20
            and all(c.isascii() and (c.isalnum() or c in "-_") for c in mechanism)
        ):
            self.problems.append(
                f"{name} must be a SASL mechanism name such as PLAIN or SCRAM-SHA-256 "
                f"(got {_shown(value)})"
            )
            return None
        return mechanism

    def _fingerprint(self, name: str, value: Any) -> str | None:
        text = self._text(name, value)
        if text is None:
            return None
        from popview.pop3.tls import normalize_fingerprint  # ssl, only for a pinned account

        try:
            return normalize_fingerprint(text)
        except ValueError:
            self.problems.append(
                f"{name} must be a SHA-256 fingerprint, 64 hex digits with or without "
                f"colons (got {_shown(value)}); `popview info` shows the server's"
            )
            return None

    def _command(self, name: str, value: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                argv = shlex.split(value)
            except ValueError as exc:
                self.problems.append(f"{name} cannot be split into words ({exc}); fix quoting")
                return None
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            argv = list(value)
        else:
            self.problems.append(
                f'{name} must be a list of strings such as ["pass", "show", "mail"] or a '
                f"string (got {_shown(value)})"
            )
            return None
        if not argv or not argv[0]:
            self.problems.append(f"{name} is empty; name the program to run")
            return None
        if any("\x00" in arg for arg in argv):
            self.problems.append(f"{name} contains a NUL character")
            return None
        return tuple(argv)


_ACCOUNT_KEYS = (
    "host",
    "port",
    "tls",
    "user",
    "auth",
    "apop",
    "cafile",
    "fingerprint",
    "password",
    "password_command",
    "keyring",
    "timeout",
    *OAUTH2_KEYS,
)


def _has_control(text: str) -> bool:
    return any(c in _CONTROL for c in text)


def _key(name: str) -> str:
    """A TOML key as the user would write it (quoted when it needs to be)."""
    if name and all(c.isascii() and (c.isalnum() or c in "-_") for c in name):
        return name
    return '"' + printable(name, 80).replace('"', '\\"') + '"'


def _shown(value: Any) -> str:
    """A short, printable rendering of a bad value for an error message."""
    if isinstance(value, str):
        return repr(printable(value, 80))
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return printable(repr(value), 80)
