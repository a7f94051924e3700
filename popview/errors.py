"""The error hierarchy every layer of popview raises.

Every class carries a ``title`` (a short heading for a dialog) and a ``message``
(one or two sentences saying what happened and what to do). Messages are built
from sanitized text only: a server's reply text is passed through
:func:`popview.errors.printable` before it is put into a message, so an error
can be shown anywhere without escaping. A password never goes into an error.
"""

from __future__ import annotations

from popview.sanitize import sanitize_text

__all__ = [
    "AuthError",
    "ConfigError",
    "CredentialError",
    "Pop3ConnectionError",
    "Pop3Error",
    "Pop3ProtocolError",
    "Pop3ServerError",
    "Pop3TimeoutError",
    "PopviewError",
    "StoreError",
    "TLSVerificationError",
    "printable",
]

_MAX_ERROR_TEXT = 300


def printable(text: str, limit: int = _MAX_ERROR_TEXT) -> str:
    """Return ``text`` as one safe line of at most ``limit`` characters, for an error.

    The same escaping as everywhere else server or mail text reaches a person
    (:func:`popview.sanitize.sanitize_text`): control characters as control
    pictures (``␛`` for ESC), other format, bidi and zero-width characters as
    U+FFFD, line breaks as spaces, and ``…`` where the text was cut.

    Args:
        text: Untrusted text, for example a server's ``-ERR`` reply.
        limit: Maximum number of characters kept.

    Returns:
        A single line with nothing a terminal would act on.
    """
    return sanitize_text(text, max_len=limit)


class PopviewError(Exception):
    """Root of every error popview raises on purpose."""

    title = "popview error"

    def __init__(self, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message


class Pop3Error(PopviewError):
    """Anything that went wrong talking POP3."""

    title = "Mail server error"


class Pop3ServerError(Pop3Error):
    """The server answered ``-ERR``. The connection stays usable.

    Attributes:
        reply_text: The sanitized text of the ``-ERR`` line.
        code: The RFC 2449 RESP-CODE without brackets (``"IN-USE"``,
            ``"SYS/TEMP"`` ...), or ``None``.
    """

    title = "The server refused"

    def __init__(
        self,
        message: str,
        *,
        reply_text: str = "",
        code: str | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(message, title)
        self.reply_text = reply_text
        self.code = code


class AuthError(Pop3ServerError):
    """Login was refused (wrong user name or password, or ``[AUTH]``)."""

    title = "Login failed"


class Pop3ProtocolError(Pop3Error):
    """The server broke the protocol (framing, over-long reply...).

    The connection is dead after this and is never reused.
    """

    title = "Protocol error"


class Pop3ConnectionError(Pop3Error, ConnectionError):
    """The connection could not be made or was lost."""

    title = "Connection lost"


class Pop3TimeoutError(Pop3Error, TimeoutError):
    """A command, connect or TLS handshake did not finish within its deadline.

    The connection is dropped: a late reply would desynchronise it.
    """

    title = "Timed out"


class TLSVerificationError(Pop3ConnectionError):
    """The server's certificate was not trusted, or did not match its pin.

    Attributes:
        fingerprint: SHA-256 of the presented certificate (hex, colon
            separated) when the handshake got far enough to see it.
    """

    title = "Certificate not trusted"

    def __init__(
        self, message: str, *, fingerprint: str | None = None, title: str | None = None
    ) -> None:
        super().__init__(message, title)
        self.fingerprint = fingerprint


class ConfigError(PopviewError):
    """The configuration file is missing a key, has a bad value, or is unsafe."""

    title = "Configuration error"


class CredentialError(PopviewError):
    """No password could be obtained (command failed, keyring locked...)."""

    title = "Password unavailable"


class StoreError(PopviewError):
    """The local cache could not be opened or written."""

    title = "Cache error"
