"""The headless subcommands ``list``, ``show``, ``delete`` and ``info``.

Each runs one :class:`~popview.session.MailboxSession` under ``asyncio.run`` and
closes it without ``QUIT`` - except ``delete``, whose whole point is the ``QUIT``
that applies the marks (RFC 1939 §6). Everything printed that came from a server
or a mail goes through :func:`popview.sanitize.sanitize_text` first.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from popview.cli import collecting_rarely, open_store, password_source
from popview.cli.select import match_context, selected, total_size
from popview.errors import PopviewError, TLSVerificationError, printable
from popview.mail.envelope import Envelope
from popview.pop3.predial import DialAhead
from popview.sanitize import sanitize_text
from popview.session import BulkMark, FetchedMessage, Listed, MailboxSession

__all__ = ["run_command", "safe_terminal_text"]


def safe_terminal_text(text: str) -> str:
    """Return multi-line text with every control/bidi/format character made visible."""
    return sanitize_text(text, multiline=True, max_len=len(text) + 1)


def _out(text: str = "") -> None:
    sys.stdout.write(safe_terminal_text(text) + "\n")


async def run_command(
    command: str,
    args: argparse.Namespace,
    config: Any,
    account: Any,
    trace: Callable[[str], None] | None,
    dialled: DialAhead | None = None,
) -> int:
    """Run one headless command against ``account``; return the exit status.

    ``dialled`` is a connection to the account's server opened ahead, for the
    session's first connection (:mod:`popview.pop3.predial`)."""
    with collecting_rarely():  # also when called without main()
        no_cache = bool(getattr(args, "no_cache", False))
        store = open_store(config, enabled=not no_cache)
        session = MailboxSession(
            account,
            password_source(account),
            store=store,
            use_journal=False,  # a script's marks never outlive its run, nor pick up others'
            trace=trace,
            dialled=dialled,
        )
        try:
            args.visits = session.visits
            args.configured_rules = tuple(getattr(config, "rules", ()))
            try:
                await session.open()
            except TLSVerificationError as error:
                if command == "info":
                    _info_certificate_error(account, error)
                raise
            if command == "list":
                return await _list(session, args)
            if command == "show":
                return await _show(session, args)
            if command == "delete":
                return await _delete(session, args)
            return _info(session)
        finally:
            await session.close()  # no QUIT: nothing is deleted on this path
            if store is not None:
                store.close()


def _resolve(session: MailboxSession, text: str) -> str:
    """A MESSAGE argument (a UIDL, or ``#N``) to a session key."""
    if text.startswith("#") and text[1:].isdigit():
        key = session.key_for_number(int(text[1:]))
        if key is None:
            raise PopviewError(
                f"There is no message number {text[1:]} on the server.", title="No such message"
            )
        return key
    if session.ref(text) is None:
        raise PopviewError(
            f"No message has the UIDL {printable(text, 80)!r} on the server "
            "(use `popview list` to see them, or #N for a message number).",
            title="No such message",
        )
    return text


def _json_row(listed: Listed, marks: frozenset[str]) -> dict[str, Any]:
    key, envelope = listed
    return {
        "number": envelope.number,
        "uid": envelope.uid,  # the stable UIDL, or null (then the key is session-only)
        "size": envelope.size,
        "from": envelope.sender,
        "subject": envelope.subject,
        "date": envelope.date.isoformat() if envelope.date is not None else None,
        "attachments": envelope.has_attachment,
        "marked": key in marks,
    }


def _compact_row(listed: Listed, marks: frozenset[str]) -> str:
    """:func:`_json_row` as compact JSON text, written out field by field: 2.5 µs
    a row, where a dict and the encoder take 4 (``--pretty`` output, which
    the tests compare with this, goes through the dict)."""
    key, envelope = listed
    uid, size, date = envelope.uid, envelope.size, envelope.date
    return (
        f'{{"number":{envelope.number:d},"uid":{"null" if uid is None else _quoted(uid)},'
        f'"size":{"null" if size is None else f"{size:d}"},"from":{_quoted(envelope.sender)},'
        f'"subject":{_quoted(envelope.subject)},'
        f'"date":{"null" if date is None else _quoted(date.isoformat())},'
        f'"attachments":{"true" if envelope.has_attachment else "false"},'
        f'"marked":{"true" if key in marks else "false"}}}'
    )


_quoted: Callable[[str], str] = json.encoder.encode_basestring_ascii
"""A JSON string with every non-ASCII character \\u-escaped (json's C encoder)."""


def _write_json(envelopes: list[Listed], marks: frozenset[str], *, pretty: bool) -> None:
    """One JSON array; ensure_ascii: any character left is \\u-escaped, so the
    JSON is safe on a terminal."""
    if pretty:
        rows = [_json_row(env, marks) for env in envelopes]
        sys.stdout.write(json.dumps(rows, ensure_ascii=True, indent=1) + "\n")
        return
    # Compact, written 1,000 rows at a time: a list of 100,000 row dicts or
    # strings would cost ~100 MB.
    write = sys.stdout.write
    write("[")
    for start in range(0, len(envelopes), 1000):
        part = ",".join(_compact_row(env, marks) for env in envelopes[start : start + 1000])
        write(("," if start else "") + part)
    write("]\n")


async def _listing(
    session: MailboxSession, limit: int | None, *, new_only: bool = False
) -> list[Listed]:
    """Every listed message with its key, oldest first (``--new``: the new ones)."""
    envelopes: list[Listed] = []
    # Malformed LIST/UIDL rows are reported in --trace and the --debug log
    # (HARDENING F.60); their messages are listed, with "?" for an unknown size.
    async for update in session.list_messages(limit=limit):
        envelopes.extend(update.messages)
    envelopes.sort(key=lambda listed: listed.envelope.number)
    notices = list(session.degraded)
    if new_only:
        visits = session.visits
        if not visits.previous:
            notices.append("No earlier visit is recorded, so no message counts as new.")
        envelopes = [listed for listed in envelopes if visits.is_new(listed.key)]
    for notice in notices:
        print(f"popview: note: {safe_terminal_text(notice)}", file=sys.stderr)
    return envelopes


async def _list(session: MailboxSession, args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 0:
        raise PopviewError("--limit must be 0 or more.", title="Bad argument")
    envelopes = selected(
        await _listing(session, args.limit, new_only=getattr(args, "new", False)),
        getattr(args, "pattern", None),
        args.visits,
    )
    if args.rules:
        return _list_rules(envelopes, args)
    if args.json:
        _write_json(envelopes, session.marks, pretty=args.pretty or sys.stdout.isatty())
        return 0
    for _key, env in envelopes:
        uid = env.uid or ""
        size = "?" if env.size is None else env.size
        _out(f"{_row(env)}  ({size} B) {uid}".rstrip())
    return 0


_FROM_CELLS = 24
_SUBJECT_CELLS = 50


def _local_date(env: Envelope) -> str:
    """The date in this machine's time zone, with the offset: ``2024-03-15 10:11 +0100``."""
    if env.date is None:
        return "-" * 22
    try:
        return env.date.astimezone().strftime("%Y-%m-%d %H:%M %z")
    except (OverflowError, ValueError, OSError):
        return "-" * 22


def _cells(text: str, width: int) -> str:
    """``text`` cut (with ``…``) or padded to exactly ``width`` terminal cells.

    Measured in cells, not characters: a CJK character takes two, a combining
    mark none, so the columns line up on a terminal.
    """
    from rich.cells import cell_len, set_cell_size

    text = sanitize_text(text, max_len=width * 4)
    if cell_len(text) > width:
        text = set_cell_size(text, width - 1).rstrip() + "…"
    return set_cell_size(text, width)


def _row(env: Envelope) -> str:
    """One message as ``list`` prints it and ``delete`` asks about it."""
    sender = env.from_name or env.from_addr or env.sender
    return (
        f"#{env.number:<5} {_local_date(env)}  {_cells(sender, _FROM_CELLS)}  "
        f"{_cells(env.subject, _SUBJECT_CELLS)}"
    )


def _list_rules(envelopes: list[Listed], args: argparse.Namespace) -> int:
    """Print what the rules would mark; nothing is marked (``list`` never commits)."""
    from popview.session.rules import evaluate_rules  # the pattern language, on use

    verdict = evaluate_rules(envelopes, args.configured_rules, match_context(args.visits))
    if args.json:
        rows = [
            {**_json_row(listed, frozenset()), "rule": verdict.marked.get(listed.key)}
            for listed in envelopes
        ]
        sys.stdout.write(json.dumps(rows, ensure_ascii=True, indent=1) + "\n")
        return 0
    chosen = [listed for listed in envelopes if listed.key in verdict.marked]
    by_rule: dict[str, list[Listed]] = {}
    for listed in chosen:
        _out(f"{verdict.marked[listed.key]:<16.16} {_brief(listed.envelope)}")
        by_rule.setdefault(verdict.marked[listed.key], []).append(listed)
    kept = [listed for listed in envelopes if listed.key in verdict.kept]
    for name, marked in by_rule.items():
        print(f"  {safe_terminal_text(name)}: {total_size(marked)}", file=sys.stderr)
    print(
        f"Rules would mark {total_size(chosen)}; keep rules kept {total_size(kept)}. "
        "Nothing was marked or deleted.",
        file=sys.stderr,
    )
    return 0


def _brief(env: Envelope) -> str:
    size = "?" if env.size is None else env.size
    return f"{_row(env).rstrip()}  ({size} B)"


async def _show(session: MailboxSession, args: argparse.Namespace) -> int:
    key = _resolve(session, args.message)
    message = await session.fetch(key)
    if args.raw:
        _write_raw(message.raw)
    else:
        _print_message(message)
    return 0


def _write_raw(raw: bytes) -> None:
    if sys.stdout.isatty():
        # A terminal interprets ESC sequences: show them escaped, never raw.
        text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
        sys.stdout.write(safe_terminal_text(text))
        sys.stdout.flush()
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(raw)
    sys.stdout.buffer.flush()


def _print_message(message: FetchedMessage) -> None:
    from popview.mail.render import render_body

    parsed = message.parsed
    headers = [
        ("From", ", ".join(a.display for a in parsed.from_)),
        ("To", ", ".join(a.display for a in parsed.to)),
        ("Cc", ", ".join(a.display for a in parsed.cc)),
        ("Date", parsed.date_text),
        ("Subject", parsed.subject),
    ]
    for name, value in headers:
        if value:
            _out(f"{name}: {value}")
    body = render_body(parsed)
    for line in body.banner:
        _out(f"[!] {line}")
    _out()
    _out(body.text())
    if parsed.attachments:
        _out()
        for part in parsed.attachments:
            _out(f"[attachment] {part.filename} ({part.content_type}, {part.size} B)")


async def _chosen(session: MailboxSession, args: argparse.Namespace) -> dict[str, Envelope | None]:
    """Session key → its envelope (``--match``) or None (a MESSAGE argument)."""
    if args.match is None:
        return dict.fromkeys(_resolve(session, text) for text in args.messages)
    envelopes = selected(await _listing(session, None), args.pattern, args.visits)
    return dict(envelopes)


def _describer(session: MailboxSession, chosen: dict[str, Envelope | None]) -> Callable[[str], str]:
    """The line naming a chosen message, made only when shown: with ``--yes`` none is,
    and making 10,000 of them cost a tenth of a ``delete --match``."""

    def line(key: str) -> str:
        env = chosen.get(key)
        if env is not None:
            return _brief(env)
        ref = session.ref(key)
        return f"#{ref.number if ref else '?'}  {key}"

    return line


async def _delete(session: MailboxSession, args: argparse.Namespace) -> int:
    chosen = await _chosen(session, args)
    keys = list(chosen)
    describe = _describer(session, chosen)
    if args.dry_run:
        for key in keys:
            _out(f"would delete {describe(key)}")
        print(f"Dry run: {len(keys)} message(s) would be deleted; nothing was.", file=sys.stderr)
        return 0
    if not keys:
        print("No message matches; nothing was deleted.", file=sys.stderr)
        return 0
    if not args.yes:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise PopviewError(
                "Refusing to delete without confirmation: stdin is not a terminal. "
                "Add --yes to delete from a script.",
                title="Not confirmed",
            )
        if args.match is None:
            envelopes = await _envelopes_of(session, keys)
            for key in keys:
                env = envelopes.get(key)
                _out(f"  {_row(env).rstrip()}" if env is not None else f"  {describe(key)}")
        else:
            for key in keys:
                _out(f"  {describe(key)}")
        answer = input(f"Delete {len(keys)} message(s) from the server? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing was deleted.", file=sys.stderr)
            return 1
    # One journal write and the DELEs pipelined, not one round trip each.
    marking = await session.mark_many(keys)
    _stop_unless_all_marked(marking, len(keys), describe)
    # QUIT only if the server holds exactly the confirmed marks (issue 9): a
    # refused DELE or a vanished message stops the commit, nothing is deleted.
    result = await session.commit(reconnect=False, expected=keys)
    if result.status == "unknown":
        result = await session.verify_commit(result)
    for key in result.deleted:
        _out(f"deleted {key}")
    if result.status == "unknown" and not result.verified:
        raise PopviewError(
            "The server did not confirm the deletion, and checking again failed "
            f"({result.reconnect_error or 'no connection'}). Run `popview list` to see "
            "what is left.",
            title="Deletion status unknown",
        )
    if result.remaining:
        raise PopviewError(
            f"{len(result.remaining)} message(s) were not deleted: " + ", ".join(result.remaining),
            title="Not all deleted",
        )
    return 0


def _stop_unless_all_marked(
    marking: BulkMark, confirmed: int, describe: Callable[[str], str]
) -> None:
    """Raise when the server refused a ``DELE`` or a message is gone, after naming
    each one on stderr: the user confirmed a set, and deleting part of it is not
    what they confirmed. No ``QUIT`` follows, so the server forgets every ``DELE``
    of this connection (RFC 1939 §6): nothing is deleted."""
    problems = [
        (label, said, keys)
        for label, said, keys in (
            ("refused", "refused to delete", marking.refused),
            ("gone", "no longer has", marking.gone),
        )
        if keys
    ]
    if not problems:
        return
    for label, _, keys in problems:
        for key in keys:
            print(f"popview: {label}: {safe_terminal_text(describe(key))}", file=sys.stderr)
    counts = " and ".join(f"{said} {len(keys)}" for _, said, keys in problems)
    raise PopviewError(
        f"The server {counts} of the {confirmed} message(s) confirmed, so none was deleted.",
        title="Nothing deleted",
    )


def _info_certificate_error(account: Any, error: TLSVerificationError) -> None:
    """``popview info`` when the certificate was refused: what the server
    presented and what was wrong, so the user can check it and pin it."""
    _out(f"{'Server:':<21}{account.host}:{account.port}")
    _out(f"{'Certificate SHA-256:':<21}{error.fingerprint or '(could not be fetched)'}")
    _out(f"{'Certificate problem:':<21}{error.message}")


async def _envelopes_of(session: MailboxSession, keys: list[str]) -> dict[str, Envelope]:
    """The envelopes of ``keys`` (from the cache, else ``TOP n 0``), to show what is deleted."""
    by_number = {ref.number: key for key in keys if (ref := session.ref(key)) is not None}
    found: dict[str, Envelope] = {}
    # The whole listing, not a break at the last one found: leaving the
    # pipelined TOP batch half read would leave the connection mid-reply.
    async for update in session.list_messages():
        for env in update.envelopes:
            key = by_number.get(env.number)
            if key is not None:
                found[key] = env
    return found


def _info(session: MailboxSession) -> int:
    info = session.info
    assert info is not None
    caps = info.capabilities
    rows: list[tuple[str, str]] = [
        ("Server", f"{info.host}:{info.port}"),
        ("Greeting", info.greeting),
        ("Implementation", caps.implementation or "(not given)"),
        ("Encrypted", "yes" if info.encrypted else "NO (plaintext)"),
    ]
    if info.tls is not None:
        rows += [
            ("TLS version", info.tls.version),
            ("Cipher", info.tls.cipher),
            ("Certificate SHA-256", info.tls.fingerprint),
            ("Certificate", "pinned" if info.tls.pinned else "verified"),
        ]
    before = info.offered_before_login or caps
    expire = {None: "(not given)", -1: "never"}.get(caps.expire, f"{caps.expire} days")
    delay = "(not given)" if caps.login_delay is None else f"{caps.login_delay} seconds"
    rows += [
        # Login methods are offered before login (RFC 5034 §6); the rest below
        # is what the server says after it (RFC 2449 §6: CAPA may change).
        ("Auth mechanisms", " ".join(before.sasl) or "(none; USER/PASS)"),
        ("USER", "yes" if before.user else "no"),
        ("PIPELINING", "yes" if caps.pipelining else "no"),
        ("TOP", "yes" if caps.top else "no"),
        ("UIDL", "yes" if caps.uidl else "no"),
        ("RESP-CODES", "yes" if caps.resp_codes else "no"),
        ("LOGIN-DELAY", delay),
        ("EXPIRE", expire),
        ("Messages", f"{info.message_count} ({info.total_size} octets)"),
    ]
    for name, value in rows:
        _out(f"{name + ':':<21}{value}")
    _out("Capabilities before login:")
    for line in before.raw:
        _out(f"  {line}")
    _out("Capabilities after login:")
    for line in caps.raw:
        _out(f"  {line}")
    for notice in session.degraded:
        _out(f"Note: {notice}")
    return 0
