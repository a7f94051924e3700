"""A whole message (``RETR`` bytes) as display data: headers, body, attachments.

:func:`parse_message` never raises. It parses with the stdlib ``email``
package (``policy.default``), falls back to ``compat32`` and then to the raw
text, and walks the MIME tree under limits (depth, part count, decoded size;
see :mod:`popview.mail.mime`). Whatever it could not do becomes a line in
``defects`` for the viewer's banner; the message is shown as far as it goes.

Header values are taken *raw* (``raw_items``) and decoded by
:mod:`popview.mail.headers`, which caps the work per value; the stdlib's
structured header parser has quadratic cases on hostile input (gh-136063).
"""

from __future__ import annotations

import dataclasses
import email
import email.message
import email.policy
import functools
from typing import Any

from popview.mail.charset import decode_bytes
from popview.mail.headers import decode_header_bytes, decode_words, parse_addresses, parse_date
from popview.mail.mime import MAX_TEXT_BYTES, MimeWalker
from popview.mail.model import (
    Attachment,
    BodySegment,
    HeaderField,
    ParsedMessage,
    TextPart,
)
from popview.sanitize import sanitize_header

__all__ = [
    "Attachment",
    "BodySegment",
    "HeaderField",
    "ParsedMessage",
    "TextPart",
    "parse_message",
]

MAX_HEADERS = 1_000
#: Characters of a header value given to the structured parser of
#: ``policy.default``, whose cost grows faster than linearly with the number of
#: parameters (a Content-Type with 20,000 parameters took 12 s).
HEADER_PARSE_CAP = 2_000
#: Above this many ``Content-Type`` fields, the cheaper ``compat32`` policy
#: parses the structure (10,000 parts: 3.3 s with policy.default, 0.3 s).
MANY_PARTS = 1_000
_EmailMessage = email.message.Message


class _BoundedPolicy(email.policy.EmailPolicy):
    """``policy.default`` with bounded, cached structured header parsing."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        return _parse_header(self, name, value[:HEADER_PARSE_CAP])


@functools.lru_cache(maxsize=512)
def _parse_header(policy: email.policy.EmailPolicy, name: str, value: str) -> Any:
    # Header objects are immutable strings, so equal fields (every part's
    # "text/plain") can share one parse.
    return email.policy.EmailPolicy.header_fetch_parse(policy, name, value)


_POLICY = _BoundedPolicy()


def _header_fields(msg: _EmailMessage) -> dict[str, str]:
    """First raw value of each header, unfolded and 8-bit decoded."""
    first: dict[str, str] = {}
    for name, value in msg.raw_items() if hasattr(msg, "raw_items") else msg.items():
        key = str(name).lower()
        if key not in first:
            first[key] = _unfold(value)
    return first


def _unfold(value: object) -> str:
    text = str(value)
    raw = text.encode("utf-8", "surrogateescape")  # 8-bit bytes survive parsing this way
    return decode_header_bytes(raw).replace("\r", "").replace("\n", "")


def build_message(msg: _EmailMessage, raw: bytes, depth: int, walker: MimeWalker) -> ParsedMessage:
    """Turn an ``email`` message object into a :class:`ParsedMessage`."""
    fields = _header_fields(msg)
    all_headers = []
    for name, value in list(msg.raw_items() if hasattr(msg, "raw_items") else msg.items())[
        :MAX_HEADERS
    ]:
        all_headers.append(
            HeaderField(
                sanitize_header(str(name), max_len=100),
                sanitize_header(decode_words(_unfold(value))),
            )
        )
    segments, attachments = walker.walk_body(msg, depth, build_message)
    defects = walker.defects if depth == 0 else []
    date_text = fields.get("date", "")
    return ParsedMessage(
        subject=sanitize_header(decode_words(fields.get("subject", "")), max_len=998),
        from_=parse_addresses(fields.get("from", "")),
        to=parse_addresses(fields.get("to", "")),
        cc=parse_addresses(fields.get("cc", "")),
        reply_to=parse_addresses(fields.get("reply-to", "")),
        date=parse_date(date_text),
        date_text=sanitize_header(date_text, max_len=200),
        message_id=sanitize_header(fields.get("message-id", ""), max_len=998),
        headers=tuple(all_headers),
        segments=tuple(segments),
        attachments=tuple(attachments),
        defects=tuple(dict.fromkeys(defects)),
        raw=raw,
    )


def _raw_fallback(raw: bytes, reason: str) -> ParsedMessage:
    text, _ = decode_bytes(raw[:MAX_TEXT_BYTES], None)
    return ParsedMessage(
        segments=(BodySegment(plain=TextPart("text/plain", text, "", False)),),
        defects=(reason, "The message is shown as raw text."),
        raw=raw,
    )


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse ``RETR`` bytes for the viewer; never raises.

    Args:
        raw: The whole message (dot-unstuffed), any line endings, any bytes.

    Returns:
        The parsed message. Problems are listed in ``defects``.
    """
    failures: list[str] = []
    policies: tuple[email.policy.Policy, ...] = (_POLICY, email.policy.compat32)
    if raw.lower().count(b"content-type:") > MANY_PARTS:
        policies = (email.policy.compat32,)
    for policy in policies:
        try:
            msg = email.message_from_bytes(raw, policy=policy)
            parsed = build_message(msg, raw, 0, MimeWalker())
        except RecursionError:
            # The stdlib parser recurses per MIME level; the other policy
            # would recurse just as deep, so go straight to the raw text.
            failures.append("The MIME structure nests too deeply.")
            break
        except Exception as exc:  # the stdlib parser's failure modes are many
            failures.append(f"The MIME parser failed ({type(exc).__name__}).")
            continue
        if policy is email.policy.compat32:
            extra = (*failures, "Parsed in compatibility mode.")
            return dataclasses.replace(parsed, defects=(*parsed.defects, *extra))
        return parsed
    return _raw_fallback(raw, failures[-1] if failures else "The message could not be parsed.")
