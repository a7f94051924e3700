"""Allow ``python -m popview``."""

from __future__ import annotations

from popview.cli import main

raise SystemExit(main())
