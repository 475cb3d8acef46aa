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
