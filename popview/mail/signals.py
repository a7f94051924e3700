"""Signals for deciding what to delete, read from headers the listing already has.

The listing fetches every header block (``TOP n 0``), so these cost no round
trip: the SPF, DKIM and DMARC results of ``Authentication-Results``
(RFC 8601), SpamAssassin's ``X-Spam-Status`` / ``X-Spam-Score`` /
``X-Spam-Flag``, a Return-Path domain that differs from the From domain, and
``List-Id`` (RFC 2919).

They are hints, not proof: a sender can write any header. RFC 8601 §5 says to
trust only results stamped by one's own server; popview cannot know its
``authserv-id``, so it reads the *topmost* ``Authentication-Results`` (the
last one added, normally by the receiving server) and ignores the rest.

A message's signals are a set of short tokens, the words ``~x`` matches::

    spf=pass  dkim=fail  dmarc=fail ...   one per method, its first result
    authfail   any of SPF, DKIM, DMARC failed (fail, softfail, permerror)
    spam       the spam filter said so (X-Spam-Status: Yes, X-Spam-Flag: YES)
    list       a mailing list (List-Id present)
    mismatch   Return-Path and From are in different domains
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from popview.sanitize import sanitize_header

__all__ = ["SIGNAL_HEADERS", "Signals", "badge", "describe", "read_signals"]

SIGNAL_HEADERS = (
    b"return-path|list-id|authentication-results|x-spam-status|x-spam-score|x-spam-flag"
)
"""The header names (for the envelope's regular expression) signals come from."""

_METHOD = re.compile(r"(?<![\w.-])(spf|dkim|dmarc)\s*=\s*([a-z]+)", re.IGNORECASE)
_FAILED = frozenset({"fail", "softfail", "permerror"})
_SCORE = re.compile(r"score\s*=\s*(-?\d{1,4}(?:\.\d{1,3})?)", re.IGNORECASE)
_NUMBER = re.compile(r"\s*(-?\d{1,4}(?:\.\d{1,3})?)")
_DOMAIN = re.compile(r"[A-Za-z0-9.-]{1,253}")
_LIST_ID = re.compile(r"<([^<>\s]{1,250})>")
_FIELD_CAP = 2000  # characters of a signal header looked at


@dataclass(frozen=True, slots=True)
class Signals:
    """What :func:`read_signals` found: the tokens plus the details for display.

    Attributes:
        tokens: The ``~x`` words (see the module docstring).
        spam_score: The spam filter's score, ``None`` if none was given.
        list_id: The List-Id, sanitized ("" if none).
    """

    tokens: frozenset[str]
    spam_score: float | None
    list_id: str


_NONE = Signals(frozenset(), None, "")


def _base_domain(domain: str) -> str:
    # The last two labels: bounces.example.com and example.com are one sender.
    labels = domain.lower().rstrip(".").split(".")
    return ".".join(labels[-2:])


def _domain(address: str) -> str:
    """The domain of ``addr@domain`` or ``<addr@domain>`` ("" if none)."""
    domain = address[:_FIELD_CAP].strip().rstrip(">").rpartition("@")[2].strip()
    return domain if _DOMAIN.fullmatch(domain) else ""


def read_signals(fields: Mapping[str, str], from_addr: str) -> Signals:
    """Read the signals from a message's raw (decoded, unsanitized) header fields.

    Args:
        fields: Lower-case header name → first value, as the envelope parser keeps them.
        from_addr: The first From address.

    Returns:
        The signals; a shared empty value when there are none. Never raises.
    """
    tokens: set[str] = set()
    bounce = fields.get("return-path")
    if bounce and from_addr:
        # The cheap, common case first: most mail has a Return-Path and nothing else.
        bounce_domain, from_domain = _domain(bounce), _domain(from_addr)
        differ = _base_domain(bounce_domain) != _base_domain(from_domain)
        if bounce_domain and from_domain and differ:
            tokens.add("mismatch")
    if not any(name in fields for name in _OTHER_NAMES):
        return Signals(frozenset(tokens), None, "") if tokens else _NONE
    seen: set[str] = set()
    for method, result in _METHOD.findall(fields.get("authentication-results", "")[:_FIELD_CAP]):
        method, result = method.lower(), result.lower()
        if method not in seen:  # the first result of each method
            seen.add(method)
            tokens.add(f"{method}={result}")
            if result in _FAILED:
                tokens.add("authfail")
    status = fields.get("x-spam-status", "")[:_FIELD_CAP]
    if status.lstrip().lower().startswith("yes"):
        tokens.add("spam")
    if fields.get("x-spam-flag", "").strip().lower() == "yes":
        tokens.add("spam")
    score = _SCORE.search(status)
    number = score or _NUMBER.match(fields.get("x-spam-score", "")[:_FIELD_CAP])
    spam_score = float(number.group(1)) if number else None
    list_id = ""
    if "list-id" in fields:
        tokens.add("list")
        found = _LIST_ID.search(fields["list-id"][:_FIELD_CAP])
        list_id = sanitize_header(found.group(1) if found else fields["list-id"], max_len=250)
    return Signals(frozenset(tokens), spam_score, list_id)


_OTHER_NAMES = tuple(n for n in SIGNAL_HEADERS.decode("ascii").split("|") if n != "return-path")


def badge(tokens: frozenset[str]) -> str:
    """A compact badge for the list: ``S`` spam, ``!`` authentication failed,
    ``≠`` Return-Path domain differs, ``L`` mailing list ("" if none)."""
    if not tokens:
        return ""
    marks = (("spam", "S"), ("authfail", "!"), ("mismatch", "≠"), ("list", "L"))
    return "".join(letter for token, letter in marks if token in tokens)


def describe(tokens: frozenset[str], spam_score: float | None, list_id: str) -> str:
    """One line for the viewer, e.g. ``spf=pass dkim=fail dmarc=fail · spam (score 7.1)``."""
    parts: list[str] = []
    auth = sorted(t for t in tokens if "=" in t)
    if auth:
        parts.append(" ".join(auth))
    if "spam" in tokens:
        parts.append("spam" + (f" (score {spam_score:g})" if spam_score is not None else ""))
    elif spam_score is not None:
        parts.append(f"spam score {spam_score:g}")
    if "mismatch" in tokens:
        parts.append("Return-Path domain differs from From")
    if "list" in tokens:
        parts.append(f"list {list_id}" if list_id else "mailing list")
    return " · ".join(parts)
