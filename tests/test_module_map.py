"""The module map of docs/design.md names every module of the tree, and nothing else.

The map is the first fenced block after the heading "### Module map": one line per
module, its path from the repository root, then at least two spaces and what it holds;
a line ``pkg/`` stands for the package and its ``__init__.py``; blank lines separate
groups. To see what to add or remove:

    .venv/bin/python -m tests.test_module_map
"""

from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"
FOLDERS = ("ntkfix", "analysis", "benchmarks")
HEADING = "### Module map"
LINE = re.compile(r"(?P<path>\S+)\s{2,}(?P<purpose>\S.*)")
FORMAT = "path/from/the/root.py  what it holds  (at least two spaces; 'pkg/' for a package)"


def map_lines(text: str | None = None) -> list[str]:
    """The lines of the map (blank lines dropped)."""
    text = DESIGN.read_text() if text is None else text
    assert HEADING in text, f"docs/design.md has no {HEADING!r} heading"
    block = re.search(r"^```[^\n]*\n(.*?)^```", text.split(HEADING, 1)[1], re.S | re.M)
    assert block, f"no fenced block after {HEADING!r} in docs/design.md"
    return [line for line in block.group(1).splitlines() if line.strip()]


def parse(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """path -> purpose, and the lines that do not follow the format."""
    entries, bad = {}, []
    for line in lines:
        m = LINE.fullmatch(line.strip())
        if not m or m["path"] in entries:
            bad.append(line)
        else:
            entries[m["path"]] = m["purpose"]
    return entries, bad


def tree_modules() -> list[str]:
    """Every module of FOLDERS as the map names it: ``pkg/`` for ``pkg/__init__.py``."""
    out = []
    for folder in FOLDERS:
        for p in sorted((ROOT / folder).rglob("*.py")):
            rel = p.relative_to(ROOT).as_posix()
            out.append(rel.removesuffix("__init__.py") if p.name == "__init__.py" else rel)
    return out


def _named(path: str, entries: dict[str, str]) -> bool:
    return path in entries or (path.endswith("/") and path + "__init__.py" in entries)


def _exists(path: str) -> bool:
    return path.startswith(tuple(f + "/" for f in FOLDERS)) and (
        (ROOT / path).is_dir() if path.endswith("/") else (ROOT / path).is_file()
    )


def differences(entries: dict[str, str]) -> tuple[list[str], list[str]]:
    """Modules the map misses, and paths it names that are not in the tree."""
    missing = [m for m in tree_modules() if not _named(m, entries)]
    extra = [p for p in entries if not _exists(p)]
    return missing, extra


def _summary(path: str) -> str:
    file = ROOT / path / "__init__.py" if path.endswith("/") else ROOT / path
    doc = ast.get_docstring(ast.parse(file.read_text())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else "TODO: what it holds"


def _folder(path: str) -> str:
    return path.rstrip("/").rpartition("/")[0]


def suggested_lines(missing: list[str], lines: list[str]) -> list[str]:
    """A map line for each missing module: its docstring's first line, in the column of
    the map's lines for the same folder."""
    columns = {}
    for line in lines:
        if m := LINE.fullmatch(line.strip()):
            columns.setdefault(_folder(m["path"]), line.index(m["purpose"], len(m["path"])))
    out = []
    for path in missing:
        width = max(columns.get(_folder(path), 0), len(path) + 2)
        out.append(f"{path:<{width}}{_summary(path)}")
    return out


def report() -> str:
    lines = map_lines()
    entries, bad = parse(lines)
    missing, extra = differences(entries)
    parts = []
    if missing:
        parts.append("modules missing from the map; add (and shorten) in docs/design.md:")
        parts += ["    " + line for line in suggested_lines(missing, lines)]
    if extra:
        parts.append("the map names paths that do not exist; remove or rename:")
        parts += ["    " + p for p in extra]
    if bad:
        parts.append("lines not of the form below, or repeated:")
        parts += ["    " + line for line in bad]
    return "\n".join(parts)


def test_the_module_map_matches_the_tree():
    message = report()
    assert not message, (
        f"{message}\nformat of a map line: {FORMAT}\n"
        "lines to add: .venv/bin/python -m tests.test_module_map"
    )


def test_the_map_check_finds_what_is_missing_extra_or_malformed():
    entries, bad = parse(["ntkfix/  the library", "ntkfix/nothing_here.py  gone", "oneword"])
    assert bad == ["oneword"]
    missing, extra = differences(entries)
    assert extra == ["ntkfix/nothing_here.py"]
    assert "ntkfix/_core/" in missing and "ntkfix/" not in missing
    assert _named("ntkfix/", {"ntkfix/__init__.py": "the public API"})
    lines = suggested_lines(["ntkfix/", "ntkfix/_core/"], ["ntkfix/_models/       networks"])
    assert lines[0].startswith("ntkfix/  ntkfix:")  # the docstring's first line
    assert lines[1].index("TODO: what it holds") == len("ntkfix/_models/       ")  # aligned


if __name__ == "__main__":
    print(report() or "docs/design.md's module map matches the tree")
