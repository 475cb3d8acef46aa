"""The layout rules of the repository, checked on the source (no imports needed).

- no import cycle between modules of ntkfix/ and analysis/ (every import statement,
  including those inside functions; a package's ``__init__`` is not a node: it only
  re-exports);
- dependencies point one way: ntkfix never imports analysis or benchmarks;
- no module over 450 lines;
- no function or method over 80 lines of code (its docstring excluded) or over 10
  parameters (``self``/``cls`` not counted): more knobs travel in a frozen dataclass of
  options;
- no module outside ``ntkfix/_models/`` checks which class a model is (every network is
  met through the ``Network`` contract);
- ``analysis/`` and ``benchmarks/`` use only ntkfix's public API (no ``ntkfix._...``);
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
MAX_FUNCTION_LINES = 80
MAX_PARAMETERS = 10
FUNCTION_FOLDERS = ("ntkfix", "analysis", "benchmarks")
# functions still over a limit, being refactored elsewhere: ``path::qualified name``


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


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end of the function."""
    body = node.body
    first = body[0]
    docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    if docstring and isinstance(first.value.value, str):
        start = body[1].lineno if len(body) > 1 else first.end_lineno + 1
    else:
        start = first.lineno
    return node.end_lineno - start + 1


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Every parameter (``*args`` and ``**kwargs`` count one each), ``self``/``cls`` not."""
    a = node.args
    n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
    n += (a.vararg is not None) + (a.kwarg is not None)
    leading = (a.posonlyargs + a.args)[:1]
    return n - bool(leading and leading[0].arg in ("self", "cls"))


def function_sizes(source: str) -> dict[str, tuple[int, int, int]]:
    """Qualified name (``Class.method``, ``outer.inner``) -> (line, code lines, parameters)."""
    out = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = prefix + child.name
                out[name] = (child.lineno, _code_lines(child), _parameters(child))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return out


def _too_long() -> dict[str, tuple[int, int, int]]:
    """``path::name`` -> (line, code lines, parameters) of every function over a limit."""
    return {
        f"{p.relative_to(ROOT).as_posix()}::{name}": size
        for folder in FUNCTION_FOLDERS
        for p in sorted((ROOT / folder).rglob("*.py"))
        for name, size in function_sizes(p.read_text()).items()
        if size[1] > MAX_FUNCTION_LINES or size[2] > MAX_PARAMETERS
    }


def test_function_counter_counts_code_lines_and_parameters():
    body = "".join(f"    x{i} = {i}\n" for i in range(80))
    source = (
        "@decorator\n"
        "def f(self, a, /, b, c=1, *args, d, e=2, f, g, h, i, **kw):\n"
        '    """A docstring\n\n    over three lines."""\n'
        f"{body}"
        "    return x0\n"
        "class C:\n"
        "    def m(self, a):\n"
        '        """Only a docstring."""\n'
        "    def n(cls):\n"
        "        def inner(*, k):\n"
        "            return k\n"
        "        return inner\n"
    )
    sizes = function_sizes(source)
    assert sizes["f"] == (2, 81, 11)  # the def line; 12 names, self not counted
    assert sizes["C.m"] == (88, 0, 1)
    assert sizes["C.n"] == (90, 3, 0)
    assert sizes["C.n.inner"] == (91, 1, 1)
    over = {n for n, (_, lines, k) in sizes.items() if lines > MAX_FUNCTION_LINES or k > 10}
    assert over == {"f"} and (MAX_FUNCTION_LINES, MAX_PARAMETERS) == (80, 10)


def test_no_function_over_the_limits():
    bad = _too_long()
    listing = "\n".join(
        f"{name.replace('::', ':' + str(line) + ' ')}: {lines} code lines, {params} parameters"
        for name, (line, lines, params) in sorted(bad.items())
    )
    if bad:
        pytest.fail(
            f"functions over {MAX_FUNCTION_LINES} code lines or {MAX_PARAMETERS} parameters "
            f"(group the knobs in a frozen dataclass of options, split the body):\n{listing}"
        )


# The model classes; outside ntkfix/_models/ a model is met only through the contract.
MODEL_CLASSES = frozenset(
    "MLP FixedPattern MLPFixedPattern GraphFixedPattern Function ReluTwin Network".split()
)


def _class_names(node: ast.AST) -> set[str]:
    """Names of the classes an isinstance/issubclass second argument refers to."""
    elts = node.elts if isinstance(node, ast.Tuple) else [node]
    out = set()
    for e in elts:
        if isinstance(e, ast.Name):
            out.add(e.id)
        elif isinstance(e, ast.Attribute):
            out.add(e.attr)
    return out


def model_class_checks(source: str) -> list[tuple[int, str]]:
    """(line, class) of every isinstance/issubclass against a model class, and every
    call of the removed ``is_structured``, in ``source``."""
    hits = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if fn in ("isinstance", "issubclass") and len(node.args) == 2:
            hits += [(node.lineno, c) for c in sorted(_class_names(node.args[1]) & MODEL_CLASSES)]
        elif fn == "is_structured":
            hits.append((node.lineno, "is_structured"))
    return hits


def test_the_class_check_finder_finds_class_checks():
    src = "isinstance(m, (ntkfix.MLP, int))\nissubclass(t, Function)\nisinstance(a, dict)\n"
    assert model_class_checks(src) == [(1, "MLP"), (2, "Function")]
    assert model_class_checks("is_structured(model)") == [(1, "is_structured")]


def test_no_class_checks_of_models_outside_the_models_package():
    hits = [
        f"{p.relative_to(ROOT)}:{line} {cls}"
        for folder in ("ntkfix", "analysis", "benchmarks")
        for p in sorted((ROOT / folder).rglob("*.py"))
        if "_models" not in p.relative_to(ROOT).parts
        for line, cls in model_class_checks(p.read_text())
    ]
    assert not hits, (
        "class checks of models outside ntkfix/_models/ (ask the model through the Network "
        f"contract instead): {hits}"
    )


def private_imports(source: str) -> list[tuple[int, str]]:
    """(line, name) of every import of a private ntkfix module or name (a dotted part
    after ``ntkfix`` starting with "_") and every ``ntkfix._...`` attribute read."""
    private = lambda name: any(
        part.startswith("_") and not part.endswith("__") for part in name.split(".")[1:]
    )
    hits = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            hits += [(node.lineno, a.name) for a in node.names if a.name.startswith("ntkfix.")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ntkfix"):
            hits += [(node.lineno, node.module)]
            hits += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "ntkfix":
                hits.append((node.lineno, f"ntkfix.{node.attr}"))
    return sorted({(line, name) for line, name in hits if private(name)})


def test_the_private_import_finder_finds_private_imports():
    src = (
        "from ntkfix._core.nt import available\nfrom ntkfix import data\n"
        "from ntkfix.data._sklearn import digits\nimport ntkfix._kernels.cost\n"
        "ntkfix._dynamics\nntkfix.kernels\nntkfix.__version__\n"
    )
    assert [line for line, _ in private_imports(src)] == [1, 1, 3, 3, 4, 5]


@pytest.mark.parametrize("folder", ["analysis", "benchmarks"])
def test_the_application_uses_only_the_public_api(folder):
    hits = [
        f"{p.relative_to(ROOT)}:{line} {name}"
        for p in sorted((ROOT / folder).rglob("*.py"))
        for line, name in private_imports(p.read_text())
    ]
    assert not hits, f"{folder}/ uses private ntkfix names (export what it needs): {hits}"


def test_the_public_api_is_small_and_every_name_is_there():
    import ntkfix

    assert len(ntkfix.__all__) <= 32, len(ntkfix.__all__)
    for module in (ntkfix, ntkfix.kernels, ntkfix.errors, ntkfix.results, ntkfix.data):
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert not missing, f"{module.__name__}.__all__ names what it lacks: {missing}"
