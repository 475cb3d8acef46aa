"""The knob reference (``docs/knobs.md``), generated from each experiment's ``KNOBS``.

Every column but the last comes from the ``Knob`` objects the runner validates a config
against (default, type, range, choices, ``note``, ``per_cell``), so the page cannot say
what a config may not do; the meaning is the comment written next to the knob's
declaration (in the experiment's module, else ``_task``, ``_arch``, ``_datasets``).
``tests/analysis/test_knob_docs.py`` checks the page equals ``render()``; after changing
a knob, regenerate it: ``.venv/bin/python -m analysis.knob_docs``.
"""

from __future__ import annotations

import re
import sys
from importlib import import_module
from pathlib import Path

from analysis.config import Knob
from analysis.experiments import _MODULES, get_experiment, names

PAGE = Path(__file__).resolve().parent.parent / "docs" / "knobs.md"
HELPERS = ("_task", "_arch", "_datasets", "generalization")

HEADER = """# Experiment knobs

Every knob of every experiment, as the runner checks them (generated from each
experiment's `KNOBS` by `analysis/knob_docs.py`; a test keeps this page equal to them).
A config sets knobs in `[grid]` (one cell per combination) or `[params]` (every cell);
a knob marked *per cell* takes a list read whole inside each cell (only in `[params]`).
An unknown knob, a value of the wrong type or out of range is a one-line error naming
it. The shipped configs are in `analysis/configs/` (`NAME.toml`, `NAME_quick.toml`);
`ntkfix run NAME:quick` runs one (the User guide says more).
"""


# What the knobs shared by many experiments mean (where their declaration has no comment).
SHARED = {
    "width": "hidden width m of the network",
    "depth": "number of hidden layers L",
    "seed": "the network's random seed (its initialization)",
    "seeds": "the networks' random seeds",
    "data_seed": "the data's random seed",
    "n": "number of training points",
    "n_train": "number of training points",
    "d": "input dimension (points on the unit sphere)",
    "W_std": "weight scale of the hidden layers (stax's W_std)",
    "b_std": "bias scale (0: no biases)",
    "parameterization": "ntk (stax's default) or standard parameterization",
    "metrics": "the kernel distances measured (ntkfix.kernel_distance)",
    "kernel_size": 'arch = "cnn": the convolutions\' kernel size',
    "pooling": 'arch = "cnn": how the last convolution is read out',
    "channels": 'arch = "cnn": channels of the convolutions',
    "conv_layers": 'arch = "cnn": number of convolutions',
    "model": "the network trained: the ReLU net or its FAP net",
    "steps": "gradient-descent steps",
    "record_every": "steps between recorded losses",
    "eps": "the training loss counted as fitted",
    "target_fraction": "the fraction of seeds that must fit for a width to count",
    "trainable": 'the layers trained: "hidden" (the readout frozen) or "all"',
    "p": "the fraction of flipped training labels",
    "noise": "the fractions of flipped training labels",
    "margin": "to_relu's margin: M = max(floor, (1 + margin) need)",
    "floor": "to_relu's floor: the smallest constant M",
    "dtypes": "the float dtypes each cell converts in",
    "ridge": "the kernel regression's ridge (0: none)",
}


def _comments(path: Path) -> dict[str, str]:
    """knob name -> the comment on its declaration line, else the comment lines above."""
    lines = path.read_text().splitlines()
    out: dict[str, str] = {}
    decl = re.compile(r'^\s*"?([a-z_][a-z0-9_]*)"?\s*[:=]\s*(.*)$')
    for i, line in enumerate(lines):
        m = decl.match(line)
        if not m or m.group(1) in out:
            continue
        code, _, trailing = m.group(2).partition("  # ")
        above = []
        j = i - 1
        while j >= 0 and lines[j].strip().startswith("#"):
            above.insert(0, lines[j].strip().lstrip("#").strip())
            j -= 1
        text = trailing.strip() or " ".join(above)
        if text and ("Knob(" in code or code.rstrip(",").strip() or "KNOBS" in code):
            out[m.group(1)] = text
    return out


def _allowed(k: Knob) -> str:
    """What the knob takes, in words (from its ``Knob``)."""
    base = k.default[0] if isinstance(k.default, list) and k.default else k.default
    kind = {bool: "true / false", int: "integer", float: "number", str: "string"}.get(
        type(base), "value"
    )
    if k.choices is not None:
        what = "one of " + ", ".join(f"`{c}`" for c in k.choices)
    elif k.low is not None or k.high is not None:
        what = f"{kind} {k._range()}"
    else:
        what = kind
    if isinstance(k.default, list):
        what = f"list; each {what}"
    if k.per_cell:
        what += "; *per cell*"
    return what + (f" ({k.note})" if k.note else "")


def _value(v) -> str:
    if v is None:
        return "(required)"
    if isinstance(v, bool):
        return "`true`" if v else "`false`"
    return f"`{v!r}`".replace("'", '"')


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """The page: one section per experiment, one row per knob."""
    folder = Path(import_module("analysis.experiments").__file__).parent
    parts = [HEADER]
    for name in names():
        exp = get_experiment(name)
        module = _MODULES[name].partition(":")[0].rsplit(".", 1)[1]
        notes: dict[str, str] = {}
        for mod in (module, *HELPERS):
            for key, text in _comments(folder / f"{mod}.py").items():
                notes.setdefault(key, text)
        rows = [
            f"| `{key}` | {_value(k.default)} | {_cell(_allowed(k))} | "
            f"{_cell(notes.get(key, SHARED.get(key, '')))} |"
            for key, k in exp.knobs.items()
        ]
        parts.append(
            f"## {name}\n\n{exp.description}\n\n| knob | default | takes | meaning |\n"
            "|---|---|---|---|\n" + "\n".join(rows) + "\n"
        )
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Write ``docs/knobs.md`` (or check it with ``--check``: exit 1 if it differs)."""
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        return 0 if PAGE.read_text() == text else 1
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
