"""What a configuration is: frozen dataclasses for the tables of the file.

Built and checked by :mod:`popview.config.validate`; read with
:func:`popview.config.load_config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from platformdirs import user_downloads_path

from popview.errors import ConfigError, printable

__all__ = [
    "DEFAULT_PORTS",
    "RULE_ACTIONS",
    "TLS_MODES",
    "Account",
    "Config",
    "General",
    "OAuth2Settings",
    "Rule",
    "RuleAction",
    "TlsMode",
]

TlsMode = Literal["implicit", "starttls", "none"]
TLS_MODES: tuple[TlsMode, ...] = ("implicit", "starttls", "none")
"""The values ``tls`` may take."""
DEFAULT_PORTS: Mapping[str, int] = {"implicit": 995, "starttls": 110, "none": 110}
"""The standard port of each TLS mode (RFC 8314 §3.3, RFC 1939 §3)."""
RuleAction = Literal["mark", "keep"]
RULE_ACTIONS: tuple[RuleAction, ...] = ("mark", "keep")
"""The values a rule's ``action`` may take."""


@dataclass(frozen=True)
class OAuth2Settings:
    """The ``oauth2_*`` keys of an account with ``auth = "oauth2"``.

    A ``gmail`` or ``microsoft`` provider fills the endpoints and scopes from
    :data:`popview.config.oauth2.PROVIDERS`; ``custom`` names them all.
    """

    provider: str
    """``gmail``, ``microsoft`` or ``custom``."""
    client_id: str | None = None
    """The OAuth client id the user registered (needed by ``popview auth``)."""
    client_secret: str | None = field(default=None, repr=False)
    """The client secret, where the provider requires one (Google installed apps)."""
    authorize_url: str | None = None
    """Authorization endpoint (RFC 6749 §3.1)."""
    token_url: str | None = None
    """Token endpoint (RFC 6749 §3.2)."""
    device_url: str | None = None
    """Device authorization endpoint (RFC 8628 §3.1), for ``popview auth --device``."""
    scopes: tuple[str, ...] = ()
    """Scopes asked for."""
    token_command: tuple[str, ...] | None = None
    """Command whose first output line is an access token, run without a shell;
    when set, popview's own flows and token store are not used."""


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
    """SASL mechanism to insist on (``PLAIN``, ``SCRAM-SHA-256``...), or ``None`` for the best.
    ``auth = "oauth2"`` in the file sets :attr:`oauth2` instead and leaves this ``None``."""
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
    oauth2: OAuth2Settings | None = None
    """How to get OAuth2 access tokens when ``auth = "oauth2"``; ``None`` for a password."""

    @property
    def key(self) -> str:
        """The account key used by the store: ``"user@host:port"``."""
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class Rule:
    """One ``[[rules]]`` table: which messages to mark for deletion, or to keep."""

    name: str
    """Shown beside each message the rule marked, and in the commit dialog."""
    pattern: str
    """A pattern (see :mod:`popview.mail.pattern`), checked when the file is read."""
    action: RuleAction = "mark"
    """``mark`` for deletion, or ``keep``: a friends list no rule ever marks."""


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
    preview_lines: int = 20
    """Body lines the preview pane asks for (``TOP n k``, never ``RETR``)."""


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
    rules: tuple[Rule, ...] = ()
    """``[[rules]]`` in file order: patterns that mark messages, or keep them."""

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
