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
"""

from __future__ import annotations

from typing import Any

import rich
from rich.traceback import Traceback
from textual.app import App
from textual.screen import Screen

__all__ = ["FATAL_ERROR_HOOK", "CrashScreenWithoutLocals", "screen_text"]

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
