"""Every use of a Textual internal, in one module.

popview uses Textual's public API everywhere else. Two needs have no public
route in the Textual range pinned in ``pyproject.toml``, so they live here,
each leaning on as few private names as possible, and
``tests/test_textual_adapter.py`` fails when a Textual release moves any of them:

* :class:`CrashScreenWithoutLocals` - Textual renders an unhandled exception
  with ``show_locals=True``; a frame such as ``login(account, password)``
  would print the password (rule "secrets-never-shown", HARDENING C.35). The
  only hook is the private ``App._fatal_error``; the override hands the
  traceback to the public :meth:`App.panic`.
* :func:`screen_text` - what the whole screen shows (dialogs, toasts and what
  is behind them), for tests that assert what a user reads. Textual exposes
  the composited screen only through the private compositor.
* :func:`bindings_in_reach` - every (key, binding) the focused widget, its
  screen and the app define, including those ``check_action`` hides, so a key
  that is bound but does nothing right now can say why instead of "Key is not
  bound." (:attr:`Screen.active_bindings` drops the hidden ones).
* :class:`FooterKey` - the key widget Textual's footer draws, for a footer
  that orders its keys (Textual does not export it).
* :func:`footer_bindings_ready` - whether a footer may draw its keys yet: Textual's
  own footer composes nothing until the screen's bindings are known, a state it
  keeps in a private attribute.
* :func:`resize_virtual` - a scroll view's virtual size changed without a layout
  of the whole screen: the public ``virtual_size`` reactive asks for one on
  every change, which is what cost the keys while 10,000 envelopes stream in
  (the list grows every 150 ms). Only a change of which scrollbars show needs
  one; otherwise Textual's own private scrollbar update is enough.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import rich
from rich.traceback import Traceback
from textual.app import App
from textual.binding import Binding
from textual.geometry import Size
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

__all__ = [
    "FATAL_ERROR_HOOK",
    "CrashScreenWithoutLocals",
    "FooterKey",
    "bindings_in_reach",
    "footer_bindings_ready",
    "resize_virtual",
    "screen_text",
]

FATAL_ERROR_HOOK = "_fatal_error"
"""The name of the private App method Textual calls for an unhandled exception."""


class CrashScreenWithoutLocals(App[Any]):
    """An App whose crash screen shows the traceback without local variables."""

    def _fatal_error(self) -> None:
        """Called by Textual inside its exception handler (so ``sys.exc_info()`` is set)."""
        self.bell()
        self.panic(Traceback(show_locals=False, width=None, suppress=[rich]))


def screen_text(screen: Screen[Any]) -> str:
    """Every line of ``screen`` as drawn, one ``\\n`` between lines."""
    return "\n".join(strip.text for strip in screen._compositor.render_strips())


def bindings_in_reach(screen: Screen[Any]) -> Iterator[tuple[str, Binding]]:
    """Every (key, binding) of the focused widget, ``screen`` and the app, hidden ones too.

    The chain :attr:`Screen.active_bindings` walks itself, before it drops the
    bindings whose ``check_action`` returns ``False``.
    """
    for _namespace, bindings in screen._modal_binding_chain:
        yield from bindings


def footer_bindings_ready(footer: Footer) -> bool:
    """Whether ``footer`` may draw its keys: Textual's own footer waits for this."""
    return bool(footer._bindings_ready)


def resize_virtual(view: ScrollView, size: Size) -> None:
    """Set ``view``'s virtual size; lay the screen out again only when its
    scrollbars change (shown or hidden), else redraw just the scrollbars."""
    if size == view.virtual_size:
        return
    before = (view.show_vertical_scrollbar, view.show_horizontal_scrollbar)
    view.set_reactive(Widget.virtual_size, size)
    view._refresh_scrollbars()  # recomputes which scrollbars show
    if (view.show_vertical_scrollbar, view.show_horizontal_scrollbar) != before:
        view.refresh(layout=True)
    else:
        view._scroll_update(size)
