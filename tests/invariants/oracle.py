"""The oracle: the invariants of docs/hardening.md / issue 6, checked on a finished :class:`Run`."""

from __future__ import annotations

import traceback

from popview.errors import PopviewError
from tests.invariants.driver import Run
from tests.invariants.hostile import secret_forms, terminal_unsafe

__all__ = ["check_run", "describe"]

_CREDENTIAL_VERBS = frozenset({"USER", "PASS", "APOP", "AUTH"})


def _step_of(run: Run, index: int) -> int:
    for i, step in enumerate(run.steps):
        if step.seen_before <= index < step.seen_after:
            return i
    return len(run.steps) - 1


def _windows(run: Run) -> dict[int, range]:
    """Session -> the steps during which the client may have sent on it."""
    first: dict[int, int] = {}
    for index, seen in enumerate(run.server.seen):
        first.setdefault(seen.session, _step_of(run, index))
    ordered = sorted(first)
    windows: dict[int, range] = {}
    for pos, session in enumerate(ordered):
        end = first[ordered[pos + 1]] if pos + 1 < len(ordered) else len(run.steps) - 1
        windows[session] = range(first[session], max(end, first[session]) + 1)
    return windows


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def check_run(run: Run) -> None:
    """Assert the invariants of docs/hardening.md / issue 6 on a finished run (AssertionError)."""
    problems: list[str] = list(run.unexpected)
    secrets = secret_forms()
    steps = run.steps
    # (1) only popview errors, with a clear, safe message; (2) within the budget.
    for i, step in enumerate(steps):
        label = f"step {i} {step.action}"
        if step.expired:
            problems.append(f"{label}: still running after its {step.budget:.1f}s budget")
        exc = step.error
        if exc is not None:
            if not isinstance(exc, PopviewError):
                problems.append(f"{label}: non-popview exception escaped:\n{_error_text(exc)}")
            else:
                message = exc.message
                if not isinstance(message, str) or not message.strip():
                    problems.append(f"{label}: {type(exc).__name__} without a message")
                elif terminal_unsafe(message) or terminal_unsafe(exc.title, multiline=False):
                    problems.append(f"{label}: unsafe characters in error {message!r}")
            if any(s in _error_text(exc) for s in secrets):
                problems.append(f"{label}: the password is in the error or its traceback")
        for text in step.shown:
            if text and terminal_unsafe(text):
                problems.append(f"{label}: unsafe characters reach the user: {text!r}")
        extra = step.marks_after - step.intent_keys_after
        if extra:
            problems.append(f"{label}: the session holds marks the user did not make: {extra}")
    # (3) QUIT only with a commit; DELE only for marked messages; QUIT removes only those.
    windows = _windows(run)
    seen = run.server.seen
    for index, entry in enumerate(seen):
        window = windows.get(entry.session, range(0))
        in_window = [steps[i] for i in window if i < len(steps)]
        committed = any(s.action.name.startswith("commit") for s in in_window)
        if entry.verb == "QUIT" and not committed:
            problems.append(f"QUIT in session {entry.session} without a commit (entry {index})")
        if entry.verb == "DELE":
            arg = entry.line.split(" ", 1)[1] if " " in entry.line else ""
            snapshot = run.server.logins.get(entry.session, [])
            if arg.isdigit() and 1 <= int(arg) <= len(snapshot):
                target = snapshot[int(arg) - 1]
                allowed: set[object] = set()
                for s in in_window:
                    allowed |= s.intent_before | s.intent_after
                if target.key not in allowed:
                    problems.append(
                        f"DELE {arg} in session {entry.session} hit {target.uid!r}, "
                        "which the user had not marked"
                    )
    for session, keys in run.server.tracked.expunged:
        window = windows.get(session, range(0))
        commits = [
            steps[i] for i in window if i < len(steps) and steps[i].action.name.startswith("commit")
        ]
        allowed = set().union(*(s.intent_before for s in commits)) if commits else set()
        wrong = [k for k in keys if k not in allowed]
        if wrong:
            problems.append(f"QUIT of session {session} removed unmarked messages {wrong}")
    # (4) no credential before TLS (unless tls="none" was chosen); no secret anywhere.
    if run.scenario.tls != "none":
        for entry in seen:
            if (entry.verb in _CREDENTIAL_VERBS or entry.line == "***") and not entry.tls:
                problems.append(
                    f"credential sent without TLS: {entry.line!r} (session {entry.session})"
                )
    for where, lines in (("log", run.logs), ("trace", run.trace)):
        for line in lines:
            if any(s in line for s in secrets):
                problems.append(f"the password is in the {where}: {line[:200]!r}")
    for line in run.logs:
        if "Traceback" in line and ("popview/session" in line or "popview/pop3" in line):
            problems.append(f"an exception was logged from a background task:\n{line}")
    assert not problems, "\n".join(problems)


def describe(run: Run) -> str:
    """A human-readable account of a run (printed by failing tests)."""
    out = [f"scenario: tls={run.scenario.tls} store={run.scenario.use_store}"]
    for i, step in enumerate(run.steps):
        err = f" -> {type(step.error).__name__}: {step.error}" if step.error else ""
        out.append(f"  {i}: {step.action.name}({step.action.arg}){err}")
    out.append("transcript: " + "; ".join(f"{e.session}:{e.line}" for e in run.server.seen))
    return "\n".join(out)
