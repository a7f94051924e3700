"""OAuth2 end to end (HARDENING F.63): ``popview auth``, token refresh, XOAUTH2/OAUTHBEARER logins.

The authorization server is a real one built on oauthlib
(:mod:`tests.fixtures.oauth_server`); the POP3 server is the embedded one,
checking each token against that server's introspection endpoint (RFC 7662).
``popview auth`` runs as a subprocess whose "browser" ($BROWSER) is
:mod:`tests.fixtures.oauth_browser`, which approves like a user would.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from popview.cli import main
from popview.config import load_config
from popview.oauth2.credential import OAuth2Credential
from popview.oauth2.flows import authorize_in_browser
from popview.oauth2.storage import CachedToken, TokenStore
from popview.oauth2.tokens import save_grant
from popview.server import ServerThread
from tests.fixtures.embedded import POP3_USER
from tests.fixtures.oauth_browser import main as browser
from tests.fixtures.oauth_server import RS_CLIENT, AuthServer

ROOT = Path(__file__).resolve().parent.parent
BROWSER = f"{sys.executable} {ROOT / 'tests' / 'fixtures' / 'oauth_browser.py'} %s"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_env(monkeypatch, tmp_path)


def isolate_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No password or config from the caller; data, state, config and cache in tmp_path."""
    monkeypatch.delenv("POPVIEW_PASSWORD", raising=False)
    monkeypatch.delenv("POPVIEW_CONFIG", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("POPVIEW_CACHE_DIR", str(tmp_path / "cache"))
    # No keyring backend here: the refresh token must go to the private file.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


def introspecting(auth: AuthServer) -> Callable[[str, str], bool]:
    """The embedded server's token check: ask the authorization server (RFC 7662)."""

    def check(user: str, token: str) -> bool:
        answer = requests.post(
            auth.url + "/introspect", data={"token": token}, auth=RS_CLIENT, timeout=10
        ).json()
        return answer.get("active") is True and answer.get("username") == user

    return check


def write_config(tmp_path: Path, auth: AuthServer, port: int, cafile: Path, **extra: Any) -> Path:
    keys = {**auth.config(), **extra}
    lines = [
        "[accounts.work]",
        'host = "127.0.0.1"',
        f"port = {port}",
        'tls = "implicit"',
        f'user = "{POP3_USER}"',
        f'cafile = "{cafile}"',
        *(f"{k} = {json.dumps(v)}" for k, v in keys.items()),
    ]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture
def cafile(tmp_path: Path, tls_ca: trustme.CA) -> Path:
    path = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def oauth_pop3(
    make_pop3_server_thread: Callable[..., ServerThread],
    auth_server: AuthServer,
    tls_server_context: Any,
) -> Callable[..., ServerThread]:
    def make(**kwargs: Any) -> ServerThread:
        return make_pop3_server_thread(
            implicit_tls=tls_server_context, token_checker=introspecting(auth_server), **kwargs
        )

    return make


@pytest.fixture
def authorized_pop3(
    tmp_path: Path,
    auth_server: AuthServer,
    oauth_pop3: Callable[..., ServerThread],
    cafile: Path,
) -> Callable[..., tuple[ServerThread, Path]]:
    """An OAuth POP3 server and a config for it whose grant is already saved."""

    def make(**kwargs: Any) -> tuple[ServerThread, Path]:
        server = oauth_pop3(**kwargs)
        config = write_config(tmp_path, auth_server, server.port, cafile)
        authorize(config)
        return server, config

    return make


def authorize(config: Path) -> None:
    """What ``popview auth work`` leaves behind, done in-process (the browser is ours)."""
    account = load_config(config).account("work")
    assert account.oauth2 is not None
    answer = authorize_in_browser(account.oauth2, say=lambda _t: None, open_browser=browser)
    save_grant(TokenStore(account.key), answer)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def list_work(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``popview list -a work`` with that config."""
    return run(["--config", str(config), "list", "-a", "work"], capsys)


def auth_commands(server: ServerThread) -> list[str]:
    return [c for c in server.server.commands() if c.upper().startswith("AUTH")]


def data_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "data" / "popview" / "oauth2").glob("*.json"))


# -- popview auth ------------------------------------------------------------------------------


class TestAuthCommand:
    def test_browser_flow_with_pkce_stores_the_refresh_token_privately(
        self, tmp_path: Path, auth_server: AuthServer, cafile: Path
    ) -> None:
        """`popview auth work` prints the URL, the browser approves, the loopback redirect
        brings the code; PKCE S256 was used, and the refresh token is in a 0600 file in a
        0700 directory (no keyring here). No token is printed."""
        config = write_config(tmp_path, auth_server, 995, cafile)
        env = {**os.environ, "BROWSER": BROWSER, "POPVIEW_CONFIG": str(config)}
        done = subprocess.run(
            [sys.executable, "-m", "popview", "auth", "work"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stderr
        assert auth_server.url + "/authorize?" in done.stdout
        assert "Authorized account 'work'" in done.stdout
        assert auth_server.state.pkce_methods == ["S256"]
        directory = tmp_path / "data" / "popview" / "oauth2"
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        files = data_files(tmp_path)
        assert len(files) == 2  # the refresh token and the cached access token
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        stored = [json.loads(p.read_text()) for p in files]
        refresh = next(s["refresh_token"] for s in stored if "refresh_token" in s)
        assert refresh in auth_server.state.refresh  # a real grant of that server
        for secret in auth_server.secrets():
            assert secret not in done.stdout + done.stderr

    @pytest.mark.slow  # RFC 8628 polling: at least one interval (1 s) of waiting
    def test_device_flow_for_a_terminal_without_browser(
        self, tmp_path: Path, auth_server: AuthServer, cafile: Path
    ) -> None:
        """`popview auth work --device` prints a URL and a code; once "the user" enters the
        code there, popview's polling gets the grant (RFC 8628)."""
        config = write_config(tmp_path, auth_server, 995, cafile)
        env = {**os.environ, "POPVIEW_CONFIG": str(config), "BROWSER": "false"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "popview", "auth", "--device", "work"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert f"open {auth_server.url}/device/verify" in line
            code = line.rsplit(" ", 1)[1].strip()
            verified = requests.post(
                auth_server.url + "/device/verify", data={"user_code": code}, timeout=10
            )
            assert verified.ok
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        assert "Authorized account 'work'" in out
        assert len(data_files(tmp_path)) == 2
        assert auth_server.state.refresh  # the grant holds a refresh token

    def test_a_refused_authorization_is_one_clear_error(
        self, tmp_path: Path, auth_server: AuthServer, cafile: Path
    ) -> None:
        """The user denies access: the redirect carries error=access_denied (after a
        forged redirect, which was ignored)."""
        config = write_config(tmp_path, auth_server, 995, cafile)
        account = load_config(config).account("work")
        assert account.oauth2 is not None

        def deny(url: str) -> None:
            redirect = requests.utils.unquote(url.split("redirect_uri=")[1].split("&")[0])
            state = url.split("state=")[1].split("&")[0]
            # A request with another state (forged, or stray) does not end the wait.
            forged = requests.get(f"{redirect}?code=forged&state=other", timeout=10)
            assert forged.status_code == 404
            requests.get(f"{redirect}?error=access_denied&state={state}", timeout=10)

        from popview.errors import CredentialError

        with pytest.raises(CredentialError, match=r"refused \('access_denied'\)"):
            authorize_in_browser(account.oauth2, say=lambda _t: None, open_browser=deny)
        assert data_files(tmp_path) == []

    def test_auth_on_a_password_account_says_what_to_set(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = tmp_path / "config.toml"
        path.write_text('[accounts.home]\nhost = "pop.example.org"\nuser = "me"\n')
        code, _out, err = run(["--config", str(path), "auth", "home"], capsys)
        assert code == 1
        assert 'does not use OAuth2: set auth = "oauth2"' in err


# -- logging in --------------------------------------------------------------------------------


class TestLogin:
    def test_list_logs_in_with_oauthbearer_never_plain(
        self,
        auth_server: AuthServer,
        authorized_pop3: Callable[..., tuple[ServerThread, Path]],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The server offers PLAIN, XOAUTH2 and OAUTHBEARER: popview sends its token with
        OAUTHBEARER (RFC 7628), which the server accepted after introspection."""
        server, config = authorized_pop3()
        code, out, err = list_work(config, capsys)
        assert code == 0, err
        assert "Lunch on Friday?" in out
        assert auth_commands(server) == ["AUTH OAUTHBEARER ***"]
        assert auth_server.state.introspections  # the POP server asked the auth server

    def test_xoauth2_when_the_server_offers_no_oauthbearer(
        self,
        authorized_pop3: Callable[..., tuple[ServerThread, Path]],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        server, config = authorized_pop3(capabilities=["TOP", "UIDL", "USER", "SASL PLAIN XOAUTH2"])
        code, _out, err = list_work(config, capsys)
        assert code == 0, err
        # XOAUTH2's initial response never rides on the AUTH line (Outlook refuses it).
        assert auth_commands(server) == ["AUTH XOAUTH2"]

    def test_a_server_without_oauth_gets_no_credential_at_all(
        self,
        authorized_pop3: Callable[..., tuple[ServerThread, Path]],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """CAPA offers PLAIN only: the token is not sent as a password."""
        server, config = authorized_pop3(capabilities=["TOP", "UIDL", "USER", "SASL PLAIN"])
        code, _out, err = list_work(config, capsys)
        assert code == 1
        assert "does not offer XOAUTH2 or OAUTHBEARER" in err
        assert not [c for c in server.server.commands() if c.upper().startswith(("AUTH", "PASS"))]

    def test_an_expired_token_is_refreshed_once_and_the_login_retried(
        self,
        auth_server: AuthServer,
        authorized_pop3: Callable[..., tuple[ServerThread, Path]],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The cached token looks valid to popview but the server refuses it (expired at
        the provider): one refresh, one more AUTH on the same connection, and the list."""
        server, config = authorized_pop3()
        auth_server.expire_all()
        code, out, err = list_work(config, capsys)
        assert code == 0, err
        assert "Lunch on Friday?" in out
        assert auth_server.state.refresh_requests == 1
        assert auth_commands(server) == ["AUTH OAUTHBEARER ***", "AUTH OAUTHBEARER ***"]
        # The new access token is cached: the next run neither refreshes nor retries.
        code, _out, err = list_work(config, capsys)
        assert code == 0, err
        assert auth_server.state.refresh_requests == 1
        assert len(auth_commands(server)) == 3

    def test_a_token_past_its_expiry_is_refreshed_before_login(
        self,
        auth_server: AuthServer,
        authorized_pop3: Callable[..., tuple[ServerThread, Path]],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """An access token that lives 30 s counts as expired (60 s margin): popview
        refreshes it first, so the server sees one AUTH only."""
        auth_server.state.lifetime = 30
        server, config = authorized_pop3()
        code, _out, err = list_work(config, capsys)
        assert code == 0, err
        assert auth_server.state.refresh_requests == 1
        assert len(auth_commands(server)) == 1

    def test_a_revoked_grant_gives_one_clear_message_and_no_loop(
        self,
        tmp_path: Path,
        auth_server: AuthServer,
        authorized_pop3: Callable[..., tuple[ServerThread, Path]],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The user revoked popview's access: one refused AUTH, one refused refresh
        (invalid_grant), one line telling to run `popview auth work`; the dead tokens
        are dropped, so the next run asks for `popview auth` without touching the server."""
        server, config = authorized_pop3()
        auth_server.revoke_all()
        code, _out, err = list_work(config, capsys)
        assert code == 1
        assert err.count("\n") == 1
        assert "revoked or has expired" in err
        assert "Run `popview auth work`" in err
        assert auth_server.state.refresh_requests == 1
        assert len(auth_commands(server)) == 1
        assert data_files(tmp_path) == []
        code, _out, err = list_work(config, capsys)
        assert code == 1
        assert "run `popview auth work` once" in err
        assert auth_server.state.refresh_requests == 1
        assert len(auth_commands(server)) == 1

    def test_oauth2_token_command_gives_the_token(
        self,
        tmp_path: Path,
        auth_server: AuthServer,
        authorized_pop3: Callable[..., tuple[ServerThread, Path]],
        cafile: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A user's own token tool (argv, no shell): its first line is the bearer token."""
        server, config = authorized_pop3()
        account = load_config(config).account("work")
        token = TokenStore(account.key).access_token()
        assert token is not None
        token_file = tmp_path / "token.txt"
        token_file.write_text(token.access_token + "\nsecond line\n")
        config = write_config(
            tmp_path,
            auth_server,
            server.port,
            cafile,
            oauth2_token_command=["cat", str(token_file)],
        )
        for path in data_files(tmp_path):
            path.unlink()  # the command alone must do it
        code, out, err = list_work(config, capsys)
        assert code == 0, err
        assert "Lunch on Friday?" in out


# -- HARDENING F.63: no token anywhere ---------------------------------------------------------


class TestCanary:
    def test_no_token_in_trace_log_output_or_error(
        self,
        tmp_path: Path,
        auth_server: AuthServer,
        authorized_pop3: Callable[..., tuple[ServerThread, Path]],
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A refresh, a retried login, a success, then a revoked grant, all with --trace and
        --debug: no access or refresh token in the trace, the debug log, stdout, stderr or
        any log record."""
        caplog.set_level(logging.DEBUG)
        _server, config = authorized_pop3()
        trace = tmp_path / "trace.txt"
        argv = ["--config", str(config), "list", "-a", "work", "--trace", str(trace), "--debug"]
        auth_server.expire_all()
        seen = []
        code, out, err = run(argv, capsys)
        assert code == 0, err
        seen += [out, err]
        auth_server.revoke_all()
        code, out, err = run(argv, capsys)
        assert code == 1
        seen += [out, err]
        traced = trace.read_text()
        assert "AUTH OAUTHBEARER ***" in traced  # the trace was written
        # Run 1: refused, refreshed, retried; run 2: refused, the refresh refused, no retry.
        assert traced.count("AUTH OAUTHBEARER ***") == 3
        logs = list((tmp_path / "state").rglob("*.log"))
        assert logs
        # Every record on the client side: popview's, and Authlib's, requests' and
        # urllib3's under it. The test's own authorization server (oauthlib) logs
        # tokens at DEBUG; that is the provider's business, not popview's.
        client = [r for r in caplog.records if not r.name.startswith("oauthlib")]
        assert any(r.name.startswith("popview.oauth2") for r in client)
        formatter = logging.Formatter("%(name)s %(message)s %(args)s")
        seen += [traced, *(p.read_text() for p in logs), *map(formatter.format, client)]
        secrets = auth_server.secrets()
        assert len(secrets) >= 3  # first grant, refreshed token, rotated refresh token
        for text in seen:
            for secret in secrets:
                assert secret not in text

    def test_reprs_hide_the_token(self) -> None:
        """What a crash screen's locals or a %r would show."""
        credential = OAuth2Credential("alice", lambda fresh: "tok-canary-1")
        assert "tok-canary-1" not in repr(credential)
        assert "tok-canary-1" not in repr(CachedToken("tok-canary-1", None))
        assert credential.token() == "tok-canary-1"

    def test_the_embedded_server_transcript_masks_the_oauth_response(
        self,
        auth_server: AuthServer,
        authorized_pop3: Callable[..., tuple[ServerThread, Path]],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        server, config = authorized_pop3(capabilities=["TOP", "UIDL", "SASL XOAUTH2"])
        assert list_work(config, capsys)[0] == 0
        transcript = "\n".join(server.server.commands())
        for secret in auth_server.secrets():
            assert secret not in transcript


def test_device_polling_can_be_stopped(auth_server: AuthServer, tmp_path: Path) -> None:
    """The device flow polls no longer than asked (the stop event of a caller)."""
    from popview.config.validate import Parser
    from popview.errors import CredentialError
    from popview.oauth2.flows import authorize_on_device

    table = {"host": "h", "user": "u", **auth_server.config()}
    account = Parser(None).account("x", "accounts.x.", table)
    assert account is not None and account.oauth2 is not None
    stop = threading.Event()
    stop.set()
    with pytest.raises(CredentialError, match="expired before it was entered"):
        authorize_on_device(account.oauth2, say=lambda _t: None, sleep=lambda _s: None, stop=stop)


# -- the terminal UI -----------------------------------------------------------------------------


class TestApp:
    async def test_oauth2_account_logs_in_without_a_password_prompt(
        self,
        tmp_path: Path,
        auth_server: AuthServer,
        oauth_pop3: Callable[..., ServerThread],
        cafile: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """`popview -a work` for an OAuth2 account: no password is asked, the list loads
        through OAUTHBEARER; after a revocation the dialog says to run `popview auth work`.
        No token on any screen or in popview's log records."""
        from popview.ui.bootstrap import build_app
        from popview.ui.screens.dialogs import ErrorScreen
        from popview.ui.screens.login import LoginScreen
        from tests.test_app_hardening import screen_text
        from tests.ui_support import wait_for, wait_listed

        caplog.set_level(logging.DEBUG)
        server = oauth_pop3()
        config_path = write_config(tmp_path, auth_server, server.port, cafile)
        authorize(config_path)
        config = load_config(config_path)
        seen = []
        app = build_app(config, account_name="work")
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_listed(pilot)
            seen.append(screen_text(app))
            assert "Lunch on Friday?" in seen[-1]
        assert auth_commands(server) == ["AUTH OAUTHBEARER ***"]
        auth_server.revoke_all()
        app = build_app(config, account_name="work")
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: "popview auth work" in screen_text(app))
            seen.append(screen_text(app))
            assert isinstance(app.screen, ErrorScreen | LoginScreen)
        assert len(auth_commands(server)) == 2  # one refused, no loop
        client = [r for r in caplog.records if not r.name.startswith("oauthlib")]
        seen += [r.getMessage() for r in client]
        for text in seen:
            for secret in auth_server.secrets():
                assert secret not in text

    async def test_a_crash_after_an_oauth2_login_shows_no_token(
        self,
        tmp_path: Path,
        auth_server: AuthServer,
        oauth_pop3: Callable[..., ServerThread],
        cafile: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """HARDENING F.63 canary: the session logs in with a token, then raises inside the
        worker: the error dialog, the screens and Textual's log hold no token."""
        import textual.constants

        from popview.session import MailboxSession
        from popview.ui.app import PopviewApp
        from popview.ui.screens.dialogs import ErrorScreen
        from tests.test_app_hardening import screen_text
        from tests.ui_support import wait_for

        textual_log = tmp_path / "textual.log"
        monkeypatch.setattr(textual.constants, "LOG_FILE", str(textual_log))
        server = oauth_pop3()
        config_path = write_config(tmp_path, auth_server, server.port, cafile)
        authorize(config_path)
        config = load_config(config_path)

        class CrashingSession(MailboxSession):
            async def open(self) -> Any:
                await super().open()
                raise RuntimeError("forced crash after an OAuth2 login")

        app = PopviewApp(
            config,
            account=config.account("work"),
            password="",
            session_factory=lambda a, p: CrashingSession(a, p),
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
            dialog = app.screen
            assert isinstance(dialog, ErrorScreen)
            assert "forced crash after an OAuth2 login" in dialog.message
            seen = [screen_text(app), dialog.message]
        assert auth_commands(server) == ["AUTH OAUTHBEARER ***"]  # it did log in
        assert textual_log.exists()
        seen.append(textual_log.read_text(encoding="utf-8"))
        for text in seen:
            for secret in auth_server.secrets():
                assert secret not in text


def test_a_password_account_never_loads_the_oauth2_machinery(
    make_pop3_server_thread: Callable[..., ServerThread],
) -> None:
    """`popview list` for a password account imports neither Authlib, requests, nor the
    loopback HTTP server: OAuth2 costs nothing at start-up to those who do not use it."""
    server = make_pop3_server_thread()
    script = (
        "import sys\n"
        "from popview.cli import main\n"
        f"code = main(['list', '--no-cache', '--host', '127.0.0.1', '--port', '{server.port}',"
        f" '--user', '{POP3_USER}', '--tls', 'none'])\n"
        "heavy = {'authlib', 'requests', 'http.server', 'webbrowser'} & set(sys.modules)\n"
        "print('LOADED', code, sorted(heavy))\n"
    )
    env = {**os.environ, "POPVIEW_PASSWORD": "s3cret-canary"}
    argv = [sys.executable, "-c", script]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert "LOADED 0 []" in done.stdout, done.stdout + done.stderr


def test_the_refresh_token_goes_to_the_keyring_when_there_is_one(
    tmp_path: Path, auth_server: AuthServer, cafile: Path
) -> None:
    """With a working keyring backend the refresh token is stored there (service
    popview-oauth2, the account key as user name) and in no file; only the access-token
    cache is on disk."""
    import keyring
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.items: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.items.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.items[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.items.pop((service, username), None)

    memory = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(memory)
    try:
        config = write_config(tmp_path, auth_server, 995, cafile)
        authorize(config)
        key = load_config(config).account("work").key
        stored = memory.items.get(("popview-oauth2", key))
        assert stored in auth_server.state.refresh
        files = data_files(tmp_path)
        assert [p.name.endswith(".access.json") for p in files] == [True]
        assert stored not in files[0].read_text()
        assert TokenStore(key).refresh_token() == stored
    finally:
        keyring.set_keyring(previous)


class TestConfig:
    """The OAuth2 keys are checked like every other key: each problem named with its fix."""

    def load(self, tmp_path: Path, body: str) -> Any:
        path = tmp_path / "c.toml"
        path.write_text("[accounts.a]\n" + body)
        return load_config(path)

    def test_presets_fill_host_port_endpoints_and_scopes(self, tmp_path: Path) -> None:
        config = self.load(
            tmp_path,
            'user = "bob@outlook.com"\nauth = "oauth2"\noauth2_provider = "microsoft"\n'
            'oauth2_client_id = "cid"\n',
        )
        account = config.account("a")
        assert (account.host, account.port, account.auth) == ("outlook.office365.com", 995, None)
        assert account.oauth2.scopes == (
            "https://outlook.office.com/POP.AccessAsUser.All",
            "offline_access",
        )
        assert account.oauth2.device_url.endswith("/oauth2/v2.0/devicecode")

    def test_problems_are_named(self, tmp_path: Path) -> None:
        from popview.errors import ConfigError

        with pytest.raises(ConfigError) as caught:
            self.load(
                tmp_path,
                'user = "bob@gmail.com"\nauth = "oauth2"\noauth2_provider = "gmail"\n'
                'oauth2_client_id = "cid"\noauth2_token_url = "http://accounts.example/t"\n'
                '[accounts.b]\nhost = "h"\nuser = "u"\noauth2_client_id = "x"\n',
            )
        message = caught.value.message
        assert "accounts.a.oauth2_client_secret is required for gmail" in message
        assert "accounts.a.oauth2_token_url must be an https:// URL" in message
        assert 'accounts.b.oauth2_client_id needs accounts.b.auth = "oauth2"' in message

    def test_a_token_command_needs_nothing_else(self, tmp_path: Path) -> None:
        config = self.load(
            tmp_path,
            'host = "mail.example.org"\nuser = "u"\nauth = "OAuth2"\n'
            'oauth2_token_command = ["oama", "access", "u"]\n',
        )
        settings = config.account("a").oauth2
        assert settings.provider == "custom"
        assert settings.token_command == ("oama", "access", "u")


def test_without_authlib_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, auth_server: AuthServer
) -> None:
    """The oauth2 extra is optional: without Authlib, one line says how to get it."""
    from popview.config.validate import Parser
    from popview.oauth2.flows import OAuth2Error, new_session

    monkeypatch.setitem(sys.modules, "authlib.integrations.requests_client", None)
    account = Parser(None).account(
        "x", "accounts.x.", {"host": "h", "user": "u", **auth_server.config()}
    )
    assert account is not None and account.oauth2 is not None
    with pytest.raises(OAuth2Error, match=r"pip install 'popview\[oauth2\]'"):
        new_session(account.oauth2)
