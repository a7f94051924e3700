"""The server info screen: what ``popview info`` shows, for the open session."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from popview.ui.widgets.formatting import human_size, single_line

if TYPE_CHECKING:
    from popview.session import SessionInfo

__all__ = ["ServerInfoScreen", "info_table"]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def info_table(
    info: SessionInfo,
    server_label: str | None = None,
    *,
    connected: bool = True,
    counts: tuple[int, int] | None = None,
) -> Table:
    """The session's facts as a two-column table of plain :class:`Text`.

    Args:
        info: The latest connection's info.
        server_label: Shown instead of ``host:port``.
        connected: Whether that connection is still open (else no TLS line is
            shown as if it were current).
        counts: ``(messages, octets)`` now, when newer than the login's STAT.
    """
    table = Table(box=None, show_header=False, expand=True, pad_edge=False)
    table.add_column(no_wrap=True, style="bold")
    table.add_column()

    def row(name: str, value: str, style: str = "") -> None:
        table.add_row(Text(name), Text(single_line(value, 500), style=style))

    caps = info.capabilities
    row("Server", server_label if server_label is not None else f"{info.host}:{info.port}")
    mode = {"implicit": "implicit TLS", "starttls": "STARTTLS", "none": "none"}.get(
        info.tls_mode, info.tls_mode
    )
    if not connected:
        row("Connection", "disconnected: the next action reconnects", "bold yellow")
    elif info.encrypted and info.tls is not None:
        row("Encryption", f"{mode}: {info.tls.version}, {info.tls.cipher}")
        checked = (
            "pinned fingerprint"
            if info.tls.pinned
            else ("verified" if info.tls.verified else "NOT verified")
        )
        row("Certificate", checked)
        row("SHA-256", info.tls.fingerprint)
    else:
        row("Encryption", "UNENCRYPTED: password and mail cross the network in clear", "bold red")
    row("Greeting", info.greeting)
    row("Implementation", info.implementation or "(not advertised)")
    count, size = counts if counts is not None else (info.message_count, info.total_size)
    row("Messages", f"{count} ({human_size(size)})")
    row("UIDL", _yes(caps.uidl))
    row("TOP", _yes(caps.top))
    row("PIPELINING", _yes(caps.pipelining))
    row("RESP-CODES", _yes(caps.resp_codes))
    # Login methods (and UTF8) are offered before login; many servers drop
    # them from the CAPA after it (RFC 2449 §6: CAPA may change).
    before = info.offered_before_login or caps
    row("SASL", " ".join(before.sasl) or "(none)")
    row("STLS", _yes(caps.stls))
    row("UTF8", _yes(before.utf8))
    if caps.login_delay is not None:
        row("LOGIN-DELAY", f"{caps.login_delay} s")
    if caps.expire is not None:
        row("EXPIRE", "never" if caps.expire < 0 else f"{caps.expire} day(s)")
    for notice in info.degraded:
        row("Note", notice, "yellow")
    return table


class ServerInfoScreen(ModalScreen[None]):
    """How the server is, and how the connection is protected."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,i", "close", "Close", id="info.close", tooltip="Close server info"),
    ]

    def __init__(
        self,
        info: SessionInfo,
        server_label: str | None = None,
        *,
        connected: bool = True,
        counts: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.info = info
        self.server_label = server_label
        self.connected = connected
        self.counts = counts

    def compose(self) -> ComposeResult:
        with Vertical(id="info-box"):
            yield Label("Server", id="info-title")
            with VerticalScroll():
                yield Static(
                    info_table(
                        self.info, self.server_label, connected=self.connected, counts=self.counts
                    ),
                    id="info-table",
                )

    def action_close(self) -> None:
        self.dismiss(None)
