"""Where the password comes from, and that it never shows up anywhere else.

password_command cases run real scripts written to ``tmp_path``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from popview.config import Account
from popview.credentials import (
    KEYRING_SERVICE,
    PASSWORD_ENV,
    get_password,
    run_password_command,
)
from popview.errors import CredentialError

SECRET = "s3cret-canary-Zq9"
NO_ENV: dict[str, str] = {}


def account(**changes: object) -> Account:
    base: dict[str, object] = {"name": "work", "host": "pop.example.com", "user": "bob"}
    base.update(changes)
    return Account(**base)  # type: ignore[arg-type]


def script(tmp_path: Path, body: str, name: str = "getpw") -> Path:
    """Write an executable shell script and return its path."""
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body), encoding="utf-8")
    path.chmod(0o700)
    return path


class Prompt:
    """An interactive answerer standing in for the person at the keyboard."""

    def __init__(self, answer: str | BaseException) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def __call__(self, text: str) -> str:
        self.asked.append(text)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


@pytest.fixture(autouse=True)
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture every log record and check the secret is in none of them (C.35)."""
    caplog.set_level(logging.DEBUG)
    yield
    assert SECRET not in caplog.text


class TestOrderOfSources:
    """Environment, config, command, keyring, prompt — the first that has one wins."""

    def test_environment_wins(self, tmp_path: Path) -> None:
        """POPVIEW_PASSWORD is used even when a command is configured; nothing is run."""
        marker = tmp_path / "ran"
        cmd = script(tmp_path, f"touch {marker}\necho other\n")
        prompt = Prompt("typed")
        got = get_password(
            account(password_command=(str(cmd),)),
            prompt=prompt,
            environ={PASSWORD_ENV: SECRET},
        )
        assert got == SECRET
        assert not marker.exists()
        assert prompt.asked == []

    def test_config_password_before_command(self) -> None:
        """A password in the (private) config is used as is."""
        assert get_password(account(password=SECRET), environ=NO_ENV) == SECRET

    def test_command_before_keyring_and_prompt(self, tmp_path: Path) -> None:
        """password_command is run and the prompt is not shown."""
        cmd = script(tmp_path, f"echo {SECRET}\n")
        prompt = Prompt("typed")
        got = get_password(
            account(password_command=(str(cmd),), keyring=True), prompt=prompt, environ=NO_ENV
        )
        assert got == SECRET
        assert prompt.asked == []

    def test_prompt_last(self) -> None:
        """With no other source the user is asked, naming the account."""
        prompt = Prompt(SECRET)
        assert get_password(account(), prompt=prompt, environ=NO_ENV) == SECRET
        assert prompt.asked == ["Password for bob@pop.example.com: "]

    def test_no_source_and_no_prompt(self) -> None:
        """A script with nothing configured gets an error saying what to set."""
        with pytest.raises(CredentialError, match="set POPVIEW_PASSWORD, password_command"):
            get_password(account(), environ=NO_ENV)

    def test_empty_or_aborted_prompt(self) -> None:
        """An empty answer or end of input is an error, not an empty password."""
        with pytest.raises(CredentialError, match="No password entered"):
            get_password(account(), prompt=Prompt(""), environ=NO_ENV)
        with pytest.raises(CredentialError, match="No password entered"):
            get_password(account(), prompt=Prompt(EOFError()), environ=NO_ENV)

    def test_line_break_in_a_password_is_refused(self) -> None:
        """A password that would inject a POP3 command is refused, and not shown."""
        with pytest.raises(CredentialError, match="line break") as caught:
            get_password(account(), environ={PASSWORD_ENV: SECRET + "\r\nDELE 1"})
        assert SECRET not in str(caught.value)

    def test_non_utf8_environment_password_is_refused(self) -> None:
        """A $POPVIEW_PASSWORD holding bytes that are not UTF-8 reaches Python as lone
        surrogates (surrogateescape); it is refused with a CredentialError, not left to
        blow up later as a UnicodeEncodeError whose repr holds the password."""
        smuggled = os.fsdecode(SECRET.encode() + b"\xff")
        with pytest.raises(CredentialError, match="not valid UTF-8") as caught:
            get_password(account(), environ={PASSWORD_ENV: smuggled})
        assert SECRET not in repr(caught.value) and SECRET not in str(caught.value)

    def test_os_environ_is_the_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without an explicit environment, the process environment is read."""
        monkeypatch.setenv(PASSWORD_ENV, SECRET)
        assert get_password(account()) == SECRET


def killed(pid: int) -> bool:
    """Gone, a zombie, or with SIGKILL pending: it will never run another instruction.

    On a loaded machine a process SIGKILLed an instant ago can still read "R (running)"
    before the scheduler lets it die; the pending SIGKILL is what proves it was stopped.
    """
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    fields = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
    pending = int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)
    return fields["State"].startswith("Z") or bool(pending & (1 << (signal.SIGKILL - 1)))


class TestPasswordCommand:
    """HARDENING C.33: real commands that fail in each way."""

    def test_first_line_only(self, tmp_path: Path) -> None:
        """Three lines of output: the first one, CRLF removed, spaces kept, is the password."""
        cmd = script(tmp_path, f"printf ' {SECRET} \\r\\nsecond\\nthird\\n'\n")
        assert run_password_command([str(cmd)]) == f" {SECRET} "

    def test_output_without_newline(self, tmp_path: Path) -> None:
        """A password printed without a trailing newline is taken whole."""
        cmd = script(tmp_path, f"printf '{SECRET}'\n")
        assert run_password_command((str(cmd),)) == SECRET

    def test_arguments_are_passed_without_a_shell(self, tmp_path: Path) -> None:
        """Arguments with spaces, quotes and $ reach the program verbatim."""
        cmd = script(tmp_path, 'printf "%s|%s\\n" "$1" "$2"\n')
        assert run_password_command([str(cmd), "a b", "$HOME;rm -rf x"]) == "a b|$HOME;rm -rf x"

    def test_non_zero_exit_hides_stderr(self, tmp_path: Path) -> None:
        """The exit status is reported; stderr (which may echo the secret) is not."""
        cmd = script(tmp_path, f"echo {SECRET}\necho 'bad passphrase {SECRET}' >&2\nexit 3\n")
        with pytest.raises(CredentialError) as caught:
            run_password_command([str(cmd)], account="account 'work'")
        message = str(caught.value)
        assert "exit status 3" in message
        assert "account 'work'" in message
        assert SECRET not in message
        assert "bad passphrase" not in message

    def test_no_output(self, tmp_path: Path) -> None:
        """A command that prints nothing is an error, not an empty password."""
        cmd = script(tmp_path, "exit 0\n")
        with pytest.raises(CredentialError, match="printed no password"):
            run_password_command([str(cmd)])

    def test_empty_first_line(self, tmp_path: Path) -> None:
        """An empty first line is refused even if later lines have text."""
        cmd = script(tmp_path, f"echo\necho {SECRET}\n")
        with pytest.raises(CredentialError, match="printed no password") as caught:
            run_password_command([str(cmd)])
        assert SECRET not in str(caught.value)

    def test_hang_is_stopped_with_everything_it_started(self, tmp_path: Path) -> None:
        """A command that hangs times out; it and its children are killed."""
        pidfile = tmp_path / "child.pid"
        # The pid file appears whole (rename) and the timeout leaves the shell time to
        # start its child even on a loaded machine: a missing or empty file was a race.
        cmd = script(
            tmp_path, f"sleep 300 &\necho $! > {pidfile}.tmp\nmv {pidfile}.tmp {pidfile}\nwait\n"
        )
        with pytest.raises(CredentialError, match=r"did not finish within 2 s"):
            run_password_command([str(cmd)], timeout=2)
        child = int(pidfile.read_text())
        assert killed(child)

    def test_missing_program(self, tmp_path: Path) -> None:
        """A wrong path says so and how to fix it."""
        with pytest.raises(CredentialError, match=r"was not found\. Fix the path"):
            run_password_command([str(tmp_path / "nope")])

    def test_not_executable(self, tmp_path: Path) -> None:
        """A script without the x bit cannot be started; the error says to check it."""
        cmd = script(tmp_path, "echo x\n")
        cmd.chmod(0o600)
        if os.geteuid() == 0:
            # root may execute anything with some x bit; remove them all.
            assert not os.access(cmd, os.X_OK)
        with pytest.raises(CredentialError, match="could not be started"):
            run_password_command([str(cmd)])

    def test_non_utf8_output(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are refused rather than guessed at."""
        cmd = script(tmp_path, "printf '\\377\\376\\n'\n")
        with pytest.raises(CredentialError, match="not UTF-8"):
            run_password_command([str(cmd)])

    def test_stdin_is_closed(self, tmp_path: Path) -> None:
        """A command that reads stdin gets EOF at once instead of stealing the terminal."""
        cmd = script(tmp_path, "if read line; then echo got; else echo eof; fi\n")
        assert run_password_command([str(cmd)]) == "eof"


class TestKeyring:
    """HARDENING C.34: no keyring, a locked one, or one with the password."""

    @pytest.fixture
    def keyring_module(self) -> Iterator[object]:
        keyring = pytest.importorskip("keyring")
        before = keyring.get_keyring()
        yield keyring
        keyring.set_keyring(before)

    def test_no_backend_falls_back_to_the_prompt(self, keyring_module: object) -> None:
        """Here no keyring backend exists (the real 'fail' backend): the user is asked."""
        import keyring
        from keyring.backends import fail

        keyring.set_keyring(fail.Keyring())
        prompt = Prompt(SECRET)
        assert get_password(account(keyring=True), prompt=prompt, environ=NO_ENV) == SECRET
        assert len(prompt.asked) == 1

    def test_locked_backend_falls_back_to_the_prompt(self, keyring_module: object) -> None:
        """A locked keyring means asking the user, never an error or a plaintext write."""
        import keyring
        from keyring.backend import KeyringBackend
        from keyring.errors import KeyringLocked, PasswordSetError

        class LockedKeyring(KeyringBackend):
            priority = 1  # type: ignore[assignment]

            def get_password(self, service: str, username: str) -> str | None:
                raise KeyringLocked("locked")

            def set_password(self, service: str, username: str, password: str) -> None:
                raise PasswordSetError("popview must never write a password")

            def delete_password(self, service: str, username: str) -> None:
                raise AssertionError("not expected")

        keyring.set_keyring(LockedKeyring())
        prompt = Prompt(SECRET)
        assert get_password(account(keyring=True), prompt=prompt, environ=NO_ENV) == SECRET
        assert len(prompt.asked) == 1

    def test_password_found_in_keyring(self, keyring_module: object) -> None:
        """The entry is looked up as service 'popview', user 'user@host:port'."""
        import keyring
        from keyring.backend import KeyringBackend

        lookups: list[tuple[str, str]] = []

        class MemoryKeyring(KeyringBackend):
            priority = 1  # type: ignore[assignment]

            def get_password(self, service: str, username: str) -> str | None:
                lookups.append((service, username))
                return SECRET if username == "bob@pop.example.com:995" else None

            def set_password(self, service: str, username: str, password: str) -> None:
                raise AssertionError("popview must never write a password")

            def delete_password(self, service: str, username: str) -> None:
                raise AssertionError("not expected")

        keyring.set_keyring(MemoryKeyring())
        prompt = Prompt("typed")
        assert get_password(account(keyring=True), prompt=prompt, environ=NO_ENV) == SECRET
        assert lookups == [(KEYRING_SERVICE, "bob@pop.example.com:995")]
        assert prompt.asked == []

    def test_keyring_package_missing_falls_back(self, tmp_path: Path) -> None:
        """Without the optional package installed, keyring = true still ends at the prompt."""
        program = textwrap.dedent(
            """
            import sys
            sys.modules["keyring"] = None  # the package is not installed
            from popview.config import Account
            from popview.credentials import get_password
            acct = Account(name="w", host="h", user="u", keyring=True)
            print(get_password(acct, prompt=lambda text: "typed", environ={}))
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == "typed"

    def test_keyring_off_is_not_consulted(self, keyring_module: object) -> None:
        """keyring = false (the default) never touches the keyring."""
        import keyring
        from keyring.backend import KeyringBackend

        class Tripwire(KeyringBackend):
            priority = 1  # type: ignore[assignment]

            def get_password(self, service: str, username: str) -> str | None:
                raise AssertionError("keyring consulted")

            def set_password(self, service: str, username: str, password: str) -> None:
                raise AssertionError("keyring written")

            def delete_password(self, service: str, username: str) -> None:
                raise AssertionError("not expected")

        keyring.set_keyring(Tripwire())
        assert get_password(account(), prompt=Prompt(SECRET), environ=NO_ENV) == SECRET
