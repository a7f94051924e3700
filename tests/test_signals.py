"""Decision signals read from the header block the listing already fetched."""

from __future__ import annotations

from popview.mail.signals import badge, describe
from tests.test_envelope import env

PHISH = (
    b"Authentication-Results: mx.example.net; spf=softfail smtp.mailfrom=evil.test;\r\n"
    b"\tdkim=pass header.d=evil.test; dmarc=FAIL header.from=bank.test\r\n"
    b"Authentication-Results: forged.test; spf=pass; dkim=pass; dmarc=pass\r\n"
    b"Return-Path: <x@bounce.evil.test>\r\n"
    b"From: Bank <security@bank.test>\r\n"
    b"X-Spam-Status: Yes, score=7.3 required=5.0 tests=FOO\r\n"
    b"Subject: verify\r\n\r\n"
)


def test_authentication_results_topmost_header_only() -> None:
    """RFC 8601: the topmost (receiving server's) results count, a later forged one not."""
    found = env(PHISH)
    assert {"spf=softfail", "dkim=pass", "dmarc=fail", "authfail"} <= found.signals
    assert "spf=pass" not in found.signals and "dmarc=pass" not in found.signals


def test_spam_status_score_mismatch() -> None:
    found = env(PHISH)
    assert "spam" in found.signals and found.spam_score == 7.3
    assert "mismatch" in found.signals
    assert badge(found.signals) == "S!≠"
    assert describe(found.signals, found.spam_score, found.list_id) == (
        "dkim=pass dmarc=fail spf=softfail · spam (score 7.3) · "
        "Return-Path domain differs from From"
    )


def test_same_organisation_bounce_domain_is_not_a_mismatch() -> None:
    block = b"Return-Path: <b@bounces.example.com>\r\nFrom: a@example.com\r\n\r\n"
    assert env(block).signals == frozenset()


def test_x_spam_score_flag_and_list_id_sanitized() -> None:
    block = (
        b"From: news@list.test\r\nX-Spam-Score: -1.5\r\nX-Spam-Flag: NO\r\n"
        b"List-Id: Weekly \x1b[31m <weekly\x1b.list.test>\r\n\r\n"
    )
    found = env(block)
    assert found.signals == frozenset({"list"}) and found.spam_score == -1.5
    assert found.list_id == "weekly\u241b.list.test"  # ESC shown as a visible symbol
    assert badge(found.signals) == "L"
    assert "spam score -1.5" in describe(found.signals, found.spam_score, found.list_id)


def test_spam_flag_yes_and_no_signals() -> None:
    assert "spam" in env(b"X-Spam-Flag: YES\r\n\r\n").signals
    plain = env(b"From: a@b.test\r\nSubject: hi\r\n\r\n")
    assert plain.signals == frozenset() and plain.spam_score is None and badge(plain.signals) == ""


def test_hostile_signal_headers_cost_little_and_never_raise() -> None:
    block = (
        b"Authentication-Results: "
        + b"spf=pass; " * 200_000
        + b"\r\nX-Spam-Score: "
        + b"9" * 10**5
        + b"\r\n\r\n"
    )
    found = env(block)
    assert "spf=pass" in found.signals and found.spam_score is None
