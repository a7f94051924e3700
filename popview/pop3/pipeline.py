"""Pipelined command batches (RFC 2449 §6.6) and the results they yield.

:func:`pipeline` sends many commands in windows, each in one write, and yields
each reply in order as it arrives; :func:`top_many` is the listing's use of it
(``TOP n 0`` for every message). Without PIPELINING the commands go one at a
time. A server that stops answering pipelined commands marks the channel's
``pipelining_broken`` so the next connection does not pipeline (HARDENING A.19).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncGenerator, Iterable, Mapping
from dataclasses import dataclass

from popview.errors import Pop3ServerError
from popview.pop3 import protocol
from popview.pop3.channel import Channel, Sink
from popview.pop3.protocol import Command, ErrReply, OkReply
from popview.pop3.wording import WHAT, server_error

__all__ = ["PIPELINE_WINDOW", "Reply", "pipeline", "top_many"]

PIPELINE_WINDOW = 64
"""Commands in flight at once by default."""
_CRLF = b"\r\n"
_NOT_PIPELINED = frozenset({"QUIT", "STLS", "USER", "PASS", "APOP", "AUTH", "UTF8"})


@dataclass(frozen=True)
class Reply:
    """A ``+OK`` answer to one command.

    Attributes:
        text: The text after ``+OK`` (raw, not sanitized for display).
        code: The RFC 2449 response code, if any.
        lines: The dot-unstuffed data lines of a multi-line reply.
    """

    text: str
    code: str | None = None
    lines: tuple[bytes, ...] = ()

    def body(self) -> bytes:
        """Return the data lines joined with CRLF, each line terminated."""
        return b"".join(line + _CRLF for line in self.lines)


async def pipeline(
    channel: Channel,
    commands: Iterable[Command],
    *,
    pipelined: bool,
    window: int,
    sinks: Mapping[str, Sink] | None = None,
) -> AsyncGenerator[Reply | Pop3ServerError, None]:
    """Send many commands, yielding each reply in order as it arrives.

    See :meth:`popview.pop3.client.Pop3Client.pipeline`.

    Args:
        channel: The connection.
        commands: The commands; QUIT, STLS and login commands are refused.
        pipelined: Whether to pipeline (else one command at a time).
        window: The most commands in flight at once.
        sinks: Per verb, a callable that receives the data lines of that
            verb's replies as they arrive; those replies' ``lines`` stay empty
            (a huge listing is parsed without being held whole, HARDENING A.7).
    """
    commands = (_for_pipeline(channel, command) for command in commands)
    sinks = sinks or {}
    if not pipelined:
        for command in commands:
            what = WHAT.get(command.verb, "a reply")
            lines: list[bytes] = []
            sink = sinks.get(command.verb, lines.extend)
            reply = await channel.exchange(command, what, raise_err=False, sink=sink)
            yield _to_reply(reply, command.verb, lines)
        return
    source = iter(commands)
    pending: deque[Command] = deque()
    answered = 0
    async with channel.lock:
        channel.ensure_open()
        try:
            async with channel.guard("the first replies"):
                await channel.check_in_step()
            batch = [c for _, c in zip(range(window), source, strict=False)]
            pending.extend(batch)
            channel.write(batch)
            while pending:
                command = pending[0]
                what = WHAT.get(command.verb, "a reply")
                lines = []
                sink = sinks.get(command.verb, lines.extend)
                async with channel.guard(what, pipelined=len(pending), answered=answered):
                    reply = await channel.reply(command, what, sink)
                pending.popleft()
                answered += 1
                if len(pending) <= window // 2:
                    batch = [c for _, c in zip(range(window - len(pending)), source, strict=False)]
                    if batch:
                        pending.extend(batch)
                        channel.write(batch)
                yield _to_reply(reply, command.verb, lines)
        finally:
            if pending and not channel.closed:
                channel.abort("pipelined replies were left unread")


async def top_many(
    channel: Channel,
    numbers: Iterable[int],
    lines: int,
    *,
    pipelined: bool,
    window: int = PIPELINE_WINDOW,
) -> AsyncGenerator[tuple[int, bytes | Pop3ServerError], None]:
    """Pipelined ``TOP n lines`` for each number: ``(n, header bytes or error)``."""
    order: deque[int] = deque()

    def commands() -> Iterable[Command]:
        for n in numbers:
            order.append(n)
            yield protocol.top(n, lines)

    replies_gen = pipeline(channel, commands(), pipelined=pipelined, window=window)
    async with contextlib.aclosing(replies_gen) as replies:
        async for reply in replies:
            n = order.popleft()
            yield n, reply if isinstance(reply, Pop3ServerError) else reply.body()


def _for_pipeline(channel: Channel, command: Command) -> Command:
    # QUIT only through quit() (rule "no-quit-without-commit"); logins and STLS have
    # their own flows.
    if command.raw or command.verb in _NOT_PIPELINED:
        raise ValueError(f"{command.verb or 'a SASL line'} cannot go through pipeline()")
    return channel.capped(command)


def _to_reply(reply: OkReply | ErrReply, verb: str, lines: list[bytes]) -> Reply | Pop3ServerError:
    if isinstance(reply, ErrReply):
        return server_error(reply, verb)
    return Reply(reply.text, reply.code, tuple(lines))
