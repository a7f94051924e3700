"""The configuration file: where it is found, what it means, and every mistake named.

Real TOML files in ``tmp_path``; errors are asserted as the user reads them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest

from popview.config import (
    CONFIG_ENV,
    Account,
    General,
    Rule,
    account_from_options,
    config_path,
    default_port,
    load_config,
)
from popview.config.model import OAuth2Settings
from popview.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
SECRET = "s3cret-canary-Zq9"
FINGERPRINT = "ab" * 32


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No real user config leaks in: XDG dirs point into tmp_path, umask 022."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def load_text(tmp_path: Path, text: str, mode: int = 0o600) -> object:
    return load_config(write(tmp_path / "config.toml", text, mode))


def error_of(tmp_path: Path, text: str, mode: int = 0o600) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path / "config.toml", text, mode))
    return str(caught.value)


MINIMAL = """
[accounts.work]
host = "pop.example.com"
user = "bob"
"""


class TestWhereTheFileIs:
    """--config beats POPVIEW_CONFIG beats the platform path."""

    def test_explicit_path_wins(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The --config argument is used even when the environment names another file."""
        monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "env.toml"))
        assert config_path(tmp_path / "arg.toml") == tmp_path / "arg.toml"

    def test_environment_beats_default(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """POPVIEW_CONFIG is read when no argument is given."""
        write(tmp_path / "env.toml", MINIMAL)
        monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "env.toml"))
        config = load_config()
        assert config.path == tmp_path / "env.toml"
        assert list(config.accounts) == ["work"]

    def test_default_is_in_the_platform_config_dir(self, tmp_path: Path) -> None:
        """Without argument or variable, config.toml in the user's config dir is read."""
        assert config_path() == tmp_path / "xdg" / "popview" / "config.toml"
        (tmp_path / "xdg" / "popview").mkdir(parents=True)
        write(tmp_path / "xdg" / "popview" / "config.toml", MINIMAL)
        assert list(load_config().accounts) == ["work"]

    def test_missing_default_file_is_an_empty_config(self) -> None:
        """No config yet is fine: accounts can come from the command line."""
        config = load_config()
        assert config.path is None
        assert dict(config.accounts) == {}

    def test_missing_named_file_is_an_error(self, tmp_path: Path) -> None:
        """A file named explicitly must exist; the error names it."""
        with pytest.raises(ConfigError, match="no such file") as caught:
            load_config(tmp_path / "nope.toml")
        assert str(tmp_path / "nope.toml") in str(caught.value)


class TestValues:
    """What a valid file turns into."""

    def test_defaults(self, tmp_path: Path) -> None:
        """An account needs only host and user: implicit TLS on 995, 30 s timeout."""
        config = load_config(write(tmp_path / "c.toml", MINIMAL))
        work = config.account()
        assert (work.host, work.user, work.tls, work.port, work.timeout) == (
            "pop.example.com",
            "bob",
            "implicit",
            995,
            30.0,
        )
        assert work.key == "bob@pop.example.com:995"
        assert config.general.keepalive == 45.0

    @pytest.mark.parametrize(("tls", "port"), [("starttls", 110), ("none", 110)])
    def test_port_follows_tls_mode(self, tmp_path: Path, tls: str, port: int) -> None:
        """STARTTLS and plain default to port 110."""
        config = load_config(write(tmp_path / "c.toml", MINIMAL + f'tls = "{tls}"\n'))
        assert config.account("work").port == port

    def test_every_key(self, tmp_path: Path) -> None:
        """All keys are read, paths resolved against the file's directory, values normalised."""
        write(tmp_path / "ca.pem", "-----BEGIN CERTIFICATE-----\n")
        config = load_config(
            write(
                tmp_path / "c.toml",
                f"""
                [general]
                default_account = "b"
                prefer_html = true
                save_dir = "saved"
                cache_dir = "/var/tmp/pv"
                cache_bodies = false
                keepalive = 0
                [accounts.a]
                host = "a.example"
                user = "ann"
                [accounts.b]
                host = "b.example"
                port = 1995
                tls = "starttls"
                user = "ben"
                auth = "scram-sha-256"
                apop = true
                cafile = "ca.pem"
                fingerprint = "{":".join(["AB"] * 32)}"
                password_command = "pass show 'mail box'"
                keyring = true
                timeout = 12.5
                [keymap]
                mark_deleted = "d,delete"
                """,
            )
        )
        assert config.general == General(
            default_account="b",
            prefer_html=True,
            save_dir=tmp_path / "saved",
            cache_dir=Path("/var/tmp/pv"),
            cache_bodies=False,
            keepalive=0.0,
        )
        b = config.account()
        assert b == Account(
            name="b",
            host="b.example",
            user="ben",
            port=1995,
            tls="starttls",
            auth="SCRAM-SHA-256",
            apop=True,
            cafile=tmp_path / "ca.pem",
            fingerprint=FINGERPRINT,
            password_command=("pass", "show", "mail box"),
            keyring=True,
            timeout=12.5,
        )
        assert list(config.accounts) == ["a", "b"]
        assert dict(config.keymap) == {"mark_deleted": "d,delete"}

    def test_password_command_as_list(self, tmp_path: Path) -> None:
        """A list is taken word for word (no shell, no splitting)."""
        config = load_config(
            write(tmp_path / "c.toml", MINIMAL + 'password_command = ["a b", "$HOME;x"]\n')
        )
        assert config.account().password_command == ("a b", "$HOME;x")

    def test_password_is_not_in_repr(self, tmp_path: Path) -> None:
        """A stray print or traceback of the account does not show the password."""
        config = load_config(write(tmp_path / "c.toml", MINIMAL + f'password = "{SECRET}"\n'))
        assert config.account().password == SECRET
        assert SECRET not in repr(config)

    def test_example_file_loads_and_documents_every_key(self) -> None:
        """config.example.toml is valid and mentions every key popview reads."""
        example = REPO / "config.example.toml"
        config = load_config(example)
        assert set(config.accounts) == {"work", "local", "gmail", "outlook"}
        assert [rule.action for rule in config.rules] == ["keep", "mark", "mark"]
        text = example.read_text(encoding="utf-8")
        for cls in (General, Account, Rule):
            for f in fields(cls):
                if f.name not in ("name", "oauth2"):
                    assert f"{f.name} =" in text, f.name
        for f in fields(OAuth2Settings):  # the oauth2_* keys of auth = "oauth2"
            assert f"oauth2_{f.name} =" in text, f.name
        tomllib.loads(text)


class TestChoosingAnAccount:
    """Config.account: by name, the default, or the only one."""

    def test_named_default_and_only(self, tmp_path: Path) -> None:
        """The single account is chosen without naming it; unknown names are listed."""
        config = load_config(write(tmp_path / "c.toml", MINIMAL))
        assert config.account().name == "work"
        assert config.account("work").name == "work"
        with pytest.raises(ConfigError, match=r"no account named 'home'.*known: work"):
            config.account("home")

    def test_several_accounts_need_a_choice(self, tmp_path: Path) -> None:
        """With two accounts and no default, the error says how to choose."""
        text = MINIMAL + '[accounts.home]\nhost = "h"\nuser = "u"\n'
        config = load_config(write(tmp_path / "c.toml", text))
        with pytest.raises(ConfigError, match="-a NAME"):
            config.account()

    def test_no_accounts(self) -> None:
        """An empty configuration says what to add."""
        with pytest.raises(ConfigError, match=r"no \[accounts.NAME\] table"):
            load_config().account()


class TestErrorsNameFileKeyAndFix:
    """Each mistake is reported with the file, the dotted key and what to do."""

    def test_bad_tls_value(self, tmp_path: Path) -> None:
        """The example from the issue, word for word after the path."""
        message = error_of(tmp_path, MINIMAL + 'tls = "yes"\n')
        assert message == (
            f"{tmp_path / 'config.toml'}: accounts.work.tls must be one of "
            "implicit, starttls, none (got 'yes')"
        )

    def test_unknown_keys_are_reported_with_a_suggestion(self, tmp_path: Path) -> None:
        """Typos are caught at every level, with the likely intended key."""
        message = error_of(
            tmp_path,
            '[general]\nkeepalvie = 3\n[account.x]\nhost = "h"\n'
            '[accounts.work]\nhots = "h"\nhost = "h"\nuser = "u"\n',
        )
        assert "general.keepalvie is not a known key (did you mean 'keepalive'?)" in message
        assert "account is not a known key (did you mean 'accounts'?)" in message
        assert "accounts.work.hots is not a known key (did you mean 'host'?)" in message

    def test_missing_required_keys(self, tmp_path: Path) -> None:
        """host and user are required and the fix is shown."""
        message = error_of(tmp_path, "[accounts.work]\nport = 995\n")
        assert 'accounts.work.host is required; add host = "…"' in message
        assert 'accounts.work.user is required; add user = "…"' in message

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("port = 0", "accounts.work.port must be a port number 1-65535 (got 0)"),
            ("port = true", "accounts.work.port must be a port number 1-65535 (got True)"),
            ('port = "995"', "accounts.work.port must be a port number 1-65535 (got '995')"),
            ("timeout = -1", "accounts.work.timeout must be a number of seconds from 1 to 3600"),
            ('apop = "yes"', "accounts.work.apop must be true or false (got 'yes')"),
            ('auth = "PL AIN"', "accounts.work.auth must be a SASL mechanism name"),
            ('fingerprint = "abc"', "accounts.work.fingerprint must be a SHA-256 fingerprint"),
            ("password_command = []", "accounts.work.password_command is empty"),
            ("password_command = 5", "accounts.work.password_command must be a list of strings"),
            ('password_command = "a \'b"', "password_command cannot be split into words"),
            ('cafile = "missing.pem"', "accounts.work.cafile: no such file"),
            ('host = "a\\nb"', "accounts.work.host must be a non-empty string"),
        ],
    )
    def test_bad_values(self, tmp_path: Path, line: str, expected: str) -> None:
        """Each bad value names its key and what is allowed."""
        text = '[accounts.work]\nuser = "bob"\n' + line + "\n"
        if not line.startswith("host"):
            text += 'host = "h"\n'
        message = error_of(tmp_path, text)
        assert message.startswith(f"{tmp_path / 'config.toml'}: ")
        assert expected in message

    def test_user_with_line_break_is_refused(self, tmp_path: Path) -> None:
        """A user name that would inject a POP3 command never leaves the config."""
        message = error_of(tmp_path, '[accounts.w]\nhost = "h"\nuser = "bob\\r\\nDELE 1"\n')
        assert "accounts.w.user must be a non-empty string without control characters" in message

    def test_bad_password_is_reported_without_its_value(self, tmp_path: Path) -> None:
        """A password with a line break is refused and not echoed into the error."""
        message = error_of(tmp_path, MINIMAL + f'password = "{SECRET}\\n"\n')
        assert "accounts.work.password contains a control character" in message
        assert SECRET not in message

    def test_password_and_command_together(self, tmp_path: Path) -> None:
        """Two sources for one password is ambiguous; the safer one is recommended."""
        message = error_of(
            tmp_path, MINIMAL + f'password = "{SECRET}"\npassword_command = ["pass"]\n'
        )
        assert "set password or password_command, not both" in message
        assert SECRET not in message

    def test_default_account_must_exist(self, tmp_path: Path) -> None:
        """A default_account naming nothing is caught at load time."""
        message = error_of(tmp_path, '[general]\ndefault_account = "hom"\n' + MINIMAL)
        assert "general.default_account names no account (got 'hom'; accounts: work)" in message

    def test_table_expected(self, tmp_path: Path) -> None:
        """A key where a table belongs says so."""
        message = error_of(tmp_path, 'general = 3\naccounts = "x"\n')
        assert "general must be a table ([general])" in message
        assert "accounts must be a table ([accounts])" in message

    def test_bad_keymap_value(self, tmp_path: Path) -> None:
        """Keymap values are key strings."""
        message = error_of(tmp_path, "[keymap]\nquit = 3\n")
        assert 'keymap.quit must be a string of key names, for example "d,delete"' in message

    def test_invalid_toml_names_the_file_and_line(self, tmp_path: Path) -> None:
        """A syntax error points at the line."""
        message = error_of(tmp_path, '[accounts.work]\nhost = "unterminated\n')
        assert message.startswith(f"{tmp_path / 'config.toml'}: not valid TOML")
        assert "line 2" in message

    def test_all_problems_at_once(self, tmp_path: Path) -> None:
        """Several mistakes are listed together, one per line, so one edit fixes them all."""
        message = error_of(tmp_path, '[accounts.work]\nhost = "h"\nport = 0\ntls = "ssl"\n')
        assert len(message.splitlines()) == 3


class TestPasswordInClearMustBePrivate:
    """HARDENING C.31: a file with a password that others can read is refused."""

    @pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602])
    def test_group_or_other_bits_refused(self, tmp_path: Path, mode: int) -> None:
        """Any group/other bit: refused, with the mode, the chmod fix and no password."""
        message = error_of(tmp_path, MINIMAL + f'password = "{SECRET}"\n', mode)
        assert f"(mode {mode:04o})" in message
        assert f"chmod 600 {tmp_path / 'config.toml'}" in message
        assert SECRET not in message

    def test_private_file_is_accepted(self, tmp_path: Path) -> None:
        """0600 and owned by us: the password is used."""
        config = load_config(write(tmp_path / "c.toml", MINIMAL + f'password = "{SECRET}"\n'))
        assert config.account().password == SECRET

    def test_open_file_without_password_is_fine(self, tmp_path: Path) -> None:
        """No secret, no objection: a 0644 config with password_command loads."""
        text = MINIMAL + 'password_command = ["pass", "mail"]\n'
        config = load_config(write(tmp_path / "c.toml", text, 0o644))
        assert config.account().password_command == ("pass", "mail")

    @pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
    def test_foreign_owner_refused(self, tmp_path: Path) -> None:
        """A 0600 file owned by someone else may have been written by them: refused."""
        path = write(tmp_path / "config.toml", MINIMAL + f'password = "{SECRET}"\n')
        os.chown(path, 65534, 65534)
        with pytest.raises(ConfigError, match="belongs to another user") as caught:
            load_config(path)
        assert SECRET not in str(caught.value)


class TestConfigOthersCanChange:
    """A config others can change could run their program as password_command, trust
    their CA or turn TLS off: like ssh's "Bad owner or permissions", it is refused
    whatever it holds, while one others may only read is fine (no password in it)."""

    @pytest.mark.parametrize("mode", [0o664, 0o646, 0o620, 0o602, 0o666])
    def test_writable_by_group_or_others_refused(self, tmp_path: Path, mode: int) -> None:
        """Any group/other write bit: refused, naming the mode and the chmod fix."""
        text = MINIMAL + 'password_command = ["pass", "mail"]\n'
        message = error_of(tmp_path, text, mode)
        assert "can be changed by group or others" in message
        assert f"(mode {mode:04o})" in message
        assert f"chmod go-w {tmp_path / 'config.toml'}" in message

    @pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
    def test_foreign_owner_refused_without_password(self, tmp_path: Path) -> None:
        """A file owned by another (non-root) user is refused even with no password."""
        path = write(tmp_path / "config.toml", MINIMAL + 'password_command = ["x"]\n', 0o644)
        os.chown(path, 65534, 65534)
        with pytest.raises(ConfigError, match="belongs to another user"):
            load_config(path)

    def test_readable_by_others_is_fine(self, tmp_path: Path) -> None:
        """0644 (the umask 022 default) without a password loads."""
        config = load_config(write(tmp_path / "c.toml", MINIMAL, 0o644))
        assert config.account().host


class TestCommandLineAccounts:
    """--host/--user/--tls options are checked like a config table, errors naming options."""

    def test_options_build_an_account(self, tmp_path: Path) -> None:
        """Port follows the TLS mode; a relative cafile is taken from the working directory."""
        acct = account_from_options(host="h.example", user="u", tls="starttls")
        assert (acct.port, acct.tls, acct.key) == (110, "starttls", "u@h.example:110")
        assert default_port("implicit") == 995
        write(tmp_path / "ca.pem", "x")
        acct = account_from_options(
            host="h", user="u", cafile=str(tmp_path / "ca.pem"), fingerprint="AB" * 32
        )
        assert acct.cafile == tmp_path / "ca.pem"
        assert acct.fingerprint == FINGERPRINT

    def test_bad_options_are_named(self) -> None:
        """The error says which option is wrong and what it accepts."""
        with pytest.raises(ConfigError) as caught:
            account_from_options(host="h", user="bob\r\nDELE 1", tls="yes", port=70000)
        lines = str(caught.value).splitlines()
        assert "command line: --tls must be one of implicit, starttls, none (got 'yes')" in lines
        assert "command line: --port must be a port number 1-65535 (got 70000)" in lines
        assert any(line.startswith("command line: --user must be") for line in lines)


class TestRules:
    """[[rules]]: checked at load, every mistake naming the rule (issue 12)."""

    def test_rules_in_file_order_with_default_action(self, tmp_path: Path) -> None:
        text = MINIMAL + (
            '[[rules]]\nname = "friends"\npattern = "~f alice"\naction = "keep"\n'
            '[[rules]]\nname = "spam"\npattern = "~x spam"\n'
        )
        config = load_config(write(tmp_path / "c.toml", text))
        assert [(r.name, r.pattern, r.action) for r in config.rules] == [
            ("friends", "~f alice", "keep"),
            ("spam", "~x spam", "mark"),
        ]

    def test_bad_pattern_names_the_rule_and_the_column(self, tmp_path: Path) -> None:
        text = MINIMAL + '[[rules]]\nname = "big"\npattern = "~z >5T"\n'
        message = error_of(tmp_path, text)
        assert "rule 'big': pattern '~z >5T'" in message
        assert "~z wants a size" in message and "column 4" in message

    def test_every_problem_is_named(self, tmp_path: Path) -> None:
        text = MINIMAL + (
            '[[rules]]\npattern = "x"\n'
            '[[rules]]\nname = "a"\npattern = "(x"\naction = "delete"\ncolour = 1\n'
            '[[rules]]\nname = "b"\n'
            '[[rules]]\nname = "c"\npattern = "c"\n[[rules]]\nname = "c"\npattern = "d"\n'
        )
        message = error_of(tmp_path, text)
        assert "rules[1].name must be" in message
        assert "rule 'a': pattern '(x': ')' expected" in message
        assert "rule 'a': action must be one of mark, keep (got 'delete')" in message
        assert "rule 'a': 'colour' is not a known key" in message
        assert "rule 'b': pattern is required" in message
        assert "two rules are named 'c'" in message

    def test_rules_must_be_an_array_of_tables(self, tmp_path: Path) -> None:
        message = error_of(tmp_path, 'rules = "spam"\n' + MINIMAL)
        assert "rules must be an array of tables ([[rules]])" in message

    def test_preview_lines(self, tmp_path: Path) -> None:
        assert load_text(tmp_path, MINIMAL).general.preview_lines == 20  # type: ignore[attr-defined]
        text = "[general]\npreview_lines = 0\n" + MINIMAL
        assert "general.preview_lines must be a whole number 1-200" in error_of(tmp_path, text)
