"""Shared fixtures. Each fixture family lives in its own module under
``tests/fixtures`` and is registered here."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.dovecot",
    "tests.fixtures.embedded",
]
