"""What a ``-ERR`` with a response code means for the session (RFC 2449 §8, RFC 3206).

A server that answers ``PASS``/``AUTH`` with ``-ERR`` is not always saying "wrong
password": ``[IN-USE]`` means another client holds the maildrop lock,
``[LOGIN-DELAY]`` that logins come too often, ``[SYS/TEMP]`` a passing problem,
``[SYS/PERM]`` a lasting one, ``[AUTH]`` the credentials. Each becomes its own
error so the caller can offer the right action; the session never retries on its
own (no loop hammering a server that said "later").
"""

from __future__ import annotations

import time
from typing import Final

from popview.errors import AuthError, Pop3ServerError, PopviewError, printable

__all__ = [
    "RESP_CODE_SENTENCES",
    "LoginDelayError",
    "MailboxInUseError",
    "MarksChangedError",
    "MessageGoneError",
    "MessageParseError",
    "NotOpenError",
    "PermanentServerError",
    "TemporaryServerError",
    "classify_server_error",
]


class MailboxInUseError(Pop3ServerError):
    """``[IN-USE]``: another client holds the mailbox; retry once it is closed."""

    title = "Mailbox in use"


class LoginDelayError(Pop3ServerError):
    """``[LOGIN-DELAY]`` or a CAPA ``LOGIN-DELAY`` not yet over.

    Attributes:
        retry_at: ``time.time()`` after which a login may succeed, or None if unknown.
    """

    title = "Too soon to log in again"

    def __init__(
        self, message: str, *, retry_at: float | None = None, reply_text: str = ""
    ) -> None:
        super().__init__(message, reply_text=reply_text, code="LOGIN-DELAY")
        self.retry_at = retry_at


class TemporaryServerError(Pop3ServerError):
    """``[SYS/TEMP]``: a passing problem on the server; try again later."""

    title = "Temporary server problem"


class PermanentServerError(Pop3ServerError):
    """``[SYS/PERM]``: the server reports a lasting problem; retrying will not help."""

    title = "Server problem"


class MessageGoneError(PopviewError):
    """The message is no longer on the server (another client removed it)."""

    title = "Message gone"


class MessageParseError(PopviewError):
    """The message was downloaded but could not be parsed.

    Attributes:
        raw: The bytes, so the caller can still show them as plain text.
    """

    title = "Message could not be displayed"

    def __init__(self, message: str, raw: bytes) -> None:
        super().__init__(message)
        self.raw = raw


class MarksChangedError(PopviewError):
    """The marks changed between the confirmation and the commit: nothing was sent.

    Attributes:
        marks: The marks the session holds now (the user is asked again with these).
    """

    title = "Marks changed"

    def __init__(self, message: str, marks: frozenset[str]) -> None:
        super().__init__(message)
        self.marks = marks


class NotOpenError(PopviewError):
    """An action was requested before :meth:`MailboxSession.open`."""

    title = "Not connected"


_CLASSIFIED = (MailboxInUseError, LoginDelayError, TemporaryServerError, PermanentServerError)


def _said(err: Pop3ServerError) -> str:
    text = printable(err.reply_text or "", 200).strip()
    return f' The server said: "{text}"' if text else ""


def classify_server_error(
    err: Pop3ServerError, *, login_delay: int | None = None
) -> Pop3ServerError:
    """Map a ``-ERR`` with a response code to the error and sentence the user sees.

    Args:
        err: The error the client raised.
        login_delay: The CAPA ``LOGIN-DELAY`` seconds known for this server, if any.

    Returns:
        A more specific error, or ``err`` itself when the code says nothing new.
    """
    if isinstance(err, _CLASSIFIED):
        return err  # already worded (and a LoginDelayError keeps its wait)
    code = (err.code or "").upper()
    said = _said(err)
    if code == "LOGIN-DELAY":
        retry_at = time.time() + login_delay if login_delay else None
        wait = f" Try again in {login_delay} seconds." if login_delay else " Try again later."
        return LoginDelayError(
            RESP_CODE_SENTENCES[code] + wait + said, retry_at=retry_at, reply_text=err.reply_text
        )
    if code.startswith("SYS/") and code not in RESP_CODE_SENTENCES:
        code = "SYS/TEMP"  # RFC 3206 §4: an unknown SYS/ sub-code is a SYS problem
    if code not in RESP_CODE_SENTENCES:
        return err
    error = _ERROR_OF.get(code, Pop3ServerError)
    return error(RESP_CODE_SENTENCES[code] + said, reply_text=err.reply_text, code=err.code)


RESP_CODE_SENTENCES: Final = {
    "IN-USE": "Another mail client is using this mailbox right now (POP3 allows one "
    "session at a time). Close it, or wait a minute, then retry.",
    "LOGIN-DELAY": "The server limits how often this mailbox may log in.",
    "SYS/TEMP": "The server has a temporary problem. Try again in a few minutes.",
    "SYS/PERM": "The server reports a lasting problem with this mailbox; retrying will "
    "not help. Contact your mail provider.",
    "AUTH": "The user name or password was not accepted. Check them and try again.",
    "UTF8": "The server can only send this in UTF-8, which was not enabled.",
}
"""The one sentence a person reads for each response code (RFC 2449 §8, RFC 3206,
RFC 6856 §2 for UTF8); the protocol core keeps only the code."""

_ERROR_OF: Final[dict[str, type[Pop3ServerError]]] = {
    "IN-USE": MailboxInUseError,
    "SYS/TEMP": TemporaryServerError,
    "SYS/PERM": PermanentServerError,
    "AUTH": AuthError,
}
