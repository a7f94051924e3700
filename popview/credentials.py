"""Where the password comes from, in order, and how each source can fail.

1. the ``POPVIEW_PASSWORD`` environment variable;
2. the account's ``password`` (discouraged; :mod:`popview.config` refuses a
   file holding one that others can read);
3. the account's ``password_command``: run as an argv list with no shell,
   stdin closed, a timeout; the first line of its output is the password.
   Its failure is an error, not a fall-through: a configured source that
   fails must be fixed, not silently bypassed (HARDENING C.33);
4. the system keyring, when ``keyring = true`` and the optional ``keyring``
   package is installed; a missing, locked or failing backend falls through
   to the prompt, and popview never writes a password anywhere (C.34);
5. the interactive prompt the caller passes (``getpass`` for the CLI, a
   dialog for the TUI).

An account with ``auth = "oauth2"`` has no password: :func:`get_credential`
gives its :class:`~popview.oauth2.credential.OAuth2Credential` instead, whose
tokens come from ``oauth2_token_command`` (run like ``password_command``) or
from what ``popview auth`` stored (:mod:`popview.oauth2.tokens`).

The password is never logged and never put in an error message, and neither
is anything the password command wrote to stderr, which may contain it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from popview.config import Account
from popview.errors import CredentialError, printable
from popview.oauth2.credential import OAuth2Credential

__all__ = [
    "COMMAND_TIMEOUT",
    "KEYRING_SERVICE",
    "PASSWORD_ENV",
    "Credential",
    "get_credential",
    "get_password",
    "has_configured_source",
    "resolve_password",
    "run_password_command",
]

log = logging.getLogger(__name__)

PASSWORD_ENV = "POPVIEW_PASSWORD"  # noqa: S105 - the variable's name, not a password
"""Environment variable holding the password (for scripts and tests)."""

KEYRING_SERVICE = "popview"
"""Keyring service name; the keyring user name is the account key ``user@host:port``."""

COMMAND_TIMEOUT = 30.0
"""Seconds a password command may take (a GPG agent may ask for a passphrase)."""

Prompt = Callable[[str], str]
"""Asks the user; receives the prompt text, returns what was typed."""

Credential = str | OAuth2Credential
"""What a login needs: a password, or a user name and its OAuth2 tokens."""


def get_credential(
    account: Account,
    *,
    prompt: Prompt | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> Credential:
    """The password (:func:`get_password`), or for an OAuth2 account its credential.

    No token is fetched here: the session asks the credential for one when it
    logs in, so a token is never older than the login that uses it.
    """
    settings = account.oauth2
    if settings is None:
        return get_password(account, prompt=prompt, environ=environ, timeout=timeout)
    where = f"account {printable(account.name, 80)!r}"
    mechanism = "XOAUTH2"
    if settings.token_command is not None:
        command = settings.token_command

        def from_command(fresh: bool) -> str:
            # A token tool refreshes by itself; running it again is the refresh.
            log.debug("%s: access token from oauth2_token_command", where)
            return run_password_command(
                command, timeout=timeout, account=where, key="oauth2_token_command"
            )

        return OAuth2Credential(account.user, from_command, mechanism)
    from popview.config.oauth2 import PROVIDERS
    from popview.oauth2.tokens import token_source

    preset = PROVIDERS.get(settings.provider)
    if preset is not None:
        mechanism = preset.mechanism
    return OAuth2Credential(account.user, token_source(account), mechanism)


def get_password(
    account: Account,
    *,
    prompt: Prompt | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> str:
    """Return the password for ``account`` from the first source that has one.

    Args:
        account: The account to log in to.
        prompt: Asks the user interactively; ``None`` when nobody can answer
            (a script), in which case having no other source is an error.
        environ: The environment to read ``POPVIEW_PASSWORD`` from
            (``os.environ`` by default).
        timeout: Seconds allowed for ``password_command``.

    Returns:
        The password (never empty, never containing a line break).

    Raises:
        CredentialError: The password command failed, or no source gave a
            password. The message says what to fix and never contains the
            password or the command's stderr.
    """
    env = os.environ if environ is None else environ
    where = f"account {printable(account.name, 80)!r}"
    from_env = env.get(PASSWORD_ENV)
    if from_env:
        log.debug("%s: password from $%s", where, PASSWORD_ENV)
        return _checked(from_env, f"${PASSWORD_ENV}")
    if account.password is not None:
        log.debug("%s: password from the config file", where)
        return _checked(account.password, f"{where} password")
    if account.password_command is not None:
        log.debug("%s: password from password_command", where)
        return run_password_command(account.password_command, timeout=timeout, account=where)
    if account.keyring:
        found = _from_keyring(account)
        if found is not None:
            log.debug("%s: password from the keyring", where)
            return _checked(found, "the keyring")
    if prompt is None:
        raise CredentialError(
            f"No password for {where}: set {PASSWORD_ENV}, password_command or "
            "keyring = true in the config, or run popview interactively."
        )
    try:
        typed = prompt(f"Password for {account.user}@{account.host}: ")
    except EOFError as exc:
        raise CredentialError(f"No password entered for {where}.") from exc
    if not typed:
        raise CredentialError(f"No password entered for {where}.")
    return _checked(typed, "the password entered")


def has_configured_source(account: Account, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a source other than the prompt may give ``account``'s password."""
    env = os.environ if environ is None else environ
    return bool(
        env.get(PASSWORD_ENV)
        or account.password is not None
        or account.password_command is not None
        or account.keyring
    )


async def resolve_password(account: Account) -> str:
    """The password for every path into a session that has no one to prompt here:
    the sources of :func:`get_password` in its order (environment, config,
    ``password_command``, keyring), run in a thread so a slow password command
    never blocks the event loop. ``popview -a NAME`` and the login screen with a
    configured account both come here (issue 9, obs. 3).

    Raises:
        CredentialError: No source gave a password (the caller prompts then).
    """
    import asyncio

    return await asyncio.to_thread(get_password, account, prompt=None)


def run_password_command(
    argv: tuple[str, ...] | list[str],
    *,
    timeout: float = COMMAND_TIMEOUT,
    account: str = "this account",
    key: str = "password_command",
) -> str:
    """Run a password command and return the first line of its output.

    The command runs as ``argv`` (no shell), with stdin closed and in its own
    process group, so that on timeout it and anything it started are killed.

    Args:
        argv: Program and arguments.
        timeout: Seconds allowed.
        account: How to name the account in error messages.
        key: The config key that named the command (for error messages).

    Returns:
        The first line of standard output, without its line ending.

    Raises:
        CredentialError: The program is missing or not executable, exits
            non-zero, prints nothing, prints non-UTF-8, or times out.
    """
    program = str(Path(argv[0]).expanduser())
    name = f"{key} of {account} ({printable(program, 120)})"
    try:
        process = subprocess.Popen(  # noqa: S603 - argv from the user's own config, no shell
            [program, *argv[1:]],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise CredentialError(f"The {name} was not found. Fix the path in the config.") from exc
    except OSError as exc:
        raise CredentialError(
            f"The {name} could not be started ({exc.strerror or type(exc).__name__}). "
            "Check that it is executable."
        ) from exc
    try:
        stdout, _stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise CredentialError(
            f"The {name} did not finish within {timeout:g} s and was stopped. "
            "Run it yourself to see what it waits for."
        ) from None
    # _stderr is dropped unread: it may echo the secret (C.33).
    if process.returncode != 0:
        raise CredentialError(
            f"The {name} failed (exit status {process.returncode}). Its error output is "
            "not shown, as it may hold the password: run the command yourself to see it."
        )
    first = stdout.split(b"\n", 1)[0].removesuffix(b"\r")
    if not first:
        raise CredentialError(f"The {name} printed no password (its first output line is empty).")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialError(f"The {name} printed something that is not UTF-8 text.") from None
    return _checked(text, f"the {name}")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the command and everything it started, then reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        # The group is dead, so its pipes close; this only collects the exit.
        process.communicate(timeout=5)


def _from_keyring(account: Account) -> str | None:
    """Look the password up in the keyring; ``None`` if unavailable for any reason."""
    try:
        import keyring
    except ImportError:
        log.info("keyring = true but the keyring package is not installed; prompting")
        return None
    try:
        found = keyring.get_password(KEYRING_SERVICE, account.key)
    except Exception as exc:
        # Any backend failure means "ask the user".
        # Locked, no backend, D-Bus down... The exception text is the
        # backend's, never the secret; only its type is logged.
        log.info("keyring unavailable (%s); prompting", type(exc).__name__)
        return None
    if not isinstance(found, str) or not found:
        log.info("no password for %s in the keyring; prompting", account.key)
        return None
    return found


def _checked(password: str, source: str) -> str:
    """Refuse a password that would inject a command (HARDENING B.30)."""
    if any(c in password for c in "\r\n\x00"):
        raise CredentialError(
            f"The password from {source} contains a line break or NUL, which POP3 "
            "cannot send. Fix the source."
        )
    if not password.isascii() and any("\ud800" <= c <= "\udfff" for c in password):
        # Non-UTF-8 bytes in the environment arrive as lone surrogates; sending
        # them would fail later with an error whose repr holds the password.
        raise CredentialError(
            f"The password from {source} is not valid UTF-8 text. Fix the source."
        )
    return password
