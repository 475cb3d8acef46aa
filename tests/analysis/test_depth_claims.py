"""The seed's depth claims: the width threshold's growth in depth (``threshold.depth_fits``)
and steps to eps against n and depth at fixed over-parameterization
(``dynamics.steps_fits``, ``width_per_n``); fits checked on tables of known shape."""

import numpy as np
import pandas as pd
import pytest

from analysis import experiments
from analysis.experiments import dynamics, threshold


def _threshold_table(slope=16, icpt=8):
    """frac_reached rows whose threshold is exactly icpt + slope * depth (FAP) and twice
    that (ReLU), on a grid of widths 8..256 step 8."""
    rows = []
    for model, k in (("fap", 1), ("relu", 2)):
        for n in (16, 32):
            for depth in (1, 2, 3, 4):
                thr = k * (icpt + slope * depth)
                for width in range(8, 257, 8):
                    rows.append(
                        dict(model=model, n=n, depth=depth, width=width,
                             frac_reached=float(width >= thr), target_fraction=0.9)
                    )  # fmt: skip
    return pd.DataFrame(rows)


def test_depth_fits_recover_a_linear_threshold():
    thr = threshold.thresholds(_threshold_table())
    assert set(threshold.groups(_threshold_table())) == {"model", "depth"}
    fits = threshold.depth_fits(thr).set_index(["model", "n"])
    for n in (16, 32):
        assert fits.loc[("fap", n), "slope"] == pytest.approx(16)
        assert fits.loc[("fap", n), "intercept"] == pytest.approx(8)
        assert fits.loc[("relu", n), "slope"] == pytest.approx(32)
        d = np.array([1, 2, 3, 4.0])
        want = np.polyfit(np.log(d), np.log(8 + 16 * d), 1)[0]
        assert fits.loc[("fap", n), "exponent"] == pytest.approx(want)
        assert fits.loc[("fap", n), "depths"] == "1,2,3,4"
    with pytest.raises(KeyError, match="depth axis"):
        threshold.depth_fits(thr.drop(columns="depth"))


def test_steps_fits_logarithmic_and_power():
    rows = []
    for model in ("fap", "relu"):
        for depth in (1, 2, 3):
            for n in (8, 16, 32, 64):
                for seed in (0, 1):
                    steps = 100 * np.log(n) + 10 * depth if model == "fap" else 3.0 * n * depth
                    rows.append(
                        dict(model=model, depth=depth, n=n, seed=seed, diverged=False,
                             steps_to_eps_measured=steps + seed * (model == "fap"))
                    )  # fmt: skip
    rows.append(
        dict(model="fap", depth=1, n=128, seed=0, diverged=False, steps_to_eps_measured=np.nan)
    )  # fmt: skip  (n=128: a seed missed eps)
    fits = dynamics.steps_fits(pd.DataFrame(rows)).set_index(["model", "axis", "at"])
    assert fits.loc[("fap", "n", 1), "slope_log"] == pytest.approx(100)  # medians: + 0.5
    assert fits.loc[("fap", "n", 1), "n_points"] == 4  # n = 128 left out
    assert fits.loc[("relu", "n", 2), "exponent"] == pytest.approx(1.0)
    assert fits.loc[("relu", "depth", 8), "exponent"] == pytest.approx(1.0)
    d = np.log([1, 2, 3.0])
    want = np.polyfit(d, 100 * np.log(16) + 10 * np.array([1, 2, 3]) + 0.5, 1)[0]
    assert fits.loc[("fap", "depth", 16), "slope_log"] == pytest.approx(want)


def test_width_per_n_ties_width_to_n():
    cell = {
        **dynamics.SCHEMA,
        "width_per_n": 2.0,
        "width": 999,
        "n": 6,
        "n_test": 4,
        "d": 3,
        "depth": 1,
        "seeds": [0],
        "steps": 8,
        "record_every": 2,
    }
    (row,) = dynamics.run_cell(cell)
    assert row["width"] == 12 and not row["diverged"]
    same = dynamics.run_cell({**cell, "width_per_n": 0.0, "width": 12})[0]
    assert row["loss_final"] == same["loss_final"]


@pytest.mark.parametrize(
    "name", ["width_threshold_depth", "dynamics_depth", "dynamics_cnn", "kernel_distance_cnn"]
)
def test_shipped_depth_and_cnn_configs_validate(name):
    for quick in (False, True):
        assert experiments.shipped_config(name, quick=quick).cells()


def test_depth_sections_state_the_fits(tmp_path):
    from analysis.report.sections import SECTIONS
    from analysis.report.suite import SUITE

    df = _threshold_table().assign(eps=1e-3, steps=1000)
    sec = SECTIONS["width_threshold_depth"](df, tmp_path)
    assert "fap, n=16: +16.0 width per layer" in sec.text and sec.figures[0].exists()
    rows = [
        dict(model=m, depth=L, n=n, seed=0, diverged=False, width=8 * n, width_per_n=8.0,
             eps=1e-3, reached_eps=True, steps_to_eps_measured=50 * np.log(n) + L)
        for m in ("fap", "relu") for L in (1, 2) for n in (8, 16, 32)
    ]  # fmt: skip
    sec = SECTIONS["dynamics_depth"](pd.DataFrame(rows), tmp_path)
    assert "fap, depth 1: +50 steps per e-fold of n" in sec.text and sec.figures[0].exists()
    assert {"width_threshold_depth", "dynamics_depth", "kernel_distance_cnn"} <= set(SUITE)
    assert {"dynamics_cnn", "conversion_cnn"} <= set(SUITE)


def test_a_dead_seed_counts_as_not_reaching():
    """A width-2 depth-4 net with every ReLU dead at theta_0 (seed 2 here) has a vanishing
    NTK: lr = n / lambda_max is undefined, the seed is recorded, the others train."""
    import jax

    import ntkfix
    from analysis.experiments._task import sphere_task

    cell = {**threshold.SCHEMA, "n": 8, "d": 8, "width": 2, "depth": 4, "seeds": [0, 1, 2, 3, 4],
            "steps": 20, "record_every": 5}  # fmt: skip
    spec = ntkfix.MLP(8, 2, 4)
    x = sphere_task(0, 8, 8).x  # the cell's points
    K = [ntkfix.empirical_ntk(spec, spec.init(jax.random.PRNGKey(s)), x) for s in cell["seeds"]]
    lam = [float(np.linalg.eigvalsh(np.asarray(k))[-1]) for k in K]
    dead = [s for s, v in zip(cell["seeds"], lam, strict=True) if v == 0]
    assert dead  # the case exists
    from analysis.experiments._common import train_seeds

    runs = train_seeds(spec, cell["seeds"], x, sphere_task(0, 8, 8).y, steps=20)
    vanished = [
        s for s, e in runs.diverged.items() if not isinstance(e, ntkfix.errors.TrainingDiverged)
    ]
    assert sorted(vanished) == dead
    assert set(runs.trained) == set(cell["seeds"]) - set(runs.diverged)
    row = threshold.run_cell(cell)
    assert row["n_diverged"] >= len(dead) and row["n_reached"] <= 5 - len(dead)
