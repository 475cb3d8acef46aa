"""The examples of the docs pages run, and print what the pages say they print."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / page).read_text(), re.S)


@pytest.mark.parametrize("page", ["networks.md"])
def test_examples_of_a_page_run_and_print_what_they_claim(page, tmp_path):
    blocks = _blocks(page)
    assert blocks, f"no python examples in docs/{page}"
    script = tmp_path / "page.py"
    script.write_text("\n".join(blocks))
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-3000:]
    # every print(...) line prints one line; "# text" after it says what (before any ":")
    prints = [
        line.partition("# ")[2].split(":")[0].strip()
        for b in blocks
        for line in b.splitlines()
        if line.lstrip().startswith("print(")
    ]
    printed = out.stdout.splitlines()
    assert len(printed) == len(prints), (prints, printed)
    for claim, line in zip(prints, printed, strict=True):
        if claim:
            assert line.strip() == claim, (claim, line)


def test_the_api_reference_covers_every_public_name():
    import ntkfix

    text = (ROOT / "docs" / "api.md").read_text()
    documented = set(re.findall(r"::: ntkfix\.(\w+)", text)) | set(
        re.findall(r"`ntkfix\.(\w+)`", text)
    )
    missing = sorted(set(ntkfix.__all__) - documented)
    assert not missing, f"public names missing from docs/api.md: {missing}"


def test_the_api_reference_lists_each_object_once():
    text = (ROOT / "docs" / "api.md").read_text()
    listed = re.findall(r"^::: (\S+)", text, re.M)
    assert sorted({n for n in listed if listed.count(n) > 1}) == []


def test_long_code_lines_scroll_in_the_built_docs():
    config = (ROOT / "mkdocs.yml").read_text()
    assert "stylesheets/extra.css" in config
    css = (ROOT / "docs" / "stylesheets" / "extra.css").read_text()
    assert ".md-typeset pre > code" in css and "jp-InputArea" in css and "overflow-x: auto" in css


def test_readme_quick_start_prints_the_value_its_comment_gives(tmp_path):
    (block,) = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[:1]
    claimed = re.search(r"print\(.*\)\s*#\s*([0-9.]+)", block).group(1)
    script = tmp_path / "quick_start.py"
    script.write_text(block)
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-3000:]
    printed = float(out.stdout.split()[-1])
    digits = len(claimed.split(".")[1])
    assert round(printed, digits) == float(claimed), (printed, claimed)


README_WORDS = 600


def test_readme_stays_short():
    words = len((ROOT / "README.md").read_text().split())  # as `wc -w` counts, code included
    assert words < README_WORDS, (
        f"README.md has {words} words (limit {README_WORDS}): move details to docs/"
    )


def test_readme_times_of_the_two_commands_are_logged_in_the_benchmarks_page():
    """Each time in the README's table of the two commands, ``TIME (DATE)``, is a row of
    docs/benchmarks.md's run-time log: ``| DATE | `make ...` | TIME...``."""
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\|.*\| `(make [\w-]+)` \| (.+?) \((\d{4}-\d\d-\d\d)\) \|$", readme, re.M)
    assert sorted(r[0] for r in rows) == ["make report", "make test"], rows
    log = (ROOT / "docs" / "benchmarks.md").read_text().split("## Run times of the two commands")
    assert len(log) == 2, "docs/benchmarks.md has no 'Run times of the two commands' section"
    for command, time, date in rows:
        row = f"| {date} | `{command}` | {time}"
        assert row in log[1], (
            f"README's {command} time has no row in docs/benchmarks.md's run-time log: {row}"
        )


REMOTE = re.compile(r"""<(script|link|img|iframe)\b[^>]*\b(src|href)=["']?(https?:)?//""", re.I)


def _build_site(tmp_path) -> pathlib.Path:
    """``mkdocs build --strict`` of the docs into tmp_path (notebooks unexecuted, MathJax
    copied from its wheel, as ``make docs`` does)."""
    yaml = pytest.importorskip("yaml")
    mathjax = pytest.importorskip("mathjax")
    import shutil

    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("notebooks", "mathjax"))
    (docs / "notebooks").mkdir()
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy(nb, docs / "notebooks")
    src = pathlib.Path(mathjax.__file__).parent / "static" / "mathjax"
    dst = docs / "javascripts" / "mathjax"
    (dst / "output" / "chtml").mkdir(parents=True)
    shutil.copy(src / "es5" / "tex-mml-chtml.js", dst)
    shutil.copytree(src / "es5" / "output" / "chtml" / "fonts", dst / "output" / "chtml" / "fonts")
    cfg = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    cfg["docs_dir"] = str(docs)
    for plugin in cfg["plugins"]:
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            plugin["mkdocstrings"]["handlers"]["python"]["paths"] = [str(ROOT)]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    site = tmp_path / "site"
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f",
         str(tmp_path / "mkdocs.yml"), "--site-dir", str(site)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return site


def test_built_docs_work_offline_and_from_files(tmp_path):
    pytest.importorskip("mkdocs")
    site = _build_site(tmp_path)
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        text = page.read_text()
        hit = REMOTE.search(text)
        assert not hit, f"{page.relative_to(site)} loads {text[hit.start() : hit.start() + 120]}"
        # file:// navigation: links name pages (x.html), never folders (x/)
        for href in re.findall(r'<a [^>]*href="([^"#:]+)"', text):
            assert not href.endswith("/") or href in ("./", "../"), (page.name, href)
    math_pages = [p for p in pages if "arithmatex" in p.read_text()]
    assert math_pages, "no page holds math"
    for page in math_pages:
        scripts = re.findall(r'<script src="([^"]+)"', page.read_text())
        mj = [s for s in scripts if s.endswith("mathjax/tex-mml-chtml.js")]
        assert mj, f"{page.name} does not load the site's MathJax"
        assert (page.parent / mj[0]).resolve().is_file(), mj[0]
    # docstring examples render as code, not as quoted text
    api = (site / "api.html").read_text()
    assert "&gt;&gt;&gt;" in api and "<blockquote>\n<blockquote>" not in api
