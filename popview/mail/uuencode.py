"""Find and decode uuencoded files inside a plain-text body.

Old mailers (and some scanners today) send attachments as uuencoded blocks
in the body: ``begin 644 name`` ... ``end`` (POSIX uuencode). The viewer
lists them as attachments and replaces the block with one line saying so. A
truncated block (no ``end``) or garbage lines decode as far as they go.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

__all__ = ["UuFile", "extract_uuencoded"]

MAX_UU_FILES = 50
_BEGIN = re.compile(r"^begin[ \t]+([0-7]{3,4})[ \t]+([^\r\n]+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class UuFile:
    """A uuencoded file found in a body.

    Attributes:
        name: The name from the ``begin`` line, unsanitized.
        data: The decoded bytes (as far as they decode).
        complete: ``False`` when the ``end`` line was missing or lines were bad.
    """

    name: str
    data: bytes
    complete: bool


def _decode_line(line: str) -> bytes | None:
    raw = line.encode("latin-1", "replace")
    try:
        return binascii.a2b_uu(raw)
    except binascii.Error:
        # Some encoders pad or trim lines; decode exactly the declared length
        # (the workaround of the former stdlib ``uu`` module).
        if not raw:
            return b""
        nbytes = (((raw[0] - 32) & 63) * 4 + 5) // 3
        try:
            return binascii.a2b_uu(raw[:nbytes])
        except binascii.Error:
            return None


def extract_uuencoded(text: str) -> tuple[str, list[UuFile]]:
    """Take uuencoded blocks out of ``text``.

    Args:
        text: A decoded text/plain body.

    Returns:
        ``(text, files)``: the text with each block replaced by a line
        ``[uuencoded file: NAME]`` and the decoded files, in order.
    """
    if "begin " not in text:
        return text, []
    files: list[UuFile] = []
    out: list[str] = []
    pos = 0
    while len(files) < MAX_UU_FILES:
        match = _BEGIN.search(text, pos)
        if match is None:
            break
        out.append(text[pos : match.start()])
        name = match.group(2).strip()
        end = re.compile(r"^end[ \t]*$", re.MULTILINE).search(text, match.end())
        stop = end.start() if end else len(text)
        chunks: list[bytes] = []
        complete = end is not None
        for line in text[match.end() : stop].splitlines():
            if not line or line in ("`", " "):
                continue
            decoded = _decode_line(line)
            if decoded is None:
                complete = False
                break
            chunks.append(decoded)
        files.append(UuFile(name, b"".join(chunks), complete))
        out.append(f"[uuencoded file: {name}]")
        pos = end.end() if end else len(text)
    out.append(text[pos:])
    return "".join(out), files
