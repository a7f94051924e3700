"""Invariant 6: memory stays bounded for unbounded input (HARDENING A.1, A.6, A.7, A.18).

A 50 MB reply of junk is served (in 256 KB writes) for one command while a
:class:`~popview.session.MailboxSession` opens, lists and fetches; the
session must fail with a popview error, and the peak of everything allocated
meanwhile (``tracemalloc``, the whole process) must stay under a cap far below
the reply's size.
"""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest

from popview.config import Account
from popview.errors import PopviewError
from popview.server import GREETING, Fault
from popview.session import MailboxSession
from tests.invariants.driver import Scenario, make_server
from tests.invariants.hostile import CANARY_PASSWORD, USER

pytestmark = pytest.mark.slow  # tens of megabytes through the client, memory measured

MB = 1024 * 1024
JUNK = 50 * MB
CAP = 16 * MB
LISTING_CAP = CAP
"""Listings are parsed as their lines arrive: only good rows and the first
rejected ones are kept, so a junk listing costs no more than an endless line."""


async def peak_while_reading(verb: str, payload: bytes) -> tuple[int, BaseException | None]:
    """Serve ``payload`` for ``verb``; return the allocation peak and the session's error."""
    server = make_server(Scenario((b"Subject: a\r\n\r\nbody\r\n",), None, (), ()))
    server.faults = [Fault(verb, replace=payload, chunk_size=256 * 1024, times=None)]
    await server.start()
    # Generous: tracemalloc slows every allocation several-fold, and on a loaded CI
    # machine 30 MB of rows parsed under it can outlast a normal command deadline.
    # This is a memory test; the deadline is not what it checks.
    account = Account(
        name="m", host="127.0.0.1", port=server.port, user=USER, tls="none", timeout=600.0
    )
    session = MailboxSession(account, CANARY_PASSWORD)
    error: BaseException | None = None
    tracemalloc.start()
    try:
        await session.open()
        async for _ in session.list_messages():
            pass
        key = session.key_for_number(1)
        assert key is not None
        await session.fetch(key)
    except Exception as exc:
        error = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        await session.close()
        await server.close()
    return peak, error


class TestEndlessLine:
    """One 50 MB line without CRLF, in place of a reply: aborted at the line cap."""

    @pytest.mark.parametrize(
        ("verb", "head"),
        [
            (GREETING, b"+OK "),
            ("CAPA", b"+OK\r\n"),
            ("AUTH", b"+OK "),
            ("LIST", b"+OK\r\n"),
            ("UIDL", b"+OK\r\n"),
            ("TOP", b"+OK\r\n"),
            ("RETR", b"+OK\r\n"),
        ],
    )
    def test_bounded(self, verb: str, head: bytes) -> None:
        """The session fails with a popview error and peaks under 16 MB."""
        payload = head + b"x" * JUNK
        peak, error = asyncio.run(peak_while_reading(verb, payload))
        assert isinstance(error, PopviewError), error
        assert peak < CAP, f"peak {peak / MB:.1f} MB for a 50 MB {verb} line"


class TestEndlessListing:
    """Listings of junk rows (HARDENING A.7): capped by lines and bytes, memory bounded."""

    def test_million_short_junk_rows(self) -> None:
        """1,000,000 junk LIST rows: aborted at the 500,000-line cap, peak under 16 MB."""
        payload = b"+OK\r\n" + b"xy\r\n" * 1_000_000
        peak, error = asyncio.run(peak_while_reading("LIST", payload))
        assert isinstance(error, PopviewError), error
        assert peak < LISTING_CAP, f"peak {peak / MB:.1f} MB"

    def test_fifty_megabytes_of_junk_rows(self) -> None:
        """50 MB of 100-byte junk LIST rows: aborted at the line cap, the peak
        stays under 16 MB (it was 67 MB when the block was buffered whole)."""
        payload = b"+OK\r\n" + (b"9" * 98 + b"\r\n") * (JUNK // 100)
        peak, error = asyncio.run(peak_while_reading("LIST", payload))
        assert isinstance(error, PopviewError), error
        assert peak < LISTING_CAP, f"peak {peak / MB:.1f} MB for 50 MB of junk rows"

    def test_thirty_megabytes_of_junk_rows_then_the_mailbox(self) -> None:
        """A LIST that completes: one good row among 30 MB of junk rows (under the
        line cap). The session opens, lists and fetches the message; the peak stays
        under 16 MB (rejected rows are counted, only the first are kept)."""
        junk = (b"9" * 98 + b"\r\n") * (30 * MB // 100)
        payload = b"+OK\r\n1 20\r\n" + junk + b".\r\n"
        peak, error = asyncio.run(peak_while_reading("LIST", payload))
        assert error is None, error
        assert peak < LISTING_CAP, f"peak {peak / MB:.1f} MB for 30 MB of junk rows"
