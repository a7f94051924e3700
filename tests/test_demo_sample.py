"""The generated sample mailbox (popview/demo/sample.py): the same bytes on every call,
and each caller gets a list of its own (the test servers delete from theirs)."""

from __future__ import annotations

from popview.demo import sample_messages


def test_every_call_gives_the_same_messages_in_a_list_of_its_own() -> None:
    first = sample_messages(12)
    original = list(first)
    first.pop()
    first[0] = b"changed by one caller"
    again = sample_messages(12)
    assert again == original
    assert len(again) == 12 and again[0].startswith(b"From: ")
