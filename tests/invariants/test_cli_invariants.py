"""The headless ``popview`` commands against a hostile server (issue 6, invariants 1-5).

Each example serves a hostile mailbox with faults from a
:class:`~popview.server.ServerThread`, runs a few ``popview list/show/delete/
info`` invocations in-process (``popview.cli.main``, stdout/stderr captured as
a non-terminal UTF-8 stream), and checks:

1. exit status 0, or 1 with a ``popview: title: message`` line and no
   traceback; 2. each invocation ends within its budget; 3. QUIT only from
   ``delete``, and ``delete #N`` removes message N only; 4. no credential
   before TLS, the canary password in no output, log or error; 5. no control
   character reaches stdout or stderr.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from popview.cli import main
from popview.server import ServerThread
from tests.invariants.driver import Action, Run, Scenario, Step, make_server
from tests.invariants.hostile import CANARY_PASSWORD, MARGIN, USER, captured_logs, shared_ca
from tests.invariants.oracle import check_run, describe
from tests.invariants.strategies import invariant_settings, scenarios

pytestmark = pytest.mark.slow  # hypothesis drives the headless commands against a hostile server

CLI_TIMEOUT = 1  # the smallest timeout a config accepts
COMMANDS = ("list", "list --json", "show", "delete", "info")


@contextlib.contextmanager
def environment(tmp: Path) -> Iterator[None]:
    """Private config/cache/log dirs and the canary password in $POPVIEW_PASSWORD."""
    names = ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "HOME", "POPVIEW_PASSWORD")
    saved = {name: os.environ.get(name) for name in names}
    for name in names[:4]:
        os.environ[name] = str(tmp / name.lower())
    os.environ["POPVIEW_PASSWORD"] = CANARY_PASSWORD
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def write_config(tmp: Path, port: int, tls: str) -> Path:
    """A private config naming the hostile server with a 1-second timeout."""
    cafile = tmp / "ca.pem"
    shared_ca().cert_pem.write_to_path(str(cafile))
    path = tmp / "config.toml"
    text = (
        f'[general]\ncache_dir = "{tmp / "cache"}"\n\n'
        f'[accounts.hostile]\nhost = "127.0.0.1"\nport = {port}\nuser = "{USER}"\n'
        f'tls = "{tls}"\ntimeout = {CLI_TIMEOUT}\ncafile = "{cafile}"\n'
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return path


def run_cli(argv: list[str], budget: float) -> tuple[int | None, str, str]:
    """Run ``popview argv`` in a thread with captured stdout/stderr; None when over budget."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")

    def call() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                return main(argv)
            except SystemExit as exc:  # argparse
                return int(exc.code or 0)

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        status: int | None = pool.submit(call).result(timeout=budget)
    except concurrent.futures.TimeoutError:
        status = None
    finally:
        pool.shutdown(wait=False)
    texts = []
    for stream in (out, err):
        stream.flush()
        raw = stream.buffer
        assert isinstance(raw, io.BytesIO)
        texts.append(raw.getvalue().decode("utf-8"))
    return status, texts[0], texts[1]


def play_cli(scenario: Scenario, commands: list[tuple[str, int]]) -> Run:
    """Run the CLI commands against the scenario's hostile server; return the Run."""
    server = make_server(scenario)
    steps: list[Step] = []
    outputs: list[str] = []
    notes: list[str] = []
    with (
        tempfile.TemporaryDirectory() as tmp_name,
        environment(Path(tmp_name)),
        ServerThread(server),
        captured_logs() as logs,
    ):
        config = write_config(Path(tmp_name), server.port, scenario.tls)
        for command, pick in commands:
            items = server.tracked.items()
            number = pick % len(items) + 1 if items else pick + 1
            argv = ["--config", str(config), *command.split(), "-a", "hostile"]
            intent: frozenset[object] = frozenset()
            if command in ("show", "delete"):
                argv.insert(-2, f"#{number}")
            if command == "delete":
                argv.insert(-2, "--yes")
                if items:
                    intent = frozenset({items[number - 1].key})
            name = "commit_cli_delete" if command == "delete" else f"cli_{command}"
            step = Step(Action(name, number), len(server.seen), intent_before=intent)
            step.intent_after = intent
            step.budget = CLI_TIMEOUT * 30 + MARGIN
            status, out, err = run_cli(argv, step.budget)
            step.seen_after = len(server.seen)
            step.expired = status is None
            step.shown = [out, err]
            outputs += [out, err]
            if status not in (0, 1, None):
                notes.append(f"[unexpected exit status {status}]")
            if status == 1 and not err.rstrip().splitlines()[-1:][0].startswith("popview: "):
                notes.append(f"[exit 1 without a 'popview: ...' line: {err!r}]")
            if "Traceback" in err:
                notes.append(f"[a traceback reached stderr: {err!r}]")
            steps.append(step)
    run = Run(scenario, server, steps, logs + outputs, [])
    run.unexpected = notes
    return run


cli_commands = st.lists(
    st.tuples(st.sampled_from(COMMANDS), st.integers(0, 5)), min_size=1, max_size=4
)


class TestCliUnderHostileServer:
    """``popview list/show/delete/info`` keep the invariants whatever the server does."""

    @invariant_settings(scale=0.15)
    @given(scenarios(max_actions=0), cli_commands)
    def test_invariants_hold(self, scenario: Scenario, commands: list[tuple[str, int]]) -> None:
        """Invariants 1-5 for a few headless commands against a hostile server."""
        run = play_cli(scenario, commands)
        try:
            check_run(run)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{describe(run)}") from None
