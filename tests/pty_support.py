"""Run a program in a pseudo-terminal, keep every byte it writes, render it with pyte.

:class:`PtySession` is what the terminal-level tests of the Textual app use:
the child gets a real pty (fixed size, ``TERM=xterm-256color``) as its stdin,
stdout and stderr and its controlling terminal; a reader thread appends every
byte the child writes to :attr:`PtySession.output` and feeds a pyte screen, so
a test can both wait for what a user would *see* (:meth:`PtySession.wait_for`)
and assert on what the terminal *received* (the raw bytes).

Waiting polls the rendered screen with a generous timeout; nothing sleeps a
fixed time to hope the app has caught up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol

import pyte

from tests.fixtures.embedded import account_args

__all__ = ["KEYS", "PtySession", "popview_env", "popview_on_pty", "run_popview"]

REPO = Path(__file__).resolve().parent.parent


class HasPort(Protocol):
    port: int


#: What the terminal sends for some keys (xterm, normal cursor mode).
KEYS = {
    "enter": b"\r",
    "escape": b"\x1b",
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "tab": b"\t",
}


class PtySession:
    """A child process on a pseudo-terminal of ``columns`` x ``lines``.

    Args:
        argv: The program and its arguments.
        env: The child's whole environment (``TERM`` is set here).
        columns: Terminal width.
        lines: Terminal height.
        cwd: The child's working directory.
        guard: Called with the whole capture on every poll of a wait; it
            raises (an ``AssertionError``) to fail at once, e.g. on a byte that
            must never reach the terminal, instead of timing out later.
    """

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        columns: int = 100,
        lines: int = 30,
        cwd: str | os.PathLike[str] | None = None,
        guard: Callable[[bytes], None] | None = None,
    ) -> None:
        self.guard = guard
        self.columns = columns
        self.lines = lines
        self.output = bytearray()
        self._lock = threading.Lock()
        self._screen = pyte.Screen(columns, lines)
        self._stream = pyte.ByteStream(self._screen)
        master, slave = pty.openpty()
        size = struct.pack("HHHH", lines, columns, 0, 0)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
        self.master = master
        self.process = subprocess.Popen(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "xterm-256color", "COLUMNS": "", "LINES": ""},
            cwd=cwd,
            close_fds=True,
            start_new_session=True,
            preexec_fn=_take_controlling_tty,
        )
        os.close(slave)
        self._eof = threading.Event()
        self._reader = threading.Thread(target=self._read, name="pty-reader", daemon=True)
        self._reader.start()

    # -- reading -----------------------------------------------------------------

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.1)
            except (OSError, ValueError):  # master closed by close()
                break
            if not ready:
                if self.process.poll() is not None and not self._drain_once():
                    break
                continue
            if not self._drain_once():
                break
        self._eof.set()

    def _drain_once(self) -> bool:
        try:
            data = os.read(self.master, 65536)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:  # EIO: every slave end is closed
            return False
        if not data:
            return False
        with self._lock:
            self.output += data
            self._stream.feed(data)
        return True

    def screen_text(self) -> str:
        """The rendered screen, one line per terminal row (trailing blanks kept)."""
        with self._lock:
            return "\n".join(self._screen.display)

    def raw(self) -> bytes:
        """Every byte the child has written to the terminal so far."""
        with self._lock:
            return bytes(self.output)

    # -- waiting -----------------------------------------------------------------

    def wait_until(self, predicate: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        """Poll the screen until ``predicate(screen_text)`` holds; return that screen.

        Raises:
            AssertionError: The timeout passed, or the child exited first
                (the message shows the last screen).
        """
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen_text()
            if self.guard is not None:
                self.guard(self.raw())
            if predicate(text):
                return text
            if self.process.poll() is not None and self._eof.is_set():
                raise AssertionError(
                    f"the app exited (status {self.process.returncode}) while waiting for "
                    f"{what}; last screen:\n{self.screen_text()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; screen:\n{text}")
            time.sleep(0.05)

    def wait_for(self, *texts: str, timeout: float = 30.0) -> str:
        """Wait until every one of ``texts`` is on the screen; return the screen."""
        return self.wait_until(
            lambda screen: all(t in screen for t in texts), " and ".join(map(repr, texts)), timeout
        )

    def wait_gone(self, text: str, timeout: float = 30.0) -> str:
        """Wait until ``text`` is no longer on the screen; return the screen."""
        return self.wait_until(lambda screen: text not in screen, f"{text!r} to go", timeout)

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait for the child to exit (reading its last bytes); return its status.

        A child still running after ``timeout`` fails the test with its state and
        signal masks (from /proc), to tell a hang from a signal ignored or blocked.
        """
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the child did not exit in {timeout} s: {self._proc_status()}\n"
                f"screen:\n{self.screen_text()}"
            ) from None
        self._eof.wait(timeout)
        return status

    def _proc_status(self) -> str:
        try:
            lines = Path(f"/proc/{self.process.pid}/status").read_text().splitlines()
        except OSError as exc:
            return f"no /proc status ({exc})"
        wanted = ("State", "SigBlk", "SigIgn", "SigCgt", "Threads")
        return ", ".join(line for line in lines if line.split(":")[0] in wanted)

    @property
    def alive(self) -> bool:
        """True while the child runs."""
        return self.process.poll() is None

    # -- writing -----------------------------------------------------------------

    def send(self, data: bytes | str) -> None:
        """Type ``data`` (a key name from :data:`KEYS`, or literal text/bytes)."""
        if isinstance(data, str):
            data = KEYS.get(data, data.encode("utf-8"))
        os.write(self.master, data)

    # -- ending ------------------------------------------------------------------

    def close(self) -> None:
        """Kill the child if it still runs and release the terminal."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._eof.wait(5)
        with contextlib.suppress(OSError):
            os.close(self.master)
        self._reader.join(5)

    def __enter__(self) -> PtySession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _take_controlling_tty() -> None:
    # After setsid (start_new_session) stdin is the pty slave: make it this
    # session's controlling terminal, as a terminal emulator would.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


# -- popview as the child ----------------------------------------------------------


def popview_env(home: Path, password: str) -> dict[str, str]:
    """The environment popview runs in: every directory under ``home``, ``password`` given.

    ``POPVIEW_CONFIG`` names a file that does not exist: the account is given in
    full on the command line (:func:`tests.fixtures.embedded.account_args`).
    """
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "POPVIEW_PASSWORD": password,
        "POPVIEW_CACHE_DIR": str(home / "popview-cache"),
        "POPVIEW_CONFIG": str(home / "popview.toml"),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }


def run_popview(
    args: Sequence[str], home: Path, password: str, timeout: float = 30.0
) -> tuple[int, bytes]:
    """Run ``python -m popview ARGS`` on a pty until it exits; return (status, every byte)."""
    argv = [sys.executable, "-m", "popview", *args]
    with PtySession(argv, popview_env(home, password), columns=200, cwd=REPO) as session:
        status = session.wait_exit(timeout)
        return status, session.raw()


@contextlib.contextmanager
def popview_on_pty(
    home: Path, user: str, password: str, guard: Callable[[bytes], None] | None = None
) -> Iterator[Callable[..., PtySession]]:
    """A factory ``start(server, *extra, lines=30)``: the TUI on a 100-column pty,
    logged in to ``server`` (anything with a ``port``, e.g. a ``ServerThread``).

    Every session started is killed when the context ends.
    """
    sessions: list[PtySession] = []

    def start(server: HasPort, *extra: str, lines: int = 30) -> PtySession:
        argv = [sys.executable, "-m", "popview", *account_args(server.port, user), *extra]
        session = PtySession(argv, popview_env(home, password), lines=lines, cwd=REPO, guard=guard)
        sessions.append(session)
        return session

    try:
        yield start
    finally:
        for session in sessions:
            session.close()
