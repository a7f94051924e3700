"""Where :mod:`popview.sanitize` used to live, kept for modules written before it moved.

The sanitizer moved below :mod:`popview.errors` so that error texts are escaped by the
same function as everything else a person reads. Import from :mod:`popview.sanitize`.
"""

from popview.sanitize import (
    ELLIPSIS,
    MAX_COMBINING,
    REPLACEMENT,
    sanitize_filename,
    sanitize_header,
    sanitize_text,
)

__all__ = [
    "ELLIPSIS",
    "MAX_COMBINING",
    "REPLACEMENT",
    "sanitize_filename",
    "sanitize_header",
    "sanitize_text",
]
