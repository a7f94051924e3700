"""Turning envelope fields into short display strings (no Textual, no markup)."""

from __future__ import annotations

from datetime import datetime

from popview.sanitize import sanitize_text

__all__ = ["compact_date", "human_size", "short_date", "single_line", "size_label"]


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


def size_label(octets: int) -> str:
    """A total, in words a status line reads: ``"512 B"``, ``"4.1 MB"`` (units of 1024)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if octets >= scale:
            return f"{octets / scale:.1f} {unit}"
    return f"{octets} B"


def short_date(when: datetime | None) -> str:
    """A fixed-width local date, ``YYYY-MM-DD HH:MM`` ("" when unknown)."""
    if when is None:
        return ""
    try:
        return when.astimezone().strftime("%Y-%m-%d %H:%M")
    except (OverflowError, ValueError, OSError):
        return ""


def compact_date(when: datetime | None, now: datetime | None = None) -> str:
    """A local date in at most 10 cells, as mutt's index shows it.

    ``HH:MM`` for today, ``Mar 15`` for this year, ``2023-03-15`` before
    ("" when unknown). The list uses it when the terminal is too narrow for
    :func:`short_date`, so the subject keeps the room.
    """
    if when is None:
        return ""
    try:
        local = when.astimezone()
        today = (now or datetime.now().astimezone()).astimezone()
    except (OverflowError, ValueError, OSError):
        return ""
    if local.date() == today.date():
        return local.strftime("%H:%M")
    if local.year == today.year:
        return local.strftime("%b %d")
    return local.strftime("%Y-%m-%d")


def single_line(text: str, limit: int = 400) -> str:
    """Sanitize untrusted text for one table cell or header line."""
    return sanitize_text(text, max_len=limit)
