"""Parsed envelope fields as the cache's JSON ``payload``, so a warm start parses nothing.

The cache keeps the raw ``TOP n 0`` header block of every message *and* this
payload: the fields of the :class:`~popview.mail.envelope.Envelope` the block
parsed into (already decoded and sanitized). A warm listing rebuilds envelopes
from the payloads; the header block is parsed again only when the payload is
missing, from another format version, or malformed in any way
(:func:`envelope_from_payload` returns ``None`` and the caller parses).

The message number, session key and LIST size are not in the payload: they
belong to the connection, not to the message's content.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from popview.mail.envelope import Envelope

__all__ = [
    "PAYLOAD_TAG",
    "PAYLOAD_VERSION",
    "envelope_fields",
    "envelope_from_payload",
    "envelope_payload",
]

PAYLOAD_VERSION = 2
"""Bump when the payload layout or the envelope parser's output changes: older
payloads are then ignored and their header blocks parsed again."""

PAYLOAD_TAG = "{}:{:08x}".format(
    PAYLOAD_VERSION,
    zlib.crc32(",".join(Envelope._fields).encode()),
)
"""What a payload's version key holds: :data:`PAYLOAD_VERSION` plus a checksum of
the :class:`Envelope` field names, so a field added to the envelope outdates the
cached payloads by itself."""

_VERSION_KEY = "v"
_TEXT_FIELDS = (
    ("from_name", "fn"),
    ("from_addr", "fa"),
    ("subject", "s"),
    ("date_text", "dt"),
    ("message_id", "mid"),
    ("in_reply_to", "irt"),
    # Raw, parsed on use (see popview.mail.envelope): cheaper to store and to read.
    ("to_raw", "tr"),
    ("cc_raw", "cr"),
    ("references_raw", "rr"),
    ("list_id", "li"),
)


def envelope_payload(envelope: Envelope) -> dict[str, Any]:
    """Return the JSON-ready fields of ``envelope`` (without number, key and size)."""
    payload: dict[str, Any] = {_VERSION_KEY: PAYLOAD_TAG}
    for name, short in _TEXT_FIELDS:
        payload[short] = getattr(envelope, name)
    payload["d"] = envelope.date.isoformat() if envelope.date is not None else None
    payload["att"] = envelope.has_attachment
    payload["x"] = sorted(envelope.signals)
    payload["ss"] = envelope.spam_score
    return payload


def envelope_from_payload(
    payload: dict[str, Any] | None, *, number: int, uid: str | None, size: int | None
) -> Envelope | None:
    """Rebuild an envelope from a payload of this version, without parsing.

    Args:
        payload: What :func:`envelope_payload` returned, as the cache gave it back.
        number: The message number in this session.
        uid: The session key.
        size: The LIST size.

    Returns:
        The envelope, or ``None`` when the payload is missing, of another
        version or malformed (the caller then parses the header block).
    """
    fields = envelope_fields(payload)
    return None if fields is None else Envelope(number=number, uid=uid, size=size, **fields)


def envelope_fields(payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """The checked :class:`Envelope` fields of a payload, all but the number, key
    and size (which belong to the connection): what :func:`envelope_from_payload`
    builds from, computed ahead while the login is in the air.

    Returns:
        The fields, or ``None`` when the payload is missing, of another version
        or malformed.
    """
    if payload is None or payload.get(_VERSION_KEY) != PAYLOAD_TAG:
        return None
    texts: dict[str, Any] = {}
    for name, short in _TEXT_FIELDS:
        value = payload.get(short)
        if not isinstance(value, str):
            return None
        texts[name] = value
    attachment = payload.get("att")
    date_value = payload.get("d")
    signals = payload.get("x")
    score = payload.get("ss")
    if (
        not isinstance(signals, list)
        or not all(isinstance(token, str) for token in signals)
        or not (score is None or (isinstance(score, float | int) and not isinstance(score, bool)))
    ):
        return None
    if not isinstance(attachment, bool) or not (date_value is None or isinstance(date_value, str)):
        return None
    date: datetime | None = None
    if date_value is not None:
        try:
            date = datetime.fromisoformat(date_value)
        except ValueError:
            return None
    return {
        "date": date,
        "has_attachment": attachment,
        "signals": frozenset(signals),
        "spam_score": None if score is None else float(score),
        **texts,
    }
