"""The task and the network of the training experiments (``dynamics``, ``width_threshold``,
``conversion``), from a cell's knobs.

- the task: n points uniform on the unit sphere S^{d-1} with random +-1 labels, and a
  held-out set drawn the same way (``sphere_task``); all from one ``data_seed``;
- the network spec (``spec_for``), theta_0 of a seed (``init_params``), the
  trainable-layer and step-size knobs (``trainable_arg``, ``lr_arg``);
- how the knobs these experiments (and ``kernel_distance``) share are declared: their
  ranges and choices in one table (``SHARED``), each experiment giving its defaults
  (``knobs``).

Loss everywhere: L = 1/(2n) ||f(X) - Y||^2 (ntkfix's convention), so with +-1 labels
and f_0 ~ O(1), L_0 is about 0.5-1.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import ntkfix
from analysis.config import Knob

MODELS = ("relu", "fap")
# config value -> ntkfix ``trainable`` argument
TRAINABLE = {"all": None, "hidden": "hidden", "readout": "readout"}

# The range and choices of every knob the sphere-task experiments share (no defaults:
# each experiment gives its own, through ``knobs``).
SHARED = {
    "width": Knob(None, low=1),
    "depth": Knob(None, low=1),
    "n": Knob(None, low=1),
    "n_test": Knob(None, low=1),
    "d": Knob(None, low=1),
    "model": Knob(None, choices=MODELS),
    "seeds": Knob(None, low=0, per_cell=True),  # trained together in each cell
    "steps": Knob(None, low=1),
    "record_every": Knob(None, low=1),
    "eps": Knob(None, low=0, strict="low"),
    "lr": Knob(None, low=0),  # 0: n / lambda_max(Theta_0), per seed
    "W_std": Knob(None, low=0, strict="low"),
    "b_std": Knob(None, low=0),  # 0: no biases
    "trainable": Knob(None, choices=tuple(TRAINABLE)),
}
# The network knobs' defaults of the training experiments.
NET_DEFAULTS = {"d": 16, "W_std": 2**0.5, "b_std": 0.0, "trainable": "all"}


def knobs(**declared: Any) -> dict[str, Knob]:
    """An experiment's knobs, in the order given: ``name=default`` is declared as
    ``SHARED[name]`` with that default (a knob without range if SHARED has none);
    ``name=Knob(...)`` is taken as it is."""
    return {
        key: value
        if isinstance(value, Knob)
        else dataclasses.replace(SHARED.get(key, Knob(None)), default=value)
        for key, value in declared.items()
    }


class Task(NamedTuple):
    """Training set (x, y) and held-out set (x_test, y_test); y's are (n, 1) in {-1, +1}."""

    x: jax.Array
    y: jax.Array
    x_test: jax.Array | None
    y_test: jax.Array | None


def sign_labels(key: jax.Array, n: int) -> jax.Array:
    """(n, 1) labels, independently +1 or -1 with probability 1/2 each."""
    return jnp.where(jax.random.bernoulli(key, 0.5, (n, 1)), 1.0, -1.0)


def sphere_task(data_seed: int, n: int, d: int, n_test: int = 0) -> Task:
    """n training and n_test held-out points uniform on S^{d-1}, random +-1 labels.

    The four draws (x, y, x_test, y_test) use four keys split from PRNGKey(data_seed):
    the training set does not depend on n_test. Random labels carry no signal, so the
    held-out set serves only diagnostics that need fresh inputs (the linearized gap off
    the training set, the conversion's equivalence on new points).
    """
    kx, ky, kxt, kyt = jax.random.split(jax.random.PRNGKey(data_seed), 4)
    x, y = ntkfix.data.sphere(kx, n, d), sign_labels(ky, n)
    if n_test <= 0:
        return Task(x, y, None, None)
    return Task(x, y, ntkfix.data.sphere(kxt, n_test, d), sign_labels(kyt, n_test))


def spec_for(cell: dict[str, Any]) -> ntkfix.MLP:
    """ReLU MLP d -> width^depth -> 1 (NTK parameterization unless the cell has a
    ``parameterization`` knob); ``b_std == 0`` means no biases."""
    return ntkfix.MLP(
        in_dim=cell["d"],
        width=cell["width"],
        depth=cell["depth"],
        W_std=cell["W_std"],
        b_std=cell["b_std"] if cell["b_std"] > 0 else None,
        parameterization=cell.get("parameterization", "ntk"),
    )


def lr_arg(cell: dict[str, Any]) -> float | None:
    """``lr = 0`` in a config means ntkfix's kernel step n / lambda_max(Theta_0) (per seed)."""
    return None if cell["lr"] == 0 else cell["lr"]


def trainable_arg(cell: dict[str, Any]):
    return TRAINABLE[cell["trainable"]]


def init_params(spec: ntkfix.MLP, seed: int) -> list:
    """theta_0 of ``seed`` exactly as ``ntkfix.train_many`` draws it (jax's default float)."""
    return spec.init(jax.random.PRNGKey(int(seed)), jnp.result_type(float))
