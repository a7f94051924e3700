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

from popview.ui.widgets.formatting import human_size, single_line, size_label

if TYPE_CHECKING:
    from popview.config import Account
    from popview.session import SessionInfo

__all__ = ["MailboxHeader"]


class MailboxHeader(Horizontal):
    """Account and connection summary, one line."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # Made here, not in compose: the session may open (and the screen call
        # update_info) before this container has composed its children.
        self._account = Static("", id="header-account")
        self._tls = Static("", id="header-tls")
        self._counts = Static("", id="header-counts")
        self._pending = Static("", id="header-pending")

    def compose(self) -> ComposeResult:
        yield self._account
        yield self._tls
        yield self._counts
        yield self._pending

    def update_info(
        self,
        account_name: str,
        info: SessionInfo | None,
        server_label: str | None = None,
        *,
        connected: bool = True,
    ) -> None:
        """Show who and where, and how the connection is protected.

        Args:
            account_name: The account's name.
            info: The open session, or ``None`` (nothing shown yet).
            server_label: Shown instead of ``host:port`` when given.
            connected: Whether the session has a connection now; when it has none
                the badge says so instead of the last connection's TLS version.
        """
        if info is None:
            return
        server = server_label if server_label is not None else f"{info.host}:{info.port}"
        where = f"{single_line(account_name, 40)}  {single_line(server, 60)}"
        self._account.update(Text(where))
        badge = self._tls
        if not connected and info.encrypted:
            badge.update(Text(" DISCONNECTED "))
            badge.set_classes("disconnected")
        elif not connected:  # rule "tls-by-default": the badge stays
            badge.update(Text(" UNENCRYPTED, DISCONNECTED "))
            badge.set_classes("unencrypted")
        elif info.encrypted:
            version = info.tls.version if info.tls is not None else "TLS"
            badge.update(Text(f" {version} "))
            badge.set_classes("encrypted")
        else:
            badge.update(Text(" UNENCRYPTED "))
            badge.set_classes("unencrypted")

    def show_checking(self, account: Account, server_label: str | None = None) -> None:
        """While the cached rows are shown and the login is in the air: who and where,
        and that the server has not answered yet. An account without TLS shows
        UNENCRYPTED from the start: its password is on the way in clear."""
        server = server_label if server_label is not None else f"{account.host}:{account.port}"
        self._account.update(Text(f"{single_line(account.name, 40)}  {single_line(server, 60)}"))
        if account.tls == "none":
            self._tls.update(Text(" UNENCRYPTED, CHECKING THE SERVER "))
            self._tls.set_classes("unencrypted")
        else:
            self._tls.update(Text(" FROM CACHE, CHECKING THE SERVER "))
            self._tls.set_classes("disconnected")

    def update_counts(
        self,
        count: int,
        total_size: int,
        shown: int,
        pending: int,
        new: int = 0,
        *,
        expected: int | None = None,
        waiting: int = 0,
        marked_size: int = 0,
    ) -> None:
        """Show the message count (and how many are new), total size, pending deletions.

        Args:
            count: Messages listed.
            total_size: Their total size in octets.
            shown: Rows the filter lets through.
            pending: Messages marked for deletion.
            new: Messages new since the last visit.
            expected: While the list loads, how many messages the server has.
            waiting: Of the marks, how many the server has not received yet.
            marked_size: The total size of the marked messages, in octets.
        """
        filtered = f" ({shown} shown)" if shown != count else ""
        fresh = f", {new} new" if new else ""
        if expected is not None and expected > count:
            noun = "message" if expected == 1 else "messages"
            text = f"{expected} {noun}, {count} listed{fresh}"
        else:
            noun = "message" if count == 1 else "messages"
            text = f"{count} {noun}{filtered}{fresh}, {human_size(total_size)}"
        _show(self._counts, text)
        pending_widget = self._pending
        text = (
            f"{pending:,} to delete, {size_label(marked_size)}"
            if pending
            else "no deletions pending"
        )
        if waiting:
            text += f" ({waiting} pending)"
        _show(pending_widget, text)
        pending_widget.set_class(pending > 0, "pending")


def _show(widget: Static, text: str) -> None:
    """Show ``text`` in a header field sized to its text: laid out again only when
    its width changes (the counts change with every batch while the list loads,
    and a layout redoes the whole screen)."""
    shown = widget.content
    if isinstance(shown, Text) and shown.plain == text:
        return
    width = shown.cell_len if isinstance(shown, Text) else -1
    content = Text(text)
    widget.update(content, layout=content.cell_len != width)
