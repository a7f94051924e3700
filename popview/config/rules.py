"""Checking ``[[rules]]``: each a name, a pattern and an action, every mistake named.

A rule's pattern is parsed here, at load, so a typo is reported with the rule's
name and the column before a mailbox is ever opened, not when the list loads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from popview.config.model import RULE_ACTIONS, Rule, RuleAction
from popview.errors import printable

__all__ = ["parse_rules"]

_RULE_KEYS = ("name", "pattern", "action")


def parse_rules(value: Any, problems: list[str], shown: Callable[[Any], str]) -> tuple[Rule, ...]:
    """Check the ``rules`` array of tables.

    Args:
        value: What TOML gave for ``rules`` (``None`` if absent).
        problems: Where each problem is appended, naming the rule.
        shown: How a bad value is printed (short and printable).

    Returns:
        The valid rules, in file order.
    """
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        problems.append(f"rules must be an array of tables ([[rules]]), got {shown(value)}")
        return ()
    rules: list[Rule] = []
    names: set[str] = set()
    for index, table in enumerate(value, start=1):
        rule = _rule(index, table, problems, shown)
        if rule is None:
            continue
        if rule.name in names:
            problems.append(f"rules: two rules are named {printable(rule.name, 80)!r}; rename one")
            continue
        names.add(rule.name)
        rules.append(rule)
    return tuple(rules)


def _rule(
    index: int, table: dict[str, Any], problems: list[str], shown: Callable[[Any], str]
) -> Rule | None:
    name = table.get("name")
    label = f"rules[{index}]"
    if isinstance(name, str) and name.strip() and name.isprintable():
        label = f"rule {printable(name, 80)!r}"
    else:
        problems.append(f"{label}.name must be a short printable string (got {shown(name)})")
        return None
    before = len(problems)
    for key in table:
        if key not in _RULE_KEYS:
            problems.append(f"{label}: {key!r} is not a known key (known: {', '.join(_RULE_KEYS)})")
    pattern = table.get("pattern")
    if not isinstance(pattern, str):
        problems.append(
            f'{label}: pattern is required, a string such as "~x spam" (got {shown(pattern)})'
        )
    else:
        # Imported here: the pattern language pulls in the mail parser, which a
        # headless command imports only after it has started to connect.
        from popview.mail.pattern import PatternError, parse_pattern

        try:
            parse_pattern(pattern)
        except PatternError as exc:
            problems.append(f"{label}: pattern {shown(pattern)}: {exc}")
    action = table.get("action", "mark")
    if action not in RULE_ACTIONS:
        problems.append(
            f"{label}: action must be one of {', '.join(RULE_ACTIONS)} (got {shown(action)})"
        )
    if len(problems) != before:
        return None
    return Rule(name=name, pattern=cast(str, pattern), action=cast(RuleAction, action))
