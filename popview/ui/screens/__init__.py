"""Screens of the popview UI, one per file."""
