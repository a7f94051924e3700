"""Turn bytes in a declared (and possibly lying) charset into text, never raising.

Mail declares charsets that are wrong (``us-ascii`` on Windows-1252 text),
unknown (``x-foo``), malformed (``utf-8"evil``) or dangerous to run on
untrusted input (``punycode`` decodes in quadratic time; ``unicode_escape``
is not a charset at all). :func:`decode_bytes` tries the declared charset,
then UTF-8, then a replacement decode, and always returns a string.
"""

from __future__ import annotations

import codecs
import functools
import re

__all__ = ["decode_bytes", "lookup_charset"]

# Labels that mean "Windows-1252" in practice (WHATWG Encoding Standard §4.2:
# browsers decode ascii and latin-1 labels as windows-1252, and so does mail).
_AS_CP1252 = frozenset({"ascii", "latin_1", "iso8859_1", "cp1252"})
# Supersets that decode everything the declared charset does, and more of
# what is really sent under that label.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "ks_c_5601_1987": "cp949",
    "iso8859_9": "cp1254",
    "tis_620": "cp874",
    "iso8859_11": "cp874",
}
# Any character UTF-8 decoding produced beyond ASCII and U+FFFD.
_REAL_NON_ASCII = re.compile("[^\x00-\x7f\ufffd]")
# Python codecs that are not charsets, or are too costly on hostile input.
_REFUSED = frozenset(
    {"punycode", "idna", "unicode_escape", "raw_unicode_escape", "undefined", "mbcs", "oem"}
)


@functools.lru_cache(maxsize=512)  # a mailbox uses a few labels, 10,000 times each
def lookup_charset(label: str | None) -> str | None:
    """Return the Python codec name for a MIME charset label, or ``None``.

    Args:
        label: The label as found in the mail, possibly quoted, padded,
            carrying an RFC 2231 language suffix, or garbage.

    Returns:
        A codec name that decodes bytes to text, or ``None`` when the label is
        unknown or refused.
    """
    if not label:
        return None
    name = label.strip().strip("\"'").split("*", 1)[0].strip().lower()
    if not name or len(name) > 40 or not name.isascii():
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    codec = info.name.replace("-", "_")
    if codec in _REFUSED or not getattr(info, "_is_text_encoding", True):
        return None
    return _SUPERSETS.get(codec, codec)


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, bool]:
    """Decode ``data`` as well as it can be decoded.

    Order: the declared charset (with ascii/latin-1 read as Windows-1252),
    then UTF-8, then the declared charset (or Windows-1252) with U+FFFD for
    the bytes that still do not decode.

    Args:
        data: Raw bytes of a header word or a body part.
        charset: The declared label, or ``None``.

    Returns:
        ``(text, clean)``: ``clean`` is ``False`` when replacement characters
        had to be used or the declared charset was ignored.
    """
    codec = lookup_charset(charset)
    declared_ok = codec is not None or not charset
    if codec in _AS_CP1252 or codec is None:
        # 7-bit data is the same in all of these; try UTF-8 before cp1252
        # because an "ascii" label on UTF-8 text is the commonest lie.
        for attempt in ("utf_8", "cp1252"):
            try:
                return data.decode(attempt), declared_ok or data.isascii()
            except UnicodeDecodeError:
                continue
        return data.decode("cp1252", "replace"), False
    for attempt in (codec, "utf_8"):
        try:
            return data.decode(attempt), attempt == codec
        except (UnicodeError, LookupError, ValueError):
            continue
    if codec == "utf_8":
        text = data.decode("utf_8", "replace")
        if _REAL_NON_ASCII.search(text) is None:
            # Not a single valid multibyte sequence: this is 8-bit text under
            # a UTF-8 label (Windows-1252 being by far the commonest).
            return data.decode("cp1252", "replace"), False
        return text, False
    try:
        return data.decode(codec, "replace"), False
    except (UnicodeError, LookupError, ValueError):
        return data.decode("utf_8", "replace"), False
