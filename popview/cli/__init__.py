"""The ``popview`` command: the TUI by default, and headless subcommands for scripts.

::

    popview [ACCOUNT] [--demo] [--config PATH]        # the TUI
    popview list   [--json [--pretty]] [--limit N] [--new] [--no-cache] [--match PATTERN] [--rules]
                   [ACCOUNT]
    popview show   MESSAGE [--raw] [ACCOUNT]          # MESSAGE: a UIDL, or #N
    popview delete MESSAGE... [--yes] [ACCOUNT]       # DELE each, then QUIT
    popview delete --match PATTERN [--dry-run] [--yes] [ACCOUNT]
    popview info   [ACCOUNT]
    popview auth   [NAME] [--device]                  # OAuth2: authorize once
    popview serve  [--maildir DIR | --demo] [--port N] [--user U] [--password P]

    ACCOUNT: -a/--account NAME, or --host H --port P --user U
             --tls {implicit,starttls,none} [--cafile PATH] [--fingerprint SHA256]
             (--cafile and --fingerprint also override a configured account's)

Every command also takes ``--config PATH``, ``--trace FILE`` (the POP3
transcript, secrets masked) and ``--debug`` (a log file in the platform log
directory). Exit status: 0 on success, 1 with one ``title: message`` line on
stderr, 2 on usage errors, 141 (quietly) when the reader of stdout went away
(``popview list | head -1``). The headless commands never import Textual.

Terminal safety: ``show`` prints sanitized text (no control character from a mail
reaches the terminal). ``show --raw`` writes the message's exact bytes when
stdout is a file or a pipe; on a terminal it escapes control characters instead
(a raw ESC could drive the terminal), so redirect it to get the bytes.
"""

from __future__ import annotations

import argparse
import gc
import getpass
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from popview.errors import ConfigError, PopviewError, StoreError, printable

__all__ = ["build_parser", "main", "run"]

_DEFAULT_PORTS = {"implicit": 995, "starttls": 110, "none": 110}
log = logging.getLogger("popview")


class _UsageError(Exception):
    """A bad combination of arguments (exit status 2)."""


def _account_options() -> argparse.ArgumentParser:
    # Defaults are SUPPRESS so a subcommand's options do not overwrite the same
    # options given before the subcommand.
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("account (a configured one, or given in full)")
    group.add_argument("-a", "--account", metavar="NAME", default=argparse.SUPPRESS)
    group.add_argument("--host", metavar="H", default=argparse.SUPPRESS)
    group.add_argument("--port", metavar="P", type=int, default=argparse.SUPPRESS)
    group.add_argument("--user", metavar="U", default=argparse.SUPPRESS)
    group.add_argument("--tls", choices=("implicit", "starttls", "none"), default=argparse.SUPPRESS)
    group.add_argument("--cafile", metavar="PATH", default=argparse.SUPPRESS)
    group.add_argument("--fingerprint", metavar="SHA256", default=argparse.SUPPRESS)
    return parent


def _common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS)
    parent.add_argument(
        "--trace", metavar="FILE", default=argparse.SUPPRESS, help="write the POP3 transcript"
    )
    parent.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    return parent


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (the interface scripts rely on; keep it stable)."""
    account, common = _account_options(), _common_options()
    parser = argparse.ArgumentParser(
        prog="popview",
        description="A keyboard-driven terminal mail reader for POP3 mailboxes.",
        parents=[account, common],
    )
    parser.add_argument("--demo", action="store_true", help="try popview on sample mail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    both = [account, common]
    p = sub.add_parser("list", parents=both, help="list the messages")
    p.add_argument("--json", action="store_true", help="one JSON array")
    p.add_argument(
        "--pretty", action="store_true", help="indent the JSON (the default on a terminal)"
    )
    p.add_argument("--limit", type=int, metavar="N", help="only the N newest messages")
    p.add_argument(
        "--new", action="store_true", help="only the messages new since the last visit in the TUI"
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--match", metavar="PATTERN", help="only the messages PATTERN matches")
    p.add_argument("--rules", action="store_true", help="show what [[rules]] would mark")
    p = sub.add_parser("show", parents=both, help="print one message")
    p.add_argument("message", metavar="MESSAGE", help="a UIDL, or #N for message number N")
    p.add_argument("--raw", action="store_true", help="the exact bytes (escaped on a terminal)")
    p = sub.add_parser("delete", parents=both, help="delete messages (DELE, then QUIT)")
    p.add_argument("messages", metavar="MESSAGE", nargs="*", help="UIDLs or #N")
    p.add_argument("--match", metavar="PATTERN", help="every message PATTERN matches")
    p.add_argument("--dry-run", action="store_true", help="print what would go; send no DELE")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sub.add_parser("info", parents=both, help="what the server supports, TLS details")
    p = sub.add_parser("auth", parents=[common], help="authorize an OAuth2 account (once)")
    p.add_argument("name", nargs="?", metavar="ACCOUNT", help="the account (default: the default)")
    p.add_argument("-a", "--account", metavar="NAME", default=argparse.SUPPRESS)
    p.add_argument("--device", action="store_true", help="no browser here: enter a code elsewhere")
    p = sub.add_parser("serve", parents=[common], help="run the embedded POP3 server")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--maildir", metavar="DIR", help="serve this Maildir")
    source.add_argument("--demo", action="store_true", help="serve generated sample mail")
    p.add_argument("--port", type=int, default=0, metavar="N", help="port (default: any free)")
    p.add_argument("--user", default="demo", metavar="U")
    p.add_argument("--password", metavar="P", help="default: a random one, printed")
    return parser


def run() -> NoReturn:
    """The ``popview`` program: :func:`main`, then exit with its status."""
    code = main()
    # The process ends now. Without this the interpreter's last collection walks
    # every object the command made (about 30 ms after listing 10,000 messages);
    # objects are still freed, and files were flushed and closed by main().
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run popview with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    opts = vars(args)
    trace: Callable[[str], None] | None = None
    trace_file = None
    try:
        if opts.get("debug"):
            _start_debug_log()
        else:
            # Warnings belong in --debug's log and --trace, never on stderr
            # next to the one error line (logging's last-resort handler).
            log.addHandler(logging.NullHandler())
        if opts.get("trace"):
            trace_file = _private_append(Path(opts["trace"]))

            def trace(line: str) -> None:
                assert trace_file is not None
                trace_file.write(line + "\n")
                trace_file.flush()

        code = _dispatch(args, opts, trace)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # HARDENING F.62: `popview list | head -1`. The reader left; exit quietly
        # as other Unix tools do (128 + SIGPIPE), with stdout pointed at
        # /dev/null so the interpreter's last flush cannot complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"popview: error: {exc}", file=sys.stderr)
        return 2
    except PopviewError as exc:
        print(f"popview: {exc.title}: {exc.message}", file=sys.stderr)
        fingerprint = getattr(exc, "fingerprint", None)
        if fingerprint:
            # For a script: check it out of band, then pass it to --fingerprint.
            print(f"popview: certificate SHA-256: {fingerprint}", file=sys.stderr)
        log.debug("command failed: %s: %s", exc.title, exc.message)
        return 1
    except KeyboardInterrupt:
        # No QUIT was sent (the socket just closed), so nothing marked was deleted.
        print("popview: interrupted; nothing was deleted.", file=sys.stderr)
        return 130
    finally:
        if trace_file is not None:
            trace_file.close()


@contextmanager
def collecting_rarely() -> Iterator[None]:
    """Raise the collector's thresholds while a headless command runs (its
    imports included), then restore them.

    A listing keeps ~30 objects per message alive and makes almost no cycles:
    with the default thresholds the collector walks them all again and again
    (measured: 18 % of the CPU of a 100,000-message `list`). The imports made
    about 30 small passes (5 ms of a warm `list`) before the command ran; at
    50,000 a warm listing of 10,000 then paid two passes of 8-14 ms over its
    fresh objects, one of them after ``UIDL``: at 200,000 it pays none.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(_RARELY, 20, 100)
    try:
        yield
    finally:
        # What the command left alive joins the oldest generation as it is
        # (freeze, then unfreeze: two list splices). Restoring the thresholds
        # alone would make the next allocation walk all of it at once: 5-9 ms
        # at the end of a warm listing of 10,000, on the way to exit. A caller's
        # own frozen objects would join it too; popview freezes only in run().
        gc.freeze()
        gc.unfreeze()
        gc.set_threshold(*thresholds)


_RARELY = 200_000
"""Allocations between two collections of the youngest generation while a
headless command runs (the default is 700)."""


def _dispatch(
    args: argparse.Namespace, opts: dict[str, Any], trace: Callable[[str], None] | None
) -> int:
    command = opts.get("command")
    if command == "serve":
        from popview.cli.serve import serve

        return serve(args)
    if command is None:
        return _run_tui(opts, trace)
    if command == "auth":
        from popview.cli.auth import run_auth

        config = _load_config(opts)
        return run_auth(args, config, config.account(opts.get("name") or opts.get("account")))
    if command == "delete" and not (args.messages or args.match is not None):
        raise _UsageError("delete needs MESSAGE... or --match PATTERN")
    if command == "delete" and args.messages and args.match is not None:
        raise _UsageError("give either MESSAGE... or --match PATTERN, not both")
    from popview.cli.select import check_pattern  # light: the patterns only with --match

    problem = check_pattern(args)  # before connecting: a typo costs no connection
    if problem is not None:
        raise _UsageError(problem)
    with collecting_rarely():
        config = _load_config(opts)
        account = _account(config, opts)
        from popview.pop3.predial import DialAhead

        # The TCP connect and the greeting travel while the session, the store and
        # the mail parser are imported (popview.pop3.predial); nothing is sent yet.
        dialled = DialAhead(account.host, account.port, min(account.timeout, 30.0))
        try:
            import asyncio

            from popview.cli.commands import run_command

            return asyncio.run(run_command(command, args, config, account, trace, dialled))
        finally:
            dialled.close()


def _load_config(opts: dict[str, Any]) -> Any:
    from popview.config import Config, load_config

    try:
        return load_config(opts.get("config"))
    except ConfigError:
        if opts.get("host") and opts.get("config") is None:
            return Config()  # an account given in full needs no config file
        raise


def _account(config: Any, opts: dict[str, Any]) -> Any:
    """The account named with -a, the default one, or one given with --host."""
    from popview.config import Account

    fingerprint = opts.get("fingerprint")
    if fingerprint is not None:
        from popview.pop3.tls import normalize_fingerprint  # ssl: after the dial, if possible

        try:
            fingerprint = normalize_fingerprint(fingerprint)
        except ValueError as exc:
            raise _UsageError(str(exc)) from None
    cafile = Path(opts["cafile"]).expanduser() if opts.get("cafile") else None
    if not opts.get("host"):
        extra = [k for k in ("port", "user", "tls") if k in opts]
        if extra:
            raise _UsageError(f"--{extra[0]} needs --host (or use -a NAME alone)")
        account = config.account(opts.get("account"))
        # --cafile / --fingerprint override the configured account's.
        if cafile is not None:
            account = replace(account, cafile=cafile)
        if fingerprint is not None:
            account = replace(account, fingerprint=fingerprint)
        return account
    if opts.get("account"):
        raise _UsageError("give either -a NAME or --host ..., not both")
    if not opts.get("user"):
        raise _UsageError("--host needs --user")
    tls = opts.get("tls", "implicit")
    host = opts["host"]
    return Account(
        name=host,
        host=host,
        user=opts["user"],
        port=opts.get("port", _DEFAULT_PORTS[tls]),
        tls=tls,
        cafile=cafile,
        fingerprint=fingerprint,
    )


def _run_tui(opts: dict[str, Any], trace: Callable[[str], None] | None = None) -> int:
    from popview.config import Config

    demo = bool(opts.get("demo"))
    config = Config() if demo else _load_config(opts)
    name = opts.get("account")
    if opts.get("host") and not demo:
        account = _account(config, opts)
        name = account.name
        config = replace(
            config,
            accounts={**config.accounts, name: account},
            general=replace(config.general, default_account=name),
        )
    dialled = _dial_ahead(config, name) if name is not None and not demo else None
    try:
        from popview.ui.app import run_tui  # Textual is imported only here

        return int(run_tui(config, account_name=name, demo=demo, trace=trace, dialled=dialled))
    finally:
        if dialled is not None:
            dialled.close()


_TUI_DIAL_FRESH = 10.0
"""Seconds a connection dialled ahead for the terminal UI stays adoptable (its
password may be typed at a prompt first; servers drop idle logins later)."""


def _dial_ahead(config: Any, name: str) -> Any:
    """Dial the named account's server while Textual is imported (about 0.3 s:
    the TCP handshake and the greeting are done by the time the login starts)."""
    from popview.pop3.predial import DialAhead

    try:
        account = config.account(name)
    except ConfigError:
        return None  # reported by the app as ever
    return DialAhead(
        account.host, account.port, min(account.timeout, 30.0), fresh_for=_TUI_DIAL_FRESH
    )


def open_store(config: Any, *, enabled: bool = True) -> Any:
    """Open the cache, or return None (with a warning) when it cannot be opened."""
    if not enabled:
        return None
    from popview.store import Store

    try:
        return Store.open(config.general.cache_dir)
    except StoreError as exc:
        print(f"popview: warning: {exc.message} (going on without the cache)", file=sys.stderr)
        return None


def password_source(account: Any) -> Callable[[], Any]:
    """The password, asked lazily: environment, config, command, keyring, prompt;
    for an OAuth2 account its credential (:func:`popview.credentials.get_credential`)."""
    from popview.credentials import get_credential

    def ask() -> Any:
        prompt = getpass.getpass if sys.stdin.isatty() else None
        return get_credential(account, prompt=prompt)

    return ask


def _private_append(path: Path) -> Any:
    """Open ``path`` for appending, created 0600 (never chmod after writing)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise PopviewError(
            f"Cannot write {printable(str(path))}: {exc.strerror}.", title="Cannot write file"
        ) from None
    return os.fdopen(fd, "a", encoding="utf-8", errors="backslashreplace")


def _start_debug_log() -> None:
    from platformdirs import user_log_path

    from popview.store.files import ensure_private_dir

    directory = ensure_private_dir(user_log_path("popview", appauthor=False))
    stream = _private_append(directory / "popview.log")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger("popview")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
