"""Pipelined command batches (RFC 2449 §6.6) and the results they yield.

:func:`pipeline` sends many commands in windows, each in one write, and yields
each reply in order as it arrives; :func:`top_many` is the listing's use of it
(``TOP n 0`` for every message). Without PIPELINING the commands go one at a
time. A server that stops answering pipelined commands marks the channel's
``pipelining_broken`` so the next connection does not pipeline (HARDENING A.19).

Which commands may go is the protocol state's business (the core refuses a
login command after login, anything after QUIT); QUIT itself is refused here
because only :meth:`~popview.pop3.client.Pop3Client.quit` may send it (rule
"no-quit-without-commit").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from popview.errors import Pop3ServerError
from popview.pop3 import protocol
from popview.pop3.channel import Channel
from popview.pop3.protocol import Command, ErrReply, Greeting, OkReply, block_lines
from popview.pop3.wording import WHAT, server_error

__all__ = ["PIPELINE_WINDOW", "Reply", "Sink", "pipeline", "read_queued", "top_many"]

PIPELINE_WINDOW = 64
"""Commands in flight at once by default."""

_FLIGHT = 512  # commands per write after the first flight of a large window
_TAKEN = 64  # replies framed in one go from what is already buffered

Sink = Callable[[tuple[bytes, ...]], None]
"""Receives the lines of a block (without CRLF) instead of the :class:`Reply`."""


@dataclass(frozen=True)
class Reply:
    """A ``+OK`` answer to one command.

    Attributes:
        text: The text after ``+OK`` (raw, not sanitized for display).
        code: The RFC 2449 response code, if any.
        data: The block of a multi-line reply: dot-unstuffed, CRLF line endings.
    """

    text: str
    code: str | None = None
    data: bytes = b""


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
        sinks: Per verb, a callable that receives the lines of that verb's
            blocks; those replies' ``data`` stays empty.
    """
    commands = (for_pipeline(channel, command) for command in commands)
    sinks = sinks or {}
    if not pipelined:
        for command in commands:
            what = WHAT.get(command.verb, "a reply")
            sink = sinks.get(command.verb)
            reply = await channel.exchange(command, what, raise_err=False, data=_feeder(sink))
            yield _to_reply(reply, command.verb, sink)
        return
    source = iter(commands)
    pending: deque[Command] = deque()
    answered = 0
    batch: deque[tuple[Command, Greeting | OkReply | ErrReply]] = deque()

    async def send(size: int) -> None:
        # Up to the window, in flights of at most _FLIGHT with a turn of the event
        # loop between: building thousands of commands takes tens of milliseconds
        # that the server can spend answering the first ones, and that a key
        # pressed in the app would otherwise wait for.
        while size > 0:
            flight = [c for _, c in zip(range(size), source, strict=False)]
            if not flight:
                return
            pending.extend(flight)
            channel.write(flight)
            size = min(window - len(pending), _FLIGHT)
            if size > 0:
                await asyncio.sleep(0)

    async with channel.lock:
        channel.ensure_open()
        try:
            async with channel.guard("the first replies"):
                await channel.check_in_step()
            await send(min(window, PIPELINE_WINDOW))  # the first ones at once
            while pending:
                command = pending[0]
                what = WHAT.get(command.verb, "a reply")
                sink = sinks.get(command.verb)
                async with channel.guard(what, pipelined=len(pending), answered=answered):
                    answer = await channel.reply(what, data=_feeder(sink))
                    assert answer is not None
                    batch.append((pending.popleft(), answer))
                    # Replies already whole in the buffer are taken under the same
                    # deadline: one guard per read (or per _TAKEN), not per reply.
                    while pending and not pending[0].stream and len(batch) < _TAKEN:
                        ready = await channel.reply(what, wait=False)
                        if ready is None:
                            break
                        batch.append((pending.popleft(), ready))
                answered += len(batch)
                if len(pending) <= window // 2:
                    await send(min(window - len(pending), _FLIGHT))
                while batch:
                    command, answer = batch.popleft()
                    yield _to_reply(answer, command.verb, sinks.get(command.verb))
        finally:
            # Abandoned early: replies unread, or read and never delivered.
            if (pending or batch) and not channel.closed:
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
            yield n, reply if isinstance(reply, Pop3ServerError) else reply.data


async def read_queued(
    channel: Channel,
    commands: Sequence[Command],
    sinks: Mapping[str, Sink] | None,
    *,
    answered: int,
) -> list[Reply | Pop3ServerError]:
    """Read, in order, the replies to ``commands``, written earlier in the same
    flight as ``answered`` commands whose replies were read (the caller holds
    the channel's lock). Each reply has the command deadline, as in
    :func:`pipeline`; a server that stops answering marks the channel's
    ``pipelining_broken`` (HARDENING A.19)."""
    sinks = sinks or {}
    replies: list[Reply | Pop3ServerError] = []
    for done, command in enumerate(commands):
        what = WHAT.get(command.verb, "a reply")
        sink = sinks.get(command.verb)
        pending = len(commands) - done
        async with channel.guard(what, pipelined=pending, answered=answered + done):
            answer = await channel.reply(what, data=_feeder(sink))
        assert answer is not None
        replies.append(_to_reply(answer, command.verb, sink))
    return replies


def for_pipeline(channel: Channel, command: Command) -> Command:
    """``command``, capped for a pipelined flight; QUIT and SASL lines are refused."""
    # QUIT only through quit() (rule "no-quit-without-commit"); SASL lines belong
    # to the AUTH exchange.
    if command.raw or command.verb == "QUIT":
        raise ValueError(f"{command.verb or 'a SASL line'} cannot go through pipeline()")
    return channel.capped(command)


def _feeder(sink: Sink | None) -> Callable[[bytes], None] | None:
    """Pieces of a streamed block, as lines, to ``sink``."""
    if sink is None:
        return None
    return lambda piece: sink(tuple(block_lines(piece)))


def _to_reply(
    reply: Greeting | OkReply | ErrReply, verb: str, sink: Sink | None
) -> Reply | Pop3ServerError:
    if isinstance(reply, ErrReply):
        return server_error(reply, verb)
    assert isinstance(reply, OkReply)
    if sink is not None and reply.data:
        sink(tuple(block_lines(reply.data)))  # a block that was not streamed
        return Reply(reply.text, reply.code)
    return Reply(reply.text, reply.code, reply.data or b"")
