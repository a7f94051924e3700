"""Allow ``python -m popview``."""

from __future__ import annotations

from popview.cli import run

run()
