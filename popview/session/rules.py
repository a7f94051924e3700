"""Which messages the configured ``[[rules]]`` mark, and which they keep.

Rules only *propose* marks: the caller applies them through the session's
marks (the one owner of what QUIT deletes) or, for ``popview list --rules``,
only prints them. A message matched by any ``keep`` rule (a friends list) is
never marked by a rule, whatever the order in the file; otherwise the first
``mark`` rule that matches names the mark.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from popview.config.model import Rule
from popview.mail.envelope import Envelope
from popview.mail.pattern import MatchContext, compile_pattern
from popview.session.types import Listed
from popview.session.visits import arrived_since

__all__ = ["RuleVerdict", "evaluate_rules", "new_since"]


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """What the rules decided for a listing.

    Attributes:
        marked: Session key → name of the rule that marks it, in listing order.
        kept: Keys a ``keep`` rule protected (they matched a mark rule or not).
    """

    marked: Mapping[str, str]
    kept: frozenset[str]


def new_since(seen: frozenset[str]) -> Callable[[Envelope], bool]:
    """The ``~N`` test over the UIDLs the last visit listed; the decision is
    :func:`popview.session.visits.arrived_since` (a session's
    ``visits.is_new_envelope`` is the same test)."""
    return lambda envelope: arrived_since(seen, envelope.uid)


def evaluate_rules(
    envelopes: Iterable[Listed], rules: Iterable[Rule], ctx: MatchContext | None = None
) -> RuleVerdict:
    """Run the rules over a listing.

    Args:
        envelopes: The listed messages, each with its key.
        rules: The configured rules (patterns already checked at load).
        ctx: The time and the ``~N`` test.

    Returns:
        The marks the rules propose and the messages they keep.
    """
    context = ctx or MatchContext()
    keep = [compile_pattern(r.pattern, context) for r in rules if r.action == "keep"]
    mark = [(r.name, compile_pattern(r.pattern, context)) for r in rules if r.action == "mark"]
    marked: dict[str, str] = {}
    kept: set[str] = set()
    for key, envelope in envelopes:
        if any(test(envelope) for test in keep):
            kept.add(key)
            continue
        for name, test in mark:
            if test(envelope):
                marked[key] = name
                break
    return RuleVerdict(marked, frozenset(kept))
