"""Large-n solves: the float32-factor PCG against float64 direct Cholesky."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from ntkfix._generalization import bounds, large


def _problem(n=1000, seed=0):
    """H^infty of Arora et al. on the sphere in d = 16, in numpy, float32 (as at large n)."""
    x = np.random.default_rng(seed).normal(size=(n, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    c = np.clip(x @ x.T, -1, 1)
    K = (c * (np.pi - np.arccos(c)) / (2 * np.pi)).astype(np.float32)
    y = np.sign(x[:, 0] + 0.1)
    return K, y


def test_pcg_matches_float64_direct_to_1e_6():
    K, y = _problem()
    direct = ntkfix.complexity(K, y, solver="cholesky", return_info=True)
    pcg = ntkfix.complexity(K, y, solver="float32_pcg", return_info=True)
    assert abs(pcg.quadratic_form / direct.quadratic_form - 1) < 1e-9
    assert abs(pcg.value / direct.value - 1) < 1e-9
    assert pcg.condition_number == pytest.approx(direct.condition_number, rel=0.5)
    # several outputs at once, and the solution itself
    Y = np.stack([y, np.cos(np.arange(len(y)))], axis=1)
    factor = large.float32_factor(K)
    X, info = large.solve(K, Y, factor)
    ref = np.linalg.solve(K.astype(np.float64), Y)
    assert info.residual < 1e-13
    np.testing.assert_allclose(X, ref, rtol=0, atol=1e-9 * np.abs(ref).max())


def test_pcg_reads_a_memory_map_and_gives_the_bound(tmp_path):
    K, y = _problem(800, seed=1)
    path = tmp_path / "K.npy"
    np.save(path, K)
    mm = np.load(path, mmap_mode="r")
    assert bounds.use_pcg(mm, "auto") and not bounds.use_pcg(K, "auto")
    a = ntkfix.generalization_bound(mm, y)  # auto: PCG for a memory map
    b = ntkfix.generalization_bound(K, y, solver="cholesky")
    assert a.complexity == pytest.approx(b.complexity, rel=1e-9)
    assert a.lambda_min == pytest.approx(b.lambda_min, rel=1e-4)
    assert a.total == pytest.approx(b.total, rel=1e-6)


def test_pcg_errors_name_the_argument():
    K, y = _problem(200)
    with pytest.raises(ValueError, match="jitter='auto' needs solver='cholesky'"):
        ntkfix.complexity(K, y, solver="float32_pcg", jitter="auto")
    with pytest.raises(ValueError, match="unknown solver"):
        ntkfix.complexity(K, y, solver="lu")
    bad = np.ones((50, 50), np.float32)  # rank one
    with pytest.raises(ntkfix.IllConditionedKernel, match="float32"):
        ntkfix.complexity(bad, np.ones(50), solver="float32_pcg")
    with pytest.raises(ValueError, match="square"):
        ntkfix.complexity(np.ones((3, 4)), np.ones(3), solver="float32_pcg")
    # jitter is added (and reported) as in the float64 solve
    a = ntkfix.complexity(K, y, solver="float32_pcg", jitter=1e-3, return_info=True)
    b = ntkfix.complexity(K, y, solver="cholesky", jitter=1e-3, return_info=True)
    assert a.jitter == 1e-3 and a.value == pytest.approx(b.value, rel=1e-9)
    assert jnp.isfinite(a.value)


def test_kernel_regression_with_pcg_and_memory_maps(tmp_path):
    K, y = _problem(600, seed=2)
    Kx = K[:50] * np.float32(0.9)
    np.save(tmp_path / "K.npy", K)
    np.save(tmp_path / "Kx.npy", Kx)
    mK, mKx = (np.load(tmp_path / f, mmap_mode="r") for f in ("K.npy", "Kx.npy"))
    ref = ntkfix.kernel_regression(K, y, Kx, 1e-4, solver="cholesky", return_info=True)
    got = ntkfix.kernel_regression(mK, y, mKx, 1e-4, return_info=True)  # auto: PCG
    np.testing.assert_allclose(got.test, ref.test, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got.train, ref.train, rtol=1e-6, atol=1e-6)
    assert got.ridge == 1e-4
    spec = ntkfix.MLP(3, 1, 2)
    x = np.random.default_rng(0).normal(size=(40, 3))
    a = ntkfix.ntk_regression(spec, None, x[:30], np.sin(x[:30, 0]), x[30:], ridge=1e-3)
    b = ntkfix.ntk_regression(
        spec, None, x[:30], np.sin(x[:30, 0]), x[30:], ridge=1e-3, solver="float32_pcg"
    )
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
