"""``--match PATTERN`` and ``--rules`` for the headless ``list`` and ``delete``.

A pattern is parsed before anything connects (a typo costs no login), and
matched over the envelopes the listing fetched: choosing what to delete reads
no message body. ``list --rules`` only prints what the configured rules
would mark; it never marks, and ``list`` never sends ``QUIT``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from popview.mail.pattern import MatchContext, Pattern
    from popview.session.types import Listed
    from popview.session.visits import Visits

# The pattern language is imported on use: `popview list` without --match or
# --rules does not pay for it while its connection is being opened.

__all__ = ["check_pattern", "match_context", "selected", "total_size"]


def check_pattern(args: argparse.Namespace) -> str | None:
    """The problem with ``--match``, as a usage error line, or ``None`` if it parses."""
    text = getattr(args, "match", None)
    if text is None:
        return None
    from popview.mail.pattern import PatternError, parse_pattern

    try:
        args.pattern = parse_pattern(text)
    except PatternError as exc:
        return f"--match {text!r}: {exc}"
    return None


def match_context(visits: Visits) -> MatchContext:
    """The time now and ``~N``, which the session's visits decide (new since the last
    visit the cache remembers; nothing is new without it)."""
    from popview.mail.pattern import MatchContext

    return MatchContext(is_new=visits.is_new_envelope)


def selected(envelopes: Sequence[Listed], pattern: Pattern | None, visits: Visits) -> list[Listed]:
    """The listed messages ``pattern`` matches (all of them without a pattern), with
    ``~N`` decided by ``visits``."""
    if pattern is None:
        return list(envelopes)
    from popview.mail.pattern import compile_pattern

    test = compile_pattern(pattern, match_context(visits))
    return [listed for listed in envelopes if test(listed.envelope)]


def total_size(envelopes: Sequence[Listed]) -> str:
    """``"3 messages, 1.2 MB"``: what a selection weighs."""
    octets = sum(listed.envelope.size or 0 for listed in envelopes)  # unknown sizes count 0
    size = f"{octets} B"
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if octets >= scale:
            size = f"{octets / scale:.1f} {unit}"
            break
    return f"{len(envelopes)} message(s), {size}"
