"""The report's claims: verdicts follow the numbers of synthetic result tables (no runs)."""

import numpy as np
import pandas as pd

from analysis.report.claims import claims_table, conversion_claims, dynamics_claims


def _dynamics(fap_init_shift=0.0, fap_drift=0.5, r2=0.999, reached=True):
    rows = []
    for seed in range(4):
        for model in ("relu", "fap"):
            fap = model == "fap"
            rows.append(
                dict(depth=2, width=64, seed=seed, model=model, diverged=False, eps=1e-4,
                     steps=100, loss_init=0.5 + (fap_init_shift if fap else 0.0),
                     lambda_max0=3.0, reached_eps=reached, rate_fit_r2=r2, rate_fitted=0.9,
                     rate_predicted=0.95, ntk_drift_final=fap_drift if fap else 1.0,
                     lin_gap_test_final=0.1 if fap else 0.2)
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_dynamics_claims_follow_the_numbers():
    equal, linear, drift = dynamics_claims(_dynamics())
    assert equal["verdict"].startswith("supported")
    assert "4 FAP/ReLU pairs: 0" in equal["measured"]
    assert linear["verdict"].startswith("supported")
    # (1 - 0.9) / (1 - 0.95) = 2, computed here, not by the module
    assert f"{(1 - 0.9) / (1 - 0.95):.2f}" in linear["measured"]
    assert drift["verdict"].startswith("supported") and "100% of 4 pairs" in drift["measured"]

    shifted, _, worse = dynamics_claims(_dynamics(fap_init_shift=0.05, fap_drift=2.0))
    assert shifted["verdict"].startswith("not supported")
    assert f"{0.05 / 0.5:.2g}" in shifted["measured"]
    assert worse["verdict"].startswith("not supported") and "NTK drift" in worse["verdict"]

    _, slow, _ = dynamics_claims(_dynamics(r2=0.5, reached=False))
    assert slow["verdict"].startswith("not supported")


def test_conversion_claim_and_table_order():
    df = pd.DataFrame(
        dict(width=[16, 16], relu_width=[32, 32], dtype=["float32", "float64"],
             train_exact=[False, True], train_rel_error=[2e-3, 1e-14], diverged=[False, False])
    )  # fmt: skip
    (row,) = conversion_claims(df)
    assert row["verdict"].startswith("partly") and "float32: exact in 0/1" in row["measured"]
    # the identity holding is not enough: a float32 error above 1e-3 is not exact
    df2 = df.assign(train_exact=[True, True], train_rel_error=[0.29, 1e-14])
    (row2,) = conversion_claims(df2)
    assert row2["verdict"].startswith("partly") and "float32: exact in 0/1" in row2["measured"]
    (row3,) = conversion_claims(df2.assign(train_rel_error=[1e-4, 1e-14]))
    assert row3["verdict"].startswith("supported")
    # what the float32 rounding follows: error / (eps32 need), computed here
    eps = float(np.finfo(np.float32).eps)
    df4 = pd.DataFrame(
        dict(width=[16] * 3, relu_width=[32] * 3, dtype=["float32"] * 3, diverged=[False] * 3,
             train_exact=[True] * 3, train_rel_error=[2e-4, 4e-4, 3e-3],
             need_max=[1e3, 4e3, 2e4], floor_rel_error=[1e-5, 2e-5, 4e-4])
    )  # fmt: skip
    (row4,) = conversion_claims(df4)
    median = np.median([2e-4 / (eps * 1e3), 4e-4 / (eps * 4e3), 3e-3 / (eps * 2e4)])
    assert f"error / (eps32 x need) median {median:.2g}" in row4["measured"]
    assert "the inexact ones need M >= 2e+04" in row4["measured"]
    assert "rounding floor <= 0.0004" in row4["measured"]
    # refitted twins are counted, and left out of the need ratio (their M is not need)
    (row5,) = conversion_claims(df4.assign(construction=["refit", "refit", "unit_shifted"]))
    assert "twins built as refit 2, unit_shifted 1" in row5["measured"]
    assert f"error / (eps32 x need) median {3e-3 / (eps * 2e4):.2g}" in row5["measured"]
    table = claims_table({"conversion": df, "dynamics": _dynamics()})
    assert list(table.columns) == ["claim", "measured", "from", "verdict"]
    assert table["claim"].str.startswith("FAP == ReLU").iloc[0]
    assert table["claim"].str.startswith("A trained FAP").iloc[-2]
    assert np.all(table["measured"].str.contains(r"\d"))


# ---- the depth claims: width_threshold_depth, dynamics_depth ---------------------------------
def _thresholds(law, widths=tuple(range(8, 257, 8))):
    """frac_reached rows whose FAP (and ReLU: twice) threshold is law(depth) exactly on the
    grid, n = 16 and 32, depth 1..4."""
    rows = []
    for model, k in (("fap", 1), ("relu", 2)):
        for n in (16, 32):
            for depth in (1, 2, 3, 4):
                thr = k * law(depth)
                for width in widths:
                    rows.append(
                        dict(model=model, n=n, depth=depth, width=width,
                             frac_reached=float(width >= thr), target_fraction=0.9)
                    )  # fmt: skip
    return pd.DataFrame(rows)


def test_width_in_depth_claim_follows_the_fits():
    from analysis.report.claims import LINEAR_HI, threshold_depth_claims

    d = np.array([1, 2, 3, 4.0])
    (linear,) = threshold_depth_claims(_thresholds(lambda L: 16 * L))
    assert linear["verdict"].startswith("supported:")
    assert "fap, n=16: +16.0 width per layer, a = 1.00 (depths 1,2,3,4)" in linear["measured"]
    assert "relu, n=32: +32.0 width per layer" in linear["measured"]
    assert "steps ×2:" in linear["measured"]  # grid 8, 16, ...: the coarsest step is 8 -> 16

    (square,) = threshold_depth_claims(_thresholds(lambda L: 8 * L**2))
    a = np.polyfit(np.log(d), np.log(8 * d**2), 1)[0]  # 2
    assert (
        square["verdict"].startswith("not supported")
        and f"a = {a:.2f} > {LINEAR_HI}" in (square["verdict"])
    )
    (sub,) = threshold_depth_claims(_thresholds(lambda L: 64 + 8 * L))
    a = np.polyfit(np.log(d), np.log(64 + 8 * d), 1)[0]
    assert sub["verdict"].startswith("supported (as a bound)") and f"{a:.2f}" in sub["verdict"]
    (flat,) = threshold_depth_claims(_thresholds(lambda L: 64))
    assert flat["verdict"].startswith("partly") and "+0.0 width per layer" in flat["measured"]
    assert "width_threshold_depth_full.toml" in flat["verdict"]
    (none,) = threshold_depth_claims(_thresholds(lambda L: 1000))
    assert none["verdict"].startswith("not supported") and "censored" in none["verdict"]


def _steps(law, ns=(8, 16, 32, 64), depths=(1, 2, 3), missed=False):
    """dynamics_depth rows: steps_to_eps_measured = law(n, depth) for both seeds (FAP);
    ReLU rows reach nothing (NaN), so only FAP counts."""
    rows = []
    for model in ("fap", "relu"):
        for depth in depths:
            for n in ns:
                for seed in (0, 1):
                    steps = law(n, depth) if model == "fap" and not missed else np.nan
                    rows.append(
                        dict(model=model, depth=depth, n=n, seed=seed, diverged=False,
                             width=8 * n, width_per_n=8.0, eps=1e-3, reached_eps=steps == steps,
                             steps_to_eps_measured=steps)
                    )  # fmt: skip
    return pd.DataFrame(rows)


def _quantized(n, L):
    """100 ln n rounded to 5 steps, + 0, 0, 5 for depth 1, 2, 3 (recorded every 5 steps)."""
    return 5 * np.round(20 * np.log(n)) + 5 * (L == 3)


def test_iterations_claim_tests_n_and_depth():
    from analysis.report.claims import steps_depth_claims

    n = np.array([8, 16, 32, 64.0])
    (log,) = steps_depth_claims(_steps(lambda n, L: 100 * np.log(n) + 30 * np.log(L) + 50))
    assert log["verdict"].startswith("supported:"), log["verdict"]
    e = np.polyfit(np.log(n), np.log(100 * np.log(n) + 50), 1)[0]  # depth 1
    assert f"e = {e:.2f} (depth 1)" in log["measured"] and e < 1 / np.log(8)
    assert f"1/ln 8 = {1 / np.log(8):.2f}" in log["measured"]
    inc = 30 * np.log(2), 30 * np.log(1.5)  # per extra layer, shrinking
    assert f"n = 8: {inc[0]:+.0f}, {inc[1]:+.0f}" in log["measured"]
    assert "increments do not grow" in log["verdict"]

    (power,) = steps_depth_claims(_steps(lambda n, L: 3 * n**1.2 * L**1.5))
    assert power["verdict"].startswith("not supported"), power["verdict"]
    assert "1.20 (depth 2)" in power["measured"] and "1.50 (n = 16)" in power["measured"]
    assert "faster than any logarithm" in power["verdict"] and "convex" in power["verdict"]

    (mixed,) = steps_depth_claims(_steps(lambda n, L: 3 * n**1.2 + 30 * np.log(L)))
    assert mixed["verdict"].startswith("partly") and "faster than any" in mixed["verdict"]
    assert "increments do not grow" in mixed["verdict"]
    # steps that shrink with depth, or grow within the recording grid: no growth in depth
    for law, every in ((lambda n, L: 100 * np.log(n) + 90 - 20 * L, 1), (_quantized, 5)):
        (flat,) = steps_depth_claims(_steps(law).assign(record_every=every))
        assert flat["verdict"].startswith("supported"), flat["verdict"]
        assert f"steps do not grow (by more than the {every}-step recording)" in flat["verdict"]
    (convex,) = steps_depth_claims(_steps(_quantized).assign(record_every=1))
    assert "convex" in convex["verdict"]  # +0, +5 per layer is convex when resolved

    (two,) = steps_depth_claims(_steps(lambda n, L: 100 * np.log(n) + L, depths=(1, 2)))
    assert two["verdict"].startswith("partly") and "fewer than 3 depths" in two["verdict"]

    (missed,) = steps_depth_claims(_steps(lambda n, L: 1.0, missed=True))
    assert missed["verdict"].startswith("not supported") and "too few" in missed["verdict"]


def test_depth_claims_in_the_table():
    table = claims_table(
        {
            "dynamics_depth": _steps(lambda n, L: 3 * n**1.2 * L),
            "width_threshold_depth": _thresholds(lambda L: 16 * L),
            "dynamics": _dynamics(),
        }
    )
    claims = list(table["claim"])
    assert claims.index("Iterations to reach eps grow logarithmically in n and depth") == 2
    assert claims.index("Width needed grows (at most) linearly in depth") == 3
    assert claims[-1].startswith("FAP's NTK drift")
    assert np.all(table["measured"].str.contains(r"\d"))


# ---- the CNN rows, the MNIST-1D sweep, generalization_trained --------------------------------
def test_cnn_conversion_and_dynamics_rows():
    from analysis.report.claims import CLAIMS

    df = pd.DataFrame(
        dict(width=[8, 8], relu_width=[16, 16], dtype=["float32", "float64"],
             train_exact=[True, True], train_rel_error=[1e-4, 1e-14], diverged=[False, False])
    )  # fmt: skip
    (row,) = CLAIMS["conversion_cnn"](df)
    assert row["claim"].startswith("A trained FAP-CNN is a ReLU CNN of 2C channels")
    assert (
        row["verdict"] == "supported: every conversion is exact on its training points, 2C channels"
    )
    assert row["from"].startswith("conversion_cnn:")
    (bad,) = CLAIMS["conversion_cnn"](df.assign(train_rel_error=[2e-3, 1e-14]))
    assert bad["verdict"].startswith("partly") and "float32: exact in 0/1" in bad["measured"]
    equal, _, drift = CLAIMS["dynamics_cnn"](_dynamics(fap_drift=2.0))
    assert equal["claim"].endswith("(CNN)") and equal["verdict"].startswith("supported")
    assert drift["from"].startswith("dynamics_cnn:") and drift["verdict"].startswith("not")
    table = claims_table({"conversion_cnn": df, "dynamics_cnn": _dynamics()})
    assert table["claim"].iloc[0].startswith("FAP == ReLU") and len(table) == 4


def _scale(noise_lifts=True, falls=True):
    """generalization_scale rows: complexity = test error + 0.5 (ranks agree), noise adds
    0.1 to both (or lowers the complexity at n = 4000 when not ``noise_lifts``)."""
    rows = []
    for n in (500, 1000, 2000, 4000):
        for p in (0.0, 0.2):
            for seed in (0, 1):
                err = (0.3 - 0.05 * np.log2(n / 500) if falls else 0.1 * np.sin(n)) + (p / 2)
                comp = err + 0.5 - (0.4 if (p and not noise_lifts and n == 4000) else 0)
                rows.append(dict(n_train=n, p=p, seed=seed, predictor="ntk_infinite",
                                 complexity_normalized=comp, test_error=err))  # fmt: skip
    return pd.DataFrame(rows)


def test_scale_claim_follows_the_numbers():
    from analysis.report.data_claims import NOISE_SHOWS, SCALE_TRACKS, scale_claims

    def rho(df):  # computed here, not by the module
        c = df.groupby(["n_train", "p"])[["complexity_normalized", "test_error"]].mean()
        return c["complexity_normalized"].corr(c["test_error"], method="spearman")

    (ok,) = scale_claims(_scale())
    assert ok["verdict"].startswith("supported") and f"ρ = {rho(_scale()):.2f}" in ok["measured"]
    assert "at 4/4 n" in ok["measured"] and "0.300 (n = 500) -> 0.150 (n = 4000)" in ok["measured"]
    (noisy,) = scale_claims(_scale(noise_lifts=False))
    assert 3 / 4 < NOISE_SHOWS and "at 3/4 n" in noisy["measured"]
    assert noisy["verdict"].startswith("partly")
    flipped = _scale().assign(complexity_normalized=lambda d: 1 - d["test_error"])
    (no,) = scale_claims(flipped)
    assert rho(flipped) < SCALE_TRACKS and f"ρ = {rho(flipped):.2f}" in no["measured"]
    assert no["verdict"].startswith("not supported") and "at 0/4 n" in no["measured"]
    assert table_has(claims_table({"generalization_scale": _scale()}), "as n grows")


def table_has(table, words):
    return bool(table["claim"].str.contains(words).any())


def _trained(gap=0.0, bad_cells=0):
    """generalization_trained rows: 8 cells; ntk_empirical 0.2, ntk_infinite 0.21, relu 0.22,
    fap 0.2 + gap (the first ``bad_cells`` cells: 0.2 + 0.05)."""
    rows, i = [], 0
    for n in (500, 1000):
        for p in (0.0, 0.2):
            for task in ("even_odd", "ten_class"):
                errs = dict(ntk_empirical=0.2, ntk_infinite=0.21, relu_net=0.22,
                            fap_net=0.2 + (0.05 if i < bad_cells else gap))  # fmt: skip
                for pred, e in errs.items():
                    rows.append(dict(arch="mlp", task=task, p=p, n_train=n, depth=2,
                                     width=256, seed=0, predictor=pred, test_error=e,
                                     diverged=False))  # fmt: skip
                i += 1
    return pd.DataFrame(rows)


def test_trained_claim_follows_the_gaps():
    from analysis.report.data_claims import AS_WELL_TOL, trained_claims

    (ok,) = trained_claims(_trained(gap=AS_WELL_TOL / 2))
    assert ok["verdict"].startswith("supported"), ok["verdict"]
    assert f"in 100% of 8 cells (median {AS_WELL_TOL / 2:+.3f}" in ok["measured"]
    assert f"FAP - NTK ∞ median {AS_WELL_TOL / 2 - 0.01:+.3f}" in ok["measured"]
    assert "n = 500..1000" in ok["measured"]
    (part,) = trained_claims(_trained(bad_cells=3))
    assert part["verdict"].startswith("partly") and "62%" in part["measured"]  # 5/8
    (no,) = trained_claims(_trained(bad_cells=6))
    assert no["verdict"].startswith("not supported") and "75% of cells" in no["verdict"]
    dead = _trained().assign(diverged=True)
    assert trained_claims(dead) == []
    table = claims_table({"generalization_trained": _trained(), "dynamics": _dynamics()})
    assert table["claim"].iloc[-1].startswith("Trained with fixed patterns")


def test_iterations_claim_names_the_law_the_steps_follow():
    from analysis.report.depth_claims import LAWS, law_fits, steps_depth_claims

    # kappa (hence kappa ln(L_0/eps)) not monotone in n: the steps follow it, not n
    kappa = {8: 40.0, 16: 90.0, 32: 60.0, 64: 150.0}
    df = _steps(lambda n, L: 0.5 * kappa[n] * L * np.log(10.0)).assign(
        kappa_log=lambda d: d["n"].map(kappa) * d["depth"] * np.log(10.0),
        lr_rule="n / lambda_max(Theta_0)",
    )
    fits = law_fits(df[df["model"] == "fap"])
    per = fits[fits["depth"] != "all"]
    assert set(per["law"]) == set(LAWS) and len(per) == 3 * 3
    kap = per[per["law"] == LAWS[2]]
    assert np.allclose(kap["r2"], 1.0) and np.allclose(kap["coef"], 0.5)
    assert (per[per["law"] == LAWS[0]]["r2"] < 0.9).all()
    pooled = fits[fits["depth"] == "all"].iloc[0]
    assert np.isclose(pooled["r2"], 1.0) and np.isclose(pooled["coef"], 0.5)
    (row,) = steps_depth_claims(df)
    assert f"the steps follow {LAWS[2]} best (mean R² 1.000" in row["verdict"]
    assert "κ law pooled over 12 cells: c = 0.5, R² 1.000" in row["measured"]
    assert "lr rule n / lambda_max(Theta_0)" in row["measured"]
    # steps = 100 ln n + 50 with kappa unrelated: the logarithm wins
    (log,) = steps_depth_claims(
        _steps(lambda n, L: 100 * np.log(n) + 50).assign(kappa_log=lambda d: d["n"].map(kappa))
    )
    assert f"the steps follow {LAWS[0]} best (mean R² 1.000" in log["verdict"]
    # older tables without kappa: no law part
    (old,) = steps_depth_claims(_steps(lambda n, L: 100 * np.log(n) + 50))
    assert "follow" not in old["verdict"]
