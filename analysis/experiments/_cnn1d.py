"""arch = "cnn1d": the 1D CNN of the MNIST-1D paper as a neural-tangents stax model.

The paper's CNN (Greydanus 2020, arXiv:2011.14439; ``ConvBase`` in
github.com/greydanus/mnist1d, ``notebooks/models.py``, commit 7878d96), on the 40
samples of a signal as one input channel::

    Conv1d(1 -> C, kernel 5, stride 2, padding 1), ReLU      40 -> 19 positions
    Conv1d(C -> C, kernel 3, stride 2, padding 1), ReLU      19 -> 10
    Conv1d(C -> C, kernel 3, stride 2, padding 1), ReLU      10 -> 5
    flatten (5 C features: ``linear_in=125`` at C = 25), Linear(5 C -> out)

with C = 25 channels, and PyTorch's biases in every layer. Here, in the convention of
the MLP cells (ntk parameterization, ``W_std`` sqrt(2) in the convolutions and 1 in the
readout, no biases), C = the ``width`` knob::

    stax.serial(Conv(C, (5,), (2,), "VALID"), Relu(),
                Conv(C, (3,), (2,), "SAME"), Relu(),
                Conv(C, (3,), (2,), "SAME"), Relu(), Flatten(), Dense(out))

on ``images(x)``: each signal reversed, one zero appended, as (n, 41, 1) NWC. stax's
``Conv`` has no explicit padding (only SAME, VALID, CIRCULAR); on reversed signals the
paper's padding is exact: its first layer reads samples -1..39 (the pad after sample 39
is never read), i.e. one zero after the reversed signal, read VALID; SAME pads 19
positions by one on each side and 10 positions by none before and one after, which on
the reversed maps are the windows of padding 1 (PyTorch never reads the pad after
position 9 either). So ``f(x)`` is the paper's net at theta' (each filter reversed
along its positions, the readout's rows permuted: stax flattens the reversed
positions position-major, PyTorch channel-major): the same functions, the same
Gaussian law of theta_0, the same NTK (checked against a hand-written padding-1
convolution in ``tests/analysis/test_generalization_trained_cnn.py``).

Depth is fixed (3 convolutions); the infinite-width NTK is the triple's ``kernel_fn``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

import ntkfix

CONV_LAYERS = 3
CHANNELS = 25  # the paper's
LENGTH = 40  # MNIST-1D's samples per signal


def cnn1d(channels: int, out_dim: int):
    """The stax triple (init_fn, apply_fn, kernel_fn) of the module docstring."""
    stax = ntkfix.host.neural_tangents("arch='cnn1d'").stax
    conv = lambda k, pad: stax.Conv(channels, (k,), strides=(2,), padding=pad, W_std=2**0.5)
    return stax.serial(
        conv(5, "VALID"), stax.Relu(),
        conv(3, "SAME"), stax.Relu(),
        conv(3, "SAME"), stax.Relu(),
        stax.Flatten(), stax.Dense(out_dim, W_std=1.0),
    )  # fmt: skip


def images(x: Any) -> jax.Array:
    """(n, 40) signals -> (n, 41, 1): reversed, one zero appended (module docstring)."""
    x = jnp.asarray(x)
    return jnp.pad(x[:, ::-1], ((0, 0), (0, 1)))[..., None]


def init(triple, key: jax.Array, dtype: Any):
    """theta_0: ``init_fn(key, (-1, 41, 1))``, cast to ``dtype``."""
    _, params = triple[0](key, (-1, LENGTH + 1, 1))
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), params)
