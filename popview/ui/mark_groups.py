"""What the commit and quit dialogs say about the marks: one line each, grouped by rule.

Pure Python (no Textual). The marks and the rule behind each come from the
session's report (:class:`~popview.ui.messages.CommitReady`), never from a copy
the screen keeps, so the dialog lists exactly what ``QUIT`` will delete. Every
string here is plain text, sanitized; the caller shows it as :class:`rich.text.Text`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from popview.session.identity import MessageKey
from popview.ui.list_model import MailboxListing
from popview.ui.widgets.formatting import human_size, single_line, size_label

__all__ = [
    "BY_YOU",
    "Heading",
    "describe_marks",
    "group_marks",
    "group_summary",
    "marked_size",
]

BY_YOU = "marked by you"
"""The group of the marks the user made (no rule)."""


class Heading(str):
    """A line that heads a group (``spam (30)``): the dialog shows it in bold."""

    __slots__ = ()


_LIMIT = 200
"""At most this many message lines in a dialog (the count says how many more)."""


def group_marks(marks: Collection[str], rules: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    """``marks`` grouped by the rule that made them: the largest group first, the
    user's own marks last (a mark without a rule in ``rules`` is the user's)."""
    groups: dict[str, list[str]] = {}
    for key in marks:
        groups.setdefault(rules.get(key, BY_YOU), []).append(key)
    mine = groups.pop(BY_YOU, None)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    if mine:
        ordered.append((BY_YOU, mine))
    return ordered


def group_summary(marks: Collection[str], rules: Mapping[str, str]) -> str:
    """``"spam 30, newsletters 7, marked by you 3"`` ("" when no rule made a mark)."""
    if not any(key in rules for key in marks):
        return ""
    return ", ".join(
        f"{single_line(name, 40)} {len(keys):,}" for name, keys in group_marks(marks, rules)
    )


def marked_size(listing: MailboxListing, marks: Collection[str]) -> int:
    """The total size of the marked messages the list knows, in octets."""
    envelopes = listing.envelopes
    total = 0
    for key in marks:
        env = envelopes.get(MessageKey(key))
        if env is not None:
            total += env.size or 0
    return total


def _line(listing: MailboxListing, key: str) -> str:
    # The session hands its marks over as plain str; a str equals its key.
    env = listing.envelopes.get(MessageKey(key))
    if env is None:
        return f"(message {single_line(key, 80)})"
    sender = single_line(env.from_name or env.from_addr, 30)
    return f"{sender}: {single_line(env.subject, 70)} ({human_size(env.size)})"


def _in_list_order(listing: MailboxListing, keys: Collection[str]) -> list[str]:
    position = {row.key: index for index, row in enumerate(listing.rows)}
    return sorted(keys, key=lambda key: position.get(MessageKey(key), 0))


def describe_marks(
    listing: MailboxListing, marks: Collection[str], rules: Mapping[str, str]
) -> list[str]:
    """One line per marked message, under a heading per rule (``spam (30)``) when a
    rule made any of them; at most 200 message lines, then how many more."""
    if not any(key in rules for key in marks):
        keys = _in_list_order(listing, marks)
        lines = [_line(listing, key) for key in keys[:_LIMIT]]
        if len(keys) > _LIMIT:
            lines.append(f"… and {len(keys) - _LIMIT:,} more")
        return lines
    lines = [f"{len(marks):,} messages, {size_label(marked_size(listing, marks))}:"]
    room = _LIMIT
    for name, keys in group_marks(marks, rules):
        lines.append("")
        lines.append(Heading(f"{single_line(name, 60)} ({len(keys):,})"))
        ordered = _in_list_order(listing, keys)
        lines.extend(_line(listing, key) for key in ordered[:room])
        if len(ordered) > room:
            lines.append(f"… and {len(ordered) - room:,} more")
        room = max(room - len(ordered), 0)
    return lines
