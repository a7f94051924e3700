"""The corpus's expected renderings: what a user sees for each .eml file.

``render_for_review`` lays out one message the way the viewer shows it
(headers, banner, attachments, body), as plain text. ``python -m
tests.corpus.expected`` rewrites every ``<name>.expected.txt``; each rewrite
must be reviewed by eye and recorded in REVIEW.md before it is committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from popview.mail.message import parse_message
from popview.mail.render import render_body

HERE = Path(__file__).parent


def render_for_review(raw: bytes, *, prefer_html: bool = False) -> str:
    """Return the full display of ``raw`` as one string."""
    parsed = parse_message(raw)
    body = render_body(parsed, prefer_html=prefer_html)
    out = [
        f"From: {', '.join(a.display for a in parsed.from_)}",
        f"To: {', '.join(a.display for a in parsed.to)}",
    ]
    if parsed.cc:
        out.append(f"Cc: {', '.join(a.display for a in parsed.cc)}")
    out += [f"Date: {parsed.date_text}", f"Subject: {parsed.subject}"]
    out += [f"! {line}" for line in body.banner]
    for att in parsed.attachments:
        flag = " inline" if att.inline else ""
        out.append(f"@ {att.filename} ({att.content_type}, {att.size} bytes{flag})")
    out.append(f"= forms: {', '.join(body.available)}; showing {body.chosen}")
    out.append("-" * 40)
    out.extend(body.lines)
    return "\n".join(out) + "\n"


def corpus_files() -> list[Path]:
    """Every .eml file of the corpus, sorted."""
    return sorted(HERE.glob("*.eml"))


def main() -> int:
    for path in corpus_files():
        text = render_for_review(path.read_bytes())
        path.with_suffix(".expected.txt").write_text(text, encoding="utf-8")
    print(f"rewrote {len(corpus_files())} expected renderings; review them by eye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
