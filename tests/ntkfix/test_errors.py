"""Bad input: clear errors naming the argument (rows of input, exception, message)."""

import jax
import numpy as np
import pytest

import ntkfix

SPEC = ntkfix.MLP(in_dim=3, width=4, depth=2)
P = SPEC.init(jax.random.PRNGKey(0))
X = np.ones((5, 3))


@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        (dict(in_dim=3, width=0, depth=1), ValueError, "width must be an integer >= 1, got 0"),
        (dict(in_dim=3, width=4, depth=0), ValueError, "depth must be an integer >= 1, got 0"),
        (dict(in_dim=3, width=4.0, depth=1), TypeError, "width must be an integer"),
        (
            dict(in_dim=3, width=4, depth=1, parameterization="mup"),
            ValueError,
            "unknown parameterization 'mup'",
        ),
        (
            dict(in_dim=3, width=4, depth=1, W_std=-1.0),
            ValueError,
            "W_std must be a finite number >= 0",
        ),
        (dict(in_dim=3, width=4, depth=1, b_std="a"), TypeError, "b_std must be a real number"),
    ],
)
def test_spec_errors(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        ntkfix.MLP(**kwargs)


def _bad_W():
    p = list(P)
    p[2] = (np.ones((5, 4)), None)
    return p


@pytest.mark.parametrize(
    "call, exc, msg",
    [
        (
            lambda: SPEC.apply(P, np.ones(3)),
            ValueError,
            r"x must have shape \(n, d\).*x\[None, :\]",
        ),
        (
            lambda: SPEC.apply(P, np.ones((5, 4))),
            ValueError,
            "x has 4 features but the network expects in_dim=3",
        ),
        (
            lambda: SPEC.apply(P, np.full((2, 3), np.nan)),
            ValueError,
            r"x contains NaN or inf .*first at index \(0, 0\)",
        ),
        (lambda: SPEC.apply(P, np.array([["a", "b", "c"]])), TypeError, "x must hold real numbers"),
        (lambda: SPEC.apply(P[:3], X), ValueError, "params has 3 entries but a depth-2 MLP has 5"),
        (
            lambda: SPEC.apply(_bad_W(), X),
            ValueError,
            r"dense layer 1\) W has shape \(5, 4\), expected \(4, 4\)",
        ),
        (lambda: SPEC.apply({"W": 1}, X), TypeError, "params must be the stax.serial params list"),
        (
            lambda: ntkfix.MLP(3, 4, 2, b_std=0.1).apply(P, X),
            ValueError,
            r"b has shape None, expected \(1, 4\)",
        ),
        (lambda: ntkfix.FixedPattern(SPEC, P[:1]), ValueError, "params0 has 1 entries"),
        (lambda: ntkfix.FixedPattern("spec", P), TypeError, "spec must be an ntkfix.MLP"),
        (
            lambda: ntkfix.empirical_ntk(SPEC, P, X, np.ones((2, 4))),
            ValueError,
            "x2 has 4 features",
        ),
        (lambda: ntkfix.empirical_ntk(SPEC, P, np.inf * X), ValueError, "^x contains NaN or inf"),
        (lambda: ntkfix.empirical_ntk(SPEC, P, X, np.inf * X), ValueError, "^x2 contains NaN"),
        (lambda: ntkfix.arora_kernel(np.inf * X), ValueError, "^x contains NaN or inf"),
        (lambda: ntkfix.empirical_ntk("net", P, X), TypeError, "model must be an ntkfix.MLP"),
        (
            lambda: ntkfix.empirical_ntk(SPEC, P, X, trainable=5),
            ValueError,
            "trainable index 5 is out of range",
        ),
        (
            lambda: ntkfix.empirical_ntk(SPEC, P, X, trainable=[]),
            ValueError,
            "trainable selects no layer",
        ),
        (
            lambda: ntkfix.empirical_ntk(SPEC, P, X, trainable="top"),
            ValueError,
            "trainable must be None, 'all'",
        ),
        (
            lambda: ntkfix.empirical_ntk(SPEC, P, X, block_size=0),
            ValueError,
            "block_size must be an integer >= 1",
        ),
        (lambda: ntkfix.infinite_ntk(SPEC, X, np.ones((2, 2))), ValueError, "x2 has 2 features"),
    ],
)
def test_input_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_public_api_imports():
    for name in ntkfix.__all__:
        assert getattr(ntkfix, name) is not None, name
