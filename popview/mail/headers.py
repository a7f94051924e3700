"""Header values: RFC 2047 encoded words, addresses and dates, in bounded time.

These functions take *raw* header values (unfolded, not yet decoded) and
return sanitized display data. They never raise and never spend more than a
bounded amount of work on a value: each value is cut to ``RAW_VALUE_CAP``
characters, at most ``MAX_ENCODED_WORDS`` encoded words are decoded and at
most ``MAX_ADDRESSES`` addresses are parsed (gh-136063, CVE-2021-3181 class:
pathological headers must not stall the listing).
"""

from __future__ import annotations

import binascii
import email.utils
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from popview.mail.charset import decode_bytes
from popview.sanitize import sanitize_header

__all__ = [
    "ADDRESS_VALUE_CAP",
    "MAX_ADDRESSES",
    "MAX_ENCODED_WORDS",
    "RAW_VALUE_CAP",
    "Address",
    "decode_header_bytes",
    "decode_words",
    "parse_addresses",
    "parse_date",
]

#: Characters of a raw header value that are looked at (a 1 MB Subject is cut).
RAW_VALUE_CAP = 16_384
#: Encoded words decoded per value; the rest is shown as it is.
MAX_ENCODED_WORDS = 500
#: Addresses parsed per header (To with 200,000 ``;`` is cut).
MAX_ADDRESSES = 200
#: Characters of an address-list value that are parsed.
ADDRESS_VALUE_CAP = 8_192

# RFC 2047 §2: encoded-word = "=?" charset "?" encoding "?" encoded-text "?="
# (charset may carry an RFC 2231 §5 "*language" suffix).
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?\s]*)\?=")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
# One mailbox in the commonest form, 'Name <addr>' (RFC 5322 §3.4 name-addr).
# Parsed directly so that a name with specials ("[bold]", ";") is shown as
# written instead of being split into several bogus addresses.
_NAME_ADDR = re.compile(r"\s*(.*?)\s*<([^<>]*)>\s*", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox, both parts decoded and sanitized.

    Attributes:
        name: The display name ("" when there is none).
        addr: The address itself ("" when the header held only a name).
    """

    name: str
    addr: str

    @property
    def display(self) -> str:
        """Name *and* address, so a name cannot pose as another address."""
        if self.name and self.addr and self.name != self.addr:
            return f"{self.name} <{self.addr}>"
        return self.addr or self.name


def decode_header_bytes(raw: bytes) -> str:
    """Decode a raw 8-bit header value: UTF-8 if valid, else Windows-1252."""
    text, _ = decode_bytes(raw[: RAW_VALUE_CAP * 4], None)
    return text


def _decode_b(payload: str) -> bytes:
    data = _NOT_BASE64.sub(b"", payload.encode("ascii", "replace"))
    if len(data) % 4 == 1:
        data = data[:-1]  # a lone trailing sextet carries no whole byte
    data += b"=" * (-len(data) % 4)
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return b""


def _decode_q(payload: str) -> bytes:
    # RFC 2047 §4.2: "_" is a space, "=XX" a byte.
    return binascii.a2b_qp(payload.encode("ascii", "replace"), header=True)


def decode_words(value: str, *, max_words: int = MAX_ENCODED_WORDS) -> str:
    """Decode the RFC 2047 encoded words in ``value`` (not sanitized).

    Adjacent encoded words in the same charset are joined before decoding, so
    a multibyte character split across two words survives; whitespace between
    encoded words is dropped (RFC 2047 §6.2). Unknown charsets and invalid
    bytes decode with fallbacks, never raising.

    Args:
        value: An unfolded header value.
        max_words: Encoded words decoded; anything after is kept as it is.

    Returns:
        The decoded text (still to be sanitized).
    """
    value = value[:RAW_VALUE_CAP]
    if "=?" not in value:
        return value
    out: list[str] = []
    pending_charset: str | None = None
    pending = bytearray()
    pos = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            out.append(decode_bytes(bytes(pending), pending_charset)[0])
            pending.clear()
            pending_charset = None

    for count, match in enumerate(_ENCODED_WORD.finditer(value)):
        if count >= max_words:
            break
        between = value[pos : match.start()]
        if not (pending_charset is not None and not between.strip()):
            flush()
            out.append(between)
        charset, encoding, payload = match.groups()
        data = _decode_b(payload) if encoding in "bB" else _decode_q(payload)
        if charset.lower() != (pending_charset or "").lower():
            flush()
            pending_charset = charset
        pending.extend(data)
        pos = match.end()
    flush()
    out.append(value[pos:])
    return "".join(out)


def _getaddresses(value: str) -> list[tuple[str, str]]:
    try:
        return email.utils.getaddresses([value])
    except Exception:  # the stdlib parser has raised on odd input before
        return [("", value)]


def parse_addresses(value: str, *, max_count: int = MAX_ADDRESSES) -> tuple[Address, ...]:
    """Parse an address-list header (raw, unfolded) into display addresses.

    Args:
        value: Raw header value, encoded words not yet decoded (a decoded
            name could contain commas or quotes).
        max_count: Addresses kept.

    Returns:
        Up to ``max_count`` addresses, empty entries dropped.
    """
    value = value[:ADDRESS_VALUE_CAP]
    single = _NAME_ADDR.fullmatch(value)
    if single is not None and not set(",<") & set(_QUOTED.sub("", single.group(1))):
        name = single.group(1)
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
        pairs = [(name, single.group(2).strip())]
    else:
        pairs = _getaddresses(value)
    result: list[Address] = []
    for name, addr in pairs:
        if len(result) >= max_count:
            break
        clean = Address(
            sanitize_header(decode_words(name), max_len=200),
            sanitize_header(decode_words(addr), max_len=320),
        )
        if clean.name or clean.addr:
            result.append(clean)
    return tuple(result)


def parse_date(value: str) -> datetime | None:
    """Parse an RFC 5322 §3.3 date into an aware datetime, or ``None``.

    A date with ``-0000`` (unknown zone) is taken as UTC.
    """
    value = value.strip()[:200]
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
