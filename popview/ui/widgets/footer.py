"""The footer: the keys that matter most first, so a narrow terminal cuts the others.

Textual's footer lists the focused widget's keys, then the screen's, then the
app's, and a narrow terminal cuts from the right: at 80 columns "q Quit" and
"? Help" were the first to go. This footer draws the same keys with the ones
named in :data:`FIRST` (quit, back, help) at the left.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer

from popview.ui.textual_adapter import FooterKey  # what Footer draws; not exported by Textual

__all__ = ["FIRST", "KeyFooter"]

#: Actions shown first, in this order; the rest keep Textual's order.
FIRST: tuple[str, ...] = ("quit", "back", "help", "commit")


class KeyFooter(Footer):
    """A footer whose most important keys are the last to be cut."""

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        seen: dict[str, tuple[Binding, bool, str]] = {}
        for _node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in seen:
                seen[binding.action] = (binding, enabled, tooltip)
        first = [action for action in FIRST if action in seen]
        order = first + [action for action in seen if action not in first]
        self.styles.grid_size_columns = len(order)
        for action in order:
            binding, enabled, tooltip = seen[action]
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                action,
                disabled=not enabled,
                tooltip=tooltip,
            ).data_bind(compact=Footer.compact)
