"""Shared pieces of the training experiments (``dynamics``, ``width_threshold``, ``conversion``).

- the task: n points uniform on the unit sphere S^{d-1} with random +-1 labels, and a
  held-out set drawn the same way (``sphere_task``); all from one ``data_seed``;
- the network spec from a cell's knobs (``spec_for``), the trainable-layer and
  step-size knobs (``trainable_arg``, ``lr_arg``);
- training a batch of seeds with ``ntkfix.train_many`` that survives diverged seeds
  (``train_seeds``);
- the exact kernel-GD (linearized network) loss curve from the NTK at initialization
  (``kernel_gd``), against which measured curves are compared;
- compact JSON curves for the tidy tables, and config checks with one-line messages.

Loss everywhere: L = 1/(2n) ||f(X) - Y||^2 (ntkfix's convention), so with +-1 labels
and f_0 ~ O(1), L_0 is about 0.5-1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from typing import Any, NamedTuple

import jax
import jax.experimental
import jax.numpy as jnp
import numpy as np

import ntkfix
from analysis.config import Config
from analysis.experiments import require

MODELS = ("relu", "fap")
# config value -> ntkfix ``trainable`` argument
TRAINABLE = {"all": None, "hidden": "hidden", "readout": "readout"}
NAN = float("nan")

# Knobs every training experiment shares, with their defaults.
NET_SCHEMA = {"d": 16, "W_std": 2**0.5, "b_std": 0.0, "trainable": "all"}


# ---- task and network ------------------------------------------------------------------
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


DTYPES = ("float32", "float64")


@contextlib.contextmanager
def precision(name: str):
    """Context yielding the jnp dtype ``name``; "float64" turns on jax's x64 inside it
    when the process runs in float32 (jit caches key on the flag, so this is safe)."""
    if name == "float64" and jnp.result_type(float) != jnp.float64:
        enable = jax.enable_x64 if hasattr(jax, "enable_x64") else jax.experimental.enable_x64
        with enable(True):
            yield jnp.dtype("float64")
    else:
        yield jnp.dtype(name)


def cast(tree, dtype):
    """Every array leaf of ``tree`` as a jnp array of ``dtype``."""
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), tree)


# ---- training a batch of seeds ------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class SeedRuns:
    """Outcome of ``train_seeds``.

    Attributes:
      result: the ``TrainResult`` of the seeds that did not diverge (None if all did).
      trained: those seeds, in the order of ``result``'s seed axis.
      diverged: seed -> the ``TrainingDiverged`` it raised.
    """

    result: ntkfix.TrainResult | None
    trained: tuple[int, ...]
    diverged: dict[int, ntkfix.TrainingDiverged]

    def position(self, seed: int) -> int | None:
        """Index of ``seed`` on ``result``'s seed axis (None if it diverged)."""
        return self.trained.index(seed) if seed in self.trained else None

    def params(self, seed: int) -> list:
        """Final parameters of ``seed`` (unbatched)."""
        i = self.position(seed)
        return jax.tree_util.tree_map(lambda a: a[i], self.result.params)


def train_seeds(spec: ntkfix.MLP, seeds, x, y, **kwargs) -> SeedRuns:
    """``ntkfix.train_many(spec, seeds, x, y, **kwargs)``, dropping seeds that diverge.

    ``train_many`` raises on the first diverged seed; that seed is recorded and the
    remaining ones are run again (one extra run per diverged seed), so the other seeds'
    results are kept and identical to a run without the diverged one.
    """
    todo = [int(s) for s in seeds]
    diverged: dict[int, ntkfix.TrainingDiverged] = {}
    while todo:
        try:
            res = ntkfix.train_many(spec, todo, x, y, **kwargs)
        except ntkfix.TrainingDiverged as e:
            seed = todo[0] if e.seed is None else int(e.seed)
            diverged[seed] = e
            todo.remove(seed)
            continue
        return SeedRuns(res, tuple(todo), diverged)
    return SeedRuns(None, (), diverged)


def train_cell(cell: dict[str, Any], spec: ntkfix.MLP, task: Task, network: str, **kwargs):
    """``train_seeds`` on ``task``'s training set with the cell's seeds, steps, lr and
    trainable layers; ``kwargs`` go to ``ntkfix.train_many``."""
    return train_seeds(
        spec,
        cell["seeds"],
        task.x,
        task.y,
        network=network,
        steps=cell["steps"],
        lr=lr_arg(cell),
        trainable=trainable_arg(cell),
        **kwargs,
    )


# ---- kernel gradient descent (the linearized network) -------------------------------------
@dataclasses.dataclass(frozen=True)
class KernelGD:
    """Loss of kernel GD with the NTK at initialization: L_t = 1/(2n) sum_i c_i^2 q_i^t.

    With Theta_0 = V diag(lam) V^T on the training set, c = V^T (f_0 - Y) and
    eta = lr / n, each mode contracts by q_i = (1 - eta lam_i)^2 per step. This is the
    training loss of the network linearized at theta_0 (exactly that of a one-hidden-layer
    FAP net with only its hidden layer trained).
    """

    weights: np.ndarray  # c_i^2 / (2n)
    factors: np.ndarray  # q_i

    def loss(self, t) -> np.ndarray:
        """L_t at integer steps t (any shape)."""
        t = np.asarray(t, np.float64)[..., None]
        return np.sum(self.weights * np.power(self.factors, t), axis=-1)

    def steps_to(self, eps: float, limit: int = 10**8) -> int | None:
        """First step with L_t <= eps (exact: L_t is non-increasing when all q_i <= 1)."""
        if np.any(self.factors > 1 + 1e-9):  # some mode grows: lr above 2n / lambda_max
            return None
        if self.loss(0) <= eps:
            return 0
        hi = 1
        while self.loss(hi) > eps:
            if hi > limit:
                return None
            hi *= 2
        lo = hi // 2  # L_lo > eps >= L_hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if self.loss(mid) > eps else (lo, mid)
        return hi


def kernel_gd(spec: ntkfix.MLP, params0, x, y, lr: float, trainable=None) -> KernelGD:
    """``KernelGD`` for the net ``spec`` at ``params0`` (ReLU and FAP share Theta_0 there)."""
    K = np.asarray(ntkfix.empirical_ntk(spec, params0, x, trainable=trainable), np.float64)
    lam, V = np.linalg.eigh((K + K.T) / 2)
    resid = np.asarray(spec.apply(params0, x), np.float64) - np.asarray(y, np.float64)
    c = V.T @ resid[:, 0]
    n = K.shape[0]
    return KernelGD(weights=c**2 / (2 * n), factors=(1 - float(lr) / n * lam) ** 2)


def window_rate(steps, values, first: int, last: int) -> float:
    """Per-step factor exp(slope) of a log-linear least-squares fit over steps first..last."""
    s, v = np.asarray(steps), np.asarray(values, np.float64)
    keep = (s >= first) & (s <= last) & (v > 0)
    if keep.sum() < 2:
        return NAN
    return float(np.exp(np.polyfit(s[keep].astype(np.float64), np.log(v[keep]), 1)[0]))


def rates_or_none(result, eps: float, seed_index: int):
    """``ntkfix.convergence_rates`` for one seed, or None when the curve is too short to fit."""
    try:
        return ntkfix.convergence_rates(result, eps=eps, seed=seed_index)
    except ValueError:
        return None


def predicted_rate(result, seed_index: int) -> float:
    """Kernel-GD slowest-mode loss factor of one seed (``ntkfix.predicted_loss_rate``)."""
    pick = lambda a: float(np.asarray(a)[seed_index])
    return ntkfix.predicted_loss_rate(
        pick(result.lambda_min0), pick(result.lambda_max0), pick(result.lr), result.n_train
    )


def first_step_at_most(steps, values, eps: float) -> int | None:
    hit = np.flatnonzero(np.asarray(values) <= eps)
    return int(np.asarray(steps)[hit[0]]) if hit.size else None


# ---- table cells ----------------------------------------------------------------------------
def num(v) -> float:
    """A float for a table cell: None -> NaN."""
    return NAN if v is None else float(v)


def compact(values, digits: int = 5) -> list[float]:
    """Floats rounded to ``digits`` significant digits (for JSON columns)."""
    return [float(f"{float(v):.{digits}g}") for v in np.asarray(values).ravel()]


def curves_json(**curves) -> str:
    """JSON object of named 1-D curves, e.g. ``{"step": [...], "train_loss": [...]}``."""
    return json.dumps(
        {k: compact(v) if k != "step" else [int(s) for s in v] for k, v in curves.items()}
    )


def read_curves(text: str) -> dict[str, np.ndarray]:
    """Inverse of ``curves_json``."""
    return {k: np.asarray(v, float) for k, v in json.loads(text).items()}


def param_change(params0, params) -> float:
    """||theta - theta_0|| / ||theta_0|| over all parameters."""
    leaves0 = [np.asarray(a, np.float64) for a in jax.tree_util.tree_leaves(params0)]
    leaves = [np.asarray(a, np.float64) for a in jax.tree_util.tree_leaves(params)]
    num_ = sum(float(np.sum((a - b) ** 2)) for a, b in zip(leaves, leaves0, strict=True))
    return math.sqrt(num_ / sum(float(np.sum(b**2)) for b in leaves0))


# ---- config checks ----------------------------------------------------------------------------
def knob_values(cfg: Config, key: str) -> tuple:
    """Every value a knob takes in ``cfg`` (its grid axis, or its fixed value)."""
    return tuple(cfg.grid[key]) if key in cfg.grid else (cfg.params[key],)


def check_at_least(cfg: Config, exp: str, keys, low) -> None:
    for key in keys:
        v = min(knob_values(cfg, key))
        require(v >= low, f"{exp}: '{key}' must be >= {low}, got {v}")


def check_positive(cfg: Config, exp: str, keys) -> None:
    for key in keys:
        v = min(knob_values(cfg, key))
        require(v > 0, f"{exp}: '{key}' must be > 0, got {v}")


def check_choices(cfg: Config, exp: str, key: str, choices) -> None:
    for v in knob_values(cfg, key):
        require(
            v in choices,
            f"{exp}: '{key}' must be one of {', '.join(map(repr, choices))}, got {v!r}",
        )


def check_list(cfg: Config, exp: str, key: str, choices) -> None:
    """A list-valued knob (inside each cell): non-empty, no duplicates, entries in ``choices``."""
    require(key not in cfg.grid, f"{exp}: '{key}' is a list inside each cell, put it in [params]")
    values = cfg.params[key]
    require(values != [], f"{exp}: '{key}' must be a non-empty list")
    bad = [v for v in values if v not in choices]
    require(
        not bad, f"{exp}: '{key}' entries must be in {', '.join(map(repr, choices))}, got {bad!r}"
    )
    require(len(set(values)) == len(values), f"{exp}: '{key}' has duplicates: {values!r}")


def check_seeds(cfg: Config, exp: str) -> None:
    seeds = cfg.params["seeds"]
    require(seeds != [], f"{exp}: 'seeds' must be a non-empty list of integers")
    require(
        all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds),
        f"{exp}: 'seeds' must hold integers >= 0, got {seeds!r}",
    )
    require(len(set(seeds)) == len(seeds), f"{exp}: 'seeds' has duplicates: {seeds!r}")


def check_network(cfg: Config, exp: str) -> None:
    """Checks of the knobs in NET_SCHEMA plus width, depth, n, lr, seeds."""
    require(
        "seeds" not in cfg.grid, f"{exp}: 'seeds' is a list inside each cell, put it in [params]"
    )
    check_at_least(cfg, exp, ("width", "depth", "d", "n"), 1)
    check_positive(cfg, exp, ("W_std",))
    check_at_least(cfg, exp, ("b_std", "lr"), 0)
    check_choices(cfg, exp, "trainable", tuple(TRAINABLE))
    check_seeds(cfg, exp)
