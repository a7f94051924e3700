"""Dial ahead: the TCP connection opened while the rest of popview is imported.

A headless command spends about 0.1 s importing the session, the store and the
mail parser before it can connect; the TCP handshake (one round trip) and the
server's greeting (half of one) need none of that. :class:`DialAhead` starts
:func:`socket.create_connection` on a thread as soon as the account is known,
and the first connection of the session adopts the connected socket
(:func:`popview.pop3.dial.open_channel`). Nothing is read or written here: the
greeting waits in the kernel's buffer, and TLS (implicit or STLS) is set up on
the adopted socket exactly as on a fresh one. It needs only ``socket`` and
``threading`` to start: ``asyncio`` (and the ``ssl`` it imports, about 20 ms)
is imported once the connect is on its way, by the session.

The terminal UI dials ahead too when it starts with a named account, while
Textual is imported; the user may then sit at a password prompt, so it adopts
the socket only while it is fresh (``fresh_for``).

When the early dial failed, the session dials again by the usual path, so every
error is reported with the usual words (a timeout is not waited for twice: the
usual path reports it at once). This module imports nothing of popview.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

__all__ = ["DialAhead"]


class DialAhead:
    """One TCP connection to ``host``:``port`` being opened on a thread of its own.

    Args:
        host: The server name or address.
        port: The TCP port.
        timeout: Seconds the connect may take.
        fresh_for: Seconds after the connect within which the socket may be
            adopted (``None``: any time). The terminal UI may wait at a password
            prompt, and a server drops a connection that does not log in; a
            socket older than this is closed and the session dials anew.
    """

    def __init__(
        self, host: str, port: int, timeout: float, *, fresh_for: float | None = None
    ) -> None:
        self.host = host
        self.port = port
        self._timeout = timeout
        self._fresh_for = fresh_for
        self._connected_at = 0.0
        self._lock = threading.Lock()
        self._result: socket.socket | OSError | None = None
        self._finished = False
        self._taken = False
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[None]] | None = None
        self._thread = threading.Thread(target=self._dial, name="popview-dial", daemon=True)
        self._thread.start()

    def _dial(self) -> None:
        try:
            result: socket.socket | OSError = socket.create_connection(
                (self.host, self.port), timeout=self._timeout
            )
        except OSError as exc:
            result = exc
        with self._lock:
            self._finished = True
            self._connected_at = time.monotonic()
            waiter = self._waiter
            if self._taken and isinstance(result, socket.socket):
                result.close()  # nobody wants it any more
            else:
                self._result = result
        if self._fresh_for is not None and isinstance(result, socket.socket):
            # Not left open at the server once it can no longer be adopted.
            expiry = threading.Timer(self._fresh_for, self.close)
            expiry.daemon = True
            expiry.start()
        if waiter is not None:
            loop, finished = waiter
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_wake, finished)

    async def take(self, host: str, port: int) -> socket.socket | OSError | None:
        """The outcome of the dial, once: the connected socket, the error that
        ended it, or ``None`` (another address, already taken, not done in time,
        or connected longer ago than ``fresh_for``).

        Waits for the dial to finish (it started earlier than a new one would),
        without blocking the event loop: a cancel (Ctrl+C) ends the wait at once.
        """
        if (host, port) != (self.host, self.port):
            self.close()
            return None
        import asyncio  # imported by now: the caller runs on its loop

        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if not self._finished:
                self._waiter = (loop, finished)
        if self._waiter is not None:
            try:
                async with asyncio.timeout(self._timeout + 1):
                    await finished
            except TimeoutError:
                pass  # dialled again by the usual path
            except asyncio.CancelledError:
                self.close()
                raise
        with self._lock:
            result, self._result = self._result, None
            self._taken = True
        stale = self._fresh_for is not None and (
            time.monotonic() - self._connected_at > self._fresh_for
        )
        if stale and isinstance(result, socket.socket):
            result.close()  # the server may have given up on it: dial anew
            return None
        return result

    def close(self) -> None:
        """Close the socket if it was never taken (the session did not connect)."""
        with self._lock:
            result, self._result = self._result, None
            self._taken = True
        if isinstance(result, socket.socket):
            result.close()


def _wake(finished: asyncio.Future[None]) -> None:
    if not finished.done():
        finished.set_result(None)
