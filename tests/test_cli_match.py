"""``popview list --match/--rules`` and ``popview delete --match [--dry-run]`` (issue 12).

Against the embedded server in a thread; what was deleted is asserted on the
server's transcript and its mailbox, never on popview's own report alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from popview.cli import main
from popview.server import MemoryMailbox, ServerThread
from tests.fixtures.embedded import POP3_PASSWORD, POP3_USER
from tests.fixtures.maildir import served

SPAM = (
    b"From: Prize Dept <win@lottery.test>\r\nReturn-Path: <b@bulk.other.test>\r\n"
    b"X-Spam-Status: Yes, score=9.0 required=5.0\r\nSubject: You won\r\n\r\nclaim now\r\n"
)
FRIEND_SPAM = (
    b"From: Alice <alice@friends.test>\r\nX-Spam-Status: Yes, score=6.0\r\n"
    b"Subject: photos\r\n\r\nsee attached\r\n"
)
NEWS = (
    b"From: News <news@list.test>\r\nList-Id: <weekly.list.test>\r\nSubject: Weekly\r\n"
    b"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\n" + b"x" * 6000 + b"\r\n"
)
NOTE = b"From: Bob <bob@example.net>\r\nSubject: Lunch?\r\n\r\nFriday?\r\n"
MESSAGES = [SPAM, FRIEND_SPAM, NEWS, NOTE]
RULES = """
[[rules]]
name = "friends"
pattern = "~f @friends.test"
action = "keep"

[[rules]]
name = "spam"
pattern = "~x spam"

[[rules]]
name = "big lists"
pattern = "~x list ~z >5K"
"""


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POPVIEW_PASSWORD", POP3_PASSWORD)
    monkeypatch.setenv("POPVIEW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("POPVIEW_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def server(make_pop3_server_thread: Callable[..., ServerThread]) -> ServerThread:
    return make_pop3_server_thread(mailbox=MemoryMailbox(list(MESSAGES)))


def target(server: ServerThread) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(server.port), "--user", POP3_USER, "--tls", "none"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def verbs(server: ServerThread) -> list[str]:
    server.wait_idle()
    return [line.split(" ")[0] for line in server.server.commands()]


def test_list_match_shows_only_matching(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["list", "--json", "--match", "~x spam | lunch", *target(server)], capsys)
    assert code == 0
    assert [row["number"] for row in json.loads(out)] == [1, 2, 4]
    code, out, _ = run(["list", "--match", "~f bob", *target(server)], capsys)
    assert code == 0 and len(out.splitlines()) == 1 and "Lunch?" in out


def test_bad_pattern_is_a_usage_error_before_connecting(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["list", "--match", "~s (oops", *target(server)], capsys)
    assert code == 2 and "column 4" in err and "needs a value" in err
    assert server.server.commands() == []
    assert server.server.sessions_opened == 0  # not even a connection (dialled ahead)


def test_list_rules_shows_marks_never_commits(
    server: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The friends list wins over the spam rule; list sends no DELE and no QUIT."""
    config = tmp_path / "c.toml"
    config.write_text(RULES)
    config.chmod(0o600)
    code, out, err = run(["list", "--rules", "--config", str(config), *target(server)], capsys)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("spam") and "You won" in lines[0]
    assert lines[1].startswith("big lists") and "Weekly" in lines[1]
    size = {n: f"{len(served(m))} B" for n, m in ((1, SPAM), (2, FRIEND_SPAM))}
    assert err.splitlines() == [
        f"  spam: 1 message(s), {size[1]}",
        f"  big lists: 1 message(s), {len(served(NEWS)) / 1024:.1f} KB",
        f"Rules would mark 2 message(s), {(len(served(SPAM)) + len(served(NEWS))) / 1024:.1f} KB;"
        f" keep rules kept 1 message(s), {size[2]}. Nothing was marked or deleted.",
    ]
    code, out, _ = run(
        ["list", "--rules", "--json", "--config", str(config), *target(server)], capsys
    )
    assert [row["rule"] for row in json.loads(out)] == ["spam", None, "big lists", None]
    assert "DELE" not in verbs(server) and "QUIT" not in verbs(server)


def test_delete_match_dry_run_sends_no_dele(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["delete", "--match", "~x spam", "--dry-run", *target(server)], capsys)
    assert code == 0
    assert [line.split()[:3] for line in out.splitlines()] == [
        ["would", "delete", "#1"],
        ["would", "delete", "#2"],
    ]
    assert "nothing was" in err
    assert "DELE" not in verbs(server) and "QUIT" not in verbs(server)
    assert server.server.mailbox.deleted == []  # type: ignore[attr-defined]


def test_delete_match_yes_deletes_exactly_the_matching(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["delete", "--match", "~x spam !~f alice", "--yes", *target(server)], capsys)
    assert code == 0 and out.splitlines() == ["deleted uid-0001"]
    server.wait_idle()
    assert [c for c in server.server.commands() if c.startswith("DELE")] == ["DELE 1"]
    assert "QUIT" in verbs(server)


def test_delete_match_nothing_matches(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["delete", "--match", "~z >1G", "--yes", *target(server)], capsys)
    assert code == 0 and "nothing was deleted" in err
    assert "DELE" not in verbs(server) and "QUIT" not in verbs(server)


def test_delete_needs_messages_or_match(
    server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["delete", *target(server)], capsys)[0] == 2
    assert run(["delete", "#1", "--match", "x", *target(server)], capsys)[0] == 2
    assert server.server.commands() == []


def test_new_since_last_visit_reads_the_cache(
    server: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``~N``: messages whose UIDL the last visit (the app) did not list."""
    from popview.store import Store

    store = Store.open(tmp_path / "cache")
    try:
        key = f"{POP3_USER}@127.0.0.1:{server.port}"
        store.cache.set_seen_uids(key, ["uid-0001", "uid-0002"])
    finally:
        store.close()
    code, out, _ = run(["list", "--json", "--match", "~N", *target(server)], capsys)
    assert code == 0 and [row["number"] for row in json.loads(out)] == [3, 4]


def test_new_pattern_flag_and_rules_read_the_same_visit(
    server: ServerThread, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``~N`` in --match and in a rule, and ``--new``, are the session's one answer to
    "new since the last visit"; without the cache, nothing is new to any of them."""
    from popview.store import Store

    store = Store.open(tmp_path / "cache")
    try:
        store.cache.set_seen_uids(f"{POP3_USER}@127.0.0.1:{server.port}", ["uid-0001", "uid-0003"])
    finally:
        store.close()
    config = tmp_path / "c.toml"
    config.write_text('[[rules]]\nname = "fresh"\npattern = "~N"\n')
    config.chmod(0o600)

    def numbers(*argv: str) -> list[int]:
        code, out, _ = run(["list", "--json", *argv, *target(server)], capsys)
        assert code == 0
        return [row["number"] for row in json.loads(out) if row.get("rule", "fresh") == "fresh"]

    assert numbers("--new") == numbers("--match", "~N") == [2, 4]
    assert numbers("--match", "!~N") == [1, 3]
    assert numbers("--rules", "--config", str(config)) == [2, 4]
    assert numbers("--match", "~N", "--no-cache") == numbers("--new", "--no-cache") == []
