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
fetchmail and netrc do (HARDENING C.31). See ``config.example.toml`` for
every key.
"""

from __future__ import annotations

import difflib
import os
import shlex
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from platformdirs import user_config_path, user_downloads_path

from popview.errors import ConfigError, printable
from popview.pop3.tls import normalize_fingerprint

__all__ = [
    "CONFIG_ENV",
    "Account",
    "Config",
    "General",
    "TlsMode",
    "account_from_options",
    "config_path",
    "default_port",
    "load_config",
]

CONFIG_ENV = "POPVIEW_CONFIG"
"""Environment variable naming the configuration file."""

TlsMode = Literal["implicit", "starttls", "none"]
_TLS_MODES: tuple[TlsMode, ...] = ("implicit", "starttls", "none")
_DEFAULT_PORTS: Mapping[str, int] = {"implicit": 995, "starttls": 110, "none": 110}
_CONTROL = frozenset(chr(c) for c in (*range(0x20), 0x7F))


@dataclass(frozen=True)
class Account:
    """One ``[accounts.NAME]`` table: a POP3 mailbox and how to log in to it."""

    name: str
    """The table name, used with ``-a NAME``."""
    host: str
    """Server host name (checked against its certificate)."""
    user: str
    """Login name."""
    port: int = 995
    """TCP port: 995 for implicit TLS, 110 for STARTTLS or plain."""
    tls: TlsMode = "implicit"
    """``implicit`` (TLS from the first byte), ``starttls`` (STLS) or ``none`` (plaintext)."""
    auth: str | None = None
    """SASL mechanism to insist on (``PLAIN``, ``SCRAM-SHA-256``...), or ``None`` for the best."""
    apop: bool = False
    """Use APOP when the greeting offers it (never instead of TLS)."""
    cafile: Path | None = None
    """PEM file of CA certificates to trust instead of the system's."""
    fingerprint: str | None = None
    """Pinned SHA-256 certificate fingerprint, 64 lower-case hex digits."""
    password: str | None = field(default=None, repr=False)
    """Password in clear (discouraged; the file must then be private)."""
    password_command: tuple[str, ...] | None = None
    """Command whose first output line is the password, run without a shell."""
    keyring: bool = False
    """Look the password up in the system keyring (needs the ``keyring`` extra)."""
    timeout: float = 30.0
    """Seconds allowed for connecting and for each command."""

    @property
    def key(self) -> str:
        """The account key used by the store: ``"user@host:port"``."""
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class General:
    """The ``[general]`` table."""

    default_account: str | None = None
    """Account used when none is named; the only account if there is just one."""
    prefer_html: bool = False
    """Show the HTML part of a message (as text) rather than its plain-text part."""
    save_dir: Path = field(default_factory=user_downloads_path)
    """Where attachments are saved."""
    cache_dir: Path | None = None
    """Where the cache lives; ``None`` for the platform cache directory."""
    cache_bodies: bool = True
    """Keep fetched messages in the cache (``false`` keeps only headers)."""
    keepalive: float = 45.0
    """Seconds of idleness before a NOOP keeps the session alive (0 turns it off)."""


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    path: Path | None = None
    """The file it was read from, or ``None`` when there was none."""
    general: General = field(default_factory=General)
    """The ``[general]`` table."""
    accounts: Mapping[str, Account] = field(default_factory=lambda: MappingProxyType({}))
    """The ``[accounts.NAME]`` tables by name, in file order."""
    keymap: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """``[keymap]``: binding id → keys (for example ``"mark_deleted" = "d,delete"``)."""

    def account(self, name: str | None = None) -> Account:
        """Return the account called ``name``, else the default one.

        Raises:
            ConfigError: No such account, or none was named and there is no default.
        """
        where = str(self.path) if self.path else "the configuration"
        chosen = name or self.general.default_account
        if chosen is None:
            if len(self.accounts) == 1:
                return next(iter(self.accounts.values()))
            if not self.accounts:
                raise ConfigError(
                    f"{where} has no [accounts.NAME] table. Add one (see "
                    "config.example.toml) or give --host, --user and --tls."
                )
            raise ConfigError(
                f"{where}: several accounts and no general.default_account. Choose one "
                f"with -a NAME ({', '.join(sorted(self.accounts))}) or set default_account."
            )
        if chosen not in self.accounts:
            known = ", ".join(sorted(self.accounts)) or "none"
            raise ConfigError(
                f"{where}: no account named {printable(chosen, 80)!r} (known: {known})."
            )
        return self.accounts[chosen]


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
    config = _Parser(path).parse(data)
    if any(a.password is not None for a in config.accounts.values()):
        _check_private(path, info)
    return config


def default_port(tls: TlsMode) -> int:
    """Return the standard port for a TLS mode: 995 implicit, 110 otherwise (RFC 8314 §3.3)."""
    return _DEFAULT_PORTS[tls]


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
    parser = _Parser(None, source="command line")
    account = parser._account(name, "--", table)
    parser.fail_if_problems()
    assert account is not None  # no problems means an account was built
    return account


def _check_private(path: Path, info: os.stat_result) -> None:
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


class _Parser:
    """Checks the TOML data table by table, collecting every problem."""

    def __init__(self, path: Path | None, source: str | None = None) -> None:
        self.path = path
        self.source = source or str(path)
        # Relative paths are relative to the config file, not to wherever
        # popview was started; on the command line, to the working directory.
        self.base = path.parent if path is not None else Path.cwd()
        self.problems: list[str] = []

    def fail_if_problems(self) -> None:
        if self.problems:
            raise ConfigError("\n".join(f"{self.source}: {p}" for p in self.problems))

    def parse(self, data: Mapping[str, Any]) -> Config:
        self._unknown("", data, ("general", "accounts", "keymap"))
        general = self._general(self._table("general", data.get("general", {})))
        accounts_table = self._table("accounts", data.get("accounts", {}))
        accounts = {}
        for name, table in accounts_table.items():
            prefix = f"accounts.{_key(name)}"
            if not isinstance(table, dict):
                self.problems.append(f"{prefix} must be a table ([{prefix}])")
                continue
            account = self._account(name, f"{prefix}.", table)
            if account is not None:
                accounts[name] = account
        if general.default_account is not None and general.default_account not in accounts:
            known = ", ".join(sorted(accounts_table)) or "none defined"
            self.problems.append(
                f"general.default_account names no account "
                f"(got {printable(general.default_account, 80)!r}; accounts: {known})"
            )
        keymap = self._keymap(self._table("keymap", data.get("keymap", {})))
        self.fail_if_problems()
        return Config(self.path, general, MappingProxyType(accounts), MappingProxyType(keymap))

    def _general(self, table: Mapping[str, Any]) -> General:
        fields = ("default_account", "prefer_html", "save_dir", "cache_dir")
        self._unknown("general", table, (*fields, "cache_bodies", "keepalive"))
        defaults = General()
        save_dir = self._path("general.save_dir", table.get("save_dir"), must_exist=False)
        return General(
            default_account=self._text("general.default_account", table.get("default_account")),
            prefer_html=self._bool("general.prefer_html", table.get("prefer_html"), False),
            save_dir=save_dir or defaults.save_dir,
            cache_dir=self._path("general.cache_dir", table.get("cache_dir"), must_exist=False),
            cache_bodies=self._bool("general.cache_bodies", table.get("cache_bodies"), True),
            keepalive=self._number("general.keepalive", table.get("keepalive"), 45.0, 0, 3600),
        )

    def _account(self, name: str, prefix: str, table: Mapping[str, Any]) -> Account | None:
        """Check one account table; ``prefix`` names its keys ("accounts.work." or "--")."""
        self._unknown(prefix.rstrip("."), table, _ACCOUNT_KEYS)
        before = len(self.problems)
        host = self._text(f"{prefix}host", table.get("host"), required=True)
        user = self._text(f"{prefix}user", table.get("user"), required=True)
        tls = table.get("tls", "implicit")
        if tls not in _TLS_MODES:
            self.problems.append(
                f"{prefix}tls must be one of {', '.join(_TLS_MODES)} (got {_shown(tls)})"
            )
            tls = "implicit"
        port = self._port(f"{prefix}port", table.get("port"), _DEFAULT_PORTS[tls])
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
            auth=self._mechanism(f"{prefix}auth", table.get("auth")),
            apop=self._bool(f"{prefix}apop", table.get("apop"), False),
            cafile=self._path(f"{prefix}cafile", table.get("cafile"), must_exist=True),
            fingerprint=self._fingerprint(f"{prefix}fingerprint", table.get("fingerprint")),
            password=password,
            password_command=command,
            keyring=self._bool(f"{prefix}keyring", table.get("keyring"), False),
            timeout=self._number(f"{prefix}timeout", table.get("timeout"), 30.0, 1, 3600),
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
