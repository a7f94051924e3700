"""What a server said about itself, per account: its capabilities, and whether
it failed to answer pipelined commands.

Remembering the ``CAPA`` answer lets the next session send its login without
asking ``CAPA`` first (one round trip less); remembering a broken pipeline
keeps the next session from trying again (HARDENING A.19). The memory is an
accelerator keyed by the greeting: a server that greets differently (or whose
``IMPLEMENTATION`` changed) is asked again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from popview.store.db import Database

__all__ = ["ServerMemory", "ServerNotes"]

_MAX_TEXT = 64 * 1024  # a CAPA answer is capped well below this by the core


@dataclass(frozen=True)
class ServerNotes:
    """What is remembered about one account's server.

    Attributes:
        greeting: The greeting key it was learned under (see
            :func:`popview.session.opening.greeting_key`).
        capa: The CAPA lines before login, one per line; ``None`` when unknown.
        implementation: ``IMPLEMENTATION`` after login, if any.
        pipelining_broken: The server stopped answering pipelined commands.
    """

    greeting: str
    capa: str | None = None
    implementation: str | None = None
    pipelining_broken: bool = False


class ServerMemory:
    """Per-account notes about the server.

    Args:
        database: The open database.
    """

    def __init__(self, database: Database) -> None:
        self._db = database

    def get(self, account: str) -> ServerNotes | None:
        """Return the notes for ``account``, or ``None``."""
        rows = self._db.fetch(
            "SELECT greeting, capa, implementation, pipelining_broken FROM servers"
            " WHERE account = ?",
            (account,),
        )
        if not rows:
            return None
        greeting, capa, implementation, broken = rows[0]
        if not isinstance(greeting, str):
            return None
        return ServerNotes(
            greeting,
            capa if isinstance(capa, str) else None,
            implementation if isinstance(implementation, str) else None,
            bool(broken),
        )

    def put(self, account: str, notes: ServerNotes) -> None:
        """Replace the notes for ``account``."""
        capa = notes.capa[:_MAX_TEXT] if notes.capa is not None else None
        with self._db.transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO servers (account, greeting, capa, implementation,"
                " pipelining_broken, seen_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    account,
                    notes.greeting[:_MAX_TEXT],
                    capa,
                    notes.implementation,
                    int(notes.pipelining_broken),
                    time.time(),
                ),
            )

    def forget(self, account: str) -> None:
        """Drop the notes for ``account``."""
        with self._db.transaction() as connection:
            connection.execute("DELETE FROM servers WHERE account = ?", (account,))
