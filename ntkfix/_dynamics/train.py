"""Full-batch gradient descent on ReLU and FAP networks, with NTK and linearization diagnostics.

Loss and step (n training points, k outputs, trainable layers S):

    L(theta) = 1/(2n) ||f(X; theta) - Y||_F^2,     theta_S <- theta_S - lr * grad_S L.

For the network linearized at theta_0 this is, in function space (module
``ntkfix._dynamics.linearized``), f_{t+1} = f_t - (lr/n) Theta_full (f_t - Y) with Theta_full the
(n k x n k) empirical NTK of the layers in S at theta_0. ``lr=None`` picks
lr = n / lambda_max(Theta_full): the stiffest mode is solved in one step and every
mode contracts by |1 - lr lambda / n| <= 1 per step (kernel GD is stable for
lr < 2n / lambda_max).

The step loop runs inside ``jax.jit`` as a ``lax.scan`` over chunks of
``record_every`` steps; diagnostics are computed only at recorded steps
(0, r, 2r, ..., and the last step):

    train_loss, test_loss   L on (X, Y) and on (x*, y*) (same 1/(2n*) normalisation)
    ntk_drift               ||Theta_t - Theta_0||_F / ||Theta_0||_F   (traced (n, n) kernels)
    lambda_min              smallest eigenvalue of the traced Theta_t(X, X)
    lin_gap_train/test      RMS over entries of f_t - f_t^lin (the linearized trajectory)

``train_many`` vmaps the same compiled run over a batch of seeds.

References: Jacot et al. 2018 (arXiv:1806.07572); Lee et al. 2019 (arXiv:1902.06720);
Du et al. 2019 (arXiv:1810.02054); Arora et al. 2019 (arXiv:1904.11955).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core.validate import (
    check_choice,
    check_targets,
)
from ntkfix._dynamics.loop import RunConfig, finish, run_batch, run_host, run_one
from ntkfix._dynamics.options import TrainOptions
from ntkfix._dynamics.results import TrainResult
from ntkfix._models.base import check_model
from ntkfix._models.fixed import FixedPattern
from ntkfix._models.network import Network

Model = Network
Params = Any


def _inputs(model, params, x, x_test, trainable):
    """(selection, x, x_test, out_dim): the trained part (``Network.check_trainable``) and
    the validated inputs (x_test of the shape of x per example)."""
    layers = model.check_trainable(trainable)
    x = model.check_inputs(x, "x")
    out_dim = model.output_shape(params, x)[1]
    if x_test is not None:
        x_test = model.check_inputs(x_test, "x_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"x_test must have the shape of x per example, got {tuple(x_test.shape)} "
                f"and {tuple(x.shape)}"
            )
    return layers, x, x_test, out_dim


# The run takes the eigenvalues of the (n k, n k) Theta_0 (the step size n / lambda_max,
# lambda_min, the linearized model) with jax's dense eigensolver, whose LAPACK workspace
# 1 + 6 N + 2 N^2 must fit a 32-bit int: N <= 32,767.
EIG_MAX_ROWS = 32_767


def check_eig_rows(n: int, k: int) -> None:
    """Refuse, before any work, a run whose (n k, n k) Theta_0 the dense eigensolver cannot
    take (``EIG_MAX_ROWS``)."""
    if n * k > EIG_MAX_ROWS:
        raise ValueError(
            f"train takes the eigenvalues of the ({n * k}, {n * k}) NTK at theta_0 (n = {n} "
            f"points x k = {k} outputs: its step size n / lambda_max and lambda_min), and "
            f"jax's dense eigensolver takes at most {EIG_MAX_ROWS} rows (LAPACK's 32-bit "
            f"workspace): use n <= {EIG_MAX_ROWS // k} points with {k} outputs"
        )


def _prepare(model, params, data, dtype, opts: TrainOptions):
    """Validated arrays, config and divergence factor shared by ``train`` and ``train_many``:
    ``data`` = (x, y, x_test, y_test) -> (x, y, x_test, y_test, lr, cfg, factor)."""
    x, y, x_test, y_test = data
    steps, record_every, lr, track = opts.steps, opts.record_every, opts.lr, opts.track
    if (x_test is None) != (y_test is None):
        given, missing = ("x_test", "y_test") if y_test is None else ("y_test", "x_test")
        raise ValueError(f"{given} was given without {missing}: pass both or neither")
    layers, x, x_test, out_dim = _inputs(model, params, x, x_test, opts.trainable)
    check_eig_rows(x.shape[0], out_dim)
    x = x.astype(dtype)
    y = check_targets(y, "y", rows=x.shape[0], out_dim=out_dim).astype(dtype)
    if x_test is not None:
        x_test = x_test.astype(dtype)
        y_test = check_targets(
            y_test, "y_test", rows=x_test.shape[0], against="x_test", out_dim=out_dim
        )
        y_test = y_test.astype(dtype)
    cfg = RunConfig(
        layers=layers,
        n_chunks=steps // record_every,
        record_every=record_every,
        remainder=steps % record_every,
        auto_lr=lr is None,
        has_test=x_test is not None,
        track_ntk="ntk" in track,
        track_lin="linearized" in track,
        track_outputs="outputs" in track,
    )
    return x, y, x_test, y_test, lr, cfg, opts.divergence_factor


def _params_dtype(params: Params):
    leaves = jax.tree_util.tree_leaves(params)
    dtype = jnp.result_type(*leaves) if leaves else jnp.result_type(float)
    return _check_train_dtype(dtype, "params")


def _check_train_dtype(dtype, name: str):
    """float32 or float64 (the eigendecompositions of the NTK need at least float32)."""
    dtype = jnp.dtype(dtype)
    if dtype not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
        raise TypeError(f"{name} must be float32 or float64 for training, got {dtype}")
    return dtype


def _network_of(spec: Any) -> Network:
    """The network ``train_many`` initialises and trains (not a FAP net: it makes those)."""
    base = check_model(spec, "spec")
    if base.is_fixed_pattern:
        raise TypeError(
            "spec must be an ntkfix.MLP or a network (a function, a stax triple), not a "
            "FixedPattern: train_many makes its FAP nets itself (network='fap')"
        )
    return base


def _inits(base: Network, keys: list, init_fn: Any, dtype) -> list:
    """theta_0 per key: ``init_fn(key)`` (cast to ``dtype``), or the network's own
    ``init(key, dtype)`` (an ``MLP``'s: bitwise equal to ``spec.init(key)``)."""
    cast = lambda p: jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), p)
    if init_fn is None:
        return [cast(base.init(key, dtype)) for key in keys]
    if not callable(init_fn):
        raise TypeError(f"init_fn must be a function init_fn(key) -> params, got {init_fn!r}")
    return [cast(base.check_params(init_fn(key), "init_fn(key)")) for key in keys]


# ---- public ----------------------------------------------------------------------------
def train(
    model: Model,
    params: Params,
    x: Any,
    y: Any,
    *,
    x_test: Any = None,
    y_test: Any = None,
    **options: Any,
) -> TrainResult:
    """Full-batch gradient descent on 1/(2n) ||f(X) - Y||_F^2 (module docstring).

    Args:
      model: ``ntkfix.MLP`` (ReLU net), ``ntkfix.FixedPattern`` (gates at its params0),
        or any network ``f(params, x)`` / stax triple (docs: "Your own network"); then
        ``trainable`` must be None and every parameter is trained.
      params: initial parameters theta_0 of the trained run (an MLP's: the stax.serial
        layout; any other network's: its own pytree); all
        arrays (x, y, lr) are cast to their dtype.
      x: (n, in_dim) training inputs ((n, ...) for a network that is not an MLP).
      y: (n, out_dim) targets; a 1-D y of length n is accepted when out_dim == 1.
      x_test, y_test: optional held-out data (both or neither).
      **options: the run's knobs (``TrainOptions``, validated by it):
      steps: number of GD steps (>= 1).
      lr: step size, or None for n / lambda_max(Theta_0) (Theta_0 the full NTK of the
        trainable layers at ``params``), reported in ``result.lr``.
      trainable: layers updated (and whose NTK is measured): None (all), an index, a
        sequence of indices (-1 = readout), "hidden" or "readout"; frozen layers keep
        their values.
      record_every: diagnostics every this many steps (and at the last step).
      track: diagnostics beyond the losses: "ntk" (drift, lambda_min), "linearized"
        (gap to the closed-form linearized trajectory), "outputs" (keep f_t on train and
        test at recorded steps in the result).
      divergence_factor: a recorded loss above this factor x (L_0 + ||Y||^2/(2n)), or a
        non-finite one, raises ``TrainingDiverged``.

    Returns:
      a ``TrainResult``; ``result.to_frame()`` is the history as a table.

    Examples:
      >>> import jax, ntkfix
      >>> spec = ntkfix.MLP(2, 16, 1)
      >>> p0 = spec.init(jax.random.PRNGKey(0))
      >>> x = jax.random.normal(jax.random.PRNGKey(1), (8, 2))
      >>> y = jax.numpy.sin(x[:, :1])
      >>> res = ntkfix.train(spec, p0, x, y, steps=20, record_every=10)
      >>> res.to_frame()["step"].tolist()
      [0, 10, 20]
    """
    opts = TrainOptions.of(options, "train")
    model = check_model(model)
    params = model.check_params(params)
    dtype = _params_dtype(params)
    data = (x, y, x_test, y_test)
    x, y, x_test, y_test, lr, cfg, factor = _prepare(model, params, data, dtype, opts)
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), params)
    lr_arr = jnp.asarray(0.0 if lr is None else lr, dtype)
    args = (model, params, x, y, x_test, y_test, lr_arr, jnp.asarray(factor, dtype))
    out = run_host(*args, cfg) if model.host_loop(params, x) else run_one(*args, cfg=cfg)
    return finish(cfg, out, x.shape[0])


def _as_keys(seeds: Any) -> tuple[list, np.ndarray]:
    """(keys, labels) from a sequence of int seeds or a (S, 2) uint32 key array."""
    arr = np.asarray(seeds)
    if arr.ndim == 2 and arr.shape[1] == 2 and arr.dtype == np.uint32:
        return list(jnp.asarray(arr)), np.arange(arr.shape[0])
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
        raise ValueError(
            "seeds must be a non-empty 1-D sequence of integers or a (S, 2) uint32 key array "
            f"(jax.random.split(key, S)), got {type(seeds).__name__} of shape {arr.shape}"
        )
    return [jax.random.PRNGKey(int(s)) for s in arr], arr.copy()


def train_many(
    spec: Any,
    seeds: Any,
    x: Any,
    y: Any,
    *,
    network: str = "relu",
    init_fn: Any = None,
    dtype: Any = None,
    x_test: Any = None,
    y_test: Any = None,
    **options: Any,
) -> TrainResult:
    """``train`` for many initialisations at once, the seed axis vectorized by ``jax.vmap``.

    Seed s initialises theta_0 = ``spec.init(PRNGKey(s), dtype)`` (or uses key s), and
    trains the ReLU net (``network="relu"``) or ``FixedPattern(spec, theta_0)``
    (``network="fap"``) from theta_0. Every other argument as in ``train``; with
    ``lr=None`` each seed gets its own n / lambda_max. The result's arrays carry a
    leading seed axis S; ``to_frame()`` has a ``seed`` column. A diverged seed raises
    ``TrainingDiverged`` naming it (under vmap the other seeds' steps are still computed).

    Args:
      spec: the ``ntkfix.MLP`` to initialise and train, or any other network (a function
        ``f(params, x)``, a stax triple) with ``init_fn``.
      init_fn: for a network without a spec: ``init_fn(key) -> params``.
      seeds: a 1-D sequence of int seeds, or a (S, 2) uint32 key array
        (``jax.random.split(key, S)``).
      network: "relu" or "fap".
      dtype: parameter dtype (default: jax's default float).
      x_test, y_test, **options: as in ``train`` (``TrainOptions``: steps, lr,
        trainable, record_every, track, divergence_factor).

    Returns:
      a ``TrainResult`` with a leading seed axis (``convergence_rates(res, seed=i)``).

    Examples:
      >>> import jax, ntkfix
      >>> spec = ntkfix.MLP(2, 16, 1)
      >>> x = jax.random.normal(jax.random.PRNGKey(1), (8, 2))
      >>> res = ntkfix.train_many(spec, [0, 1, 2], x, x[:, :1], network="fap", steps=5)
      >>> res.history.train_loss.shape, res.to_frame().shape[0]
      ((3, 6), 18)
    """
    check_choice(network, "network", ("relu", "fap"))
    keys, labels = _as_keys(seeds)
    dtype = _check_train_dtype(jnp.result_type(float) if dtype is None else dtype, "dtype")
    opts = TrainOptions.of(options, "train_many")
    base = _network_of(spec)
    inits = _inits(base, keys, init_fn, dtype)  # cheap, per key; the runs are vmapped
    data = (x, y, x_test, y_test)
    x, y, x_test, y_test, lr, cfg, factor = _prepare(base, inits[0], data, dtype, opts)
    models = [FixedPattern(base, p) for p in inits] if network == "fap" else [base] * len(inits)
    stack = lambda trees: jax.tree_util.tree_map(lambda *a: jnp.stack(a), *trees)
    lr_arr = jnp.full((len(labels),), 0.0 if lr is None else lr, dtype)
    factor = jnp.asarray(factor, dtype)
    args = (stack(models), stack(inits), x, y, x_test, y_test, lr_arr, factor)
    if base.host_loop(inits[0], x):
        out = run_host(*args, cfg, batched=True)
    else:
        out = run_batch(*args, cfg=cfg)
    return finish(cfg, out, x.shape[0], seeds=labels)
