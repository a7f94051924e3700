"""The login screen: pick an account or type a server, then connect.

Progress and errors show inline, in the words :mod:`popview.errors` chose
(wrong password, certificate not trusted with its fingerprint, server busy,
login delay, timeout, refused). An untrusted certificate can be trusted for
this account by its SHA-256 fingerprint, after the user has read it.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Select, Static

from popview.credentials import has_configured_source, resolve_password
from popview.session import PasswordSource
from popview.ui.screens.dialogs import ConfirmScreen, PasswordScreen

if TYPE_CHECKING:
    from popview.config import Account, TlsMode
    from popview.ui.app import PopviewApp
    from popview.ui.messages import LoginFailed

__all__ = ["TLS_CHOICES", "LoginScreen"]

#: The TLS modes, with "none" spelled out as unencrypted.
TLS_CHOICES: list[tuple[str, str]] = [
    ("Implicit TLS (POP3S, usually port 995)", "implicit"),
    ("STARTTLS (STLS, usually port 110)", "starttls"),
    ("None: UNENCRYPTED, password sent in clear", "none"),
]
_DEFAULT_PORT = {"implicit": 995, "starttls": 110, "none": 110}


def _field(classes: str, label: str, field: Input) -> Vertical:
    """One labelled field of the form: the label above its input."""
    return Vertical(Label(label), field, classes=classes)


class LoginScreen(Screen[None]):
    """Account picker and connection form.

    Args:
        accounts: Accounts from the configuration (may be empty).
        preselect: The account to show first.
        password: When given with ``preselect``, connect at once (the demo,
            ``popview -a NAME`` with a stored password).
        ask_password: ``popview -a NAME`` without a password from any source:
            ask for the password alone, not for the whole form.
        password_note: Why the password is asked (a failed ``password_command``).
    """

    # on_mount focuses the field to type in first (host, or the password when the
    # account is known); Textual's default would focus the form's scroll container
    # first, and every focus change restyles the screen. "" turns it off (None would
    # fall back to the app's).
    AUTO_FOCUS = ""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "connect", "Connect", id="login.connect", tooltip="Connect and log in"),
        Binding(
            "ctrl+t",
            "trust",
            "Trust certificate",
            id="login.trust",
            tooltip="Trust the server's certificate for this account, by its fingerprint",
        ),
        Binding("escape", "app.quit", "Quit", id="login.quit", tooltip="Leave popview"),
    ]

    def __init__(
        self,
        accounts: list[Account],
        preselect: Account | None = None,
        password: str | None = None,
        *,
        ask_password: bool = False,
        password_note: str | None = None,
    ) -> None:
        super().__init__()
        self.autoconnect_password = password
        self.ask_password = ask_password and preselect is not None and password is None
        self.password_note = password_note
        self.accounts = accounts
        self.preselect = preselect if preselect is not None else (accounts[0] if accounts else None)
        self.failed_fingerprint: str | None = None
        self.pending_account: Account | None = None
        self._last_password: PasswordSource = ""

    @property
    def popview(self) -> PopviewApp:
        return cast("PopviewApp", self.app)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="login-form"):
            yield Label("Log in to a POP3 mailbox", id="login-title")
            if self.accounts:
                yield Label("Account")
                yield Select(
                    [(Text(a.name), index) for index, a in enumerate(self.accounts)],
                    allow_blank=True,
                    id="account",
                    prompt="Type a server below, or pick an account",
                )
            with Horizontal(classes="login-row"):
                host = Input(placeholder="pop.example.com", id="host")
                yield _field("login-host", "Server", host)
                yield _field("login-port", "Port", Input("995", type="integer", id="port"))
            yield Label("Security")
            yield Select(TLS_CHOICES, value="implicit", allow_blank=False, id="tls")
            yield Static("", id="tls-warning")
            with Horizontal(classes="login-row"):
                yield _field("login-half", "User", Input(placeholder="user name", id="user"))
                yield _field(
                    "login-half",
                    "Password",
                    Input(password=True, placeholder="password", id="password"),
                )
            # Above the buttons, so a refused login is explained within a 30-line
            # terminal, where the bottom of the form is out of view.
            yield Static("", id="login-status")
            with Horizontal(id="login-buttons"):
                yield Button("Connect", id="connect", variant="primary")
                yield Button("Trust this certificate", id="trust", variant="warning")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#trust").display = False
        if self.preselect is not None:
            self._fill(self.preselect)
            if self.accounts and self.preselect in self.accounts:
                self.query_one("#account", Select).value = self.accounts.index(self.preselect)
            self.query_one("#password", Input).focus()
        else:
            self.query_one("#host", Input).focus()
        self._show_tls_warning()
        if self.preselect is not None and self.autoconnect_password is not None:
            self.connect(self.preselect, self.autoconnect_password)
            self.autoconnect_password = None
        elif self.ask_password:
            self.prompt_password(self.password_note)

    def prompt_password(self, note: str | None = None) -> None:
        """Ask for the password alone; Esc falls back to the whole form."""
        account = self.preselect
        if account is None:
            return

        def answered(password: str | None) -> None:
            if password:
                self.query_one("#password", Input).value = password
                self.connect(account, password)
            else:
                self.ask_password = False  # the user chose the form

        title = f"Password for {account.user}@{account.host} ({account.name})"
        self.app.push_screen(PasswordScreen(title, note), answered)

    def _fill(self, account: Account) -> None:
        self.query_one("#host", Input).value = account.host
        self.query_one("#port", Input).value = str(account.port)
        self.query_one("#tls", Select).value = account.tls
        self.query_one("#user", Input).value = account.user

    @on(Select.Changed, "#account")
    def account_picked(self, event: Select.Changed) -> None:
        if isinstance(event.value, int):
            self._fill(self.accounts[event.value])

    @on(Select.Changed, "#tls")
    def tls_changed(self, event: Select.Changed) -> None:
        port = self.query_one("#port", Input)
        if port.value in {"", "110", "995"} and isinstance(event.value, str):
            port.value = str(_DEFAULT_PORT[event.value])
        self._show_tls_warning()

    def _show_tls_warning(self) -> None:
        warning = self.query_one("#tls-warning", Static)
        if self.query_one("#tls", Select).value == "none":
            warning.update(Text("UNENCRYPTED: your password and mail cross the network in clear."))
            warning.add_class("visible")
        else:
            warning.update("")
            warning.remove_class("visible")

    # -- connecting -----------------------------------------------------------------

    def set_status(self, text: str, *, error: bool = False) -> None:
        """Show progress or an error above the buttons (plain text), scrolled into view."""
        status = self.query_one("#login-status", Static)
        status.update(Text(text))
        status.set_class(error, "error")
        status.set_class(bool(text), "shown")
        if text:
            self.call_after_refresh(status.scroll_visible, animate=False)

    def _account_from_form(self) -> Account | None:
        from popview.config import Account

        host = self.query_one("#host", Input).value.strip()
        user = self.query_one("#user", Input).value.strip()
        port_text = self.query_one("#port", Input).value.strip()
        tls = cast("TlsMode", str(self.query_one("#tls", Select).value))
        if not host or not user:
            self.set_status("Type the server and the user name.", error=True)
            return None
        try:
            port = int(port_text)
        except ValueError:
            port = 0
        if not 0 < port < 65536:
            self.set_status("The port is a number from 1 to 65535.", error=True)
            return None
        base: Account | None = None
        picker = self.query("#account")
        if picker and isinstance(picker.first(Select).value, int):
            base = self.accounts[cast(int, picker.first(Select).value)]
        elif self.preselect is not None and self.preselect.host == host:
            base = self.preselect
        if base is not None:
            return dataclasses.replace(base, host=host, port=port, tls=tls, user=user)
        return Account(name=f"{user}@{host}", host=host, port=port, tls=tls, user=user)

    def connect(self, account: Account, password: PasswordSource) -> None:
        """Start the login for ``account`` and show progress."""
        self.pending_account = account
        self._last_password = password
        self.query_one("#trust").display = False
        self.set_status(f"Connecting to {account.host}:{account.port} as {account.user}…")
        self.popview.login(account, password)

    def action_connect(self) -> None:
        account = self._account_from_form()
        if account is None:
            return
        typed = self.query_one("#password", Input).value
        if not typed and self._configured(account) and has_configured_source(account):
            # The same sources as `popview -a NAME`, in the same order (obs. 3).
            self.ask_password = True  # a failure of those sources asks for it
            self.preselect = account
            self.connect(account, partial(resolve_password, account))
            return
        self.connect(account, typed)

    def _configured(self, account: Account) -> bool:
        """Whether ``account`` is one of the configured accounts (its password sources
        apply), whatever the form changed in host, port or TLS."""
        return any(account.name == known.name for known in self.accounts)

    @on(Button.Pressed, "#connect")
    def connect_pressed(self) -> None:
        self.action_connect()

    @on(Input.Submitted)
    def input_submitted(self) -> None:
        self.action_connect()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "trust":
            return self.failed_fingerprint is not None
        return True

    def show_failure(self, failure: LoginFailed) -> None:
        """Explain why the login failed; offer to trust an unknown certificate."""
        text = f"{failure.title}: {failure.message}"
        if failure.fingerprint is not None and failure.fingerprint not in text:
            text += f"\nSHA-256 fingerprint: {failure.fingerprint}"
        if failure.fingerprint is not None:
            text += "\nCtrl+T trusts this certificate for this account."
        self.set_status(text, error=True)
        if self.ask_password and failure.fingerprint is None and failure.password_refused:
            self.prompt_password(f"{failure.title}: {failure.message}")
            return
        self.failed_fingerprint = failure.fingerprint
        self.query_one("#trust").display = failure.fingerprint is not None
        self.refresh_bindings()
        self.query_one("#password", Input).focus()

    @on(Button.Pressed, "#trust")
    def trust_pressed(self) -> None:
        self.action_trust()

    def action_trust(self) -> None:
        """Ask, showing the fingerprint; on yes pin it for this account and retry."""
        fingerprint = self.failed_fingerprint
        account = self.pending_account
        if fingerprint is None or account is None:
            return
        password: PasswordSource = self.query_one("#password", Input).value or self._last_password

        def answered(yes: bool | None) -> None:
            if yes:
                self.failed_fingerprint = None
                self.refresh_bindings()
                self.query_one("#trust").display = False
                self.set_status(f"Trusting the certificate; connecting to {account.host}…")
                self.popview.trust_and_login(account, password, fingerprint)

        self.app.push_screen(
            ConfirmScreen(
                f"Trust this certificate for {account.name}?",
                [
                    f"Server: {account.host}:{account.port}",
                    f"SHA-256: {fingerprint}",
                    "",
                    "Compare this fingerprint with one your provider gave you by another "
                    "way (a web page, a letter). From now on popview accepts this certificate, "
                    "and only this one, for this account, without asking.",
                ],
                yes="Trust",
            ),
            answered,
        )
