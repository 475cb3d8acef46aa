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
    with pytest.raises(ntkfix.errors.IllConditionedKernel, match="float32"):
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


def _flat(factor):
    return [t for row in factor.tiles for t in row]


@pytest.mark.parametrize("n, tile", [(300, 64), (777, 100), (500, 500)])
def test_tiled_float32_factor_is_the_cholesky_factor(n, tile):
    """The tiles assemble into the float64 Cholesky factor to float32 rounding (uneven last
    tile, one tile); the preconditioner solves K to ~cond * eps32; the condition estimate
    is within [1/3, 1] of the exact 1-norm condition number (Hager's estimate is a lower
    bound, usually within a factor 3); same input, same bits."""
    K, _ = _problem(n, seed=3)
    K = K + np.float32(1e-3) * np.eye(n, dtype=np.float32)
    f = large.float32_factor(K, tile=tile)
    L = np.zeros((n, n))
    s = f.starts
    assert s[0] == 0 and s[-1] == n and all(b - a <= tile for a, b in zip(s, s[1:], strict=False))
    for i in range(len(s) - 1):
        for j in range(i + 1):
            L[s[i] : s[i + 1], s[j] : s[j + 1]] = f.tiles[i][j]
    K64 = K.astype(np.float64)
    ref = np.linalg.cholesky(K64)
    assert np.abs(L - ref).max() < 1e-4 * np.abs(ref).max()
    R = np.random.default_rng(0).normal(size=(n, 2))
    exact = np.linalg.solve(K64, R)
    cond = np.linalg.cond(K64, 1)
    assert np.abs(f.precondition(R) - exact).max() < 10 * cond * 6e-8 * np.abs(exact).max()
    assert f.precondition(R[:, 0]).shape == (n,)
    assert cond / 3 <= f.condition_number <= cond * (1 + 1e-6)
    assert f.mean_diag == pytest.approx(np.mean(np.diag(K64)), rel=1e-7)
    g = large.float32_factor(K, tile=tile)
    assert all(np.array_equal(a, b) for a, b in zip(_flat(f), _flat(g), strict=True))
    assert g.condition_number == f.condition_number


def test_tiled_factor_names_the_failing_column_and_reads_a_memory_map(tmp_path):
    bad = np.eye(300, dtype=np.float32)
    bad[150, 150] = -1.0  # in the third tile of 64
    with pytest.raises(ntkfix.errors.IllConditionedKernel, match="failed at column 151"):
        large.float32_factor(bad, tile=64)
    K, y = _problem(400, seed=4)
    np.save(tmp_path / "K.npy", K)
    mm = np.load(tmp_path / "K.npy", mmap_mode="r")
    a, b = large.float32_factor(mm, tile=128), large.float32_factor(K, tile=128)
    assert all(np.array_equal(u, v) for u, v in zip(_flat(a), _flat(b), strict=True))


@pytest.mark.parametrize("solver", ["cholesky", "float32_pcg"])
def test_prediction_carries_each_columns_quadratic_form_and_its_rounding(solver):
    """quadratic_form = y_c^T K^-1 y_c of every column from one solve (= complexity's);
    quadratic_form_rounding bounds how far the float32 rounding of K moved it (checked
    against the float64 kernel it was rounded from)."""
    x = np.random.default_rng(5).normal(size=(400, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    c = np.clip(x @ x.T, -1, 1)
    K64 = c * (np.pi - np.arccos(c)) / (2 * np.pi)
    K32 = K64.astype(np.float32)
    Y = np.stack([np.sign(x[:, 0] + 0.1), np.sign(x[:, 1] * x[:, 2])], axis=1)
    got = ntkfix.kernel_regression(K32, Y, K32[:5], return_info=True, solver=solver)
    assert got.solver == solver
    for j in range(2):
        want = ntkfix.complexity(K32, Y[:, j], solver="cholesky", return_info=True)
        assert got.quadratic_form[j] == pytest.approx(want.quadratic_form, rel=1e-9)
        exact = Y[:, j] @ np.linalg.solve(K64, Y[:, j])
        moved = abs(got.quadratic_form[j] / exact - 1)
        assert moved <= got.quadratic_form_rounding[j] < 1
    K64_pred = ntkfix.kernel_regression(K64, Y, K64[:5], return_info=True, solver="cholesky")
    # the same bound for a float64 kernel is 2^29 times smaller
    ratio = got.quadratic_form_rounding / K64_pred.quadratic_form_rounding
    np.testing.assert_allclose(ratio, 2.0**29, rtol=1e-3)
