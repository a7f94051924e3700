"""The cached rows reported while the login is in the air (popview/session/cached_rows.py).

A real sqlite store, read ahead by the session's own prefetch; every check is on
what the callback receives.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from popview.mail.envelope import parse_envelope
from popview.session import cached_rows
from popview.session.cached_rows import FIRST_ROWS, NO_NUMBER, CachedRowsReport
from popview.session.envelope_stream import prefetch_cached
from popview.session.payload import envelope_payload
from popview.session.types import Listed
from popview.store import CachedEnvelope, Store

ACCOUNT = "alice@127.0.0.1:110"


def block(n: int) -> bytes:
    # Message n is n minutes after midnight: the higher n, the newer.
    return (
        f"From: Sender {n} <s{n}@example.org>\r\nSubject: Cached {n}\r\n"
        f"Date: Fri, 15 Mar 2024 {n // 60:02d}:{n % 60:02d}:00 +0000\r\n\r\n"
    ).encode()


def fill(store: Store, count: int, *, payloads: bool = True) -> None:
    rows = []
    for n in range(1, count + 1):
        headers = block(n)
        envelope = parse_envelope(headers, number=n, uid=f"uid-{n}", size=100 + n)
        payload = envelope_payload(envelope) if payloads else None
        rows.append(CachedEnvelope(f"uid-{n}", 100 + n, headers, payload))
    store.cache.put_envelopes(ACCOUNT, rows)


def reported(
    store: Store, stop_after: int = 1_000, events: list[str] | None = None
) -> list[list[Listed]]:
    calls: list[list[Listed]] = []
    done = threading.Event()

    def take(rows: Sequence[Listed]) -> bool:
        calls.append(list(rows))
        if events is not None:
            events.append(f"reported {len(rows)}")
        return len(calls) < stop_after

    report = CachedRowsReport(take)
    future = prefetch_cached(store.cache, ACCOUNT, report.first)
    report.rest(future)
    future.add_done_callback(lambda _f: done.set())  # runs after the report's
    assert done.wait(10)
    return calls


def no_json(action: int, arg1: str | None, arg2: str | None, *_: object) -> int:
    """An sqlite authorizer that refuses the JSON functions (an sqlite without them)."""
    refused = any(name in (arg1 or "", arg2 or "") for name in ("json_extract", "json_valid"))
    return sqlite3.SQLITE_DENY if refused else sqlite3.SQLITE_OK


def test_newest_first_then_the_rest_in_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cached_rows, "LATER_ROWS", 100)
    count = FIRST_ROWS + 250
    with Store.open(tmp_path) as store:
        fill(store, count)
        calls = reported(store)
    first = calls[0]
    assert len(first) == FIRST_ROWS
    assert {row.key for row in first} == {f"uid-{n}" for n in range(251, count + 1)}
    assert [len(call) for call in calls[1:]] == [100, 100, 50]
    every = [row for call in calls for row in call]
    assert sorted(row.key for row in every) == sorted(f"uid-{n}" for n in range(1, count + 1))
    # Unconfirmed: the cache's size and no message number of any session.
    assert all(row.envelope.number == NO_NUMBER for row in every)
    sizes = {row.key: row.envelope.size for row in every}
    assert sizes["uid-7"] == 107
    assert next(r for r in every if r.key == "uid-7").envelope.subject == "Cached 7"


def test_no_more_once_the_callback_has_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session has listed: the rest is not built (its listing shows them)."""
    monkeypatch.setattr(cached_rows, "LATER_ROWS", 100)
    with Store.open(tmp_path) as store:
        fill(store, FIRST_ROWS + 250)
        calls = reported(store, stop_after=2)
    assert [len(call) for call in calls] == [FIRST_ROWS, 100]


def test_an_older_cache_without_payloads_is_parsed(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        fill(store, 3, payloads=False)
        calls = reported(store)
    assert sorted(row.envelope.subject for call in calls for row in call) == [
        "Cached 1",
        "Cached 2",
        "Cached 3",
    ]


def test_an_empty_cache_reports_nothing(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        assert reported(store) == []


def test_the_newest_are_reported_before_the_whole_cache_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One query ordered by date gives the first screen: it is reported before the
    whole read starts (10,000 payloads decoded and checked), and the rest never
    repeats a row of it."""
    monkeypatch.setattr(cached_rows, "LATER_ROWS", 100)
    count = FIRST_ROWS + 250
    events: list[str] = []
    with Store.open(tmp_path) as store:
        fill(store, count)
        whole_read = store.cache.get_payloads

        def read_all(*args: object) -> object:
            events.append("whole read")
            return whole_read(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(store.cache, "get_payloads", read_all)
        calls = reported(store, events=events)
    assert events[:2] == [f"reported {FIRST_ROWS}", "whole read"]
    assert {row.key for row in calls[0]} == {f"uid-{n}" for n in range(251, count + 1)}
    keys = [row.key for call in calls for row in call]
    assert len(keys) == len(set(keys)) == count


def test_without_json_in_sqlite_the_whole_read_reports_them_newest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An sqlite that refuses the JSON functions: no early query, and the whole read
    reports every row once, the newest first, as before."""
    monkeypatch.setattr(cached_rows, "LATER_ROWS", 100)
    count = FIRST_ROWS + 250
    with Store.open(tmp_path) as store:
        fill(store, count)
        store._db._connection.set_authorizer(no_json)
        calls = reported(store)
        store._db._connection.set_authorizer(None)
    assert {row.key for row in calls[0]} == {f"uid-{n}" for n in range(251, count + 1)}
    assert [len(call) for call in calls] == [FIRST_ROWS, 100, 100, 50]
