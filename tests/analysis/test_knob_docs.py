"""docs/knobs.md is the knob reference generated from every experiment's KNOBS."""

from analysis import knob_docs
from analysis.experiments import get_experiment, names


def test_the_knob_page_is_generated_from_the_schema():
    assert knob_docs.PAGE.read_text() == knob_docs.render(), (
        "docs/knobs.md is out of date: run .venv/bin/python -m analysis.knob_docs"
    )
    assert knob_docs.main(["--check"]) == 0


def test_every_knob_of_every_experiment_has_a_row_with_its_default_and_meaning():
    page = knob_docs.PAGE.read_text()
    sections = dict(s.split("\n", 1) for s in page.split("\n## ")[1:])
    assert list(sections) == names()
    for name in names():
        rows = [r for r in sections[name].splitlines() if r.startswith("| `")]
        knobs = get_experiment(name).knobs
        assert [r.split("`")[1] for r in rows] == list(knobs), name
        assert all(not r.endswith("|  |") for r in rows), name  # every meaning said
    gen = sections["generalization_noise"]
    assert (
        "| `train_width` |" in gen
        and "| `widths` | `[256, 1024, 4096]` | list; each integer >= 1" in gen
    )
    assert '| `label` | `"label"` | string | the label column of a csv: dataset |' in gen
