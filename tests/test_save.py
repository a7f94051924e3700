"""Saving attachments and messages: 0600 files, safe names, never overwriting."""

from __future__ import annotations

import mailbox
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from popview.mail.message import parse_message
from popview.mail.save import (
    append_mbox,
    deliver_maildir,
    save_all_attachments,
    save_attachment,
    save_bytes,
    save_eml,
)

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """Run under the common umask, so 0600 comes from the code, not the umask."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


class TestAttachments:
    """One or all attachments into a chosen directory."""

    def test_saved_file_is_private_and_exact(self, tmp_path: Path) -> None:
        """The decoded bytes land in a 0600 file named as listed."""
        (image,) = parse_message((CORPUS / "related-inline-image.eml").read_bytes()).attachments
        path = save_attachment(image, tmp_path)
        assert path == tmp_path / "logo.png"
        assert path.read_bytes() == image.data()
        assert mode(path) == 0o600

    def test_no_overwrite_gives_a_suffix(self, tmp_path: Path) -> None:
        """An existing file is kept; the new one gets -1, then -2."""
        (tmp_path / "a.txt").write_bytes(b"mine")
        first = save_bytes(b"new", tmp_path, "a.txt")
        second = save_bytes(b"newer", tmp_path, "a.txt")
        assert (first.name, second.name) == ("a-1.txt", "a-2.txt")
        assert (tmp_path / "a.txt").read_bytes() == b"mine"

    def test_no_overwrite_without_suffix_raises(self, tmp_path: Path) -> None:
        """unique=False refuses an existing name instead of replacing it."""
        (tmp_path / "a.txt").write_bytes(b"mine")
        with pytest.raises(FileExistsError):
            save_bytes(b"new", tmp_path, "a.txt", unique=False)
        assert (tmp_path / "a.txt").read_bytes() == b"mine"

    def test_planted_symlink_is_not_followed(self, tmp_path: Path) -> None:
        """A symlink at the target name is left alone; its target is untouched."""
        victim = tmp_path / "victim"
        victim.write_bytes(b"precious")
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "x.txt").symlink_to(victim)
        path = save_bytes(b"attack", tmp_path / "out", "x.txt")
        assert path.name == "x-1.txt"
        assert victim.read_bytes() == b"precious"

    def test_save_all_with_hostile_and_duplicate_names(self, tmp_path: Path) -> None:
        """Every file stays in the directory; no dot file; no temp file left behind."""
        for name in ("hostile-filenames", "fifty-attachments"):
            atts = parse_message((CORPUS / f"{name}.eml").read_bytes()).attachments
            paths = save_all_attachments(atts, tmp_path / name)
            assert len(paths) == len(atts)
            assert all(p.parent == tmp_path / name for p in paths)
            assert all(mode(p) == 0o600 for p in paths)
            assert sorted(os.listdir(tmp_path / name)) == sorted(p.name for p in paths)
        assert "scan-01-1.txt" in os.listdir(tmp_path / "fifty-attachments")

    def test_missing_directory_is_created_0700(self, tmp_path: Path) -> None:
        """A new target directory is private."""
        path = save_bytes(b"x", tmp_path / "new", "x.bin")
        assert mode(path.parent) == 0o700


class TestMessages:
    """The whole message as .eml, into an mbox, or into a Maildir."""

    def test_eml_named_after_the_subject(self, tmp_path: Path) -> None:
        """The .eml holds the exact bytes, 0600, named from the sanitized subject."""
        raw = (CORPUS / "hostile-bidi.eml").read_bytes()
        path = save_eml(raw, tmp_path, parse_message(raw).subject)
        assert path.read_bytes() == raw
        assert path.suffix == ".eml" and "\u202e" not in path.name
        assert mode(path) == 0o600

    def test_mbox_round_trip_with_from_quoting(self, tmp_path: Path) -> None:
        """Two messages appended, 'From ' lines quoted, read back by the stdlib."""
        box = tmp_path / "saved.mbox"
        raw = b"From: a@example.org\r\nSubject: one\r\n\r\nFrom here on\r\n>From quoted\r\n"
        append_mbox(raw, box)
        append_mbox((CORPUS / "koi8-r.eml").read_bytes(), box)
        assert mode(box) == 0o600
        data = box.read_bytes()
        assert b"\n>From here on\n>>From quoted\n" in data
        messages = list(mailbox.mbox(str(box)))
        assert [m["message-id"] for m in messages] == [None, "<koi-1@example.ru>"]
        assert messages[0]["subject"] == "one"
        assert len(messages) == 2

    def test_maildir_delivery(self, tmp_path: Path) -> None:
        """Delivered to new/, 0600, tmp/ left empty, readable by the stdlib."""
        raw = (CORPUS / "alternative.eml").read_bytes()
        path = deliver_maildir(raw, tmp_path / "Maildir")
        assert path.parent.name == "new"
        assert mode(path) == 0o600
        assert mode(tmp_path / "Maildir") == 0o700
        assert os.listdir(tmp_path / "Maildir" / "tmp") == []
        (message,) = list(mailbox.Maildir(str(tmp_path / "Maildir")))
        assert message["subject"] == "Lunch on Friday?"
