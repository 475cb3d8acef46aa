"""The layout rules of the repository, checked on the source (no imports needed).

- no import cycle between modules of ntkfix/ and analysis/ (every import statement,
  including those inside functions; a package's ``__init__`` is not a node: it only
  re-exports);
- dependencies point one way: ntkfix never imports analysis or benchmarks;
- no module over 450 lines;
- nothing cites a file outside the repository (the design notes live in docs/design.md).
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("ntkfix", "analysis")
MAX_LINES = 450


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, pathlib.Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(path: pathlib.Path, name: str) -> set[str]:
    """Absolute names of everything ``path`` imports (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules (not packages' ``__init__``) of ntkfix/analysis it imports."""
    mods = _modules()
    inits = {m for m, p in mods.items() if p.name == "__init__.py"}
    graph = {}
    for m, p in mods.items():
        if m in inits:
            continue
        targets = set()
        for t in _imports(p, m):
            while t and t not in mods:
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != m and t not in inits:
                targets.add(t)
        graph[m] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_library_never_imports_the_application():
    for m, p in _modules().items():
        if m.startswith("ntkfix"):
            bad = {t for t in _imports(p, m) if t.split(".")[0] in ("analysis", "benchmarks")}
            assert not bad, f"{p} imports {sorted(bad)}"


@pytest.mark.parametrize("folder", ["ntkfix", "analysis", "benchmarks"])
def test_no_module_over_the_limit(folder):
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / folder).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_nothing_cites_a_file_outside_the_repository():
    pattern = re.compile(r"(?<![\w/])DESIGN\.md|\.\./shared")
    suffixes = {".py", ".md", ".ipynb", ".toml", ".yml"}
    hits = [
        str(p.relative_to(ROOT))
        for folder in ("ntkfix", "analysis", "benchmarks", "docs", "notebooks", "tests")
        for p in (ROOT / folder).rglob("*")
        if p.suffix in suffixes and p != pathlib.Path(__file__) and pattern.search(p.read_text())
    ]
    hits += [f for f in ("README.md", "mkdocs.yml") if pattern.search((ROOT / f).read_text())]
    assert not hits, f"cite a file outside the repository: {hits}"
