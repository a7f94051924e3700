"""Every reference in the code, the tests and the docs leads to something in this repository.

Code and tests cite hardening cases as ``HARDENING A.1`` (defined in
docs/hardening.md), safety rules as ``rule "hostile-text"`` (defined in the Rules
section of docs/architecture.md) and documents by their path in the repository. A
citation of a case, rule, section or file that does not exist fails here, and so
does a reference to a document that only ever existed outside the repository.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
SCANNED_SUFFIXES = {".py", ".md", ".toml", ".tcss", ".txt", ""}
SKIPPED_PARTS = {"__snapshots__", "corpus", "__pycache__", ".hypothesis"}
THIS_FILE = Path(__file__).resolve()

CASE_HEADING = re.compile(r"^### ([A-F])\.(\d+)$", re.MULTILINE)
CASE_CITATION = re.compile(r"HARDENING(?!_MAP)(?P<rest>.{0,20})")
CASE_FORM = re.compile(r"^ ([A-F]\.\d+)\b|^ section ([A-F])\b")
RULE_NAME = re.compile(r"^- \*\*`([a-z-]+)`\*\*", re.MULTILINE)
RULE_CITATION = re.compile(r'\brule "([^"]+)"')
NUMBERED_RULE = re.compile(r"\b[Rr]ules? \d")
DOC_PATH = re.compile(r"\b((?:docs|tests|popview)/[\w./-]+\.md)\b")
SECTION_CITATION = re.compile(r'docs/architecture\.md,? (?:section )?"([^"]+)"')
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
OUTSIDE = re.compile(r"ARCHITECTURE\.md|SESSION[_]API|STYLE\.md|\.\./shared|HARDENING\.md")
SECTIONS = {"A": range(1, 20), "B": range(20, 31), "C": range(31, 36), "D": range(36, 44),
            "E": range(44, 53), "F": range(53, 66)}  # fmt: skip


def scanned_files() -> list[Path]:
    roots = [REPO / "popview", REPO / "tests", DOCS]
    files = [REPO / "README.md", REPO / "pyproject.toml", REPO / ".ci" / "run"]
    for root in roots:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.resolve() == THIS_FILE:
                continue
            if SKIPPED_PARTS.intersection(path.relative_to(REPO).parts):
                continue
            if path.suffix in SCANNED_SUFFIXES:
                files.append(path)
    return files


def case_ids() -> set[str]:
    text = (DOCS / "hardening.md").read_text(encoding="utf-8")
    return {f"{letter}.{number}" for letter, number in CASE_HEADING.findall(text)}


def rule_names() -> set[str]:
    return set(RULE_NAME.findall((DOCS / "architecture.md").read_text(encoding="utf-8")))


def architecture_sections() -> set[str]:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    return {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}


def problems_in(path: Path) -> list[str]:
    """Every unresolved reference in ``path``, as "file:line: what"."""
    ids, rules, sections = case_ids(), rule_names(), architecture_sections()
    found: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        where = f"{os.path.relpath(path, REPO)}:{number}"
        for match in OUTSIDE.finditer(line):
            found.append(f"{where}: {match.group()} is not a file of this repository")
        for match in CASE_CITATION.finditer(line):
            form = CASE_FORM.match(match.group("rest"))
            if form is None:
                found.append(f"{where}: cite a case as 'HARDENING A.1': {match.group()!r}")
            elif form.group(1) and form.group(1) not in ids:
                found.append(f"{where}: no hardening case {form.group(1)}")
        for match in RULE_CITATION.finditer(line):
            if match.group(1) not in rules:
                found.append(f"{where}: no rule named {match.group(1)!r}")
        if NUMBERED_RULE.search(line) and path.suffix == ".py":
            found.append(f"{where}: cite a rule by its name (docs/architecture.md, Rules)")
        for match in DOC_PATH.finditer(line):
            if not (REPO / match.group(1)).is_file():
                found.append(f"{where}: no file {match.group(1)}")
        for match in SECTION_CITATION.finditer(line):
            if match.group(1) not in sections:
                found.append(f"{where}: docs/architecture.md has no section {match.group(1)!r}")
        if path.suffix == ".md":
            for match in MARKDOWN_LINK.finditer(line):
                target = match.group(1)
                if "://" in target or target.startswith("mailto:"):
                    continue
                if not (path.parent / target).exists():
                    found.append(f"{where}: the link {target} leads nowhere")
    return found


class TestTheDocuments:
    def test_every_case_from_a1_to_f65_has_its_heading(self) -> None:
        expected = {f"{letter}.{n}" for letter, numbers in SECTIONS.items() for n in numbers}
        assert case_ids() == expected

    def test_the_rules_have_names(self) -> None:
        assert {"hostile-text", "no-quit-without-commit", "secrets-never-shown"} <= rule_names()

    def test_the_hardening_map_covers_every_case(self) -> None:
        text = (REPO / "tests" / "HARDENING_MAP.md").read_text(encoding="utf-8")
        mapped = set(re.findall(r"^\| ([A-F]\.\d+)\b", text, re.MULTILINE))
        assert mapped == case_ids()


class TestReferences:
    @pytest.mark.parametrize(
        "path", scanned_files(), ids=lambda p: str(p.relative_to(REPO)).replace("/", ".")
    )
    def test_every_reference_resolves(self, path: Path) -> None:
        assert problems_in(path) == []

    def test_the_check_catches_what_it_should(self, tmp_path: Path) -> None:
        """The patterns are not dead: a file with one bad reference of each kind fails."""
        bad = tmp_path / "probe.md"
        lines = [
            "HARDENING Z.9",
            "HARDENING A.99",
            "HARDENING D 36-40",
            'rule "no-such-rule"',
            "see docs/nowhere.md",
            "ARCHITECTURE" + ".md",
            "[x](missing.md)",
            'docs/architecture.md, "No such section"',
        ]
        bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
        found = problems_in(bad)
        assert len(found) == len(lines), found
