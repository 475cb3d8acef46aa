"""Infinite-width kernels: closed form vs neural-tangents, and finite -> infinite."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkfix
from ntkfix._core import nt as _nt
from tests.helpers import requires_nt

GRID = [
    dict(depth=d, b_std=b, parameterization=p, out_W_std=o)
    for d in (1, 2, 4)
    for b in (None, 0.4)
    for p in ("ntk", "standard")
    for o in (1.0, 0.5)
]


def _x(n, d=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


@requires_nt
@pytest.mark.parametrize("kw", GRID)
def test_closed_form_matches_neural_tangents(kw):
    spec = ntkfix.MLP(in_dim=5, width=9, **kw)
    x1, x2 = _x(6), _x(4, seed=1)
    for fn in (ntkfix.infinite_ntk, ntkfix.infinite_nngp):
        a = fn(spec, x1, x2, backend="neural_tangents")
        b = fn(spec, x1, x2, backend="closed_form")
        np.testing.assert_allclose(b, a, rtol=1e-8, atol=0)
        np.testing.assert_allclose(
            fn(spec, x1, backend="auto"), fn(spec, x1, backend="closed_form"), rtol=1e-8
        )


def test_arccos_formula_for_one_hidden_layer():
    """Independent numpy formula for depth 1, ntk parameterization, W_std = out_W_std = 1."""
    spec = ntkfix.MLP(in_dim=5, width=3, depth=1, W_std=1.0)
    x = _x(6)
    s = x @ x.T / 5
    nrm = np.sqrt(np.outer(np.diag(s), np.diag(s)))
    t = np.arccos(np.clip(s / nrm, -1, 1))
    nngp = nrm * (np.sin(t) + (np.pi - t) * np.cos(t)) / (2 * np.pi)
    ntk = nngp + s * (np.pi - t) / (2 * np.pi)
    np.testing.assert_allclose(
        ntkfix.infinite_nngp(spec, x, backend="closed_form"), nngp, rtol=1e-12
    )
    np.testing.assert_allclose(ntkfix.infinite_ntk(spec, x, backend="closed_form"), ntk, rtol=1e-12)
    np.testing.assert_allclose(
        ntkfix.infinite_ntk(spec, x, backend="closed_form", trainable=0),
        s * (np.pi - t) / (2 * np.pi),
        rtol=1e-12,
    )


def test_layer_subsets_sum_to_the_full_kernel():
    spec = ntkfix.MLP(in_dim=5, width=9, depth=3, b_std=0.3)
    x = _x(5)
    parts = sum(ntkfix.infinite_ntk(spec, x, trainable=l) for l in range(4))
    np.testing.assert_allclose(
        parts, ntkfix.infinite_ntk(spec, x, backend="closed_form"), rtol=1e-12
    )


@pytest.mark.parametrize("trainable", [None, 0, "hidden", -1, (1, 2)])
def test_finite_width_converges_to_infinite_with_the_same_subset(trainable):
    spec = lambda m: ntkfix.MLP(in_dim=5, width=m, depth=2, b_std=0.2)
    x = _x(8)
    inf = ntkfix.infinite_ntk(spec(1), x, trainable=trainable)
    errs = []
    for m in (64, 4096):
        d = [
            ntkfix.kernel_distance(
                ntkfix.empirical_ntk(
                    spec(m), spec(m).init(jax.random.PRNGKey(s)), x, trainable=trainable
                ),
                inf,
            )
            for s in range(3)
        ]
        errs.append(np.mean(d))
    assert errs[1] < 0.06
    assert errs[1] < errs[0] / 3  # ~ m^(-1/2): a factor 8 expected from 64 -> 4096


def test_backend_errors():
    spec = ntkfix.MLP(5, 4, 2)
    with pytest.raises(ValueError, match="unknown backend 'jax'"):
        ntkfix.infinite_ntk(spec, _x(3), backend="jax")
    with pytest.raises(ValueError, match="cannot restrict the NTK to a layer subset"):
        ntkfix.infinite_ntk(spec, _x(3), backend="neural_tangents", trainable=0)
    with pytest.raises(TypeError, match="spec must be an ntkfix.MLP"):
        ntkfix.infinite_ntk("mlp", _x(3))


@pytest.mark.skipif(_nt.available(), reason="checks the message where neural-tangents is missing")
def test_clear_message_without_neural_tangents():
    spec = ntkfix.MLP(5, 4, 2)
    with pytest.raises(ntkfix.errors.NeuralTangentsUnavailable, match="needs neural-tangents"):
        ntkfix.infinite_ntk(spec, _x(3), backend="neural_tangents")
    # auto falls back to the closed form
    assert ntkfix.infinite_ntk(spec, _x(3)).shape == (3, 3)


# ---- found in review (moved from test_review_fixes.py) ----
@pytest.mark.parametrize("depth", [1, 3])
def test_closed_form_cross_kernel_with_duplicate_points(depth):
    spec = ntkfix.MLP(in_dim=64, width=1, depth=depth)
    x = ntkfix.data.sphere(jax.random.PRNGKey(0), 50, 64)
    sym = ntkfix.infinite_ntk(spec, x, backend="closed_form")
    cross = ntkfix.infinite_ntk(spec, x, jnp.array(np.array(x)), backend="closed_form")
    np.testing.assert_allclose(cross, sym, rtol=1e-12)
