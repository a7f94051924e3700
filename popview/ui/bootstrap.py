"""Starting the terminal UI: the cache store, the password, the app, the demo.

:func:`run_tui` is what ``popview`` (the CLI's default command) runs;
:func:`build_app` makes the app for ``popview [-a NAME]`` without running it
(tests drive it with Pilot). :mod:`popview.ui.app` re-exports the three
functions, so this module imports the app class only inside them (no cycle).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from popview.errors import StoreError

if TYPE_CHECKING:
    from popview.config import Account, Config
    from popview.pop3.predial import DialAhead
    from popview.store import Store
    from popview.ui.app import PopviewApp

__all__ = ["build_app", "open_store", "run_tui"]


def run_tui(
    config: Config | None,
    *,
    account_name: str | None = None,
    demo: bool = False,
    trace: Callable[[str], None] | None = None,
    dialled: DialAhead | None = None,
) -> int:
    """Run the terminal UI; the CLI's default command.

    Args:
        config: The loaded configuration (may be ``None`` for the demo).
        account_name: Go straight to this account (``popview -a NAME``).
        demo: Start the embedded server with the sample mailbox and log in to it.
        trace: Called with each POP3 protocol line, secrets masked (``--trace``).
        dialled: A connection to the account's server opened ahead, for the
            first session (:mod:`popview.pop3.predial`).

    Returns:
        The process exit status.
    """
    _end_on_hangup()
    if demo:
        from popview.demo import start_demo
        from popview.ui.app import PopviewApp

        with start_demo() as server:
            app = PopviewApp(
                config,
                account=server.account,
                password=server.password,
                server_label=server.label,
                trace=trace,
            )
            return app.run() or 0
    store = open_store(config)
    try:
        app = build_app(
            config, account_name=account_name, store=store, trace=trace, dialled=dialled
        )
        return app.run() or 0
    finally:
        if store is not None:
            store.close()


def _end_on_hangup() -> None:
    """Closing the terminal (SIGHUP) ends popview, even if it started with the
    hangup ignored (``nohup``, a background job of some shells): a screen no one
    can see would keep the session open and the marks unsent forever. Ending by
    the default action sends no ``QUIT``; the marks are already journaled
    (docs/deletion-model.md) and come back on the next run."""
    import signal

    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def build_app(
    config: Config | None,
    *,
    account_name: str | None = None,
    store: Store | None = None,
    trace: Callable[[str], None] | None = None,
    dialled: DialAhead | None = None,
) -> PopviewApp:
    """The app for ``popview [-a NAME]``: straight to the account when one is named.

    The password comes from the first non-interactive source (``POPVIEW_PASSWORD``,
    the config, ``password_command``, the keyring); when none has it, the app
    asks for the password alone, not for the whole login form. ``trace`` gets
    each POP3 protocol line, secrets masked.

    Raises:
        ConfigError: ``account_name`` is not in the configuration.
    """
    from popview.ui.app import PopviewApp

    account = None
    password = None
    problem = None
    if account_name is not None and config is not None:
        account = config.account(account_name)
        password, problem = _password_without_prompt(account)
    app = PopviewApp(
        config, account=account, password=password, store=store, trace=trace, dialled=dialled
    )
    app.password_problem = problem
    return app


def open_store(config: Config | None) -> Store | None:
    """Open the cache in ``general.cache_dir`` (or the default), or ``None`` if it cannot be.

    ``POPVIEW_CACHE_DIR`` overrides the default directory (tests use it). A
    store that cannot be opened is not fatal: popview runs without a cache and
    says so on stderr before the screen takes over.
    """
    import sys

    from popview.store import Store
    from popview.store.cache import MAX_BODY_BYTES

    directory = config.general.cache_dir if config is not None else None
    cache_bodies = config.general.cache_bodies if config is not None else True
    try:
        return Store.open(directory, max_body_bytes=MAX_BODY_BYTES if cache_bodies else 0)
    except StoreError as error:
        print(f"popview: warning: {error.message} (going on without the cache)", file=sys.stderr)
        return None


def _password_without_prompt(account: Account) -> tuple[str | None, str | None]:
    """The password from a non-interactive source, else ``None`` and why.

    A configured source that failed (``password_command`` exiting non-zero) is
    reported, not silently replaced by the prompt (HARDENING C.33): the prompt
    shows what went wrong, and the user may still type the password.
    """
    from popview import credentials
    from popview.errors import CredentialError

    if account.oauth2 is not None:
        return "", None  # no password: the login uses its OAuth2 credential
    try:
        return credentials.get_password(account, prompt=None), None
    except CredentialError as error:
        configured = account.password_command is not None
        return None, (error.message if configured else None)
