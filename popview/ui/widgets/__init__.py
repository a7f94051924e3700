"""Widgets of the popview UI."""
