"""What no text made from a mail may carry to a terminal, for the mail tests."""

from __future__ import annotations

__all__ = ["FORBIDDEN"]

FORBIDDEN = {chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))}
"""C0 (but tab and line feed), DEL and C1 controls, bidi controls, ZWSP and BOM."""
FORBIDDEN |= set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\ufeff")
