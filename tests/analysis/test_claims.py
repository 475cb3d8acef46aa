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
    table = claims_table({"conversion": df, "dynamics": _dynamics()})
    assert list(table.columns) == ["claim", "measured", "from", "verdict"]
    assert table["claim"].str.startswith("FAP == ReLU").iloc[0]
    assert table["claim"].str.startswith("A trained FAP").iloc[-2]
    assert np.all(table["measured"].str.contains(r"\d"))
