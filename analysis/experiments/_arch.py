"""The ``arch`` knob: the MLP of the sphere experiments, or a CNN on digits images.

arch = "cnn" (neural-tangents stax, its default NTK parameterization):

    stax.serial([Conv(C, (k, k), padding="SAME", W_std), Relu()] x depth,
                GlobalAvgPool() | Flatten(), Dense(1, W_std))

with C = ``width`` (the channels of every conv layer), k = ``kernel_size``, ``depth``
conv layers and ``pooling`` ("global_avg" or "flatten"); no biases for ``b_std = 0``.
``one_gate=True`` (the conversion) puts ``stax.Elementwise(jax.nn.relu)`` in place of
``stax.Relu()``: the same function and the same theta_0, but one gate per layer (stax's
Relu computes 0 * min(z, 0) + max(z, 0), two gates, whose ReLU twin would carry both);
that triple has no infinite-width kernel.
Its finite-width NTK comes from the triple's ``init_fn`` (``ntkfix.empirical_ntk``; at
theta_0 the FAP-CNN, ``ntkfix.FixedPattern(triple, theta_0)``, has the same kernel) and
its infinite-width CNTK from the triple's ``kernel_fn`` (``ntkfix.infinite_ntk``): the
same parameterization on both sides (stax's default W_std is 1.0; the knob's is kept).

The training experiments (``dynamics``) use it through ``CNN`` (a function with
``init``) on ``digits_task``, all parameters trained (``trainable = "all"``).

The inputs: ``n`` of scikit-learn's digits (even/odd task, drawn with ``data_seed``),
centered and projected to the unit sphere as 64-vectors, as (n, 8, 8, 1) images.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

import ntkfix
from analysis.config import Knob
from analysis.experiments._task import Task, spec_for, sphere_task

ARCHS = ("mlp", "cnn")
POOLING = ("global_avg", "flatten")
DIGITS_SHAPE = (8, 8, 1)

# the CNN's knobs (``arch`` chooses; ``width``/``depth`` are the channels / conv layers)
KNOBS = {
    "arch": Knob("mlp", choices=ARCHS),
    "kernel_size": Knob(3, low=1),
    "pooling": Knob("global_avg", choices=POOLING),
}


def check_trainable(cfg) -> None:
    """Across knobs of a training experiment: a CNN trains every parameter."""
    from analysis.experiments import require

    for arch in cfg.values("arch"):
        for trainable in cfg.values("trainable"):
            require(
                arch == "mlp" or trainable == "all",
                f"{cfg.experiment}: arch 'cnn' trains every parameter: trainable must be "
                f"'all', got {trainable!r}",
            )


def cnn(cell: dict[str, Any], one_gate: bool = False):
    """The stax triple (init_fn, apply_fn, kernel_fn) of a cell (module docstring)."""
    stax = ntkfix.host.neural_tangents("arch='cnn'").stax
    k, W_std = cell["kernel_size"], cell["W_std"]
    b_std = cell["b_std"] if cell["b_std"] > 0 else None
    relu = (lambda: stax.Elementwise(jax.nn.relu)) if one_gate else stax.Relu
    layers = []
    for _ in range(cell["depth"]):
        layers += [
            stax.Conv(cell["width"], (k, k), padding="SAME", W_std=W_std, b_std=b_std),
            relu(),
        ]
    pool = stax.GlobalAvgPool() if cell["pooling"] == "global_avg" else stax.Flatten()
    return stax.serial(*layers, pool, stax.Dense(1, W_std=W_std, b_std=b_std))


def cnn_params(triple, seed: int, x: jax.Array):
    """theta_0 of ``seed``: ``init_fn(PRNGKey(seed), (-1, *x.shape[1:]))``."""
    _, params = triple[0](jax.random.PRNGKey(int(seed)), (-1, *x.shape[1:]))
    return params


def digits_images(data_seed: int, n: int) -> jax.Array:
    """n digits (even/odd task, centered, unit norm) as (n, 8, 8, 1) images."""
    ds = ntkfix.data.digits(jax.random.PRNGKey(data_seed), "even_odd", n_train=n, n_test=0)
    return ds.x_train.reshape((n, *DIGITS_SHAPE))


class CNN:
    """The cell's stax CNN as a network function ``f(params, x)`` with ``init(key, dtype)``
    (what the training experiments need of a spec: ``apply``, ``init``); ``one_gate`` as
    in ``cnn``."""

    def __init__(self, cell: dict[str, Any], one_gate: bool = False):
        self.triple = cnn(cell, one_gate)

    def __call__(self, params, x):
        return self.triple[1](params, x)

    apply = __call__

    def init(self, key: jax.Array, dtype: Any = None):
        _, params = self.triple[0](key, (-1, *DIGITS_SHAPE))
        dtype = jnp.result_type(float) if dtype is None else dtype
        return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), params)


def digits_task(data_seed: int, n: int, n_test: int) -> Task:
    """n training and n_test held-out digits (even/odd: +-1), centered, unit norm, as
    (n, 8, 8, 1) images; the split drawn from PRNGKey(data_seed)."""
    ds = ntkfix.data.digits(jax.random.PRNGKey(data_seed), "even_odd", n_train=n, n_test=n_test)
    img = lambda a: a.reshape((a.shape[0], *DIGITS_SHAPE))
    return Task(img(ds.x_train), ds.y_train, img(ds.x_test), ds.y_test)


def net_and_task(cell: dict[str, Any], one_gate: bool = False):
    """(network, task) of a training cell: the MLP on the sphere task (random labels), or
    with ``arch = "cnn"`` the CNN (``one_gate`` as in ``cnn``) on digits images (even/odd
    labels)."""
    if cell.get("arch", "mlp") == "cnn":
        return CNN(cell, one_gate), digits_task(cell["data_seed"], cell["n"], cell["n_test"])
    return spec_for(cell), sphere_task(cell["data_seed"], cell["n"], cell["d"], cell["n_test"])


def cnn_kernels(cell: dict[str, Any], x: jax.Array, xt: jax.Array, k_net: jax.Array):
    """For ``generalization`` with ``arch = "cnn"``: the CNTK and the finite FAP-CNN NTK
    of each channel count in ``channels`` on (train, test) digits reshaped to 8x8x1.

    The CNN: ``conv_layers`` x [Conv(C, kernel_size, SAME), Relu], ``pooling``, Dense(1),
    W_std = sqrt(2), no biases; theta_0 of C from ``fold_in(k_net, C)`` (its FAP-CNN has
    the same NTK there). Yields (predictor, C or None, K(x, x), K(xt, x)), the CNTK first.
    """
    img = lambda a: a.reshape((a.shape[0], *DIGITS_SHAPE))
    xi, xti = img(x), img(xt)

    def net(c):
        return cnn({**cell, "width": c, "depth": cell["conv_layers"], "W_std": 2**0.5, "b_std": 0})

    inf = net(1)
    yield "cntk", None, ntkfix.infinite_ntk(inf, xi), ntkfix.infinite_ntk(inf, xti, xi)
    for c in cell["channels"]:
        triple = net(c)
        _, p0 = triple[0](jax.random.fold_in(k_net, c), (-1, *DIGITS_SHAPE))
        p0 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.dtype(cell["dtype"])), p0)
        K = ntkfix.empirical_ntk(triple, p0, xi)
        yield "fap_cnn_ntk", c, K, ntkfix.empirical_ntk(triple, p0, xti, xi)
