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
import contextlib
import email.utils
import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

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
    "display_address",
    "first_address",
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
        return display_address(self.name, self.addr)


def display_address(name: str, addr: str) -> str:
    """``name <addr>``, or whichever of the two there is (:attr:`Address.display`
    without building an :class:`Address`: the listing asks for 10,000 of them)."""
    if name and addr and name != addr:
        return f"{name} <{addr}>"
    return addr or name


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
    if "=?" not in value or max_words <= 0:
        return value
    # One C-speed split: [text, charset, encoding, payload, text, ...]; the
    # last text holds whatever follows the max_words-th word, as it is.
    parts = _ENCODED_WORD.split(value, max_words)
    out = [parts[0]]
    run: list[bytes] = []  # payloads of adjacent words in one charset
    run_charset = run_key = ""
    last = len(parts) // 4
    words = zip(parts[1::4], parts[2::4], parts[3::4], parts[4::4], strict=True)
    for count, (charset, encoding, payload, after) in enumerate(words, 1):
        key = charset.lower()
        if key != run_key:
            if run:
                out.append(decode_bytes(b"".join(run), run_charset)[0])
                run.clear()
            run_charset, run_key = charset, key
        base64 = encoding in "bB"
        if len(payload) <= _WORD_CACHE_LEN:
            run.append(_decode_word(base64, payload))
        else:  # longer than RFC 2047 §2 allows: not worth a place in the cache
            run.append(_decode_b(payload) if base64 else _decode_q(payload))
        if (after and not after.isspace()) or count == last:
            # Text that is not just whitespace between two words ends the run.
            out.append(decode_bytes(b"".join(run), run_charset)[0])
            out.append(after)
            run.clear()
            run_key = ""
    return "".join(out)


_WORD_CACHE_LEN = 75  # RFC 2047 §2: an encoded-word is at most 75 characters


@functools.lru_cache(maxsize=4096)  # names and list tags recur across a mailbox
def _decode_word(base64: bool, payload: str) -> bytes:
    return _decode_b(payload) if base64 else _decode_q(payload)


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


def first_address(value: str) -> Address:
    """The first address of a From value (raw, unfolded), as :func:`parse_addresses`
    gives it (empty when there is none); remembered, since senders recur."""
    found = _FIRST_ADDRESS.get(value)
    if found is None:
        if len(_FIRST_ADDRESS) >= _CACHE_ENTRIES:
            _FIRST_ADDRESS.clear()  # bounded: a mailbox of distinct senders costs no more
        parsed = parse_addresses(value, max_count=1)
        found = parsed[0] if parsed else Address("", "")
        if len(value) <= 1000:
            _FIRST_ADDRESS[value] = found
    return found


_CACHE_ENTRIES = 4096
_FIRST_ADDRESS: dict[str, Address] = {}
# RFC 5322 §3.3 in the form nearly every mail uses: "Mon, 4 Mar 2024 09:00:00 +0000".
_RFC5322_DATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([1-9][0-9]{3}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"
)
_MONTHS = {
    m: n
    for n, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_ZONES: dict[str, timezone] = {}


def parse_date(value: str) -> datetime | None:
    """Parse an RFC 5322 §3.3 date into an aware datetime, or ``None``.

    A date with ``-0000`` (unknown zone) is taken as UTC. The usual form is
    read directly; anything else (or anything out of range) goes to
    :func:`email.utils.parsedate_to_datetime`, which gives the same result
    for the usual form.
    """
    value = value.strip()[:200]
    found = _RFC5322_DATE.fullmatch(value)
    if found is not None:  # -0000 gives UTC, as below
        day, month, year, hour, minute, second, sign, zone_h, zone_m = found.groups()
        zone = _ZONES.get(sign + zone_h + zone_m)
        if zone is None:
            seconds = int(zone_h) * 3600 + int(zone_m) * 60
            with contextlib.suppress(ValueError):
                zone = timezone(timedelta(seconds=-seconds if sign == "-" else seconds))
                _ZONES[sign + zone_h + zone_m] = zone  # at most 20,000 distinct
        if zone is not None:
            with contextlib.suppress(ValueError):
                return datetime(
                    int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second),
                    tzinfo=zone,
                )  # fmt: skip
    return _parse_date_slow(value)


def _parse_date_slow(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
