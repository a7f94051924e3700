"""``popview serve``: the embedded POP3 server on loopback, for trying popview out.

It serves a Maildir (messages deleted at ``QUIT`` are removed from disk) or the
generated demo mailbox, in plaintext on 127.0.0.1 only. Without ``--password``
a random one is generated and printed: it guards a throw-away local server, and
the person starting it needs it to log in. A password given with ``--password``
is never echoed.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from pathlib import Path

from popview.errors import PopviewError, printable

__all__ = ["serve"]


def serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted (Ctrl+C); return the exit status."""
    from popview.server import MaildirMailbox, MemoryMailbox, Pop3Server

    mailbox: MaildirMailbox | MemoryMailbox
    if args.maildir:
        root = Path(args.maildir).expanduser()
        if not (root / "cur").is_dir() and not (root / "new").is_dir():
            raise PopviewError(
                f"{printable(str(root))} is not a Maildir (it has no cur/ or new/).",
                title="Not a Maildir",
            )
        mailbox = MaildirMailbox(root)
        what = f"the Maildir {printable(str(root))}"
    else:
        from popview.demo import sample_mailbox

        mailbox = sample_mailbox()
        what = f"{len(mailbox.messages)} generated demo messages"
    generated = args.password is None
    password = secrets.token_urlsafe(12) if generated else args.password
    server = Pop3Server(mailbox, users={args.user: password}, host="127.0.0.1", port=args.port)
    try:
        asyncio.run(_run(server, what, args.user, password if generated else None))
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr)
    except OSError as exc:
        raise PopviewError(
            f"Cannot listen on 127.0.0.1:{args.port}: {exc.strerror}.", title="Cannot serve"
        ) from None
    return 0


async def _run(server: object, what: str, user: str, shown_password: str | None) -> None:
    from popview.server import Pop3Server

    assert isinstance(server, Pop3Server)
    async with server:
        port = server.port
        print(f"Serving {what} on 127.0.0.1:{port} (POP3, plaintext, loopback only).")
        if shown_password is not None:
            print(f"User {printable(user)!r}, password {shown_password!r} (generated).")
            env = f"POPVIEW_PASSWORD='{shown_password}' "
        else:
            print(f"User {printable(user)!r} with the password you gave.")
            env = ""
        print(
            f"Try: {env}popview list --host 127.0.0.1 --port {port} "
            f"--user {printable(user)} --tls none"
        )
        print("Press Ctrl+C to stop.", flush=True)
        await asyncio.Event().wait()
