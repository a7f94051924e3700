"""Run a :class:`Pop3Server` on its own event loop in a daemon thread.

For synchronous clients (``poplib``) and for Textual tests, whose app owns the
test's event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from popview.server.faults import Fault
from popview.server.server import Pop3Server, TranscriptEntry

__all__ = ["ServerThread"]

_T = TypeVar("_T")


class ServerThread:
    """A started server in a background thread; ``with`` starts and stops it.

    Args:
        server: A server that has not been started.
        timeout: Seconds to wait for the server to start or stop.
    """

    def __init__(self, server: Pop3Server, timeout: float = 10.0) -> None:
        self.server = server
        self.timeout = timeout
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self.server.host

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self.server.port

    @property
    def transcript(self) -> list[TranscriptEntry]:
        """The server's transcript (see :attr:`Pop3Server.transcript`)."""
        return self.server.transcript

    @property
    def faults(self) -> list[Fault]:
        """The server's fault list; appending takes effect for the next command."""
        return self.server.faults

    def commands(self, session: int | None = None) -> list[str]:
        """See :meth:`Pop3Server.commands`."""
        return self.server.commands(session)

    def start(self) -> ServerThread:
        """Start the thread and wait until the server listens.

        Raises:
            RuntimeError: Already started, or the server did not start in time.
            OSError: The server could not bind.
        """
        if self._thread is not None:
            raise RuntimeError("ServerThread already started")
        self._thread = threading.Thread(
            target=self._main, name=f"pop3-server-{id(self):x}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(self.timeout):
            raise RuntimeError("the embedded POP3 server did not start in time")
        if self._error is not None:
            self._thread.join(self.timeout)
            raise self._error
        return self

    def stop(self) -> None:
        """Close the server (dropping open connections) and join the thread."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if loop is not None and stop is not None and thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
        thread.join(self.timeout)
        if thread.is_alive():
            raise RuntimeError("the embedded POP3 server thread did not stop in time")
        self._thread = None

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run a coroutine on the server's loop and return its result."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("ServerThread is not running")
        future: Future[_T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(self.timeout)

    def wait_idle(self) -> None:
        """Block until the server has no open connection (see :meth:`Pop3Server.wait_idle`)."""
        self.run(self.server.wait_idle())

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *_exc_info: object) -> None:
        self.stop()

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                self._loop = None
                loop.close()

    async def _serve(self) -> None:
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._stop = asyncio.Event()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.close()
