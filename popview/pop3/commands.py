"""POP3 commands (RFC 1939, RFC 2449, RFC 2595, RFC 5034, RFC 6856) as frozen values.

Each constructor checks its arguments (HARDENING B.30: no CR, LF or NUL can
smuggle a second command onto the line) and says whether the reply is
multi-line. :class:`popview.pop3.protocol.Pop3Connection` turns a
:class:`Command` into bytes; everything here is re-exported by
:mod:`popview.pop3.protocol`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Command",
    "apop",
    "auth",
    "capa",
    "check_argument",
    "dele",
    "list_",
    "noop",
    "pass_",
    "quit",
    "retr",
    "rset",
    "sasl_cancel",
    "sasl_response",
    "stat",
    "stls",
    "top",
    "uidl",
    "user",
    "utf8",
]


@dataclass(frozen=True)
class Command:
    """One POP3 command line. Build it with the constructors below.

    Attributes:
        verb: Upper-case keyword, e.g. ``"RETR"`` (empty for a raw line).
        args: Arguments, already validated (no CR, LF or NUL).
        multiline: Whether a ``+OK`` reply is followed by a dot-terminated block.
        secret: Whether arguments must be masked in traces (PASS, APOP,
            AUTH responses).
        max_bytes: Cap on the multi-line body for this command, or ``None`` for
            :attr:`popview.pop3.protocol.Limits.max_response_bytes`.
        max_lines: Cap on the multi-line line count, or ``None`` for the default.
        raw: For SASL responses: the line is sent as is (no verb), and it does
            not await a reply of its own (the pending ``AUTH`` does).
        public_args: How many leading arguments :meth:`trace` shows even when
            ``secret`` (the user name of APOP, the mechanism of AUTH).
        progress: Whether :class:`~popview.pop3.events.Progress` events report
            the block while it arrives (``RETR``).
        stream: Whether the block comes as :class:`~popview.pop3.events.Data`
            pieces as it arrives instead of whole (a listing of junk rows must
            not be held whole, HARDENING A.7).
        last: For a SASL response: the client's last line of the exchange, after
            which commands may be pipelined behind the pending ``AUTH``.
    """

    verb: str
    args: tuple[str, ...] = ()
    multiline: bool = False
    secret: bool = False
    max_bytes: int | None = None
    max_lines: int | None = None
    raw: bool = False
    public_args: int = 0
    progress: bool = False
    stream: bool = False
    last: bool = False

    def line(self) -> str:
        """Return the command line without its CRLF (secrets included)."""
        if self.raw:
            return self.args[0] if self.args else ""
        return " ".join((self.verb, *self.args))

    def trace(self) -> str:
        """Return the command as it may appear in a log (secrets masked)."""
        if not self.secret:
            return self.line()
        if self.raw:
            return "***"
        shown = self.args[: self.public_args]
        masked = ("***",) if len(self.args) > len(shown) else ()
        return " ".join((self.verb, *shown, *masked))

    def __repr__(self) -> str:
        # rule "secrets-never-shown", HARDENING C.35: a Command ends up in crash screens' locals,
        # ``pending`` and %r logs, so its repr masks what trace() masks.
        args = self.args if not self.secret else (self.trace(),)
        return f"Command(verb={self.verb!r}, args={args!r}, secret={self.secret!r})"


def check_argument(value: str) -> str:
    """Return ``value`` if it may go on a command line; raise otherwise.

    Raises:
        TypeError: ``value`` is not a str.
        ValueError: It holds CR, LF, NUL or a lone surrogate.
    """
    # HARDENING B.30: a CR/LF would let a value inject a second command.
    if not isinstance(value, str):
        raise TypeError(f"command argument must be str, not {type(value).__name__}")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError("command argument contains CR, LF or NUL")
    if not value.isascii() and any("\ud800" <= ch <= "\udfff" for ch in value):
        # A lone surrogate (non-UTF-8 bytes via surrogateescape) would fail in
        # encode() with a UnicodeEncodeError whose repr holds the whole line.
        raise ValueError("command argument is not valid Unicode text")
    return value


def _number(value: int, *, minimum: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("message number must be an int")
    if value < minimum:
        raise ValueError(f"number must be >= {minimum}, got {value}")
    return str(value)


def stat() -> Command:
    """STAT (RFC 1939 §5): ``+OK count size``."""
    return Command("STAT")


def list_(n: int | None = None) -> Command:
    """LIST: the scan listing of all messages (multi-line), or of message ``n``."""
    if n is None:
        return Command("LIST", multiline=True)
    return Command("LIST", (_number(n),))


def uidl(n: int | None = None) -> Command:
    """UIDL: unique ids of all messages (multi-line), or of message ``n``."""
    if n is None:
        return Command("UIDL", multiline=True)
    return Command("UIDL", (_number(n),))


def top(n: int, lines: int, max_bytes: int | None = None) -> Command:
    """TOP n lines: headers plus ``lines`` body lines (multi-line)."""
    return Command("TOP", (_number(n), _number(lines, minimum=0)), True, max_bytes=max_bytes)


def retr(n: int, max_bytes: int | None = None) -> Command:
    """RETR n (multi-line); ``max_bytes`` caps the message body."""
    return Command("RETR", (_number(n),), multiline=True, max_bytes=max_bytes, progress=True)


def dele(n: int) -> Command:
    """DELE n: mark message ``n`` deleted (applied only at QUIT, RFC 1939 §6)."""
    return Command("DELE", (_number(n),))


def rset() -> Command:
    """RSET: unmark every message marked deleted in this session."""
    return Command("RSET")


def noop() -> Command:
    """NOOP."""
    return Command("NOOP")


def quit() -> Command:
    """QUIT: commits deletions (UPDATE state). Only on an explicit user commit."""
    return Command("QUIT")


def capa() -> Command:
    """CAPA (RFC 2449, multi-line)."""
    return Command("CAPA", multiline=True, max_lines=10_000, max_bytes=1024 * 1024)


def stls() -> Command:
    """STLS (RFC 2595 §4)."""
    return Command("STLS")


def utf8() -> Command:
    """UTF8 (RFC 6856 §2)."""
    return Command("UTF8")


def user(name: str) -> Command:
    """USER name."""
    if not check_argument(name):
        raise ValueError("user name is empty")
    return Command("USER", (name,))


def pass_(password: str) -> Command:
    """PASS password (masked in traces as ``PASS ***``)."""
    return Command("PASS", (check_argument(password),), secret=True)


def apop(name: str, digest: str) -> Command:
    """APOP name digest (RFC 1939 §7); the digest is masked in traces."""
    if not check_argument(name):
        raise ValueError("user name is empty")
    return Command("APOP", (name, check_argument(digest)), secret=True, public_args=1)


def auth(mechanism: str, initial_response: str | None = None) -> Command:
    """AUTH mechanism [initial-response] (RFC 5034); the response is masked.

    Args:
        mechanism: SASL mechanism name, e.g. ``"SCRAM-SHA-256"``.
        initial_response: Base64 text (``"="`` for an empty one), or ``None``.
    """
    if not check_argument(mechanism) or " " in mechanism:
        raise ValueError("bad SASL mechanism name")
    args: tuple[str, ...] = (mechanism.upper(),)
    if initial_response is not None:
        args += (check_argument(initial_response),)
    return Command("AUTH", args, secret=True, public_args=1)


def sasl_response(data: str, *, last: bool = False) -> Command:
    """A SASL response line (base64 text) answering a ``+ `` challenge.

    Args:
        data: The base64 text (empty for an empty response).
        last: The exchange has nothing more to send after it (the empty line
            that acknowledges a server's final data, RFC 5034 §4): commands may
            then be pipelined behind the ``AUTH`` (RFC 2449 §6.6).
    """
    return Command("", (check_argument(data),), secret=True, raw=True, last=last)


def sasl_cancel() -> Command:
    """The ``*`` line that cancels an AUTH exchange (RFC 5034 §4)."""
    return Command("", ("*",), raw=True)
