"""The local store: private files, envelopes, bodies, the deletion journal, pins.

Everything runs on real sqlite files in ``tmp_path`` under umask 022.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from popview.errors import StoreError
from popview.store import (
    CACHE_DIR_ENV,
    DB_FILENAME,
    CachedEnvelope,
    JournalState,
    Store,
    default_cache_dir,
)
from popview.store.cache import MAX_HEADER_BYTES
from popview.store.files import create_private_file, ensure_private_dir, write_private_file
from tests.store_support import journal_marks

ACCOUNT = "bob@mail.example:995"
OTHER = "alice@mail.example:995"

# --- watching real file-system calls -------------------------------------------------
#
# An audit hook (PEP 578) sees every os.open and os.chmod the process makes. It
# cannot be removed, so it records only while a test switches it on. This checks
# *how* files are created (O_EXCL, mode 0600, no chmod afterwards) without
# replacing anything.

_recording: list[tuple[str, tuple[Any, ...]]] | None = None
_record_lock = threading.Lock()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _recording is not None and event in ("open", "os.chmod", "os.mkdir"):
        with _record_lock:
            _recording.append((event, args))


sys.addaudithook(_audit)


@pytest.fixture
def fs_calls() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """Record os.open/os.mkdir/os.chmod calls made during the test."""
    global _recording
    calls: list[tuple[str, tuple[Any, ...]]] = []
    _recording = calls
    try:
        yield calls
    finally:
        _recording = None


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """Run every test under the common umask 022 (group/others may read by default)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def envelope(uid: str, size: int = 100, payload: dict[str, Any] | None = None) -> CachedEnvelope:
    return CachedEnvelope(uid, size, f"Subject: {uid}\r\n\r\n".encode(), payload)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "cache") as opened:
        yield opened


class TestPrivateDirectories:
    """Directories popview makes are 0700, parents included."""

    def test_nested_directories_are_created_0700(self, tmp_path: Path) -> None:
        """Every directory created, not only the last, is private under umask 022."""
        target = tmp_path / "a" / "b" / "c"
        ensure_private_dir(target)
        for part in (tmp_path / "a", tmp_path / "a" / "b", target):
            assert mode(part) == 0o700

    def test_directories_are_created_with_mode_0700_not_narrowed_later(
        self, tmp_path: Path, fs_calls: list[tuple[str, tuple[Any, ...]]]
    ) -> None:
        """mkdir is called with 0700 and no chmod follows."""
        ensure_private_dir(tmp_path / "x" / "y")
        mkdirs = [args for event, args in fs_calls if event == "os.mkdir"]
        assert [Path(a[0]).name for a in mkdirs] == ["x", "y"]
        assert all(a[1] == 0o700 for a in mkdirs)
        assert not [c for c in fs_calls if c[0] == "os.chmod"]

    def test_existing_open_directory_of_ours_is_narrowed(self, tmp_path: Path) -> None:
        """A cache directory left at 0755 is made 0700 before anything is put in it."""
        loose = tmp_path / "loose"
        loose.mkdir(mode=0o755)
        ensure_private_dir(loose)
        assert mode(loose) == 0o700

    def test_a_file_in_the_way_is_reported(self, tmp_path: Path) -> None:
        """A plain file where the directory should be gives a clear error."""
        (tmp_path / "cache").write_bytes(b"")
        with pytest.raises(StoreError, match="not a directory"):
            ensure_private_dir(tmp_path / "cache")

    @needs_root
    def test_directory_of_another_user_is_refused(self, tmp_path: Path) -> None:
        """Private data is never put in a directory someone else owns."""
        foreign = tmp_path / "foreign"
        foreign.mkdir(mode=0o700)
        os.chown(foreign, 65534, 65534)
        with pytest.raises(StoreError, match="another user"):
            ensure_private_dir(foreign)


class TestPrivateFiles:
    """write_private_file: 0600 from the first instant, atomic replace."""

    def test_new_file_is_0600_with_the_content(self, tmp_path: Path) -> None:
        """The file has exactly the data, mode 0600, and no temporary file is left."""
        target = tmp_path / "state.toml"
        write_private_file(target, b"secret = 1\n")
        assert target.read_bytes() == b"secret = 1\n"
        assert mode(target) == 0o600
        assert sorted(p.name for p in tmp_path.iterdir()) == ["state.toml"]

    def test_replacing_a_0644_file_gives_a_0600_file(self, tmp_path: Path) -> None:
        """The old file's loose mode is not inherited: the new content is a new 0600 inode."""
        target = tmp_path / "state"
        target.write_bytes(b"old")
        target.chmod(0o644)
        write_private_file(target, b"new")
        assert target.read_bytes() == b"new"
        assert mode(target) == 0o600

    def test_written_through_o_excl_0600_and_never_chmodded(
        self, tmp_path: Path, fs_calls: list[tuple[str, tuple[Any, ...]]]
    ) -> None:
        """The temporary file is opened O_CREAT|O_EXCL|O_NOFOLLOW with mode 0600; no chmod."""
        write_private_file(tmp_path / "f", b"x")
        opens = [args for event, args in fs_calls if event == "open" and args[1] is None]
        created = [a for a in opens if isinstance(a[2], int) and a[2] & os.O_CREAT]
        assert created, fs_calls
        for _path, _mode, flags in created:
            assert flags & os.O_EXCL
            assert flags & os.O_NOFOLLOW
        # os.open reports (path, None, flags); the mode is checked on the result.
        assert mode(tmp_path / "f") == 0o600
        assert not [c for c in fs_calls if c[0] == "os.chmod"]

    def test_symlink_at_the_target_is_replaced_not_followed(self, tmp_path: Path) -> None:
        """A planted symlink is replaced by the private file; the file it pointed to is intact."""
        victim = tmp_path / "victim"
        victim.write_bytes(b"untouched")
        link = tmp_path / "config.toml"
        link.symlink_to(victim)
        write_private_file(link, b"data")
        assert victim.read_bytes() == b"untouched"
        assert not link.is_symlink()
        assert link.read_bytes() == b"data"

    def test_create_private_file_never_opens_an_existing_file(self, tmp_path: Path) -> None:
        """An existing file (or a symlink) is left alone and reported as existing."""
        existing = tmp_path / "db"
        existing.write_bytes(b"keep")
        existing.chmod(0o644)
        assert create_private_file(existing) is False
        assert existing.read_bytes() == b"keep"
        link = tmp_path / "link"
        link.symlink_to(tmp_path / "nowhere")
        assert create_private_file(link) is False
        assert not (tmp_path / "nowhere").exists()

    def test_unwritable_directory_is_a_store_error(self, tmp_path: Path) -> None:
        """A failure names the file rather than leaking an OSError."""
        with pytest.raises(StoreError, match="Cannot write"):
            write_private_file(tmp_path / "missing-dir" / "f", b"x")


class TestOpeningTheStore:
    """Store.open: where the database lives and what modes its files get."""

    def test_database_and_sqlite_side_files_are_0600_in_a_0700_dir(self, tmp_path: Path) -> None:
        """After writes in WAL mode the db, -wal and -shm are all 0600, the dir 0700."""
        folder = tmp_path / "cache"
        with Store.open(folder) as store:
            store.cache.put_envelopes(ACCOUNT, [envelope("1")])
            store.journal.mark(ACCOUNT, "1")
            names = sorted(p.name for p in folder.iterdir())
            assert names == [DB_FILENAME, f"{DB_FILENAME}-shm", f"{DB_FILENAME}-wal"]
            for path in folder.iterdir():
                assert mode(path) == 0o600, path
        assert mode(folder) == 0o700

    def test_rollback_journal_is_0600_too(self, tmp_path: Path) -> None:
        """Had sqlite used its -journal file, it would get the db file's 0600 as well."""
        folder = tmp_path / "cache"
        Store.open(folder).close()
        # Same file, opened as sqlite would on a filesystem without WAL support.
        connection = sqlite3.connect(folder / DB_FILENAME, isolation_level=None)
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO seen VALUES ('a', 'b')")
        side = folder / f"{DB_FILENAME}-journal"
        assert side.exists()
        assert mode(side) == 0o600
        connection.execute("ROLLBACK")
        connection.close()

    def test_database_file_is_created_o_excl_0600_before_sqlite_opens_it(
        self, tmp_path: Path, fs_calls: list[tuple[str, tuple[Any, ...]]]
    ) -> None:
        """The db file comes from os.open(O_CREAT|O_EXCL), and nothing is chmodded."""
        Store.open(tmp_path / "cache").close()
        created = [
            args
            for event, args in fs_calls
            if event == "open" and isinstance(args[2], int) and args[2] & os.O_CREAT
        ]
        assert [Path(a[0]).name for a in created] == [DB_FILENAME]
        assert created[0][2] & os.O_EXCL
        assert not [c for c in fs_calls if c[0] == "os.chmod"]

    def test_data_survives_reopening(self, tmp_path: Path) -> None:
        """What one run stored, the next run reads."""
        with Store.open(tmp_path / "c") as store:
            store.cache.put_envelopes(ACCOUNT, [envelope("u1", payload={"subject": "hi"})])
            store.journal.mark(ACCOUNT, "u1")
        with Store.open(tmp_path / "c") as store:
            assert store.cache.get_envelopes(ACCOUNT)["u1"].payload == {"subject": "hi"}
            assert journal_marks(store.journal, ACCOUNT) == {"u1"}

    def test_environment_variable_chooses_the_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """POPVIEW_CACHE_DIR overrides the platform cache directory."""
        monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "env-cache"))
        assert default_cache_dir() == tmp_path / "env-cache"
        with Store.open() as store:
            assert store.path == tmp_path / "env-cache" / DB_FILENAME

    def test_loose_existing_database_is_made_private(self, tmp_path: Path) -> None:
        """A db left 0644 (copied in, older version) is narrowed before use, side files too."""
        folder = tmp_path / "cache"
        Store.open(folder).close()
        (folder / DB_FILENAME).chmod(0o644)
        with Store.open(folder) as store:
            store.cache.put_envelopes(ACCOUNT, [envelope("1")])
            for path in folder.iterdir():
                assert mode(path) == 0o600, path

    @needs_root
    def test_database_of_another_user_is_refused(self, tmp_path: Path) -> None:
        """A db owned by someone else is not used."""
        folder = tmp_path / "cache"
        Store.open(folder).close()
        os.chown(folder / DB_FILENAME, 65534, 65534)
        with pytest.raises(StoreError, match="another user"):
            Store.open(folder)

    def test_symlinked_database_is_refused(self, tmp_path: Path) -> None:
        """A symlink at the db name is not followed; the file it points to is untouched."""
        folder = ensure_private_dir(tmp_path / "cache")
        victim = tmp_path / "victim"
        victim.write_bytes(b"precious")
        (folder / DB_FILENAME).symlink_to(victim)
        with pytest.raises(StoreError, match="not a regular file"):
            Store.open(folder)
        assert victim.read_bytes() == b"precious"

    def test_damaged_database_says_what_to_do(self, tmp_path: Path) -> None:
        """A file that is not sqlite gives a StoreError naming the file and the fix."""
        folder = ensure_private_dir(tmp_path / "cache")
        write_private_file(folder / DB_FILENAME, b"this is not a database" * 100)
        with pytest.raises(StoreError, match="damaged") as caught:
            Store.open(folder)
        assert str(folder / DB_FILENAME) in str(caught.value)
        assert "Move it away" in str(caught.value)

    def test_database_from_a_newer_popview_is_refused(self, tmp_path: Path) -> None:
        """A schema version above ours is not guessed at."""
        folder = tmp_path / "cache"
        Store.open(folder).close()
        connection = sqlite3.connect(folder / DB_FILENAME)
        connection.execute("PRAGMA user_version = 99")
        connection.close()
        with pytest.raises(StoreError, match="newer popview"):
            Store.open(folder)


class TestEnvelopes:
    """The envelope cache, keyed by (account, UIDL) and checked against LIST sizes."""

    def test_ten_thousand_envelopes_round_trip(self, store: Store) -> None:
        """A batch of 10,000 goes in one call and comes back byte for byte."""
        batch = [envelope(f"uid{i}", 1000 + i, {"n": i, "s": "é"}) for i in range(10_000)]
        assert store.cache.put_envelopes(ACCOUNT, batch) == 10_000
        found = store.cache.get_envelopes(ACCOUNT)
        assert len(found) == 10_000
        assert found["uid42"] == batch[42]

    def test_only_entries_with_the_current_list_size_are_returned(self, store: Store) -> None:
        """A UIDL whose size changed, or that is not listed now, is not served from cache."""
        store.cache.put_envelopes(ACCOUNT, [envelope("a", 10), envelope("b", 20), envelope("c")])
        found = store.cache.get_envelopes(ACCOUNT, {"a": 10, "b": 21})
        assert set(found) == {"a"}

    def test_accounts_are_separate(self, store: Store) -> None:
        """The same UIDL on two accounts names two different messages."""
        store.cache.put_envelopes(ACCOUNT, [envelope("x", 1)])
        store.cache.put_envelopes(OTHER, [envelope("x", 2)])
        assert store.cache.get_envelopes(ACCOUNT)["x"].size == 1
        assert store.cache.get_envelopes(OTHER)["x"].size == 2

    def test_hostile_uids_are_only_keys(self, store: Store, tmp_path: Path) -> None:
        """UIDLs like ../../x, a/b, empty or with NUL are stored as keys; no file appears."""
        uids = ["../../x", "a/b", "", "nul\x00byte", "\u202eevil", "x" * 200]
        store.cache.put_envelopes(ACCOUNT, [envelope(u) for u in uids])
        store.cache.put_body(ACCOUNT, "../../x", b"body", list_size=4)
        assert set(store.cache.get_envelopes(ACCOUNT)) == set(uids)
        assert store.cache.get_body(ACCOUNT, "../../x") == b"body"
        assert {p.name for p in (tmp_path / "cache").iterdir()} <= {
            DB_FILENAME,
            f"{DB_FILENAME}-wal",
            f"{DB_FILENAME}-shm",
        }
        assert not (tmp_path / "x").exists()

    def test_huge_advertised_size_does_not_break_storage(self, store: Store) -> None:
        """A LIST size of 2**63 is cached without overflow and never matches a listing."""
        store.cache.put_envelopes(ACCOUNT, [envelope("big", 2**63)])
        assert "big" in store.cache.get_envelopes(ACCOUNT)
        assert store.cache.get_envelopes(ACCOUNT, {"big": 2**63}) == {}

    def test_oversized_header_block_is_not_cached(self, store: Store) -> None:
        """A header block over the cap is skipped, the rest of the batch stored."""
        huge = CachedEnvelope("huge", 1, b"X" * (MAX_HEADER_BYTES + 1))
        assert store.cache.put_envelopes(ACCOUNT, [huge, envelope("ok")]) == 1
        assert set(store.cache.get_envelopes(ACCOUNT)) == {"ok"}

    def test_payload_that_is_not_json_is_a_clear_error(self, store: Store) -> None:
        """The error names the message; nothing of the batch is half-stored."""
        bad = CachedEnvelope("m1", 1, b"h", {"when": object()})
        with pytest.raises(StoreError, match=r"m1.*not JSON"):
            store.cache.put_envelopes(ACCOUNT, [envelope("first"), bad])
        assert store.cache.get_envelopes(ACCOUNT) == {}

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('{"s":"hi"}', {"s": "hi"}),
            (' {"s":"hi"}\n', {"s": "hi"}),  # whitespace around one object is fine
            ('{"s":"hi"}{"t":1}', None),  # two values
            ('{"s":"hi"} x', None),
            ("[1]", None),  # not an object
            ("{", None),
            ("", None),
        ],
    )
    def test_payload_read_back_as_json_reads_it(
        self, tmp_path: Path, text: str, expected: dict[str, Any] | None
    ) -> None:
        """A payload text in the database is one JSON object or no payload at all
        (the listing then parses the header block)."""
        with Store.open(tmp_path / "cache") as opened:
            opened.cache.put_envelopes(ACCOUNT, [envelope("u1", payload={"s": "x"})])
        with sqlite3.connect(tmp_path / "cache" / DB_FILENAME) as raw:
            raw.execute("UPDATE envelopes SET payload = ?", (text,))
        raw.close()
        with Store.open(tmp_path / "cache") as opened:
            assert opened.cache.get_envelopes(ACCOUNT)["u1"].payload == expected

    def test_negative_size_is_refused(self, store: Store) -> None:
        """A size that cannot be a LIST size is a StoreError, not a stored row."""
        with pytest.raises(StoreError, match="non-negative"):
            store.cache.put_envelopes(ACCOUNT, [envelope("m", -1)])


class TestBodies:
    """Bodies are cached only whole, and only under the size cap."""

    def test_body_matching_the_list_size_is_stored(self, store: Store) -> None:
        """The exact bytes come back."""
        data = b"Subject: hi\r\n\r\nbody\r\n"
        assert store.cache.put_body(ACCOUNT, "u", data, list_size=len(data))
        assert store.cache.get_body(ACCOUNT, "u") == data

    def test_partial_body_is_never_stored(self, store: Store) -> None:
        """Fewer bytes than LIST said (EOF mid-RETR) and not marked complete: not cached."""
        assert not store.cache.put_body(ACCOUNT, "u", b"Subject: hi\r\n", list_size=500)
        assert not store.cache.put_body(ACCOUNT, "u", b"Subject: hi\r\n")
        assert store.cache.get_body(ACCOUNT, "u") is None

    def test_complete_body_with_a_different_list_size_is_stored(self, store: Store) -> None:
        """LIST may count line endings differently; a RETR that ended with '.' is whole."""
        assert store.cache.put_body(ACCOUNT, "u", b"abc\r\n", list_size=4, complete=True)
        assert store.cache.get_body(ACCOUNT, "u") == b"abc\r\n"

    def test_body_over_the_cap_is_not_stored(self, tmp_path: Path) -> None:
        """A message over max_body_bytes is fetched each time rather than cached."""
        with Store.open(tmp_path / "c", max_body_bytes=10) as store:
            assert not store.cache.put_body(ACCOUNT, "u", b"x" * 11, complete=True)
            assert store.cache.put_body(ACCOUNT, "v", b"x" * 10, complete=True)
            assert store.cache.get_body(ACCOUNT, "u") is None


class TestPruneAndSeen:
    """Entries whose UIDL left the server go; "new since last visit" is remembered."""

    def test_prune_removes_only_what_left_the_server(self, store: Store) -> None:
        """Envelopes, bodies and seen-UIDs of gone messages go; the journal and others stay."""
        store.cache.put_envelopes(ACCOUNT, [envelope(u, 2) for u in ("a", "b", "c")])
        store.cache.put_envelopes(OTHER, [envelope("a", 2)])
        store.cache.put_body(ACCOUNT, "b", b"bb", list_size=2)
        store.cache.set_seen_uids(ACCOUNT, ["a", "b", "c"])
        store.journal.mark(ACCOUNT, "b")
        removed = store.cache.prune(ACCOUNT, {"a", "c"})
        assert removed == 2
        assert set(store.cache.get_envelopes(ACCOUNT)) == {"a", "c"}
        assert store.cache.get_body(ACCOUNT, "b") is None
        assert store.cache.seen_uids(ACCOUNT) == {"a", "c"}
        assert journal_marks(store.journal, ACCOUNT) == {"b"}
        assert set(store.cache.get_envelopes(OTHER)) == {"a"}

    def test_prune_with_ten_thousand_present(self, store: Store) -> None:
        """A large listing prunes in one transaction and keeps every listed entry."""
        uids = [f"u{i}" for i in range(10_000)]
        store.cache.put_envelopes(ACCOUNT, [envelope(u) for u in [*uids, "gone"]])
        assert store.cache.prune(ACCOUNT, uids) == 1
        assert len(store.cache.get_envelopes(ACCOUNT)) == 10_000

    def test_prune_with_the_read_ahead_removes_what_it_read_and_left(self, store: Store) -> None:
        """Given the UIDs a listing read from the cache, the envelopes of those that
        left go, bodies and seen-UIDs as without them; an envelope stored after
        that read (another listing's newer message) stays for the next prune."""
        store.cache.put_envelopes(ACCOUNT, [envelope(u, 2) for u in ("a", "b", "c")])
        read = set(store.cache.get_envelopes(ACCOUNT))
        store.cache.put_envelopes(ACCOUNT, [envelope("d", 2)])
        store.cache.put_body(ACCOUNT, "b", b"bb", list_size=2)
        store.cache.set_seen_uids(ACCOUNT, ["a", "b", "c"])
        removed = store.cache.prune(ACCOUNT, {"a", "c"}, cached_uids=read)
        assert removed == 2
        assert set(store.cache.get_envelopes(ACCOUNT)) == {"a", "c", "d"}
        assert store.cache.get_body(ACCOUNT, "b") is None
        assert store.cache.seen_uids(ACCOUNT) == {"a", "c"}
        assert store.cache.prune(ACCOUNT, {"a", "c"}) == 1
        assert set(store.cache.get_envelopes(ACCOUNT)) == {"a", "c"}

    def test_seen_uids_are_replaced_per_visit(self, store: Store) -> None:
        """The set remembered is the last visit's, per account."""
        store.cache.set_seen_uids(ACCOUNT, ["a", "b"])
        store.cache.set_seen_uids(ACCOUNT, ["b", "c", "c"])
        store.cache.set_seen_uids(OTHER, ["z"])
        assert store.cache.seen_uids(ACCOUNT) == {"b", "c"}
        assert store.cache.seen_uids(OTHER) == {"z"}

    def test_clear_keeps_journal_and_pins(self, store: Store) -> None:
        """Clearing the cache of an account does not drop deletion marks or trusted certs."""
        store.cache.put_envelopes(ACCOUNT, [envelope("a")])
        store.journal.mark(ACCOUNT, "a")
        store.pins.pin(ACCOUNT, "mail.example", "AB:CD")
        store.cache.clear(ACCOUNT)
        assert store.cache.get_envelopes(ACCOUNT) == {}
        assert journal_marks(store.journal, ACCOUNT) == {"a"}
        assert store.pins.pinned(ACCOUNT, "mail.example") == "AB:CD"


class TestReadState:
    """Read/unread kept locally by UIDL (POP3 has no flags), per account."""

    def test_read_unread_per_account_survives_reopening_and_prune(self, tmp_path: Path) -> None:
        """Read marks are per account, "mark as unread" removes one, they survive a
        reopen in a 0600 database, and prune drops those of messages that left."""
        folder = tmp_path / "cache"
        with Store.open(folder) as store:
            store.read.set_read(ACCOUNT, ["a", "b", "c"])
            store.read.set_read(OTHER, ["a"])
            store.read.set_read(ACCOUNT, ["b"], read=False)
            assert store.read.read_uids(ACCOUNT) == {"a", "c"}
        assert mode(folder / DB_FILENAME) == 0o600
        with Store.open(folder) as store:
            assert store.read.read_uids(ACCOUNT) == {"a", "c"}
            store.cache.prune(ACCOUNT, {"c"})
            assert store.read.read_uids(ACCOUNT) == {"c"}
            assert store.read.read_uids(OTHER) == {"a"}

    def test_a_version_1_cache_is_upgraded(self, tmp_path: Path) -> None:
        """A cache written before read state existed keeps its envelopes and gains it."""
        folder = tmp_path / "cache"
        with Store.open(folder) as store:
            store.cache.put_envelopes(ACCOUNT, [envelope("a")])
        rewind(
            folder,
            1,
            "DROP TABLE read_messages",
            "DROP TABLE servers",  # schema 3: not in a version 1 cache
            "ALTER TABLE journal DROP COLUMN rule",  # schema 4
        )
        with Store.open(folder) as store:
            assert set(store.cache.get_envelopes(ACCOUNT)) == {"a"}
            store.read.set_read(ACCOUNT, ["a"])
            assert store.read.read_uids(ACCOUNT) == {"a"}


def rewind(folder: Path, version: int, *statements: str) -> None:
    """Make the cache in ``folder`` look written by an older popview: run ``statements``
    on it directly, then set its schema version to ``version``."""
    import sqlite3

    connection = sqlite3.connect(folder / DB_FILENAME)
    for statement in statements:
        connection.execute(statement)
    connection.execute(f"PRAGMA user_version = {version}")
    connection.commit()
    connection.close()


def marks_and_rules(store: Store) -> dict[str, tuple[JournalState, str | None]]:
    """The journal of ``ACCOUNT``: each UIDL's state and the rule that marked it."""
    return {e.uid: (e.state, e.rule) for e in store.journal.entries(ACCOUNT)}


class TestDeletionJournal:
    """Marks recorded by UIDL survive the connection and the process."""

    def test_marks_of_a_version_3_journal_survive_the_upgrade(self, tmp_path: Path) -> None:
        """Marks journaled before rules were recorded read back as the user's marks."""
        folder = tmp_path / "cache"
        with Store.open(folder) as store:
            store.journal.mark(ACCOUNT, "kept")
        rewind(folder, 3, "ALTER TABLE journal DROP COLUMN rule")
        with Store.open(folder) as store:
            (entry,) = store.journal.entries(ACCOUNT)
            assert (entry.uid, entry.state, entry.rule) == ("kept", JournalState.PENDING, None)
            store.journal.mark_many(ACCOUNT, ["a", "b"], "newsletters")
            rules = {e.uid: e.rule for e in store.journal.entries(ACCOUNT)}
            assert rules == {"kept": None, "a": "newsletters", "b": "newsletters"}

    def test_mark_many_without_json_in_sqlite_writes_the_same_rows(self, store: Store) -> None:
        """The batch goes in one statement over a JSON array; an sqlite without JSON
        (here: refusing json_each) gets the same marks row by row."""
        import sqlite3

        store.journal.mark_many(ACCOUNT, ["a", "b"], "first")

        def no_json(action: int, arg1: str | None, arg2: str | None, *_: object) -> int:
            refused = "json_each" in (arg1 or "", arg2 or "")
            return sqlite3.SQLITE_DENY if refused else sqlite3.SQLITE_OK

        store._db._connection.set_authorizer(no_json)
        store.journal.mark_many(ACCOUNT, ["b", "c", "c"], "second")
        store._db._connection.set_authorizer(None)
        assert marks_and_rules(store) == {
            "a": (JournalState.PENDING, "first"),
            "b": (JournalState.PENDING, "second"),
            "c": (JournalState.PENDING, "second"),
        }

    def test_mark_many_is_one_transaction(self, store: Store) -> None:
        """A batch that cannot be written leaves no mark at all (journal first, F.53)."""
        store.journal.mark(ACCOUNT, "before")
        # The third row's write fails, after two went in: none of the three may stay.
        store._db._connection.execute(
            "CREATE TEMP TRIGGER full BEFORE INSERT ON main.journal WHEN NEW.uid = 'z'"
            " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
        with pytest.raises(StoreError, match="full"):
            store.journal.mark_many(ACCOUNT, ["x", "y", "z"], "r")
        assert journal_marks(store.journal, ACCOUNT) == {"before"}

    def test_marks_are_pending_until_a_quit_and_oldest_first(self, store: Store) -> None:
        """A mark is pending (intent only) until a QUIT is sent; entries come oldest first."""
        store.journal.mark(ACCOUNT, "first")
        store.journal.mark(ACCOUNT, "second")
        store.journal.set_state(ACCOUNT, ["first"], JournalState.UNKNOWN)
        entries = store.journal.entries(ACCOUNT)
        assert [(e.uid, e.state) for e in entries] == [
            ("first", JournalState.UNKNOWN),
            ("second", JournalState.PENDING),
        ]
        pending = store.journal.entries(ACCOUNT, [JournalState.PENDING])
        assert [e.uid for e in pending] == ["second"]

    def test_sent_marks_of_a_version_4_journal_are_pending_after_the_upgrade(
        self, tmp_path: Path
    ) -> None:
        """Schema 4 wrote "sent" after each DELE: those marks come back pending, still marks."""
        folder = tmp_path / "cache"
        with Store.open(folder) as store:
            store.journal.mark_many(ACCOUNT, ["a", "b", "c"], "newsletters")
            store.journal.set_state(ACCOUNT, ["c"], JournalState.UNKNOWN)
        rewind(folder, 4, "UPDATE journal SET state = 'sent' WHERE uid IN ('a', 'b')")
        with Store.open(folder) as store:
            states = marks_and_rules(store)
        assert states == {
            "a": (JournalState.PENDING, "newsletters"),
            "b": (JournalState.PENDING, "newsletters"),
            "c": (JournalState.UNKNOWN, "newsletters"),
        }

    def test_remarking_keeps_the_original_time(self, store: Store) -> None:
        """Marking again resets the state to pending but not the time it was first marked."""
        store.journal.mark(ACCOUNT, "m")
        first = store.journal.entries(ACCOUNT)[0]
        store.journal.set_state(ACCOUNT, ["m"], JournalState.UNKNOWN)
        store.journal.mark(ACCOUNT, "m")
        again = store.journal.entries(ACCOUNT)[0]
        assert again.marked_at == first.marked_at
        assert again.state is JournalState.PENDING

    def test_unmark_and_unmark_all(self, store: Store) -> None:
        """Unmark removes one mark; unmark-all removes open marks but not a sent QUIT's."""
        for uid in ("a", "b", "c", "d"):
            store.journal.mark(ACCOUNT, uid)
        store.journal.mark(OTHER, "a")
        assert store.journal.unmark(ACCOUNT, "a") is True
        assert store.journal.unmark(ACCOUNT, "a") is False
        store.journal.set_state(ACCOUNT, ["d"], JournalState.UNKNOWN)
        assert store.journal.unmark_all(ACCOUNT) == 2
        assert [e.uid for e in store.journal.entries(ACCOUNT)] == ["d"]
        assert journal_marks(store.journal, ACCOUNT) == frozenset()
        assert journal_marks(store.journal, OTHER) == {"a"}

    def test_forget_removes_only_that_account(self, store: Store) -> None:
        """Resolved entries are forgotten whatever their state; another account's stay."""
        store.journal.mark(ACCOUNT, "a")
        store.journal.set_state(ACCOUNT, ["a"], JournalState.COMMITTED)
        store.journal.mark(OTHER, "a")
        store.journal.forget(ACCOUNT, ["a"])
        assert store.journal.entries(ACCOUNT) == []
        assert journal_marks(store.journal, OTHER) == {"a"}

    def test_marks_survive_a_crash(self, tmp_path: Path) -> None:
        """A mark recorded by one process is visible to a second one, the first never closed."""
        first = Store.open(tmp_path / "c")
        first.journal.mark(ACCOUNT, "kept")
        second = Store.open(tmp_path / "c")
        try:
            assert journal_marks(second.journal, ACCOUNT) == {"kept"}
        finally:
            second.close()
            first.close()

    def test_unknown_state_is_refused(self, store: Store) -> None:
        """Only the four states exist."""
        store.journal.mark(ACCOUNT, "a")
        with pytest.raises(ValueError):
            store.journal.set_state(ACCOUNT, ["a"], "deleted")  # type: ignore[arg-type]


class TestCertificatePins:
    """Fingerprints trusted per account and host."""

    def test_pin_and_replace(self, store: Store) -> None:
        """A pin is stored and replaced by a newer one, per account."""
        assert store.pins.pinned(ACCOUNT, "mail.example") is None
        store.pins.pin(ACCOUNT, "mail.example", "AA:BB")
        store.pins.pin(ACCOUNT, "mail.example", "CC:DD")
        store.pins.pin(OTHER, "mail.example", "EE:FF")
        assert store.pins.pinned(ACCOUNT, "mail.example") == "CC:DD"
        assert store.pins.pinned(OTHER, "mail.example") == "EE:FF"
