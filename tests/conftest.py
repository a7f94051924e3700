"""Shared fixtures. Each fixture family lives in its own module under
``tests/fixtures`` and is registered here."""

from __future__ import annotations

import os

import pytest

pytest_plugins = [
    "tests.fixtures.dovecot",
    "tests.fixtures.embedded",
    "tests.fixtures.oauth_server",
    "tests.fixtures.dovecot_oauth",
]


def fast_loop_workers() -> int:
    """One worker per core, and one more.

    A UI test waits about a third of its time - for the embedded server, and for
    Textual to go idle after each key (Pilot sleeps in 20 ms slices until it does) - so
    with one worker per core the cores idle a third of the loop; the extra worker
    runs while the others wait.
    """
    return len(os.sched_getaffinity(0)) + 1 if hasattr(os, "sched_getaffinity") else 3


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """The fast loop (``-m "not slow"``) runs on every core when pytest-xdist is installed.

    Only for exactly that selection, and only when no ``-n`` was given (``-n 0`` turns it
    off): CI and ``coverage run -m pytest`` select everything and stay in one process.
    Runs before xdist's own hook, which turns ``numprocesses`` into workers. Tests go
    to whichever worker is free (``worksteal``), so that no worker is left with a queue
    of long UI tests while another one has finished.
    """
    if (
        config.getoption("markexpr", "") == "not slow"
        and config.pluginmanager.hasplugin("xdist")
        and config.getoption("numprocesses", None) is None
        and not config.getoption("usepdb", False)
        and not hasattr(config, "workerinput")
    ):
        config.option.numprocesses = fast_loop_workers()
        if config.getoption("dist", "no") == "no":
            config.option.dist = "worksteal"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a real Dovecot is also slow: it starts a private server."""
    for item in items:
        if item.get_closest_marker("dovecot") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
