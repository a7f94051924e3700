"""The viewer's attachment list: an option list that also moves with ``j`` / ``k``."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import OptionList

__all__ = ["AttachmentList"]


class AttachmentList(OptionList):
    """Attachments of the shown message; Enter or ``s`` saves, ``o`` opens."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "j",
            "cursor_down",
            "Down",
            show=False,
            id="attachments.down",
            tooltip="Next attachment",
        ),
        Binding(
            "k",
            "cursor_up",
            "Up",
            show=False,
            id="attachments.up",
            tooltip="Previous attachment",
        ),
    ]
