"""Kernel distances and spectra against direct numpy formulas."""

import subprocess
import sys

import numpy as np
import pytest

import ntkfix


def _pair(n=7, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 3 * n)), rng.normal(size=(n, 3 * n))
    return a @ a.T, b @ b.T + a @ a.T


def _cka(A, B):
    n = A.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    Ac, Bc = H @ A @ H, H @ B @ H
    return 1 - np.sum(Ac * Bc) / (np.linalg.norm(Ac) * np.linalg.norm(Bc))


@pytest.mark.parametrize(
    "metric, formula",
    [
        ("fro", lambda A, B: np.linalg.norm(A - B) / np.linalg.norm(B)),
        (
            "spectral",
            lambda A, B: np.abs(np.linalg.eigvalsh(A - B)).max() / np.linalg.eigvalsh(B).max(),
        ),
        ("max", lambda A, B: np.abs(A - B).max() / np.abs(B).max()),
        (
            "alignment",
            lambda A, B: 1 - np.trace(A @ B) / np.sqrt(np.trace(A @ A) * np.trace(B @ B)),
        ),
        ("cka", _cka),
    ],
)
def test_metrics_match_formulas(metric, formula):
    A, B = _pair()
    assert ntkfix.kernel_distance(A, B, metric) == pytest.approx(
        formula(A, B), rel=1e-10, abs=1e-14
    )
    assert ntkfix.kernel_distance(B, B, metric) == pytest.approx(0.0, abs=1e-12)


def test_scale_invariance_of_alignment_and_cka():
    A, B = _pair()
    for m in ("alignment", "cka"):
        assert ntkfix.kernel_distance(5 * A, B, m) == pytest.approx(
            ntkfix.kernel_distance(A, B, m), rel=1e-10
        )
    assert ntkfix.kernel_distance(2 * B, B, "fro") == pytest.approx(1.0)


def test_spectrum():
    A, _ = _pair()
    s = ntkfix.spectrum(A)
    ev = np.sort(np.linalg.eigvalsh(A))[::-1]
    np.testing.assert_allclose(s.eigenvalues, ev, rtol=1e-10)
    assert s.lambda_max == pytest.approx(ev[0]) and s.lambda_min == pytest.approx(ev[-1])
    assert s.condition_number == pytest.approx(ev[0] / ev[-1])
    assert ntkfix.spectrum(np.ones((3, 3))).condition_number == float("inf")


@pytest.mark.parametrize(
    "A, B, metric, exc, msg",
    [
        (np.eye(3), np.eye(3), "l1", ValueError, "unknown metric 'l1'"),
        (np.eye(3), np.eye(4), "fro", ValueError, r"shape mismatch: A has shape \(3, 3\)"),
        (np.ones(3), np.ones(3), "fro", ValueError, r"A must be a 2-D kernel, got shape \(3,\)"),
        (np.eye(3), np.zeros((3, 3)), "fro", ValueError, "is zero"),
        (np.full((2, 2), np.nan), np.eye(2), "fro", ValueError, "A contains NaN or inf"),
        (np.ones((2, 3)), np.ones((2, 3)), "cka", ValueError, "needs square kernels"),
        (np.eye(2, dtype=complex), np.eye(2), "fro", TypeError, "complex is not supported"),
    ],
)
def test_distance_errors(A, B, metric, exc, msg):
    with pytest.raises(exc, match=msg):
        ntkfix.kernel_distance(A, B, metric)


@pytest.mark.parametrize(
    "K, msg",
    [
        (np.ones((2, 3)), r"square \(n, n\) kernel matrix"),
        (np.array([[1.0, 2.0], [0.0, 1.0]]), "must be symmetric"),
        (np.array([[1.0, np.inf], [np.inf, 1.0]]), "NaN or inf"),
    ],
)
def test_spectrum_errors(K, msg):
    with pytest.raises(ValueError, match=msg):
        ntkfix.spectrum(K)


# ---- found in review (moved from test_review_fixes.py) ----
def test_alignment_of_float32_kernels_is_not_lost_to_cancellation():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 50))
    B = (X @ X.T).astype(np.float32)
    assert ntkfix.kernel_distance(B, B, "alignment") == 0.0
    assert ntkfix.kernel_distance(B, B, "cka") == 0.0
    E = rng.standard_normal((50, 50)).astype(np.float32)
    A = B + 1e-4 * np.linalg.norm(B) / np.linalg.norm(E + E.T) * (E + E.T)
    a, b = A.astype(np.float64), B.astype(np.float64)
    exact = 1 - np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b))
    assert ntkfix.kernel_distance(A, B, "alignment") == pytest.approx(exact, rel=1e-6)


def test_float64_kernels_keep_precision_with_x64_off():
    code = """
import numpy as np, jax, ntkfix
assert not jax.config.jax_enable_x64
rng = np.random.default_rng(0)
Q, _ = np.linalg.qr(rng.standard_normal((20, 20)))
K = (Q * np.logspace(0, -9, 20)) @ Q.T
K = (K + K.T) / 2
s = ntkfix.spectrum(K)
assert abs(s.lambda_min / 1e-9 - 1) < 1e-3, s.lambda_min
d = ntkfix.kernel_distance(K + 1e-9 * np.eye(20), K, "spectral")
assert abs(d / 1e-9 - 1) < 1e-3, d
print("ok")
"""
    env = {"JAX_ENABLE_X64": "0", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]
