"""``popview auth``: getting the grant, by browser (code + PKCE) or by device code.

* :func:`authorize_in_browser` - RFC 6749 §4.1 with PKCE (RFC 7636, S256) and a
  loopback redirect on 127.0.0.1 and a random port (RFC 8252 §7.3): the URL is
  printed and opened with :mod:`webbrowser`; one request to the redirect URI,
  with the right ``state``, ends the wait.
* :func:`authorize_on_device` - RFC 8628: the user opens a URL on any device and
  types a code there, while popview polls the token endpoint.

Both return the token response (a dict holding ``access_token`` and, normally,
``refresh_token``). The HTTP side is Authlib's OAuth2Session (over requests).
Error messages name the OAuth error code and never a token or a code.
"""

from __future__ import annotations

import http.server
import threading
import time
import webbrowser
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from popview.config.model import OAuth2Settings
from popview.errors import CredentialError, printable

__all__ = [
    "DEVICE_GRANT",
    "OAuth2Error",
    "authorize_in_browser",
    "authorize_on_device",
    "new_session",
    "oauth_failure",
]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
"""RFC 8628 §3.4 grant type."""

HTTP_TIMEOUT = 30.0
"""Seconds allowed for one request to the provider."""

Say = Callable[[str], None]


class OAuth2Error(CredentialError):
    """No OAuth2 token could be had; the message says why and what to do."""

    title = "OAuth2 authorization failed"


def new_session(settings: OAuth2Settings, redirect_uri: str | None = None) -> Any:
    """An Authlib OAuth2Session for ``settings`` (raises a clear error without Authlib)."""
    try:
        from authlib.integrations.requests_client import OAuth2Session
    except ImportError:
        raise OAuth2Error(
            "OAuth2 needs the Authlib package: pip install 'popview[oauth2]'.",
        ) from None
    if settings.client_id is None:
        raise OAuth2Error("OAuth2 needs oauth2_client_id in the account's configuration.")
    # A public client (no secret) identifies itself with client_id in the body
    # (RFC 6749 §3.2.1); Google's desktop clients send their secret the same way.
    method = "client_secret_post" if settings.client_secret else "none"
    session = OAuth2Session(
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scope=" ".join(settings.scopes) or None,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
    )
    session.default_timeout = HTTP_TIMEOUT
    return session


def oauth_failure(exc: BaseException, doing: str) -> OAuth2Error:
    """A user-facing error for a failed OAuth request: the error code, never a secret."""
    code = getattr(exc, "error", None)
    if isinstance(code, str):
        return OAuth2Error(f"{doing} failed: the provider answered {printable(code, 60)!r}.")
    return OAuth2Error(f"{doing} failed ({type(exc).__name__}); check the network and URLs.")


# --------------------------------------------------------------------------- browser


class _Redirect(http.server.BaseHTTPRequestHandler):
    """Receives the one redirect; remembers its query, answers a short page."""

    server: _LoopbackServer

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        if query.get("state") != [self.server.expected_state]:
            self.send_error(404)  # a favicon, a stray or a forged request
            return
        self.server.result = {k: v[0] for k, v in query.items()}
        body = b"popview: you can close this window and return to the terminal.\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence: the request line holds the authorization code."""


class _LoopbackServer(http.server.HTTPServer):
    expected_state: str | None = None
    result: dict[str, str] | None = None


def authorize_in_browser(
    settings: OAuth2Settings,
    *,
    say: Say = print,
    open_browser: Callable[[str], Any] = webbrowser.open,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Run the authorization-code flow with PKCE; return the token response.

    Raises:
        CredentialError: No authorization endpoint, the user refused, the wait
            timed out, or the token request failed.
    """
    if settings.authorize_url is None or settings.token_url is None:
        raise OAuth2Error(
            "This provider has no browser authorization configured; use "
            "`popview auth --device` or set oauth2_authorize_url."
        )
    server = _LoopbackServer(("127.0.0.1", 0), _Redirect)
    try:
        redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/"
        session = new_session(settings, redirect_uri)
        from authlib.common.security import generate_token

        verifier = generate_token(64)  # RFC 7636 §4.1: 43-128 characters
        # Google returns a refresh token only with access_type=offline, and again
        # after a revocation only with prompt=consent.
        extra = (
            {"access_type": "offline", "prompt": "consent"} if settings.provider == "gmail" else {}
        )
        url, state = session.create_authorization_url(
            settings.authorize_url, code_verifier=verifier, **extra
        )
        # RFC 6749 §10.12: only the answer to this request ends the wait.
        server.expected_state = state
        say(f"Open this URL in a browser to authorize popview:\n\n  {url}\n")
        # In a thread: webbrowser may wait for the browser command to exit, and
        # that browser needs this server to answer its redirect.
        threading.Thread(target=open_browser, args=(url,), daemon=True).start()
        result = _wait_for_redirect(server, timeout)
    finally:
        server.server_close()
    if result.get("state") != state:
        raise OAuth2Error("The authorization answer did not match this request (state).")
    if "error" in result:
        raise OAuth2Error(f"The authorization was refused ({printable(result['error'], 60)!r}).")
    if "code" not in result:
        raise OAuth2Error("The authorization answer held no code.")
    try:
        token = session.fetch_token(
            settings.token_url,
            grant_type="authorization_code",
            code=result["code"],
            code_verifier=verifier,
        )
    except Exception as exc:
        raise oauth_failure(exc, "The token request") from None
    return dict(token)


def _wait_for_redirect(server: _LoopbackServer, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    server.timeout = 1.0
    while server.result is None:
        if time.monotonic() > deadline:
            raise OAuth2Error(
                f"No answer from the browser within {timeout:g} s; run `popview auth` again."
            )
        server.handle_request()
    return server.result


# --------------------------------------------------------------------------- device


def authorize_on_device(
    settings: OAuth2Settings,
    *,
    say: Say = print,
    sleep: Callable[[float], None] = time.sleep,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Run the device authorization flow (RFC 8628); return the token response.

    Raises:
        CredentialError: No device endpoint, the user refused, the code
            expired, or a request failed.
    """
    if settings.device_url is None or settings.token_url is None:
        raise OAuth2Error(
            "This provider has no device authorization endpoint (Gmail refuses mail "
            "access on it); run `popview auth` without --device on a machine with a browser."
        )
    session = new_session(settings)
    data = {"client_id": settings.client_id or "", "scope": " ".join(settings.scopes)}
    try:
        # RFC 8628 §3.1: Authlib has no client call for this endpoint; its
        # session still does the HTTP (and client authentication).
        response = session.post(settings.device_url, data=data, withhold_token=True)
        answer = response.json()
    except Exception as exc:
        raise oauth_failure(exc, "The device authorization request") from None
    if not isinstance(answer, dict) or "device_code" not in answer:
        code = answer.get("error") if isinstance(answer, dict) else None
        raise OAuth2Error(
            "The device authorization request failed"
            + (f": the provider answered {printable(str(code), 60)!r}." if code else ".")
        )
    # Google says verification_url; RFC 8628 §3.2 says verification_uri.
    where = answer.get("verification_uri") or answer.get("verification_url") or "?"
    say(
        f"On any device, open {printable(str(where), 200)} and enter the code "
        f"{printable(str(answer.get('user_code', '?')), 40)}\n"
    )
    interval = _seconds(answer.get("interval"), 5.0)
    deadline = time.monotonic() + _seconds(answer.get("expires_in"), 900.0)
    while time.monotonic() < deadline:
        sleep(interval)
        if stop is not None and stop.is_set():
            break
        try:
            return dict(
                session.fetch_token(
                    settings.token_url, grant_type=DEVICE_GRANT, device_code=answer["device_code"]
                )
            )
        except Exception as exc:
            code = getattr(exc, "error", None)
            if code == "authorization_pending":
                continue
            if code == "slow_down":  # RFC 8628 §3.5: add 5 seconds to the interval
                interval += 5
                continue
            raise oauth_failure(exc, "The device authorization") from None
    raise OAuth2Error("The device code expired before it was entered; run it again.")


def _seconds(value: Any, default: float) -> float:
    """A number of seconds from a provider's JSON, within reason, else ``default``."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(seconds, 1.0), 3600.0) if seconds == seconds else default
