"""The pattern language: one small, mutt-like way to pick messages by envelope.

Used by the filter (``/``), bulk marks, ``[[rules]]`` and ``popview list
--match``. A pattern only reads what the listing already has (the
:class:`~popview.mail.envelope.Envelope`), so matching costs no round trip.

Syntax::

    word  "two words"     plain text: in From (name or address) or Subject
    ~f TEXT   sender      ~s TEXT  subject     ~t TEXT  To or Cc
    ~z >5M    size        (<10K, >1G, 2048: units K, M, G of 1024; bare = octets)
    ~d <30d   age         (>2w, <6m, >1y: younger/older than; d w m y)
    ~d >2026-01-31        date (< before, > after, bare = that day)
    ~A        has attachments          ~N  new since the last visit
    ~x SIGNAL a decision signal (spam, list, mismatch, dmarc=fail, spf=pass...)
    a b       both (AND)    a | b  either (OR)    !a  not    ( ... )  grouping

Text is matched case-insensitively as a substring. ``!`` binds tighter than
AND, AND tighter than ``|``. A bad pattern raises :class:`PatternError`
carrying the 0-based position of the problem; nothing here raises anything
else for any input string.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from popview.mail.envelope import Envelope

__all__ = [
    "And",
    "Attachment",
    "DateTerm",
    "MatchContext",
    "New",
    "Not",
    "Or",
    "Pattern",
    "PatternError",
    "SignalTerm",
    "SizeTerm",
    "Text",
    "compile_pattern",
    "parse_pattern",
]

MAX_PATTERN_LEN = 4096
"""Longer patterns are refused (a pattern is typed or configured, not generated)."""
_MAX_DEPTH = 64  # nesting of ( and !, so a hostile pattern cannot exhaust the stack


class PatternError(ValueError):
    """A pattern that cannot be parsed.

    Attributes:
        position: 0-based index in the pattern where the problem is.
        reason: What is wrong, without the position.
    """

    def __init__(self, reason: str, position: int) -> None:
        super().__init__(f"{reason} at column {position + 1}")
        self.reason = reason
        self.position = position


@dataclass(frozen=True, slots=True)
class MatchContext:
    """What a pattern needs beyond the envelope.

    Attributes:
        now: The time ages are counted from (aware).
        is_new: Whether a message arrived since the last visit (``~N``).
    """

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    is_new: Callable[[Envelope], bool] = field(default=lambda _e: False)


# --- the syntax tree ------------------------------------------------------------

_Matcher = Callable[[Envelope], bool]


def _quote(text: str) -> str:
    if text and not any(c.isspace() or c in '()|!"~\\' for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Text:
    """Plain text, or ``~f`` / ``~s`` / ``~t`` with an argument."""

    text: str
    where: str = ""  # "" (From or Subject), "f", "s" or "t"

    def __str__(self) -> str:
        return f"~{self.where} {_quote(self.text)}" if self.where else _quote(self.text)

    def compile(self, ctx: MatchContext) -> _Matcher:
        needle = self.text.casefold()
        if self.where == "f":
            return lambda e: needle in e.from_name.casefold() or needle in e.from_addr.casefold()
        if self.where == "s":
            return lambda e: needle in e.subject.casefold()
        if self.where == "t":

            def recipient(e: Envelope) -> bool:
                # The raw values first (the envelope parses To/Cc only on use);
                # encoded words (RFC 2047) need the parsed names.
                to_raw, cc_raw = e.to_raw, e.cc_raw
                if needle in to_raw.casefold() or needle in cc_raw.casefold():
                    return True
                if "=?" not in to_raw and "=?" not in cc_raw:
                    return False
                for address in e.to + e.cc:
                    if needle in address.addr.casefold() or needle in address.name.casefold():
                        return True
                return False

            return recipient
        return lambda e: (
            needle in e.subject.casefold()
            or needle in e.from_addr.casefold()
            or needle in e.from_name.casefold()
        )


_SIZE = re.compile(r"([<>]?)(\d{1,15})([kKmMgG]?)\Z")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


@dataclass(frozen=True, slots=True)
class SizeTerm:
    """``~z``: the listed size compared with a number of octets.

    A message whose size is unknown (a malformed LIST row, HARDENING F.60)
    matches no size term: choosing what to delete by size must not guess.
    """

    op: str  # "<", ">" or "" (equal)
    amount: int
    unit: str = ""

    def __str__(self) -> str:
        return f"~z {self.op}{self.amount}{self.unit}"

    def compile(self, ctx: MatchContext) -> _Matcher:
        limit = self.amount * _UNITS[self.unit.lower()]
        if self.op == "<":
            return lambda e: e.size is not None and e.size < limit
        if self.op == ">":
            return lambda e: e.size is not None and e.size > limit
        return lambda e: e.size == limit


_AGE = re.compile(r"([<>])(\d{1,6})([dwmy])\Z")
_DAY = re.compile(r"([<>]?)(\d{4})-(\d{2})-(\d{2})\Z")
_AGE_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


@dataclass(frozen=True, slots=True)
class DateTerm:
    """``~d``: an age (``<30d``: younger than 30 days) or a calendar date.

    A message without a parsable Date never matches. Calendar dates are in
    the time zone of :attr:`MatchContext.now`.
    """

    op: str  # "<", ">" or ""
    age_days: int | None = None
    age_text: str = ""
    day: date | None = None

    def __str__(self) -> str:
        value = self.age_text if self.age_days is not None else str(self.day)
        return f"~d {self.op}{value}"

    def compile(self, ctx: MatchContext) -> _Matcher:
        if self.age_days is not None:
            cutoff = ctx.now - timedelta(days=self.age_days)
            if self.op == "<":
                return lambda e: e.date is not None and e.date > cutoff
            return lambda e: e.date is not None and e.date < cutoff
        assert self.day is not None
        zone = ctx.now.tzinfo or UTC
        start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=zone)
        end = start + timedelta(days=1)
        if self.op == "<":
            return lambda e: e.date is not None and e.date < start
        if self.op == ">":
            return lambda e: e.date is not None and e.date >= end
        return lambda e: e.date is not None and start <= e.date < end


@dataclass(frozen=True, slots=True)
class Attachment:
    """``~A``: the header block announces attachments (multipart/mixed...)."""

    def __str__(self) -> str:
        return "~A"

    def compile(self, ctx: MatchContext) -> _Matcher:
        return lambda e: e.has_attachment


@dataclass(frozen=True, slots=True)
class New:
    """``~N``: the message arrived since the last visit."""

    def __str__(self) -> str:
        return "~N"

    def compile(self, ctx: MatchContext) -> _Matcher:
        return ctx.is_new


@dataclass(frozen=True, slots=True)
class SignalTerm:
    """``~x``: one of the envelope's decision signals (exact, case-insensitive)."""

    signal: str

    def __str__(self) -> str:
        return f"~x {_quote(self.signal)}"

    def compile(self, ctx: MatchContext) -> _Matcher:
        wanted = self.signal.casefold()
        return lambda e: wanted in e.signals


@dataclass(frozen=True, slots=True)
class Not:
    """``!``: the inner pattern does not match."""

    inner: Pattern

    def __str__(self) -> str:
        inner = str(self.inner)
        return f"!({inner})" if isinstance(self.inner, And | Or) else f"!{inner}"

    def compile(self, ctx: MatchContext) -> _Matcher:
        inner = self.inner.compile(ctx)
        return lambda e: not inner(e)


@dataclass(frozen=True, slots=True)
class And:
    """Juxtaposition: every part matches."""

    parts: tuple[Pattern, ...]

    def __str__(self) -> str:
        return " ".join(f"({p})" if isinstance(p, Or | And) else str(p) for p in self.parts)

    def compile(self, ctx: MatchContext) -> _Matcher:
        return _all_of(tuple(p.compile(ctx) for p in self.parts))


@dataclass(frozen=True, slots=True)
class Or:
    """``|``: at least one part matches."""

    parts: tuple[Pattern, ...]

    def __str__(self) -> str:
        return " | ".join(f"({p})" if isinstance(p, Or) else str(p) for p in self.parts)

    def compile(self, ctx: MatchContext) -> _Matcher:
        return _any_of(tuple(p.compile(ctx) for p in self.parts))


# Two or three parts get their own closure: a generator per envelope would
# cost more than the tests themselves (100,000 envelopes in 100 ms).
def _all_of(parts: tuple[_Matcher, ...]) -> _Matcher:
    if len(parts) == 2:
        first, second = parts
        return lambda e: first(e) and second(e)
    if len(parts) == 3:
        first, second, third = parts
        return lambda e: first(e) and second(e) and third(e)
    return lambda e: all(p(e) for p in parts)


def _any_of(parts: tuple[_Matcher, ...]) -> _Matcher:
    if len(parts) == 2:
        first, second = parts
        return lambda e: first(e) or second(e)
    if len(parts) == 3:
        first, second, third = parts
        return lambda e: first(e) or second(e) or third(e)
    return lambda e: any(p(e) for p in parts)


Pattern = Text | SizeTerm | DateTerm | Attachment | New | SignalTerm | Not | And | Or
"""A parsed pattern; ``str()`` gives back a pattern that parses to an equal tree."""


# --- the parser ----------------------------------------------------------------

_WORD_END = frozenset("()|")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def fail(self, reason: str, position: int | None = None) -> PatternError:
        return PatternError(reason, self.pos if position is None else position)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def parse(self) -> Pattern:
        if not self.text.strip():
            raise self.fail("empty pattern", 0)
        tree = self.or_expr()
        if self.peek():
            raise self.fail(f"unexpected {self.text[self.pos]!r}")
        return tree

    def or_expr(self) -> Pattern:
        parts = [self.and_expr()]
        while self.peek() == "|":
            self.pos += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self) -> Pattern:
        parts = [self.unary()]
        while self.peek() not in ("", "|", ")"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Pattern:
        char = self.peek()
        if char == "!":
            self.pos += 1
            return Not(self.nested(self.unary))
        return self.primary()

    def nested(self, inner: Callable[[], Pattern]) -> Pattern:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.fail("pattern nested too deeply")
        try:
            return inner()
        finally:
            self.depth -= 1

    def primary(self) -> Pattern:
        char = self.peek()
        start = self.pos
        if char == "":
            raise self.fail("pattern expected after this")
        if char in "|)":
            raise self.fail(f"unexpected {char!r}")
        if char == "(":
            self.pos += 1
            tree = self.nested(self.or_expr)
            if self.peek() != ")":
                raise self.fail(f"')' expected to close the '(' at column {start + 1}")
            self.pos += 1
            return tree
        if char == "~":
            return self.term()
        return Text(self.argument())

    def term(self) -> Pattern:
        start = self.pos
        letter = self.text[self.pos + 1 : self.pos + 2]
        self.pos += 2
        if letter == "A":
            return Attachment()
        if letter == "N":
            return New()
        if letter in ("f", "s", "t"):
            return Text(self.argument(f"~{letter}"), letter)
        if letter == "x":
            return SignalTerm(self.argument("~x"))
        if letter == "z":
            at = self.peek_position()
            return self.size(self.argument("~z"), at)
        if letter == "d":
            at = self.peek_position()
            return self.date(self.argument("~d"), at)
        shown = f"~{letter}" if letter else "~"
        raise self.fail(f"unknown term {shown!r} (known: ~f ~s ~t ~z ~d ~A ~N ~x)", start)

    def peek_position(self) -> int:
        self.skip_space()
        return self.pos

    def argument(self, after: str = "") -> str:
        char = self.peek()
        if char == "" or char in _WORD_END:
            raise self.fail(f"{after} needs a value" if after else "text expected")
        if char == '"':
            return self.quoted()
        start = self.pos
        while self.pos < len(self.text) and not self._word_ends(self.text[self.pos]):
            if self.text[self.pos] == '"':
                raise self.fail("a quote inside a word; quote the whole word")
            self.pos += 1
        return self.text[start : self.pos]

    @staticmethod
    def _word_ends(char: str) -> bool:
        return char in _WORD_END or char.isspace()

    def quoted(self) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == '"':
                self.pos += 1
                if not out:
                    raise self.fail("empty quoted text", start)
                return "".join(out)
            out.append(char)
            self.pos += 1
        raise self.fail("unterminated quote", start)

    def size(self, value: str, at: int) -> SizeTerm:
        found = _SIZE.match(value)
        if not found:
            raise self.fail(f"~z wants a size such as >5M or <10K (got {value[:20]!r})", at)
        op, amount, unit = found.groups()
        return SizeTerm(op, int(amount), unit.upper())

    def date(self, value: str, at: int) -> DateTerm:
        age = _AGE.match(value)
        if age:
            op, count, unit = age.groups()
            return DateTerm(op, int(count) * _AGE_DAYS[unit], f"{int(count)}{unit}")
        day = _DAY.match(value)
        if day:
            op, year, month, dom = day.groups()
            try:
                return DateTerm(op, day=date(int(year), int(month), int(dom)))
            except ValueError:
                raise self.fail(f"no such date {value[len(op) :]!r}", at) from None
        raise self.fail(
            f"~d wants an age such as <30d or a date such as >2026-01-31 (got {value[:20]!r})", at
        )


def parse_pattern(text: str) -> Pattern:
    """Parse a pattern.

    Args:
        text: The pattern as typed or configured.

    Returns:
        The syntax tree; ``str()`` of it is a canonical spelling.

    Raises:
        PatternError: The pattern is malformed; ``position`` says where.
    """
    if len(text) > MAX_PATTERN_LEN:
        raise PatternError(f"pattern longer than {MAX_PATTERN_LEN} characters", MAX_PATTERN_LEN)
    return _Parser(text).parse()


def compile_pattern(pattern: Pattern | str, ctx: MatchContext | None = None) -> _Matcher:
    """Turn a pattern into a fast predicate over envelopes.

    Args:
        pattern: A parsed pattern or its text.
        ctx: The time and the "new" test; the present and nothing new if omitted.

    Returns:
        A function ``Envelope -> bool`` that never raises for any envelope.

    Raises:
        PatternError: ``pattern`` is text and malformed.
    """
    tree = parse_pattern(pattern) if isinstance(pattern, str) else pattern
    return tree.compile(ctx or MatchContext())
