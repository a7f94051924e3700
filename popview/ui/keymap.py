"""The binding ids a ``[keymap]`` table may name, and the check that rejects the others.

The ids belong to the ``BINDINGS`` of the screens and widgets (their one owner);
this module only collects them, so a typo in the config (``mark_deleted`` for
``mailbox.mark``) is an error naming the valid ids instead of a key that
silently does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual import events
from textual.binding import Binding
from textual.screen import Screen

from popview.errors import ConfigError
from popview.ui.textual_adapter import bindings_in_reach

__all__ = ["NOT_BOUND", "binding_ids", "check_keymap", "explain_unbound_key"]


def binding_ids() -> frozenset[str]:
    """Every binding id of every screen, widget and dialog of the app."""
    from popview.ui.app import PopviewApp
    from popview.ui.screens import dialogs
    from popview.ui.screens.help import HelpScreen
    from popview.ui.screens.login import LoginScreen
    from popview.ui.screens.mailbox import MailboxScreen
    from popview.ui.screens.message import MessageScreen
    from popview.ui.screens.pattern_marks import PatternPrompt
    from popview.ui.screens.server_info import ServerInfoScreen
    from popview.ui.screens.sort_prompt import SortPrompt
    from popview.ui.widgets.attachment_list import AttachmentList
    from popview.ui.widgets.envelope_table import EnvelopeTable

    owners: list[type] = [
        PopviewApp,
        LoginScreen,
        MailboxScreen,
        EnvelopeTable,
        MessageScreen,
        AttachmentList,
        ServerInfoScreen,
        HelpScreen,
        SortPrompt,
        PatternPrompt,
        *(getattr(dialogs, name) for name in dialogs.__all__),
    ]
    ids: set[str] = set()
    for owner in owners:
        for binding in getattr(owner, "BINDINGS", []):
            if isinstance(binding, Binding) and binding.id:
                ids.add(binding.id)
    return frozenset(ids)


def check_keymap(keymap: Mapping[str, str], source: str = "the configuration") -> None:
    """Raise :class:`ConfigError` when ``keymap`` names a binding id that does not exist.

    Args:
        keymap: The ``[keymap]`` table (binding id -> keys).
        source: Where the table came from (the config file's path), for the message.

    Raises:
        ConfigError: Naming the unknown ids and listing the valid ones.
    """
    valid = binding_ids()
    unknown = sorted(key for key in keymap if key not in valid)
    if unknown:
        names = ", ".join(repr(key) for key in unknown)
        raise ConfigError(
            f"{source}: [keymap] has no binding {names}. Valid ids: {', '.join(sorted(valid))}."
        )


NOT_BOUND = "Key is not bound. Press ? for help."


def explain_unbound_key(screen: Screen[Any], event: events.Key) -> None:
    """Say so when a printable key does nothing on ``screen`` (mutt: "Key is not bound.").

    Called from a screen's key handler, which sees a key only if the focused
    widget did not take it (an Input keeps the letters typed into it). A key
    bound to an action that does not apply right now (``$`` with nothing
    marked) says that instead.
    """
    if not event.is_printable:
        return
    active = screen.active_bindings.get(event.key)
    if active is not None:
        if not active.enabled:
            _say(screen, f"{active.binding.description}: not available here.")
        return
    # Hidden by check_action (``$`` with nothing marked): bound, but not now.
    for key, binding in bindings_in_reach(screen):
        if key == event.key:
            why = getattr(screen, "unavailable_reason", None)
            reason = why(binding.action) if why is not None else None
            _say(screen, reason or f"{binding.description}: nothing to do right now.")
            return
    _say(screen, NOT_BOUND)


def _say(screen: Screen[Any], text: str) -> None:
    screen.app.notify(text, markup=False, timeout=3)
