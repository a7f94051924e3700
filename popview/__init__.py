"""popview: a keyboard-driven terminal mail reader for POP3 mailboxes."""

from __future__ import annotations

__version__ = "0.1.0"
