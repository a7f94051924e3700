"""OAuth2 against a real server: Dovecot's ``oauth2`` passdb judges popview's tokens (F.63).

Dovecot asks the test's authorization server (oauthlib) about every token
(tokeninfo, then introspection). popview got the grant as ``popview auth``
does; its first login, a login with a token the provider expired early
(refresh, one retry) and a revoked grant (one message, no loop) are checked
here, and what Dovecot saw.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.dovecot_oauth import OAuthDovecot
from tests.fixtures.oauth_server import AuthServer
from tests.test_oauth2 import authorize, data_files, isolate_env, list_work, write_config

SUBJECT = "OAuth2 through Dovecot"
MESSAGE = (
    f"From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: {SUBJECT}\r\n"
    "Message-ID: <oauth-1@example.org>\r\n\r\nHello\r\n"
).encode()


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def config(tmp_path: Path, dovecot_oauth: OAuthDovecot, oauth_server_module: AuthServer) -> Path:
    dovecot_oauth.clear("alice")
    dovecot_oauth.seed("alice", [MESSAGE])
    path = write_config(
        tmp_path, oauth_server_module, dovecot_oauth.pop3s_port, dovecot_oauth.ca_pem
    )
    authorize(path)
    return path


@pytest.fixture
def lists_the_mail(
    config: Path, dovecot_oauth: OAuthDovecot, capsys: pytest.CaptureFixture[str]
) -> Callable[[], None]:
    """``popview list -a work``, checked: it succeeds and shows alice's mail."""

    def check() -> None:
        code, out, err = list_work(config, capsys)
        assert code == 0, err + dovecot_oauth.log_tail()
        assert SUBJECT in out

    return check


@pytest.mark.dovecot
class TestDovecotOAuth2:
    def test_list_with_a_token_dovecot_checked(
        self,
        lists_the_mail: Callable[[], None],
        dovecot_oauth: OAuthDovecot,
        oauth_server_module: AuthServer,
    ) -> None:
        before = len(oauth_server_module.state.introspections)
        lists_the_mail()
        assert len(oauth_server_module.state.introspections) > before  # Dovecot asked
        dovecot_oauth.wait_for_log("pop3-login: Login: user=<alice>, method=OAUTHBEARER")

    def test_an_expired_token_is_refreshed_and_dovecot_accepts_the_retry(
        self, lists_the_mail: Callable[[], None], oauth_server_module: AuthServer
    ) -> None:
        oauth_server_module.expire_all()
        refreshes = oauth_server_module.state.refresh_requests
        lists_the_mail()
        assert oauth_server_module.state.refresh_requests == refreshes + 1

    def test_a_revoked_grant_is_one_message(
        self,
        config: Path,
        dovecot_oauth: OAuthDovecot,
        oauth_server_module: AuthServer,
        capsys: pytest.CaptureFixture[str],
        tmp_path: Path,
    ) -> None:
        oauth_server_module.revoke_all()
        refreshes = oauth_server_module.state.refresh_requests
        code, _out, err = list_work(config, capsys)
        assert code == 1
        assert "Run `popview auth work`" in err
        assert err.count("\n") == 1
        assert oauth_server_module.state.refresh_requests == refreshes + 1
        assert data_files(tmp_path) == []
        for secret in oauth_server_module.secrets():
            assert secret not in err
