"""Walk a MIME tree into body segments and attachments, under limits.

RFC 2046 decides the shape: multipart/alternative holds the same content in
several forms, the last being the richest (§5.1.4); multipart/related binds
inline parts to a root (RFC 2387); message/rfc822 is a whole message
(§5.2.1). Limits bound the work on hostile trees: nesting depth, part count
and decoded text size. Every limit that bites adds a line to ``defects``.
"""

from __future__ import annotations

import email.message
import mimetypes
from collections.abc import Callable
from typing import Any

from popview.mail.charset import decode_bytes
from popview.mail.headers import decode_words
from popview.mail.model import Attachment, BodySegment, ParsedMessage, TextPart
from popview.mail.uuencode import extract_uuencoded
from popview.sanitize import sanitize_filename, sanitize_header

__all__ = ["MAX_DEPTH", "MAX_PARTS", "MAX_TEXT_BYTES", "MimeWalker"]

MAX_DEPTH = 40
MAX_PARTS = 1_000
MAX_TEXT_BYTES = 16 * 1024 * 1024

_Part = email.message.Message
_BuildNested = Callable[[_Part, bytes, int, "MimeWalker"], ParsedMessage]

_DEFECT_TEXT = {
    "StartBoundaryNotFoundDefect": "A multipart boundary was never found.",
    "CloseBoundaryNotFoundDefect": "A multipart section was never closed.",
    "NoBoundaryInMultipartDefect": "A multipart part has no boundary.",
    "FirstHeaderLineIsContinuationDefect": "The first header line is a continuation line.",
    "MissingHeaderBodySeparatorDefect": "A header line is malformed.",
    "MisplacedEnvelopeHeaderDefect": "A mbox 'From ' line sits among the headers.",
    "InvalidBase64PaddingDefect": "Base64 data has bad padding; decoded as far as possible.",
    "InvalidBase64CharactersDefect": "Base64 data has invalid characters; they were skipped.",
    "InvalidBase64LengthDefect": "Base64 data has a bad length; decoded as far as possible.",
    "MultipartInvariantViolationDefect": "A multipart part has no subparts.",
    "InvalidMultipartContentTransferEncodingDefect": "A multipart part has a bad encoding.",
}


def _safe(call: Callable[[], Any], default: Any) -> Any:
    try:
        return call()
    except Exception:
        return default


def _estimated_size(part: _Part) -> int:
    payload = part.get_payload()
    if not isinstance(payload, str):
        return 0
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64":
        chars = len(payload) - payload.count("\n") - payload.count("\r")
        return max(chars, 0) * 3 // 4
    return len(payload)


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def _decoder(part: _Part) -> Callable[[], bytes]:
    def decode() -> bytes:
        data = part.get_payload(decode=True)
        return data if isinstance(data, bytes) else b""

    return decode


def _default_name(content_type: str, index: int) -> str:
    if content_type == "message/rfc822":
        return "forwarded-message.eml"
    ext = mimetypes.guess_extension(content_type, strict=False) or ".bin"
    return f"part-{index}{ext}"


class MimeWalker:
    """Collects segments, attachments and defects from one message tree.

    One walker serves a message and all its nested messages, so the part
    count limit covers the whole tree.
    """

    def __init__(self) -> None:
        self.defects: list[str] = []
        self.parts = 0

    def walk_body(
        self, msg: _Part, depth: int, build_nested: _BuildNested
    ) -> tuple[list[BodySegment], list[Attachment]]:
        """Return the body segments and attachments of ``msg``."""
        segments: list[BodySegment] = []
        attachments: list[Attachment] = []
        self._walk(msg, depth, segments, attachments, build_nested)
        return segments, attachments

    def _note(self, text: str) -> None:
        if text not in self.defects:
            self.defects.append(text)

    def _note_defects(self, part: _Part) -> None:
        for defect in getattr(part, "defects", ())[:20]:
            name = type(defect).__name__
            self._note(_DEFECT_TEXT.get(name, f"MIME defect: {name}"))

    def _walk(
        self,
        part: _Part,
        depth: int,
        segments: list[BodySegment],
        attachments: list[Attachment],
        build_nested: _BuildNested,
    ) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            self._note(f"More than {MAX_PARTS} MIME parts; the rest is not shown.")
            return
        if depth > MAX_DEPTH:
            self._note(f"MIME nesting deeper than {MAX_DEPTH}; the rest is not shown.")
            return
        self._note_defects(part)
        ctype = str(_safe(part.get_content_type, "application/octet-stream")).lower()
        if ctype == "message/rfc822":
            self._nested(part, depth, segments, attachments, build_nested)
            return
        if part.is_multipart():
            children = _safe(part.get_payload, [])
            if ctype == "multipart/alternative":
                self._alternative(children, depth, segments, attachments, build_nested)
            else:
                for child in children:
                    self._walk(child, depth + 1, segments, attachments, build_nested)
            return
        disposition = _safe(part.get_content_disposition, None)
        filename = _safe(part.get_filename, None)
        main, _, sub = ctype.partition("/")
        is_body_text = main == "text" and (
            sub in ("plain", "html") or (filename is None and sub not in ("calendar",))
        )
        if is_body_text and disposition != "attachment":
            self._text(part, ctype, segments, attachments)
        else:
            attachments.append(self._attachment(part, ctype, disposition, filename, attachments))

    def _text(
        self,
        part: _Part,
        ctype: str,
        segments: list[BodySegment],
        attachments: list[Attachment],
    ) -> None:
        data = _safe(lambda: part.get_payload(decode=True), b"")
        if not isinstance(data, bytes):
            data = b""
        self._note_defects(part)  # base64 defects appear only once decoded
        if len(data) > MAX_TEXT_BYTES:
            self._note(f"A text part is larger than {MAX_TEXT_BYTES >> 20} MiB; it was cut.")
            data = data[:MAX_TEXT_BYTES]
        charset = _safe(part.get_content_charset, None)
        text, clean = decode_bytes(data, charset)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if not clean:
            self._note("Some text was not in its declared charset; it may show wrongly.")
        if ctype == "text/html":
            segments.append(BodySegment(html=TextPart(ctype, text, charset or "", clean)))
            return
        if str(_safe(lambda: part.get_param("format"), "")).lower() == "flowed":
            delsp = str(_safe(lambda: part.get_param("delsp"), "")).lower() == "yes"
            text = _unflow(text, delsp=delsp)
        text, files = extract_uuencoded(text)
        for uu in files:
            if not uu.complete:
                self._note(f"The uuencoded file {sanitize_header(uu.name)!r} is incomplete.")
            attachments.append(
                Attachment(
                    sanitize_filename(uu.name),
                    "application/octet-stream",
                    len(uu.data),
                    _loader=_constant(uu.data),
                )
            )
        segments.append(BodySegment(plain=TextPart("text/plain", text, charset or "", clean)))

    def _attachment(
        self,
        part: _Part,
        ctype: str,
        disposition: str | None,
        filename: str | None,
        attachments: list[Attachment],
    ) -> Attachment:
        index = len(attachments) + 1
        name = decode_words(str(filename)) if filename else _default_name(ctype, index)
        content_id = str(part.get("content-id", "") or "").strip().strip("<>")
        return Attachment(
            filename=sanitize_filename(name, default=_default_name(ctype, index)),
            content_type=sanitize_header(ctype, max_len=100),
            size=_estimated_size(part),
            inline=disposition == "inline" or (disposition is None and bool(content_id)),
            content_id=sanitize_header(content_id, max_len=200),
            _loader=_decoder(part),
        )

    def _nested(
        self,
        part: _Part,
        depth: int,
        segments: list[BodySegment],
        attachments: list[Attachment],
        build_nested: _BuildNested,
    ) -> None:
        payload = _safe(part.get_payload, None)
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, email.message.Message):
            attachments.append(self._attachment(part, "message/rfc822", None, None, attachments))
            return
        raw = _safe(inner.as_bytes, b"")
        nested = build_nested(inner, raw, depth + 1, self)
        segments.append(BodySegment(message=nested))
        name = f"{nested.subject or 'forwarded-message'}.eml"
        attachments.append(
            Attachment(
                sanitize_filename(name, default="forwarded-message.eml"),
                "message/rfc822",
                len(raw),
                _loader=_constant(raw),
            )
        )
        attachments.extend(nested.attachments)

    def _alternative(
        self,
        children: list[_Part],
        depth: int,
        segments: list[BodySegment],
        attachments: list[Attachment],
        build_nested: _BuildNested,
    ) -> None:
        # RFC 2046 §5.1.4: alternatives are in increasing order of preference,
        # so the first plain part and the last HTML part are kept.
        plain: TextPart | None = None
        html: TextPart | None = None
        extra: list[BodySegment] = []
        for child in children:
            found: list[BodySegment] = []
            self._walk(child, depth + 1, found, attachments, build_nested)
            for segment in found:
                if segment.plain is not None and plain is None:
                    plain = segment.plain
                elif segment.html is not None:
                    html = segment.html
                elif segment.message is not None:
                    extra.append(segment)
        if plain is not None or html is not None:
            segments.append(BodySegment(plain=plain, html=html))
        segments.extend(extra)


def _unflow(text: str, *, delsp: bool) -> str:
    """Join RFC 3676 format=flowed lines (a line ending in a space continues).

    Quote marks are taken off before joining and put back once (§4.5), and
    space-stuffing is undone (§4.4). The signature separator "-- " is fixed.
    """
    out: list[str] = []
    current: list[str] = []
    depth = -1

    def flush() -> None:
        nonlocal current, depth
        if depth >= 0:
            prefix = ">" * depth + (" " if depth else "")
            out.append(prefix + "".join(current))
        current, depth = [], -1

    for line in text.split("\n"):
        quotes = len(line) - len(line.lstrip(">"))
        content = line[quotes:]
        if content.startswith(" "):
            content = content[1:]
        if depth not in (-1, quotes):
            flush()
        depth = quotes
        flowed = content.endswith(" ") and content != "-- "
        current.append(content[:-1] if flowed and delsp else content)
        if not flowed:
            flush()
    flush()
    return "\n".join(out)
