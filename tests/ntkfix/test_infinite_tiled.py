"""The tiled, jitted infinite kernels: tiled == untiled, float32 accuracy, nt through the
tiler, and the refusal of kernels that do not fit the memory."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from ntkfix._kernels import budget
from tests.helpers import requires_nt

SPECS = [
    ntkfix.MLP(in_dim=6, width=1, depth=3),
    ntkfix.MLP(in_dim=6, width=7, depth=2, b_std=0.3, parameterization="standard"),
]


def _x(n, d=6, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d))
    x[3] = x[1]  # a duplicate point
    return x


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("fn", [ntkfix.infinite_ntk, ntkfix.infinite_nngp])
def test_tiled_equals_one_tile_and_is_exactly_symmetric(spec, fn):
    x, x2 = _x(21), _x(14, seed=1)  # tiles of 7 x 7 only: few compilations
    one = np.asarray(fn(spec, x, backend="closed_form", block_size=1000))
    tiled = np.asarray(fn(spec, x, backend="closed_form", block_size=7))
    np.testing.assert_array_equal(tiled, tiled.T)
    np.testing.assert_allclose(tiled, one, rtol=1e-13, atol=0)
    cross = np.asarray(fn(spec, x, x2, backend="closed_form", block_size=7))
    ref = np.asarray(fn(spec, x, x2, backend="closed_form", block_size=1000))
    np.testing.assert_allclose(cross, ref, rtol=1e-13, atol=0)
    # K(x, x) against the cross kernel of x with a copy of x (no symmetric shortcut)
    copy = np.asarray(fn(spec, x, jnp.array(x), backend="closed_form", block_size=7))
    np.testing.assert_allclose(copy, one, rtol=1e-12)


def test_float32_kernel_is_accurate_to_single_precision():
    """float32 closed form vs the float64 one on the same (float32) points, an exact
    duplicate and the diagonal included: relative error ~ float32 rounding. (Points at
    angles t below ~1e-2 are ill-conditioned in float32 for any method: a rounding error
    e of the cosine moves k0 by e / (pi t).)"""
    spec = ntkfix.MLP(in_dim=64, width=1, depth=3)
    x = np.asarray(ntkfix.data.sphere(jax.random.PRNGKey(0), 300, 64), np.float32)
    x[10] = x[0]
    x[11] = x[0] + np.float32(0.05) * x[1]
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    ref = np.asarray(ntkfix.infinite_ntk(spec, jnp.asarray(x, jnp.float64), block_size=300))
    for block in (100, 300):
        k = ntkfix.infinite_ntk(spec, jnp.asarray(x), block_size=block)
        assert k.dtype == jnp.float32
        err = np.abs(np.asarray(k, np.float64) - ref) / np.abs(ref).max()
        assert err[11].max() < 5e-6, err[11].max()  # the near-duplicate (t = 0.05)
        err[11], err[:, 11] = 0, 0
        assert err.max() < 5e-7, err.max()


@requires_nt
@pytest.mark.parametrize("spec", SPECS)
def test_neural_tangents_backend_goes_through_the_tiler(spec):
    x, x2 = _x(14), _x(7, seed=2)
    kernel_fn = spec.stax()[2]
    for which, fn in (("ntk", ntkfix.infinite_ntk), ("nngp", ntkfix.infinite_nngp)):
        whole = np.asarray(kernel_fn(x, None, which))
        tiled = np.asarray(fn(spec, x, backend="neural_tangents", block_size=7))
        np.testing.assert_array_equal(tiled, tiled.T)
        # nt takes arccos of the duplicate's cosine 1 - (a few ulps, tile-dependent): ~1e-8
        np.testing.assert_allclose(tiled, whole, rtol=1e-7)
        cross = np.asarray(fn(spec, x, x2, backend="neural_tangents", block_size=7))
        np.testing.assert_allclose(cross, np.asarray(kernel_fn(x, x2, which)), rtol=1e-12)
        closed = np.asarray(fn(spec, x, x2, backend="closed_form", block_size=7))
        np.testing.assert_allclose(closed, cross, rtol=1e-8)


def _largest(msg: str) -> int:
    return int(re.search(r"the largest n for which K\(x, x\) fits is (\d+)", msg).group(1))


@pytest.mark.parametrize(
    "call, twin",
    [
        (lambda s, x: ntkfix.infinite_ntk(s, x), "infinite_ntk_to_disk"),
        (lambda s, x: ntkfix.infinite_nngp(s, x), "infinite_nngp_to_disk"),
        (
            lambda s, x: ntkfix.empirical_ntk(s, s.init(jax.random.PRNGKey(0)), x),
            "empirical_ntk_to_disk",
        ),
    ],
)
def test_kernels_too_large_for_memory_are_refused_before_allocation(monkeypatch, call, twin):
    spec = ntkfix.MLP(in_dim=6, width=8, depth=2)
    x = _x(4000)
    avail = 100 * 2**20  # 100 MiB: an n=4000 float64 kernel (122 MiB) does not fit
    monkeypatch.setattr(budget, "device_memory", lambda device=None: avail)
    with pytest.raises(ntkfix.errors.KernelTooLarge, match=twin) as info:
        call(spec, x)
    n_max = _largest(str(info.value))
    assert 2000 < n_max < 4000
    assert str(n_max) in str(info.value)
    # the largest n that fits is accepted (and computed), one more is refused
    call(spec, x[:n_max])
    with pytest.raises(ntkfix.errors.KernelTooLarge):
        call(spec, _x(n_max + 1))
