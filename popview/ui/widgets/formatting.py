"""Turning envelope fields into short display strings (no Textual, no markup)."""

from __future__ import annotations

from datetime import datetime

from popview.sanitize import sanitize_text

__all__ = ["human_size", "short_date", "single_line"]


def human_size(octets: int | None) -> str:
    """``1234`` -> ``"1.2K"``; sizes as mutt shows them; ``None`` (the server's
    LIST row was malformed, HARDENING F.60) -> ``"?"``."""
    if octets is None:
        return "?"
    size = float(octets)
    for unit in ("", "K", "M", "G"):
        if size < 1000 or unit == "G":
            return f"{int(size)}" if unit == "" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{octets}"  # pragma: no cover - the loop always returns


def short_date(when: datetime | None) -> str:
    """A fixed-width local date, ``YYYY-MM-DD HH:MM`` ("" when unknown)."""
    if when is None:
        return ""
    try:
        return when.astimezone().strftime("%Y-%m-%d %H:%M")
    except (OverflowError, ValueError, OSError):
        return ""


def single_line(text: str, limit: int = 400) -> str:
    """Sanitize untrusted text for one table cell or header line."""
    return sanitize_text(text, max_len=limit)
