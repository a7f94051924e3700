"""The sentences a user reads when a POP3 command fails.

:func:`server_error` turns an ``-ERR`` reply into the error shown to the user,
naming what was refused and keeping the RFC 2449/3206 response code as data
(``code``); the sentence a person reads for a code is written once, above the
protocol core, in :mod:`popview.session.policy`;
:data:`WHAT` names what the server was sending, for "while sending ..."
sentences about timeouts and lost connections; :func:`protocol_error` turns
the core's terse :class:`~popview.pop3.protocol.RemoteProtocolError` into the
error a user reads.
"""

from __future__ import annotations

from typing import Final

from popview.errors import (
    AuthError,
    Pop3ConnectionError,
    Pop3ProtocolError,
    Pop3ServerError,
    printable,
)
from popview.pop3.malformed import MalformedReply
from popview.pop3.protocol import ErrReply, RemoteProtocolError

__all__ = ["WHAT", "protocol_error", "server_error"]

WHAT: Final = {
    "STAT": "the mailbox size",
    "LIST": "the message list",
    "UIDL": "the message ids",
    "TOP": "message headers",
    "RETR": "the message",
    "DELE": "the answer to a deletion mark",
    "RSET": "the answer to a reset",
    "NOOP": "the answer to a keep-alive",
    "QUIT": "the answer to logging out",
    "CAPA": "its capabilities",
    "STLS": "the answer to STARTTLS",
    "UTF8": "the answer to UTF8",
}
"""What each command was waiting for, by verb."""

# "The server refused ...", by command.
_REFUSED = {
    "STAT": "to report the mailbox size",
    "LIST": "to send the message list",
    "UIDL": "to send the message ids",
    "TOP": "to send the message headers",
    "RETR": "to send the message",
    "DELE": "to mark the message for deletion",
    "RSET": "to undo the deletion marks",
    "NOOP": "the keep-alive",
    "CAPA": "to list its capabilities",
    "UTF8": "to switch to UTF-8",
    "USER": "the login",
    "PASS": "the login",
    "APOP": "the login",
    "AUTH": "the login",
}


def server_error(reply: ErrReply, verb: str, *, login: bool = False) -> Pop3ServerError:
    """Turn an ``-ERR`` into the error a user sees (RFC 2449 §8, RFC 3206).

    Args:
        reply: The ``-ERR`` reply.
        verb: The command it answers, e.g. ``"RETR"``.
        login: Whether the reply answers a login command (an ``-ERR`` without a
            code then means the credentials were refused).
    """
    text = printable(reply.text, 200)
    code = reply.code.upper() if reply.code else None
    said = f' The server said: "{text}"' if text else ""
    base = code.split("/")[0] if code else None
    if login and (code is None or base in ("AUTH", "AUTH-RESP-CODE")):
        return AuthError(
            "The server refused the user name or password. Check them and try again." + said,
            reply_text=text,
            code=code,
        )
    asked = _REFUSED.get(verb, f"the {printable(verb, 20)} command")
    return Pop3ServerError(f"The server refused {asked}." + said, reply_text=text, code=code)


def protocol_error(exc: RemoteProtocolError, what: str) -> Pop3ProtocolError | Pop3ConnectionError:
    """Turn the core's terse protocol error into the error a user sees.

    The connection is dropped whichever it is (rule "drop-on-framing-error");
    that is the caller's business, this only words it.

    Args:
        exc: What the core (or a reply parser) raised.
        what: What the server was sending (a :data:`WHAT` value), for a
            connection closed in the middle of it.
    """
    if isinstance(exc, MalformedReply):
        return Pop3ProtocolError(f"The server sent a malformed {exc.reply} reply: {exc.text!r}.")
    if exc.closed:
        return Pop3ConnectionError(
            f"The server closed the connection while sending {what}. Try again."
        )
    return Pop3ProtocolError(f"The server broke the POP3 protocol: {exc}.")
