"""The sanitizer's guarantees, checked on strings (HARDENING D.36-D.38, HARDENING D.40).

What reaches the terminal is checked through a pty in test_terminal_pty.py
once the UI exists; here every guarantee is checked on the string level, for
hand-picked hostile inputs and, with hypothesis, for every input.
"""

from __future__ import annotations

import os
import sys
import unicodedata
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from popview.sanitize import (
    FILENAME_MAX_LEN,
    MAX_COMBINING,
    REPLACEMENT,
    sanitize_filename,
    sanitize_header,
    sanitize_text,
)

UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


def unsafe_chars(text: str, *, multiline: bool) -> list[str]:
    allowed = {"\t", "\n"} if multiline else set()
    return [
        ch for ch in text if unicodedata.category(ch) in UNSAFE_CATEGORIES and ch not in allowed
    ]


class TestControls:
    """C0/C1 controls and escape sequences become visible placeholders."""

    def test_csi_and_osc_sequences_show_their_escape_as_a_picture(self) -> None:
        """ESC becomes ␛, BEL ␇: the user sees the sequence, the terminal gets none."""
        hostile = "\x1b[2J\x1b]0;title\x07\x1b]52;c;aGk=\x1b\\"
        assert sanitize_text(hostile) == "␛[2J␛]0;title␇␛]52;c;aGk=␛\\"

    def test_eight_bit_c1_introducers_are_replaced(self) -> None:
        """U+009B (CSI) and U+009D (OSC) work like ESC [ / ESC ] on many terminals."""
        assert (
            sanitize_text("a\x9b2Jb\x9d0;x\x9c")
            == f"a{REPLACEMENT}2Jb{REPLACEMENT}0;x{REPLACEMENT}"
        )

    def test_nul_and_del_keep_the_rest_of_the_line(self) -> None:
        """NUL shows as ␀ and DEL as ␡; nothing after them is lost (D 40)."""
        assert sanitize_text("before\x00after\x7fend") == "before␀after␡end"

    def test_single_line_turns_breaks_and_tabs_into_spaces(self) -> None:
        """A header cannot start a new line on screen."""
        assert sanitize_text("a\r\nb\rc\nd\te\u2028f") == "a  b c d e f"

    def test_multiline_keeps_tab_and_newline_and_normalises_cr(self) -> None:
        """Bodies keep their layout; a lone CR cannot overwrite the line."""
        assert sanitize_text("a\tb\r\nc\rHIDDEN", multiline=True) == "a\tb\nc\nHIDDEN"

    def test_other_c0_controls_in_multiline(self) -> None:
        """Backspace and vertical tab are not layout: they show as pictures."""
        assert sanitize_text("x\x08\x0b\x0cy", multiline=True) == "x␈␋␌y"


class TestBidiAndInvisible:
    """Bidi controls and zero-width characters cannot reorder or hide text (D 38)."""

    def test_every_bidi_control_is_replaced(self) -> None:
        """RLO, LRE, isolates, LRM/RLM/ALM: none survives."""
        out = sanitize_text(f"x{BIDI}y")
        assert out == "x" + REPLACEMENT * len(BIDI) + "y"

    def test_zero_width_and_bom_are_made_visible(self) -> None:
        """ZWSP, ZWNJ, ZWJ, WORD JOINER and BOM become U+FFFD."""
        assert sanitize_text(f"a{INVISIBLE}b") == "a" + REPLACEMENT * len(INVISIBLE) + "b"

    def test_soft_hyphen_is_dropped(self) -> None:
        """U+00AD is invisible by design and harmless: it is removed, not flagged."""
        assert sanitize_text("co\u00adoperate") == "cooperate"

    def test_hangul_filler_cannot_fake_an_empty_name(self) -> None:
        """U+3164 renders blank; it is shown as a replacement character."""
        assert sanitize_text("\u3164") == REPLACEMENT

    def test_table_covers_every_unsafe_code_point(self) -> None:
        """The hand-written table matches this Python's Unicode database."""
        missed = [
            f"U+{code:04X}"
            for code in range(sys.maxunicode + 1)
            if unicodedata.category(chr(code)) in UNSAFE_CATEGORIES
            and unsafe_chars(sanitize_text(chr(code)), multiline=False)
        ]
        assert missed == []


class TestCaps:
    """Length caps bound both the output and the work."""

    def test_cap_adds_an_ellipsis(self) -> None:
        """A capped value says it was cut."""
        assert sanitize_text("abcdef", max_len=4) == "abc…"

    def test_short_text_is_untouched(self) -> None:
        """No ellipsis when nothing was cut."""
        assert sanitize_text("abcd", max_len=4) == "abcd"

    def test_huge_input_is_cut_before_scanning(self) -> None:
        """50 MB of escapes yields at most max_len characters."""
        out = sanitize_text("\x1b" * 50_000_000, max_len=1000)
        assert len(out) == 1000
        assert out.endswith("…")

    def test_zalgo_marks_are_capped_per_character(self) -> None:
        """HARDENING F.65: thousands of combining marks on each letter keep MAX_COMBINING
        per letter (the letters and the first marks stay); short stacks are untouched."""
        zalgo = "".join(ch + "\u0301\u0336\u1dc4\u20d7" * 800 for ch in "Hi")
        for out in (
            sanitize_text(zalgo),
            sanitize_header(zalgo),
            sanitize_text(zalgo, multiline=True),
        ):
            assert out.startswith("H\u0301\u0336\u1dc4\u20d7")
            assert len(out) == 2 * (1 + MAX_COMBINING)
            assert unicodedata.normalize("NFD", out).replace("\u0301", "").count("i") == 1
        vietnamese = "Nguyê\u0303n Tiê\u0301n"
        assert sanitize_text(vietnamese) == vietnamese

    def test_header_collapses_whitespace(self) -> None:
        """A folded header shows as one line with single spaces."""
        assert sanitize_header("  Re:\r\n\t lunch  \t today ") == "Re: lunch today"


@settings(max_examples=300)
@given(st.text(), st.booleans(), st.integers(min_value=1, max_value=500))
def test_no_unsafe_character_survives_any_input(text: str, multiline: bool, cap: int) -> None:
    """For every string: no ESC, no C1, no bidi, no format character, length capped."""
    out = sanitize_text(text, multiline=multiline, max_len=cap)
    assert unsafe_chars(out, multiline=multiline) == []
    assert "\x1b" not in out
    assert len(out) <= cap
    if not multiline:
        assert "\n" not in out and "\t" not in out


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_header_is_one_safe_line(text: str) -> None:
    """sanitize_header always yields one line without unsafe characters."""
    out = sanitize_header(text)
    assert unsafe_chars(out, multiline=False) == []
    assert out == out.strip()


class TestFilename:
    """Saved names cannot leave the directory, hide, or pose as options."""

    def test_path_traversal_is_flattened(self) -> None:
        """Separators become "_", runs of dots shrink, leading junk goes."""
        assert sanitize_filename("../../etc/passwd") == "etc_passwd"
        assert sanitize_filename("..\\..\\win.ini") == "win.ini"

    def test_hidden_and_option_like_names(self) -> None:
        """No leading dot (hidden file) and no leading dash (argv option)."""
        assert sanitize_filename(".bashrc") == "bashrc"
        assert sanitize_filename("-rf --no-preserve-root") == "rf --no-preserve-root"

    def test_empty_and_dot_names_get_the_default(self) -> None:
        """A name with nothing usable left is never empty."""
        for name in ("", ".", "..", "...", "/", " ", "\x00", "\u202e"):
            assert sanitize_filename(name) == "attachment"

    def test_bidi_override_cannot_fake_an_extension(self) -> None:
        """'invoice<RLO>fdp.exe' is saved and shown as invoice_fdp.exe."""
        assert sanitize_filename("invoice\u202efdp.exe") == "invoice_fdp.exe"

    def test_long_names_keep_their_extension(self) -> None:
        """Shortened to the cap, extension kept, under 200 UTF-8 bytes."""
        name = sanitize_filename("é" * 500 + ".pdf")
        assert name.endswith(".pdf")
        assert len(name) <= FILENAME_MAX_LEN
        assert len(name.encode()) <= 200

    def test_ordinary_names_are_kept(self) -> None:
        """Real names survive unchanged, Unicode included."""
        for name in ("report.pdf", "Übersicht 2026.xlsx", "写真.jpg", "a b (1).txt"):
            assert sanitize_filename(name) == name


@settings(max_examples=300)
@given(st.text())
def test_any_filename_stays_inside_its_directory(text: str) -> None:
    """For every input the name is non-empty, plain, and joins below the directory."""
    name = sanitize_filename(text)
    assert name
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert ".." not in name
    assert not name.startswith((".", "-"))
    assert unsafe_chars(name, multiline=False) == []
    assert len(name.encode("utf-8")) <= 200
    base = Path("/tmp/popview-save")
    assert os.path.dirname(os.path.normpath(base / name)) == str(base)
