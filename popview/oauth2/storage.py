"""Where OAuth2 tokens are kept between runs.

* The refresh token (the long-lived grant) goes to the system keyring when the
  ``keyring`` package and a working backend are there, else to a file created
  0600 in a directory created 0700 (HARDENING C.34, F.63).
* The access token and its expiry are cached in a 0600 file beside it, so a
  short ``popview list`` does not ask the provider for a new one every time.

Files are written to a temporary name created 0600 and renamed over the old
one, so a crash never leaves a half-written token, nor a moment when another
user could read one. Nothing here logs a token.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from popview.errors import CredentialError

__all__ = ["KEYRING_SERVICE", "CachedToken", "TokenStore", "default_directory"]

log = logging.getLogger(__name__)

KEYRING_SERVICE = "popview-oauth2"
"""Keyring service for refresh tokens; the keyring user name is the account key."""

EXPIRY_MARGIN = 60.0
"""Seconds before its stated expiry that an access token counts as expired
(clock skew, and the time the login itself takes)."""


def default_directory() -> Path:
    """``popview/oauth2`` in the platform data directory (``~/.local/share`` on Linux)."""
    from platformdirs import user_data_path

    return user_data_path("popview", appauthor=False) / "oauth2"


@dataclass(frozen=True)
class CachedToken:
    """An access token and when it stops working (``time.time()`` seconds)."""

    access_token: str
    expires_at: float | None

    def __repr__(self) -> str:
        return f"CachedToken(access_token='***', expires_at={self.expires_at!r})"

    @property
    def usable(self) -> bool:
        """Whether it is still valid for at least :data:`EXPIRY_MARGIN` seconds."""
        return self.expires_at is None or self.expires_at - EXPIRY_MARGIN > time.time()


class TokenStore:
    """The tokens of one account.

    Args:
        account_key: ``user@host:port``, as the cache and the keyring name accounts.
        directory: Where the files go (default :func:`default_directory`).
        use_keyring: Try the system keyring for the refresh token first.
    """

    def __init__(
        self, account_key: str, directory: Path | None = None, *, use_keyring: bool = True
    ) -> None:
        self.account_key = account_key
        self.directory = directory or default_directory()
        self.use_keyring = use_keyring
        stem = hashlib.sha256(account_key.encode("utf-8")).hexdigest()[:32]
        self._refresh_file = self.directory / f"{stem}.refresh.json"
        self._access_file = self.directory / f"{stem}.access.json"

    # -- refresh token ---------------------------------------------------------

    def refresh_token(self) -> str | None:
        """The stored refresh token, or ``None`` when the account was never authorized."""
        if self.use_keyring:
            found = _keyring_call("get_password", KEYRING_SERVICE, self.account_key)
            if isinstance(found, str) and found:
                return found
        data = self._read(self._refresh_file)
        value = data.get("refresh_token") if data else None
        return value if isinstance(value, str) and value else None

    def save_refresh_token(self, token: str) -> str:
        """Store the refresh token; return where ("the keyring" or the file's path)."""
        if self.use_keyring and _keyring_call(
            "set_password", KEYRING_SERVICE, self.account_key, token, ok=True
        ):
            with contextlib.suppress(FileNotFoundError):
                self._refresh_file.unlink()  # one copy only: the keyring's
            return "the keyring"
        self._write(self._refresh_file, {"account": self.account_key, "refresh_token": token})
        return str(self._refresh_file)

    # -- access token ----------------------------------------------------------

    def access_token(self) -> CachedToken | None:
        """The cached access token, usable or not, or ``None``."""
        data = self._read(self._access_file)
        if not data or not isinstance(data.get("access_token"), str):
            return None
        expires = data.get("expires_at")
        return CachedToken(
            data["access_token"], float(expires) if isinstance(expires, int | float) else None
        )

    def save_access_token(self, token: str, expires_in: Any) -> CachedToken:
        """Cache an access token that lives ``expires_in`` seconds (RFC 6749 §5.1)."""
        expires_at = None
        if isinstance(expires_in, int | float | str):
            with contextlib.suppress(ValueError):
                expires_at = time.time() + float(expires_in)
        cached = CachedToken(token, expires_at)
        self._write(
            self._access_file,
            {"account": self.account_key, "access_token": token, "expires_at": expires_at},
        )
        return cached

    def forget(self) -> None:
        """Remove every token of this account (a revoked grant is useless)."""
        if self.use_keyring:
            _keyring_call("delete_password", KEYRING_SERVICE, self.account_key)
        for path in (self._refresh_file, self._access_file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def forget_access_token(self) -> None:
        """Drop the cached access token (the server refused it)."""
        with contextlib.suppress(FileNotFoundError):
            self._access_file.unlink()

    # -- files -------------------------------------------------------------------

    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            # The text of a JSON error may quote the file, i.e. a token.
            log.info("ignoring unreadable token file %s (%s)", path, type(exc).__name__)
            return None
        return data if isinstance(data, dict) else None

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        try:
            _private_dir(self.directory)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(temporary, flags, 0o600)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(data, handle)
                os.replace(temporary, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    temporary.unlink()
                raise
        except OSError as exc:
            raise CredentialError(
                f"Cannot store the OAuth2 token in {path.parent} "
                f"({exc.strerror or type(exc).__name__})."
            ) from None


def _private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) 0700; refuse one others can read."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = directory.stat().st_mode & 0o777
    if mode & 0o077:
        os.chmod(directory, 0o700)


def _keyring_call(name: str, *args: str, ok: bool = False) -> Any:
    """Call ``keyring.<name>``; ``None`` (or ``False`` with ``ok``) when it is unavailable."""
    try:
        import keyring
    except ImportError:
        return False if ok else None
    try:
        result = getattr(keyring, name)(*args)
    except Exception as exc:
        # Locked, no backend, D-Bus down: fall back to the file. Only the type is
        # logged; the backend's message could quote what it was given.
        log.info("keyring %s unavailable (%s)", name, type(exc).__name__)
        return False if ok else None
    return True if ok else result
