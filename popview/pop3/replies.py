"""Pure parsers for POP3 reply contents: STAT, LIST, UIDL, CAPA and the APOP timestamp.

They take the lines a :class:`popview.pop3.protocol.Pop3Connection` produced
and turn them into data. Junk rows are rejected into ``rejected`` (sanitized
for display) while good rows are kept (HARDENING A.12, A.13): one bad row from
a broken server must not hide the rest of the mailbox.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Generic, TypeVar

from popview.errors import printable

if TYPE_CHECKING:
    from popview.pop3.protocol import RemoteProtocolError

__all__ = [
    "Capabilities",
    "ListEntry",
    "ListingResult",
    "UidlEntry",
    "block_lines",
    "decode_line",
    "parse_capa",
    "parse_list",
    "parse_list_line",
    "parse_stat",
    "parse_timestamp",
    "parse_uidl",
    "parse_uidl_line",
    "scan_list",
    "scan_uidl",
]


def block_lines(data: bytes) -> list[bytes]:
    """The lines of a block the core returned (every line ends in CRLF), without CRLF."""
    lines = data.split(b"\r\n")
    lines.pop()  # the empty text after the last CRLF
    return lines


def decode_line(raw: bytes) -> str:
    """Decode a protocol line leniently: UTF-8, bad bytes become U+FFFD."""
    return raw.decode("utf-8", "replace")


_ATEXT: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)
_MAX_NUMBER: Final = 2**63 - 1

_MAX_CAPA_LINES: Final = 512
_MAX_CAPA_LINE: Final = 1024

T = TypeVar("T")


def _dot_atom(text: str) -> bool:
    # RFC 5322 §3.2.3 dot-atom-text = 1*atext *("." 1*atext)
    parts = text.split(".")
    return all(part and all(ch in _ATEXT for ch in part) for part in parts)


def _msg_id(candidate: str) -> bool:
    # RFC 5322 §3.6.4: "<" id-left "@" id-right ">", id-right may be a
    # no-fold-literal "[" *dtext "]".
    left, at, right = candidate[1:-1].partition("@")
    if not at or not _dot_atom(left):
        return False
    if right.startswith("[") and right.endswith("]") and len(right) >= 2:
        return all("!" <= ch <= "~" and ch not in "[]\\" for ch in right[1:-1])
    return _dot_atom(right)


def parse_timestamp(text: str) -> str | None:
    """Return the first ``<...>`` in ``text`` that is a valid msg-id, or None.

    Runs in linear time on hostile greetings (HARDENING B.28): a msg-id holds
    no ``<`` or ``>``, so only the span from the last ``<`` before each ``>``
    can be one, and those spans do not overlap.
    """
    start = -1
    for i, ch in enumerate(text):
        if ch == "<":
            start = i
        elif ch == ">" and start >= 0:
            candidate = text[start : i + 1]
            if _msg_id(candidate):
                return candidate
            start = -1
    return None


def _int(token: str, *, minimum: int = 0) -> int | None:
    """Parse a decimal ASCII number (no sign, no spaces), or None."""
    # isascii() + isdigit() is exactly [0-9]+, without a Python loop per character.
    if not token or len(token) > 19 or not (token.isascii() and token.isdigit()):
        return None
    value = int(token)
    return value if minimum <= value <= _MAX_NUMBER else None


def _text(line: bytes | str) -> str:
    return decode_line(line) if isinstance(line, bytes) else line


def _malformed(reply: str, text: str) -> RemoteProtocolError:
    # Imported here: protocol.py imports this module before it defines its errors.
    from popview.pop3.malformed import MalformedReply

    return MalformedReply(reply, printable(text))


@dataclass(frozen=True)
class ListEntry:
    """One LIST row: message number and size in octets as the server says."""

    number: int
    size: int


@dataclass(frozen=True)
class UidlEntry:
    """One UIDL row as the server sent it (the protocol core keeps the data;
    whether the id is usable across sessions is the session's decision)."""

    number: int
    uid: str


@dataclass(frozen=True)
class ListingResult(Generic[T]):
    """Good rows kept, bad rows reported (sanitized) instead of raising."""

    entries: tuple[T, ...]
    rejected: tuple[str, ...] = ()


def parse_stat(text: str) -> tuple[int, int]:
    """Parse the text of a STAT ``+OK`` (``"count size [anything]"``).

    Raises:
        RemoteProtocolError: The text is not two non-negative numbers
            (a :class:`~popview.pop3.malformed.MalformedReply`).
    """
    parts = text.split(" ", 2)
    numbers = [_int(part) for part in parts[:2]]
    if len(parts) < 2 or numbers[0] is None or numbers[1] is None:
        raise _malformed("STAT", text)
    return numbers[0], numbers[1]


def _scan_row(text: str) -> tuple[int, int] | None:
    # RFC 1939 §5: msg-number SP size, and "no requirement on what follows
    # the message size" - but trailing blanks and glued junk are refused.
    parts = text.split(" ", 2)
    if len(parts) < 2 or (len(parts) == 3 and (not parts[2] or parts[2] != parts[2].strip())):
        return None
    number, size = _int(parts[0], minimum=1), _int(parts[1])
    if number is None or size is None:
        return None
    return number, size


def _uid_row(text: str) -> tuple[int, str] | None:
    number_text, sep, uid = text.partition(" ")
    number = _int(number_text, minimum=1)
    if not sep or number is None:
        return None
    return number, uid


def parse_list_line(text: str) -> ListEntry:
    """Parse the text of a ``LIST n`` ``+OK`` reply.

    Raises:
        RemoteProtocolError: The text is not a scan listing
            (a :class:`~popview.pop3.malformed.MalformedReply`).
    """
    row = _scan_row(text)
    if row is None:
        raise _malformed("LIST", text)
    return ListEntry(*row)


def parse_uidl_line(text: str) -> UidlEntry:
    """Parse the text of a ``UIDL n`` ``+OK`` reply.

    Raises:
        RemoteProtocolError: The text does not start with a message number
            (a :class:`~popview.pop3.malformed.MalformedReply`).
    """
    row = _uid_row(text)
    if row is None:
        raise _malformed("UIDL", text)
    return UidlEntry(*row)


# The whole-block fast paths: one regex match over the block checks that every
# line is a row of the strictest form - a number without a leading zero, of at
# most 18 digits (so below 2**63), one space, a LIST size of at most 18 digits or
# a printable-ASCII UIDL id, CRLF - which the row parsers above accept with the
# same values. Then one split() at the blanks yields number, value, number,
# value... When a line is of another form (junk, a LIST row with text after the
# size, an id with a space or non-ASCII) or a number repeats or exceeds the
# STAT count, the row parsers sort the block, with the result they always had.
_LIST_BLOCK: Final = re.compile(rb"(?:[1-9][0-9]{0,17} [0-9]{1,18}\r\n)*")
_UIDL_BLOCK: Final = re.compile(r"(?:[1-9][0-9]{0,17} [!-~]+\r\n)*")


def _all_good(numbers: dict[int, T], rows: int, max_number: int | None) -> bool:
    return len(numbers) == rows and (
        max_number is None or not numbers or max(numbers) <= max_number
    )


def scan_list(block: bytes, max_number: int | None = None) -> tuple[dict[int, int], list[str]]:
    """Parse a whole LIST block (HARDENING A.12): good rows kept, junk reported.

    An all-good block, the usual case, is parsed without a Python step per row;
    any other goes through the rows one at a time, with the same result.

    Args:
        block: The block as the core returns it: every line ends in CRLF.
        max_number: The STAT count, if known: higher numbers are rejected.

    Returns:
        Message number -> size in the server's order (a repeated number keeps
        its first row), and the rejected rows, sanitized.
    """
    if _LIST_BLOCK.fullmatch(block) is not None:
        words = list(map(int, block.split()))
        found = dict(zip(words[0::2], words[1::2], strict=True))
        if _all_good(found, len(words) // 2, max_number):
            return found, []
    return _list_rows(block_lines(block), max_number)


def scan_uidl(block: bytes, max_number: int | None = None) -> tuple[dict[int, str], list[str]]:
    """Parse a whole UIDL block (HARDENING A.12/A.13), like :func:`scan_list`.

    Rows without a valid message number, or repeating one, are rejected. Ids
    are kept as sent (decoded leniently), even ones that break RFC 1939 §7 or
    appear twice: the session decides which are stable
    (:mod:`popview.session.identity`).

    Returns:
        Message number -> unique-id in the server's order, and the rejected
        rows, sanitized.
    """
    text = decode_line(block)
    if _UIDL_BLOCK.fullmatch(text) is not None:
        words = text.split()
        found = dict(zip(map(int, words[0::2]), words[1::2], strict=True))
        if _all_good(found, len(words) // 2, max_number):
            return found, []
    return _uidl_rows(block_lines(block), max_number)


def _rows(
    lines: Iterable[bytes | str],
    max_number: int | None,
    row_of: Callable[[str], tuple[int, T] | None],
) -> tuple[dict[int, T], list[str]]:
    """The row-by-row path: good rows by number, bad ones (sanitized) apart."""
    found: dict[int, T] = {}
    rejected: list[str] = []
    for raw in lines:
        text = _text(raw)
        row = row_of(text)
        if row is None or row[0] in found or row[0] > (max_number or _MAX_NUMBER):
            rejected.append(printable(text))
        else:
            found[row[0]] = row[1]
    return found, rejected


def _list_rows(
    lines: Iterable[bytes | str], max_number: int | None
) -> tuple[dict[int, int], list[str]]:
    return _rows(lines, max_number, _scan_row)


def _uidl_rows(
    lines: Iterable[bytes | str], max_number: int | None
) -> tuple[dict[int, str], list[str]]:
    return _rows(lines, max_number, _uid_row)


def parse_list(
    lines: bytes | Iterable[bytes | str], max_number: int | None = None
) -> ListingResult[ListEntry]:
    """Parse a multi-line LIST block, keeping good rows (HARDENING A.12).

    Args:
        lines: The whole block (bytes, as the core returns it, see
            :func:`scan_list`) or its unstuffed lines.
        max_number: The STAT count, if known: higher numbers are rejected.
    """
    if isinstance(lines, bytes):
        sizes, rejected = scan_list(lines, max_number)
    else:
        sizes, rejected = _list_rows(lines, max_number)
    return ListingResult(tuple(map(ListEntry, sizes, sizes.values())), tuple(rejected))


def parse_uidl(
    lines: bytes | Iterable[bytes | str], max_number: int | None = None
) -> ListingResult[UidlEntry]:
    """Parse a multi-line UIDL block (HARDENING A.12/A.13), see :func:`scan_uidl`.

    Args:
        lines: The whole block (bytes, as the core returns it) or its unstuffed lines.
        max_number: The STAT count, if known: higher numbers are rejected.
    """
    if isinstance(lines, bytes):
        uids, rejected = scan_uidl(lines, max_number)
    else:
        uids, rejected = _uidl_rows(lines, max_number)
    return ListingResult(tuple(map(UidlEntry, uids, uids.values())), tuple(rejected))


@dataclass(frozen=True)
class Capabilities:
    """RFC 2449 CAPA, parsed. ``None``/empty means not advertised.

    Attributes:
        raw: The (capped) CAPA lines as sent.
        login_delay: Seconds between logins (``LOGIN-DELAY``).
        login_delay_user: ``LOGIN-DELAY n USER``: may change after login.
        expire: Days messages are kept; ``-1`` for ``NEVER``; ``0`` means
            the server may delete a message once it was retrieved.
        expire_user: ``EXPIRE n USER``: may change after login.
        utf8_user: ``UTF8 USER``: UTF-8 user names are allowed (RFC 6856).
        sasl: Upper-cased SASL mechanism names, in server order.
        rejected: Sanitized lines that could not be understood.
        truncated: More lines than were read were sent (HARDENING A.18).
    """

    raw: tuple[str, ...] = ()
    top: bool = False
    user: bool = False
    uidl: bool = False
    pipelining: bool = False
    resp_codes: bool = False
    auth_resp_code: bool = False
    stls: bool = False
    utf8: bool = False
    sasl: tuple[str, ...] = ()
    login_delay: int | None = None
    expire: int | None = None  # None: not advertised; -1: NEVER
    implementation: str | None = None
    rejected: tuple[str, ...] = field(default_factory=tuple)
    login_delay_user: bool = False
    expire_user: bool = False
    utf8_user: bool = False
    truncated: bool = False


_FLAGS: Final = {
    "TOP": "top",
    "USER": "user",
    "UIDL": "uidl",
    "PIPELINING": "pipelining",
    "RESP-CODES": "resp_codes",
    "AUTH-RESP-CODE": "auth_resp_code",
    "STLS": "stls",
}
_MECH_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _delay(args: list[str], never: bool) -> tuple[int, bool] | None:
    # RFC 2449 §6.5/§6.6: "LOGIN-DELAY n [USER]", "EXPIRE n|NEVER [USER]".
    if not args or len(args) > 2 or (len(args) == 2 and args[1].upper() != "USER"):
        return None
    value = -1 if never and args[0].upper() == "NEVER" else _int(args[0])
    return None if value is None else (value, len(args) == 2)


def parse_capa(lines: Iterable[bytes | str], max_lines: int = _MAX_CAPA_LINES) -> Capabilities:
    """Parse a CAPA block into :class:`Capabilities` (RFC 2449 §6).

    Only the first ``max_lines`` lines are read (HARDENING A.18; ``truncated``
    says more were sent); lines that are over-long or malformed land in
    ``rejected``. Unknown capabilities are kept in ``raw`` only.
    """
    flags: dict[str, bool] = {}
    numbers: dict[str, int] = {}
    sasl: tuple[str, ...] = ()
    implementation: str | None = None
    raw: list[str] = []
    rejected: list[str] = []
    ignored = False
    for count, line in enumerate(lines):
        if count >= max_lines:
            ignored = True
            break
        text = _text(line)
        words = text.split()
        name = words[0].upper() if words else ""
        args = words[1:]
        if len(text) > _MAX_CAPA_LINE or not name or any(not ("!" <= c <= "~") for c in name):
            rejected.append(printable(text, 80))
            continue
        raw.append(text)
        if name in _FLAGS:
            flags[_FLAGS[name]] = True
        elif name == "UTF8":
            flags["utf8"] = True
            flags["utf8_user"] = [a.upper() for a in args] == ["USER"]
        elif name in ("LOGIN-DELAY", "EXPIRE"):
            parsed = _delay(args, never=name == "EXPIRE")
            key = name.lower().replace("-", "_")
            if parsed is None:
                rejected.append(printable(text, 80))
            else:
                numbers[key], flags[key + "_user"] = parsed
        elif name == "SASL":
            mechs = [m.upper() for m in args]
            good = [m for m in mechs if len(m) <= 20 and set(m) <= _MECH_CHARS]
            if len(good) != len(mechs):
                rejected.append(printable(text, 80))
            sasl = tuple(dict.fromkeys(good))
        elif name == "IMPLEMENTATION":
            implementation = text.split(None, 1)[1] if args else ""
    return Capabilities(
        raw=tuple(raw),
        rejected=tuple(rejected),
        truncated=ignored,
        sasl=sasl,
        implementation=implementation,
        login_delay=numbers.get("login_delay"),
        expire=numbers.get("expire"),
        **flags,
    )
