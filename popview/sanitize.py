"""Make decoded, untrusted text safe to put on a terminal.

Every string that comes from a mail or a server passes through here *after*
decoding (RFC 2047, charsets, transfer encodings), because an escape sequence
can hide inside any encoding layer (``=?us-ascii?q?=1B[2J?=``).

What the sanitizer guarantees for every input string, whatever it is:

* no C0 control (U+0000-U+001F) except TAB and LF in multiline mode;
* no DEL (U+007F), no C1 control (U+0080-U+009F), so neither a 7-bit ``ESC``
  nor an 8-bit ``CSI`` (U+009B) / ``OSC`` (U+009D) introducer survives;
* no bidi embedding, override or isolate (U+202A-U+202E, U+2066-U+2069), no
  LRM/RLM/ALM (U+200E, U+200F, U+061C), so text cannot be visually reordered
  (CVE-2021-42574, "Trojan Source");
* no zero-width character (U+200B-U+200D, U+2060), no BOM (U+FEFF), no other
  format character (Unicode category Cf), no lone surrogate, no line or
  paragraph separator (U+2028/U+2029) in single-line mode;
* at most :data:`MAX_COMBINING` combining marks on one character (Zalgo text,
  HARDENING F.65): thousands of stacked marks cannot slow a terminal down or
  spill over neighbouring rows;
* length capped, with an ellipsis when something was cut.

Removed characters are replaced by *visible* placeholders: control pictures
for C0 controls (``␛`` for ESC, ``␀`` for NUL, ``␡`` for DEL) and U+FFFD for
everything else, so a user can see that something was there.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "ELLIPSIS",
    "MAX_COMBINING",
    "REPLACEMENT",
    "sanitize_filename",
    "sanitize_header",
    "sanitize_text",
]

REPLACEMENT = "\ufffd"
ELLIPSIS = "…"

#: Default cap for :func:`sanitize_text` (characters).
DEFAULT_MAX_LEN = 100_000
#: Default cap for one displayed header value (characters).
HEADER_MAX_LEN = 2_000
#: Cap for a file name in characters; the UTF-8 form is also kept under 200 bytes.
#: Combining marks kept on one character; scripts that stack marks (Hebrew
#: points with cantillation, Vietnamese) need no more than this.
MAX_COMBINING = 4
FILENAME_MAX_LEN = 120
_FILENAME_MAX_BYTES = 200

# Every code point in categories Cc, Cf, Zl, Zp and Cs (Unicode 15, checked
# against unicodedata in tests/test_sanitize.py), plus invisible fillers that
# are letters by category but are used to fake blank names (Hangul fillers).
_UNSAFE_RANGES = (
    "\x00-\x1f\x7f-\x9f\xad"
    "\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\u3164\ud800-\udfff\ufeff\uffa0\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_SINGLE_LINE_UNSAFE = re.compile(f"[{_UNSAFE_RANGES}]+")
# Multiline keeps TAB and LF; CR and U+2028/U+2029 were turned into LF first.
_MULTI_LINE_UNSAFE = re.compile(
    "[" + _UNSAFE_RANGES.replace("\x00-\x1f", "\x00-\x08\x0b-\x1f") + "]+"
)
# The blocks of generic combining marks Zalgo text is made of (Combining
# Diacritical Marks and their Extended/Supplement blocks, Cyrillic combining
# signs, marks for symbols, half marks): a run longer than MAX_COMBINING is cut.
_COMBINING = "\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_COMBINING_RUN = re.compile(f"([{_COMBINING}]{{{MAX_COMBINING}}})[{_COMBINING}]+")
_LINE_BREAKS = re.compile("\r\n?|[\u2028\u2029\x85]")
# Printable ASCII (plus TAB and LF in multiline mode): text made only of these
# needs no change, and bytes.translate finds that out at C speed.
_ASCII_SAFE = bytes(range(0x20, 0x7F))
_ASCII_SAFE_MULTI = _ASCII_SAFE + b"\t\n"


def _placeholder(ch: str, *, single_line: bool) -> str:
    code = ord(ch)
    if single_line and ch in "\t\n\r\u2028\u2029\x85":
        # A folded or encoded line break inside a one-line field is whitespace.
        return " "
    if code == 0xAD:
        # Soft hyphen: invisible by design and harmless; drop it.
        return ""
    if code < 0x20:
        return chr(0x2400 + code)  # Control Pictures block: ␀ ... ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    return REPLACEMENT


_SINGLE_CACHE: dict[str, str] = {}
_MULTI_CACHE: dict[str, str] = {}


def _replace_single(match: re.Match[str]) -> str:
    run = match.group()
    cached = _SINGLE_CACHE.get(run)
    if cached is None:
        cached = "".join(_placeholder(ch, single_line=True) for ch in run)
        if len(run) == 1:
            _SINGLE_CACHE[run] = cached  # bounded: one entry per unsafe code point
    return cached


def _replace_multi(match: re.Match[str]) -> str:
    run = match.group()
    cached = _MULTI_CACHE.get(run)
    if cached is None:
        cached = "".join(_placeholder(ch, single_line=False) for ch in run)
        if len(run) == 1:
            _MULTI_CACHE[run] = cached
    return cached


def _cap(text: str, max_len: int) -> str:
    if len(text) <= max_len:
        return text
    return text[: max(max_len - 1, 0)] + ELLIPSIS


def sanitize_text(text: str, *, multiline: bool = False, max_len: int = DEFAULT_MAX_LEN) -> str:
    """Return ``text`` with every unsafe character shown as a placeholder.

    Args:
        text: Decoded, untrusted text.
        multiline: Keep TAB and line feeds (CR LF, CR, U+2028, U+2029 and NEL
            become LF). Otherwise line breaks and tabs become a space.
        max_len: Cap in characters; a longer result ends with ``…``. The input
            is cut before it is scanned, so the cost is bounded by ``max_len``.

    Returns:
        A string with no C0/C1 control, DEL, bidi control, zero-width or
        other format character (see the module docstring).
    """
    if len(text) > max_len:
        # Cut first (a little beyond the cap: placeholders may drop characters)
        # so a 50 MB string costs no more than a short one.
        text = text[: max_len + 1]
    if text.isascii():
        safe = _ASCII_SAFE_MULTI if multiline else _ASCII_SAFE
        if not text.encode("ascii").translate(None, safe):
            return _cap(text, max_len)  # the common case: nothing to replace
    text = _COMBINING_RUN.sub(r"\1", text)
    if multiline:
        text = _LINE_BREAKS.sub("\n", text)
        text = _MULTI_LINE_UNSAFE.sub(_replace_multi, text)
    else:
        text = _SINGLE_LINE_UNSAFE.sub(_replace_single, text)
    return _cap(text, max_len)


def sanitize_header(value: str, *, max_len: int = HEADER_MAX_LEN) -> str:
    """Return a decoded header value as one safe, trimmed display line.

    Args:
        value: The decoded (RFC 2047) header value.
        max_len: Cap in characters.

    Returns:
        One line, runs of whitespace collapsed, no unsafe characters.
    """
    if (
        len(value) <= max_len
        and value.isascii()
        and value.isprintable()  # for ASCII: only 0x20-0x7e, as _ASCII_SAFE
        and "  " not in value
        and value[:1] != " " != value[-1:]
    ):
        return value  # the common case: what the steps below would give back unchanged
    line = sanitize_text(value[: max_len * 4], max_len=max_len * 2)
    return _cap(" ".join(line.split()), max_len)


_FILENAME_UNSAFE = re.compile(f'[{_UNSAFE_RANGES}/\\\\:*?"<>|{REPLACEMENT}]')
_DOTS = re.compile(r"\.{2,}")


def sanitize_filename(name: str, *, default: str = "attachment") -> str:
    """Return a safe, non-empty file name for saving an attachment.

    The result has no path separator, no ``..``, no leading dot or dash (so it
    is neither hidden nor read as an option), no control, bidi or format
    character, and is at most ``FILENAME_MAX_LEN`` characters and
    ``200`` UTF-8 bytes, keeping the extension when it is shortened.

    Args:
        name: The decoded, untrusted name from ``Content-Disposition`` or
            ``Content-Type`` (or from a uuencode ``begin`` line).
        default: Used when nothing usable is left.

    Returns:
        A name that can be joined to a directory without leaving it.
    """
    name = unicodedata.normalize("NFC", name[:1000])
    name = _FILENAME_UNSAFE.sub("_", name)
    name = _DOTS.sub(".", name)
    name = " ".join(name.split())  # no tabs/odd spaces, no runs of blanks
    name = name.strip(" .").lstrip("-_ .")
    if not name or set(name) <= {"_", "."}:
        return default
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        stem, ext = name, ""
    ext = f".{ext}" if ext else ""
    while len(stem) + len(ext) > FILENAME_MAX_LEN or (
        len((stem + ext).encode("utf-8")) > _FILENAME_MAX_BYTES
    ):
        stem = stem[:-1]
    stem = stem.rstrip(" .")
    return (stem + ext) if stem else default
