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


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """The fast loop (``-m "not slow"``) runs on every core when pytest-xdist is installed.

    Only for exactly that selection, and only when no ``-n`` was given (``-n 0`` turns it
    off): CI and ``coverage run -m pytest`` select everything and stay in one process.
    Runs before xdist's own hook, which turns ``numprocesses`` into workers.
    """
    if (
        config.getoption("markexpr", "") == "not slow"
        and config.pluginmanager.hasplugin("xdist")
        and config.getoption("numprocesses", None) is None
        and not config.getoption("usepdb", False)
        and not hasattr(config, "workerinput")
    ):
        config.option.numprocesses = "auto"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a real Dovecot is also slow: it starts a private server."""
    for item in items:
        if item.get_closest_marker("dovecot") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
