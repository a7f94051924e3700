""".ci/run stops only what it started (rule "own-processes-only" in docs/architecture.md)."""

from __future__ import annotations

import re
from pathlib import Path

CI = Path(__file__).resolve().parent.parent / ".ci" / "run"


def commands() -> list[str]:
    """The script's lines without comments."""
    lines = CI.read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0] for line in lines if not line.lstrip().startswith("#")]


def test_no_process_is_stopped_by_name() -> None:
    """pkill/killall would also stop a Dovecot (or anything) someone else runs."""
    found = [line for line in commands() if re.search(r"\b(pkill|killall)\b", line)]
    assert found == []


def test_a_service_is_stopped_only_if_it_was_not_running_before() -> None:
    text = "\n".join(commands())
    assert 'if [ "$DOVECOT_WAS_RUNNING" = 0 ] && dovecot_running; then' in text
    stops = [line for line in commands() if "stop dovecot" in line or "dovecot stop" in line]
    assert len(stops) == 2  # systemctl, or service without systemd; both inside that if
