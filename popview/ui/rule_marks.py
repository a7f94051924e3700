"""Running the ``[[rules]]`` in the session worker once a listing is complete.

The rules only propose (:func:`~popview.session.rules.evaluate_rules`); the
marks are made by the session (:meth:`~popview.session.MailboxSession.mark_many`,
one call per rule so each mark records its rule), which stays their one owner.
Nothing is deleted here: a mark is a ``DELE`` that only the user's commit
(``QUIT``) makes final (RFC 1939 §6). A message the user unmarked after a rule
had marked it is never marked again by a rule in this session (the session
keeps that), so a refresh does not undo the user's decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from popview.errors import StoreError
from popview.mail.pattern import MatchContext, compile_pattern
from popview.session.rules import evaluate_rules, new_since
from popview.ui import messages as msg
from popview.ui.widgets.formatting import size_label

if TYPE_CHECKING:
    from popview.config.model import Rule
    from popview.session import MailboxSession
    from popview.session.types import Listed

__all__ = ["apply_rules", "describe_rules"]


def _decide(
    listed: Sequence[Listed], rules: Sequence[Rule], ctx: MatchContext
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Which keys each mark rule marks (file order), and per keep rule how many
    messages it saved from a mark rule (a keep rule that matched nothing a mark
    rule wanted saved nothing worth telling)."""
    verdict = evaluate_rules(listed, rules, ctx)
    by_rule: dict[str, list[str]] = {}
    for key, name in verdict.marked.items():
        by_rule.setdefault(name, []).append(key)
    marking = [rule for rule in rules if rule.action == "mark"]
    kept = [item for item in listed if item.key in verdict.kept]
    wanted = evaluate_rules(kept, marking, ctx).marked
    keepers = [(r.name, compile_pattern(r.pattern, ctx)) for r in rules if r.action == "keep"]
    saved: dict[str, int] = {}
    for item in kept:
        if item.key not in wanted:
            continue
        for name, test in keepers:
            if test(item.envelope):
                saved[name] = saved.get(name, 0) + 1
                break
    return by_rule, saved


async def apply_rules(
    session: MailboxSession, listed: Sequence[Listed], rules: Sequence[Rule], *, first: bool
) -> msg.RulesApplied | None:
    """Evaluate ``rules`` over ``listed`` and mark what they mark, one batch per rule.

    Args:
        session: The session (the owner of the marks).
        listed: Every message of the complete listing, with its key.
        rules: The configured rules, in file order.
        first: The session's first listing (the report says so).

    Returns:
        What the rules did, or None when no rule marks anything (only keep rules,
        or none at all).

    Raises:
        StoreError: The journal could not record a rule's marks: that rule's
            messages are NOT marked (journal first, HARDENING F.53).
    """
    if not any(rule.action == "mark" for rule in rules):
        return None
    ctx = MatchContext(is_new=new_since(session.visits.previous))
    # Pure Python over maybe 100,000 envelopes: off the event loop, keys stay live.
    by_rule, saved = await asyncio.to_thread(_decide, listed, rules, ctx)
    sizes: dict[str, int] = {item.key: item.envelope.size or 0 for item in listed}
    counts: dict[str, int] = {}
    size = 0
    refused = 0
    for rule in rules:
        keys = by_rule.get(rule.name)
        if rule.action != "mark" or not keys:
            continue
        try:
            result = await session.mark_many(keys, rule=rule.name)
        except StoreError as error:
            raise StoreError(
                f"Rule {rule.name!r}: the messages were NOT marked: the marks could not be "
                f"recorded. {error.message}"
            ) from None
        if result.marked:
            counts[rule.name] = len(result.marked)
            size += sum(sizes.get(key, 0) for key in result.marked)
        refused += len(result.refused)
    return msg.RulesApplied(counts, size, saved, refused, first)


def _named(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in counts.items())


def describe_rules(report: msg.RulesApplied) -> str:
    """The status line for ``report``, e.g. ``"Rules marked 37 messages (4.1 MB):
    spam 30, newsletters 7; 2 kept by friends. Deleted only when you commit ($)."``
    (rule names are the user's own,
    but the caller still shows this as plain text)."""
    total = sum(report.marked.values())
    if total:
        noun = "message" if total == 1 else "messages"
        text = f"Rules marked {total:,} {noun} ({size_label(report.size)}): {_named(report.marked)}"
    else:
        text = "Rules marked nothing"
    kept = _kept(report.kept.items())
    if kept:
        text += f"; {kept}"
    if report.refused:
        text += f"; the server refused {report.refused:,}"
    return text + (". Deleted only when you commit ($)." if total else ".")


def _kept(items: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{count:,} kept by {name}" for name, count in items)
