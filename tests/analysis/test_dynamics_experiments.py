"""The dynamics, width_threshold and conversion experiments: runner end to end, independent
re-computations of single values, the threshold summary on a table with a known answer,
and config errors."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import ntkfix
from analysis import experiments
from analysis.config import ConfigError
from analysis.experiments import _kernel_gd, _rows, conversion, dynamics, threshold
from analysis.runner import run_experiment

NAMES = ("dynamics", "width_threshold", "conversion")


@pytest.fixture(scope="module")
def quick(quick_raw):
    """Each shipped quick config run once through the runner: name -> (config, table);
    the tables are also on disk as out/<name>/results.csv (``quick["out"]``: the quick
    report's folder of runs, ``conftest.quick_raw``)."""
    out = quick_raw
    runs = {"out": out}
    for name in NAMES:
        cfg = experiments.shipped_config(name, quick=True)
        runs[name] = (cfg, run_experiment(cfg, out, progress=False))
    return runs


def _task(data_seed, n, d, n_test):
    """The documented data rule, written out independently of ``_task``: four keys split
    from PRNGKey(data_seed) for x, y, x_test, y_test; labels +-1 with probability 1/2."""
    kx, ky, kxt, kyt = jax.random.split(jax.random.PRNGKey(data_seed), 4)
    lab = lambda k, m: jnp.where(jax.random.bernoulli(k, 0.5, (m, 1)), 1.0, -1.0)
    return (
        ntkfix.data.sphere(kx, n, d),
        lab(ky, n),
        ntkfix.data.sphere(kxt, n_test, d),
        lab(kyt, n_test),
    )


# ---- runner end to end -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, columns",
    [
        ("dynamics", dynamics.COLUMNS + ("seed", "model", "width", "depth")),
        (
            "width_threshold",
            (
                "n",
                "width",
                "model",
                "frac_reached",
                "n_reached",
                "n_seeds",
                "passes",
                "final_losses",
            ),
        ),
        ("conversion", conversion.COLUMNS + ("seed", "dtype", "width", "depth", "b_std")),
    ],
)
def test_quick_config_end_to_end(quick, name, columns):
    cfg, df = quick[name]
    per_cell = 1 if name == "width_threshold" else len(cfg.params["seeds"])
    per_cell *= len(cfg.params.get("dtypes", [None]))
    assert len(df) == len(cfg.cells()) * per_cell
    for col in (*columns, "config_hash", "cell_id", "wall_time_s", "jax_version"):
        assert col in df.columns, col
    assert df["config_hash"].nunique() == 1


def test_dynamics_table_is_consistent(quick):
    _, df = quick["dynamics"]
    ok = df[~df["diverged"]]
    assert len(ok) > 0
    # ReLU and FAP of a seed start from the same theta_0: same L_0, lr and Theta_0
    pair = ok.pivot_table(
        index=["width", "depth", "seed"],
        columns="model",
        values=["loss_init", "lr", "lambda_min_start"],
    )
    for v in ("loss_init", "lr", "lambda_min_start"):
        np.testing.assert_allclose(pair[(v, "fap")], pair[(v, "relu")], rtol=1e-10)
    assert (ok["ntk_drift_max"] >= ok["ntk_drift_final"]).all()
    assert (ok["rate_predicted"] <= 1).all() and (ok["rate_predicted"] >= 0).all()
    curves = _rows.read_curves(ok["curves"].iloc[0])
    assert curves["train_loss"][0] == pytest.approx(ok["loss_init"].iloc[0], rel=1e-4)
    assert curves["step"][-1] == ok["steps"].iloc[0]


def test_dynamics_row_matches_a_direct_train_run(quick):
    """One FAP row against ``ntkfix.train`` run directly, and the final loss recomputed from
    the final parameters."""
    cfg, df = quick["dynamics"]
    row = df[(df["model"] == "fap") & (df["depth"] == 2)].iloc[-1]
    spec = ntkfix.MLP(int(row["d"]), int(row["width"]), int(row["depth"]))
    x, y, xt, yt = _task(int(row["data_seed"]), int(row["n"]), int(row["d"]), int(row["n_test"]))
    p0 = spec.init(jax.random.PRNGKey(int(row["seed"])))
    model = ntkfix.FixedPattern(spec, p0)
    res = ntkfix.train(
        model,
        p0,
        x,
        y,
        steps=int(row["steps"]),
        x_test=xt,
        y_test=yt,
        record_every=int(row["record_every"]),
    )
    f = model.apply(res.params, x)
    loss = float(jnp.sum((f - y) ** 2) / (2 * x.shape[0]))
    assert row["loss_final"] == pytest.approx(loss, rel=1e-8)
    assert row["lr"] == pytest.approx(res.lr, rel=1e-10)
    h = res.history
    assert row["ntk_drift_final"] == pytest.approx(float(h.ntk_drift[-1]), rel=1e-8)
    assert row["lin_gap_test_final"] == pytest.approx(float(h.lin_gap_test[-1]), rel=1e-6)
    assert row["lambda_min_end"] == pytest.approx(float(h.lambda_min[-1]), rel=1e-8)
    # the condition number of Theta_0 and the iterations law it gives (kappa ln(L_0 / eps))
    kappa = float(res.lambda_max0) / float(res.lambda_min0)
    assert row["kappa0"] == pytest.approx(kappa, rel=1e-6)
    L0 = float(jnp.sum((model.apply(p0, x) - y) ** 2) / (2 * x.shape[0]))
    assert row["kappa_log"] == pytest.approx(kappa * np.log(L0 / row["eps"]), rel=1e-5)
    assert row["lr_rule"] == "n / lambda_max(Theta_0)"


def test_fap_one_hidden_layer_trained_alone_is_kernel_gd():
    """Depth 1, hidden layer only: the FAP net is linear in what is trained, so its loss is
    kernel GD's at every step (independent of the rate fit's heuristics)."""
    cell = dict(dynamics.SCHEMA)
    cell.update(
        width=32,
        depth=1,
        model="fap",
        trainable="hidden",
        seeds=[3],
        n=12,
        n_test=6,
        d=5,
        steps=300,
        record_every=5,
    )
    (row,) = dynamics.run_cell(cell)
    assert row["loss_final"] == pytest.approx(row["loss_final_kernel_gd"], rel=1e-8)
    assert row["ntk_drift_max"] == pytest.approx(0.0, abs=1e-12)
    assert row["rate_fitted"] == pytest.approx(row["rate_kernel_gd"], rel=1e-8)
    assert row["lin_gap_train_max"] < 1e-10
    assert row["reached_eps"]
    every = cell["record_every"]
    assert (
        row["steps_to_eps_kernel_gd"]
        <= row["steps_to_eps_measured"]
        < row["steps_to_eps_kernel_gd"] + every
    )


def test_kernel_gd_matches_ntkfix_linearized_trajectory():
    spec = ntkfix.MLP(4, 24, 2)
    x, y, _, _ = _task(1, 10, 4, 1)
    p0 = spec.init(jax.random.PRNGKey(0))
    lr = 3.0
    kgd = _kernel_gd.kernel_gd(spec, p0, x, y, lr)
    K = ntkfix.empirical_ntk(spec, p0, x)
    steps = np.arange(0, 400, 7)
    tr = ntkfix.linearized_trajectory(K, y, spec.apply(p0, x), lr, steps)
    want = np.sum((tr.train - np.asarray(y)[None]) ** 2, axis=(1, 2)) / (2 * 10)
    np.testing.assert_allclose(kgd.loss(steps), want, rtol=1e-8, atol=1e-14)
    eps = float(kgd.loss(57)) * 1.0000001  # first step at or below eps is 57
    brute = int(np.argmax(kgd.loss(np.arange(200)) <= eps))
    assert kgd.steps_to(eps) == brute == 57


def test_all_diverged_seeds_give_tidy_nan_rows():
    cell = dict(dynamics.SCHEMA)
    cell.update(
        width=8, depth=1, seeds=[0, 1], n=6, n_test=3, d=3, steps=20, record_every=5, lr=1e4
    )
    rows = dynamics.run_cell(cell)
    assert [r["seed"] for r in rows] == [0, 1]
    assert all(r["diverged"] and np.isnan(r["loss_final"]) for r in rows)
    assert all(set(r) == set(dynamics.COLUMNS) | {"seed"} for r in rows)


# ---- width threshold ----------------------------------------------------------------------------
def test_threshold_row_matches_a_direct_count(quick):
    _, df = quick["width_threshold"]
    np.testing.assert_allclose(df["frac_reached"], df["n_reached"] / df["n_seeds"])
    assert (df["passes"] == (df["frac_reached"] >= df["target_fraction"])).all()
    row = df[(df["model"] == "fap") & (df["width"] == df["width"].max())].iloc[-1]
    spec = ntkfix.MLP(int(row["d"]), int(row["width"]), int(row["depth"]))
    x, y, _, _ = _task(int(row["data_seed"]), int(row["n"]), int(row["d"]), 1)
    seeds = list(range(int(row["n_seeds"])))
    res = ntkfix.train_many(
        spec,
        seeds,
        x,
        y,
        network="fap",
        steps=int(row["steps"]),
        record_every=int(row["record_every"]),
        track=(),
    )
    reached = (np.asarray(res.history.train_loss) <= row["eps"]).any(axis=1)
    assert int(reached.sum()) == row["n_reached"]


def _synthetic(thr_of_n, ns, widths, model):
    rows = []
    for n in ns:
        for w in widths:
            t = thr_of_n(n)
            rows.append(
                {
                    "model": model,
                    "n": n,
                    "width": w,
                    "frac_reached": 1.0 if t is not None and w >= t else 0.4,
                }
            )
    return rows


def test_threshold_summary_on_a_table_with_known_answer():
    widths = [2**k for k in range(1, 11)]
    rows = _synthetic(lambda n: 2 * n, [16, 64, 256], widths, "relu")  # width = 2 n: a = 1
    rows += _synthetic(lambda n: 4 * int(np.sqrt(n)), [16, 64, 256], widths, "fap")  # 4 n^(1/2)
    rows += _synthetic(lambda n: 1, [4], widths, "fap")  # passes at the smallest width: censored
    rows += _synthetic(lambda n: None, [1024], widths, "fap")  # never passes
    df = pd.DataFrame(rows).assign(target_fraction=0.9)
    thr = threshold.thresholds(df)
    got = thr.set_index(["model", "n"])
    assert got.loc[("relu", 64), "threshold_width"] == 128
    assert got.loc[("fap", 256), "threshold_width"] == 64
    assert got.loc[("fap", 4), "censored"] == "below"
    assert got.loc[("fap", 1024), "censored"] == "above" and np.isnan(
        got.loc[("fap", 1024), "threshold_width"]
    )
    assert got["monotone"].sum() == len(got) - 1
    exps = threshold.exponents(thr).set_index("model")
    assert exps.loc["relu", "exponent"] == pytest.approx(1.0, abs=1e-12)
    assert exps.loc["relu", "prefactor"] == pytest.approx(2.0, rel=1e-12)
    assert exps.loc["fap", "exponent"] == pytest.approx(0.5, abs=1e-12)
    assert exps.loc["fap", "n_used"] == "16,64,256"
    # a lower target passes every grid width where the fraction is 0.4
    assert threshold.thresholds(df, target=0.3)["threshold_width"].max() == 2
    # a knob that varies (here depth) splits the analysis
    two = pd.concat([df.assign(depth=1), df.assign(depth=3)])
    exps2 = threshold.exponents(threshold.thresholds(two))
    assert list(exps2.columns[:2]) == ["model", "depth"] and len(exps2) == 2 * len(exps)
    np.testing.assert_allclose(exps2["exponent"], np.repeat(exps["exponent"].to_numpy(), 2))
    # so does any other grid knob (lr), each group with its own target fraction
    lr = pd.concat([df.assign(lr=0.0), df.assign(lr=1.0, target_fraction=0.3)])
    by_lr = threshold.thresholds(lr).set_index(["model", "lr", "n"])["threshold_width"]
    assert by_lr.loc[("relu", 0.0, 64)] == 128 and by_lr.loc[("relu", 1.0, 64)] == 2


def test_fap_vs_relu_counts_pairs_per_metric():
    base = dict(depth=1, width=8, diverged=False, loss_final=1.0)
    rows = [
        {**base, "seed": 0, "model": "fap", "ntk_drift_final": 0.1},
        {**base, "seed": 0, "model": "relu", "ntk_drift_final": 0.2},
        {**base, "seed": 1, "model": "fap", "ntk_drift_final": np.nan},
        {**base, "seed": 1, "model": "relu", "ntk_drift_final": 0.3},
    ]
    out = dynamics.fap_vs_relu(pd.DataFrame(rows), metrics=("ntk_drift_final", "loss_final"))
    assert out["ntk_drift_final_pairs"].tolist() == [1] and out["loss_final_pairs"].tolist() == [2]
    assert out["ntk_drift_final_fap_lower"].tolist() == [1.0]
    only_fap = dynamics.fap_vs_relu(pd.DataFrame(rows[::2]), metrics=("ntk_drift_final",))
    assert only_fap["ntk_drift_final_pairs"].tolist() == [0]


# ---- conversion ---------------------------------------------------------------------------------
def test_conversion_is_exact_on_training_points(quick):
    _, df = quick["conversion"]
    assert (df["relu_width"] == 2 * df["width"]).all()
    assert df["train_exact"].all()
    assert df["test_frac_equivalent"].between(0, 1).all()
    assert (df["M_max"] >= df["M_min"]).all() and (df["M_min"] >= df["floor"]).all()
    f64 = df[df["dtype"] == "float64"]
    assert len(f64) == len(df) // 2
    assert (f64["train_rel_error"] < 1e-9).all()
    assert (f64["test_rel_error_ok"] < 1e-9).all()
    # the precision only changes rounding: same constants and same equivalence verdicts
    both = df.pivot_table(
        index=["depth", "b_std", "seed"], columns="dtype", values=["M_max", "test_frac_equivalent"]
    )
    np.testing.assert_allclose(both[("M_max", "float32")], both[("M_max", "float64")], rtol=1e-3)


def test_precision_context_gives_float64_in_a_float32_process():
    import subprocess
    import sys

    code = (
        "import jax.numpy as jnp\n"
        "from analysis.experiments import _precision as c\n"
        "assert jnp.asarray(1.0).dtype == jnp.float32\n"
        "with c.precision('float64') as dt:\n"
        "    assert dt == jnp.float64 and jnp.asarray(1.0, dt).dtype == jnp.float64\n"
        "assert jnp.asarray(1.0).dtype == jnp.float32\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=root
    )
    assert out.stdout.strip() == "ok", out.stderr


def test_conversion_row_matches_a_direct_conversion(quick):
    _, df = quick["conversion"]
    row = df[
        (df["depth"] == df["depth"].max()) & (df["b_std"] > 0) & (df["dtype"] == "float64")
    ].iloc[0]
    spec = ntkfix.MLP(
        int(row["d"]), int(row["width"]), int(row["depth"]), b_std=float(row["b_std"])
    )
    x, y, xt, _ = _task(int(row["data_seed"]), int(row["n"]), int(row["d"]), int(row["n_test"]))
    p0 = spec.init(jax.random.PRNGKey(int(row["seed"])))
    model = ntkfix.FixedPattern(spec, p0)
    res = ntkfix.train(
        model, p0, x, y, steps=int(row["steps"]), record_every=int(row["steps"]), track=()
    )
    rspec, rparams, cert = ntkfix.to_relu(
        model, res.params, x, margin=row["margin"], floor=row["floor"], constants=row["constants"]
    )
    assert row["unit_error_max"] == pytest.approx(max(cert.unit_error_max), rel=1e-6)
    err = float(jnp.max(jnp.abs(rspec.apply(rparams, x) - model.apply(res.params, x))))
    assert row["train_max_error"] == pytest.approx(err, rel=1e-6, abs=1e-13)
    assert row["M_max"] == pytest.approx(max(cert.M_max), rel=1e-10)
    ok = np.asarray(cert.check(xt).rows_ok)
    assert row["test_frac_equivalent"] == pytest.approx(ok.mean())


# ---- report sections ----------------------------------------------------------------------------
def test_report_sections_write_tables_and_figures(quick, tmp_path):
    from analysis.report.sections import SECTIONS

    for name in NAMES:
        sec = SECTIONS[name](quick[name][1], tmp_path)
        assert sec.tables and sec.figures and sec.text
        for fig in sec.figures:
            assert fig.exists() and fig.with_suffix(".pdf").exists()
    assert (tmp_path / "tables" / "width_threshold_exponent.csv").exists()
    # ``ntkfix plot`` rebuilds the sections from results.csv (JSON and bool columns as text)
    from_csv = pd.read_csv(quick["out"] / "dynamics" / "results.csv")
    sec = SECTIONS["dynamics"](from_csv, tmp_path / "again")
    assert sec.figures[0].exists()


# ---- configs ------------------------------------------------------------------------------------
def test_full_dynamics_config_is_the_issue_grid():
    from pathlib import Path

    cfg = experiments.load_config(
        Path(experiments.__file__).parents[1] / "configs" / "dynamics_full.toml"
    )
    assert cfg.grid["width"] == (64, 128, 256, 512, 1024, 2048)
    assert cfg.grid["depth"] == (1, 2, 3, 4)
    assert len(cfg.params["seeds"]) == 5 and cfg.params["n"] == 128 and cfg.params["eps"] == 1e-4


@pytest.mark.parametrize(
    "name, body, msg",
    [
        ("dynamics", "[grid]\nwidth = [0, 8]", "'width' must be >= 1, got 0"),
        ("dynamics", "[params]\ndepth = 0", "'depth' must be >= 1"),
        ("dynamics", "[params]\neps = 0.0", "'eps' must be > 0"),
        ("dynamics", "[params]\neps = -1e-4", "'eps' must be > 0"),
        ("dynamics", "[params]\nlr = -0.1", "'lr' must be >= 0"),
        ("dynamics", "[params]\nsteps = 10\nrecord_every = 5", "steps / record_every must be >= 4"),
        (
            "dynamics",
            "[grid]\nmodel = ['relu', 'tanh']",
            "'model' must be one of 'relu', 'fap', got 'tanh'",
        ),
        ("dynamics", "[params]\ntrainable = 'first'", "'trainable' must be one of"),
        ("dynamics", "[params]\nseeds = []", "'seeds' must be a non-empty list"),
        ("dynamics", "[params]\nseeds = [0, 0]", "'seeds' has duplicates"),
        (
            "dynamics",
            "[params]\nseeds = [0, -1]",
            "'seeds' must be a non-empty list of integers >= 0, got \\[0, -1\\]",
        ),
        ("dynamics", "[grid]\nseeds = [[0], [1]]", "put it in \\[params\\]"),
        ("dynamics", "[params]\nn_test = 0", "'n_test' must be >= 1"),
        ("width_threshold", "[grid]\nn = [16, 0]", "'n' must be >= 1, got 0"),
        (
            "width_threshold",
            "[params]\ntarget_fraction = 1.5",
            "'target_fraction' must be in \\(0, 1\\]",
        ),
        (
            "width_threshold",
            "[params]\ntarget_fraction = 0.0",
            "'target_fraction' must be in \\(0, 1\\], got 0.0",
        ),
        ("width_threshold", "[params]\nsteps = 0", "'steps' must be >= 1"),
        ("conversion", "[params]\nfloor = 0.0", "'floor' must be > 0"),
        ("conversion", "[params]\nmargin = -1.0", "'margin' must be >= 0"),
        ("conversion", "[grid]\nb_std = [0.0, -0.1]", "'b_std' must be >= 0"),
        (
            "conversion",
            "[params]\ndtypes = ['float16']",
            "'dtypes' entries must be in 'float32', 'float64'",
        ),
        ("conversion", "[params]\ndtypes = []", "'dtypes' must be a non-empty list"),
        ("conversion", "[grid]\ndtypes = [['float32'], ['float64']]", "put it in \\[params\\]"),
        ("conversion", "[params]\nW_std = 0.0", "'W_std' must be > 0"),
    ],
)
def test_config_errors(name, body, msg):
    with pytest.raises(ConfigError, match=msg):
        experiments.config_from_text(f"experiment = '{name}'\n{body}\n")
