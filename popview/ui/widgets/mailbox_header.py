"""The line above the mailbox: account, server, TLS state, counts, pending deletions.

An unencrypted connection shows a persistent UNENCRYPTED badge; it never
scrolls away and no setting hides it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from popview.ui.widgets.formatting import human_size, single_line

if TYPE_CHECKING:
    from popview.session import SessionInfo

__all__ = ["MailboxHeader"]


class MailboxHeader(Horizontal):
    """Account and connection summary, one line."""

    def compose(self) -> ComposeResult:
        yield Static("", id="header-account")
        yield Static("", id="header-tls")
        yield Static("", id="header-counts")
        yield Static("", id="header-pending")

    def update_info(self, account_name: str, info: SessionInfo | None) -> None:
        """Show who and where, and how the connection is protected."""
        if info is None:
            return
        where = f"{single_line(account_name, 40)}  {info.host}:{info.port}"
        self.query_one("#header-account", Static).update(Text(where))
        badge = self.query_one("#header-tls", Static)
        if info.encrypted:
            version = info.tls.version if info.tls is not None else "TLS"
            badge.update(Text(f" {version} "))
            badge.set_classes("encrypted")
        else:
            badge.update(Text(" UNENCRYPTED "))
            badge.set_classes("unencrypted")

    def update_counts(self, count: int, total_size: int, shown: int, pending: int) -> None:
        """Show the message count, total size and the pending deletions."""
        filtered = f" ({shown} shown)" if shown != count else ""
        noun = "message" if count == 1 else "messages"
        self.query_one("#header-counts", Static).update(
            Text(f"{count} {noun}{filtered}, {human_size(total_size)}")
        )
        pending_widget = self.query_one("#header-pending", Static)
        pending_widget.update(Text(f"{pending} to delete" if pending else "no deletions pending"))
        pending_widget.set_class(pending > 0, "pending")
