"""The footer: the keys that matter most first, so a narrow terminal cuts the others.

Textual's footer lists the focused widget's keys, then the screen's, then the
app's, and a narrow terminal cuts from the right: at 80 columns "q Quit" and
"? Help" were the first to go. This footer draws the same keys with the ones
named in :data:`FIRST` (quit, back, help) at the left.

Textual asks the footer to recompose whenever the bindings *may* have changed
(every focus change, every ``refresh_bindings``), and a recompose remounts and
restyles every key: most keystrokes cost that for a footer that reads the same.
This footer recomposes only when what it draws differs.
"""

from __future__ import annotations

from typing import NamedTuple

from textual.app import ComposeResult
from textual.widgets import Footer

from popview.ui.textual_adapter import (  # what Footer draws and waits for; not public
    FooterKey,
    footer_bindings_ready,
)

__all__ = ["FIRST", "KeyFooter"]

#: Actions shown first, in this order; the rest keep Textual's order.
FIRST: tuple[str, ...] = ("quit", "back", "help", "commit")


class _Key(NamedTuple):
    """One key as the footer draws it: everything that goes into its FooterKey."""

    key: str
    display: str
    description: str
    action: str
    enabled: bool
    tooltip: str


class KeyFooter(Footer):
    """A footer whose most important keys are the last to be cut."""

    _drawn: tuple[_Key, ...] | None = None

    def _keys(self) -> tuple[_Key, ...]:
        """The keys to draw now, in order (empty until Textual says the bindings are ready)."""
        if not footer_bindings_ready(self):
            return ()
        seen: dict[str, _Key] = {}
        for _node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in seen:
                display = self.app.get_key_display(binding)
                seen[binding.action] = _Key(
                    binding.key, display, binding.description, binding.action, enabled, tooltip
                )
        first = [action for action in FIRST if action in seen]
        order = first + [action for action in seen if action not in first]
        return tuple(seen[action] for action in order)

    def compose(self) -> ComposeResult:
        self._drawn = keys = self._keys()
        if not footer_bindings_ready(self):
            return
        self.styles.grid_size_columns = len(keys)
        for key in keys:
            widget = FooterKey(
                key.key,
                key.display,
                key.description,
                key.action,
                disabled=not key.enabled,
                tooltip=key.tooltip,
            )
            # FooterKey starts compact and the binding below then switches it to the
            # footer's value: two restyles of each key on every mount, a sixth of the
            # CPU a listing costs. Start it at the footer's value (class included), so
            # the binding finds nothing to change.
            widget.set_reactive(FooterKey.compact, self.compact)
            widget.set_class(self.compact, "-compact", update=False)
            yield widget.data_bind(compact=Footer.compact)

    async def recompose(self) -> None:
        """Recompose only when the keys to draw changed (see the module docstring)."""
        if not self.is_attached or self._keys() == self._drawn:
            return  # detached: Textual's recompose would do nothing either
        await super().recompose()
