"""benchmarks.infinite: its float64 reference and its summary table."""

import numpy as np

import ntkfix
from benchmarks import infinite


def test_reference_is_the_closed_form_ntk():
    spec = ntkfix.MLP(infinite.D, 1, 3)
    x = np.random.default_rng(0).normal(size=(30, infinite.D))
    ref = infinite.reference(x[:12], x[10:], spec)
    got = np.asarray(ntkfix.infinite_ntk(spec, x[:12], x[10:], backend="closed_form"))
    np.testing.assert_allclose(got, ref, rtol=1e-7)  # numpy arccos at duplicates: ~1e-8


def test_summary_gives_per_round_ratios_to_nt_jit():
    rows = [
        dict(status="ok", n=100, method=m, round=r, seconds=s, peak_bytes=2**30, max_rel_err=1e-7)
        for r in (0, 1)
        for m, s in (("ntkfix", 1.0 + r), ("nt_jit", 10.0))
    ]
    lines = infinite.summary(rows, (100,), ("ntkfix", "nt_jit"), 2)
    assert "| 100 | ntkfix | 1.50 | 1.00 | 1.0e-07 | 10.0x, 5.0x |" in lines
