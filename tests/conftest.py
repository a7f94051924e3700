"""Shared fixtures. Each fixture family lives in its own module under
``tests/fixtures`` and is registered here."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.dovecot",
    "tests.fixtures.embedded",
    "tests.fixtures.oauth_server",
    "tests.fixtures.dovecot_oauth",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a real Dovecot is also slow: it starts a private server."""
    for item in items:
        if item.get_closest_marker("dovecot") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
