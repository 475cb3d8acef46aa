"""Full-batch gradient descent on ReLU and FAP MLPs, with NTK and linearization diagnostics.

Loss and step (n training points, k outputs, trainable layers S):

    L(theta) = 1/(2n) ||f(X; theta) - Y||_F^2,     theta_S <- theta_S - lr * grad_S L.

For the network linearized at theta_0 this is, in function space (module
``ntkfix._linearized``), f_{t+1} = f_t - (lr/n) Theta_full (f_t - Y) with Theta_full the
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

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ntkfix._linearized import linearized_predict, linearized_state
from ntkfix._nets import MLP, FixedPattern, Model, Params, check_model, fap_forward, relu_gates
from ntkfix._ntk import ntk_features, ntk_from_features
from ntkfix._validate import (
    as_float_array,
    check_choice,
    check_finite,
    check_inputs,
    check_nonneg_float,
    check_positive_int,
    normalize_layers,
)

TRACKABLE = ("ntk", "linearized", "outputs")
DEFAULT_TRACK = ("ntk", "linearized")
DIVERGENCE_FACTOR = 1e6


class TrainingDiverged(FloatingPointError, ValueError):
    """Training loss became non-finite or exceeded ``divergence_factor`` x its reference.

    Detected at recorded steps (the loop runs inside jit): ``step`` is the first recorded
    step where it happened, ``loss`` the loss there, ``lr`` the step size, ``seed`` the
    seed label for ``train_many`` (the int seed, or the key's index), else None. A
    single run skips its remaining GD steps once diverged.
    """

    def __init__(self, step: int, loss: float, lr: float, seed: int | None = None):
        self.step, self.loss, self.lr, self.seed = step, loss, lr, seed
        where = "" if seed is None else f" (seed {seed})"
        super().__init__(
            f"training diverged{where}: train loss {loss:.6g} at recorded step {step} with "
            f"lr={lr:.6g}; try a smaller lr (lr=None picks n / lambda_max(Theta_0)) or a "
            f"smaller record_every to locate the step"
        )


# ---- results -------------------------------------------------------------------------
_COLUMNS = ("train_loss", "test_loss", "ntk_drift", "lambda_min", "lin_gap_train", "lin_gap_test")


@dataclasses.dataclass(frozen=True, eq=False)
class History:
    """Diagnostics at the recorded steps (module docstring for the definitions).

    Attributes:
      step: (T,) recorded step numbers.
      train_loss, test_loss, ntk_drift, lambda_min, lin_gap_train, lin_gap_test:
        (T,) arrays, or (S, T) for ``train_many``; None where not tracked.
      seeds: (S,) seed labels for ``train_many``, else None.
    """

    step: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray | None = None
    ntk_drift: np.ndarray | None = None
    lambda_min: np.ndarray | None = None
    lin_gap_train: np.ndarray | None = None
    lin_gap_test: np.ndarray | None = None
    seeds: np.ndarray | None = None

    def to_frame(self) -> pd.DataFrame:
        """Tidy table, one row per recorded step (and seed); untracked columns omitted."""
        cols = {c: getattr(self, c) for c in _COLUMNS if getattr(self, c) is not None}
        if self.seeds is None:
            return pd.DataFrame({"step": self.step, **cols})
        S, T = len(self.seeds), len(self.step)
        return pd.DataFrame(
            {
                "seed": np.repeat(self.seeds, T),
                "step": np.tile(self.step, S),
                **{c: np.asarray(v).reshape(S * T) for c, v in cols.items()},
            }
        )


@dataclasses.dataclass(frozen=True, eq=False)
class TrainResult:
    """Outcome of ``train`` / ``train_many`` (batched fields get a leading seed axis S).

    Attributes:
      params: final parameters (stax.serial layout).
      lr: step size used (float, or (S,) for ``train_many``).
      history: ``History`` at the recorded steps.
      n_train: number of training points n (the loss is 1/(2n) ||f - Y||^2).
      lambda_min0, lambda_max0: extreme eigenvalues of the full (n k x n k) NTK at theta_0
        of the trainable layers: the kernel that drives linearized GD.
      outputs_train: (T, n, k) f_t(X) at recorded steps when ``"outputs"`` is tracked.
      outputs_test: (T, n*, k) f_t(x*) likewise (None without test data).
    """

    params: Params
    lr: float | np.ndarray
    history: History
    n_train: int
    lambda_min0: float | np.ndarray
    lambda_max0: float | np.ndarray
    outputs_train: np.ndarray | None = None
    outputs_test: np.ndarray | None = None

    def to_frame(self) -> pd.DataFrame:
        """``history.to_frame()`` with the step size as an extra column."""
        df = self.history.to_frame()
        lr = np.asarray(self.lr)
        df["lr"] = lr if lr.ndim == 0 else np.repeat(lr, len(self.history.step))
        return df

    def rates(self, eps: float = 1e-6, **fit_kwargs) -> Any:
        """``ntkfix.convergence_rates(self, eps=eps, **fit_kwargs)``."""
        from ntkfix._rates import convergence_rates

        return convergence_rates(self, eps=eps, **fit_kwargs)


# ---- the compiled run ------------------------------------------------------------------
class _Config(NamedTuple):
    layers: tuple[int, ...]
    n_chunks: int
    record_every: int
    remainder: int
    auto_lr: bool
    has_test: bool
    track_ntk: bool
    track_lin: bool
    track_outputs: bool


def _forward(model: Model, x: jax.Array):
    """params -> f(x) (n, k); a FAP net's gates are computed once, outside the loop."""
    spec = model.spec
    if isinstance(model, FixedPattern):
        gates = relu_gates(spec, model.params0, x)
        return lambda p: fap_forward(spec, p, gates, x)
    return lambda p: spec.preactivations(p, x)[-1]


def _merge(params: Params, layers: tuple[int, ...], sub: list) -> Params:
    out = list(params)
    for l, wb in zip(layers, sub, strict=True):
        out[2 * l] = wb
    return out


def _half_mse(f: jax.Array, y: jax.Array) -> jax.Array:
    return 0.5 * jnp.sum((f - y) ** 2) / y.shape[0]


def _rms(a: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.mean(a**2))


class _Kernel0(NamedTuple):
    full: jax.Array  # (n, n, k, k) full NTK at theta_0 of the trainable layers
    evals: jax.Array  # (n k,) ascending eigenvalues of its (n k, n k) flattening
    evecs: jax.Array | None  # (n k, n k) eigenvectors, when the linearized model is tracked
    traced: jax.Array  # (n, n) traced NTK (reference for the drift)
    cross: jax.Array | None  # (n*, n, k, k) Theta_0(x*, X), when needed


def _kernel_at_init(model, params, x, x_test, layers, with_linearized: bool) -> _Kernel0:
    """Theta_0 in the forms the run needs (one feature pass per input set)."""
    spec = model.spec
    feats = ntk_features(model, params, x, layers)
    full = ntk_from_features(spec, layers, feats, feats, trace=False)
    n, _, k, _ = full.shape
    flat = jnp.transpose(full, (0, 2, 1, 3)).reshape(n * k, n * k)
    flat = (flat + flat.T) / 2
    evals, evecs = jnp.linalg.eigh(flat) if with_linearized else (jnp.linalg.eigvalsh(flat), None)
    cross = None
    if with_linearized and x_test is not None:
        feats_test = ntk_features(model, params, x_test, layers)
        cross = ntk_from_features(spec, layers, feats_test, feats, trace=False)
    traced = ntk_from_features(spec, layers, feats, feats, trace=True)
    return _Kernel0(full, evals, evecs, traced, cross)


def _run(model, params, x, y, x_test, y_test, lr, factor, cfg: _Config):
    """One training run (pure, traceable); returns (params, lr, lam0, records, bad flags)."""
    spec, layers = model.spec, cfg.layers
    n = y.shape[0]
    f_train = _forward(model, x)
    f_test = _forward(model, x_test) if cfg.has_test else None
    K0 = _kernel_at_init(model, params, x, x_test, layers, cfg.track_lin)
    lam0 = (K0.evals[0], K0.evals[-1])
    lr = n / K0.evals[-1] if cfg.auto_lr else lr
    eta = lr / n
    T0, T0_norm = K0.traced, jnp.linalg.norm(K0.traced)
    f0 = f_train(params)
    f0_test = f_test(params) if cfg.has_test else None
    lin = None
    if cfg.track_lin:
        lin = linearized_state(K0.full, y, f0, K0.cross, f0_test, eigh=(K0.evals, K0.evecs))
    ref = _half_mse(f0, y) + _half_mse(jnp.zeros_like(y), y)

    def record(p, t):
        f = f_train(p)
        rec = {"train_loss": _half_mse(f, y)}
        ft = f_test(p) if cfg.has_test else None
        if cfg.has_test:
            rec["test_loss"] = _half_mse(ft, y_test)
        if cfg.track_ntk:
            feats = ntk_features(model, p, x, layers)
            Kt = ntk_from_features(spec, layers, feats, feats, trace=True)
            rec["ntk_drift"] = jnp.linalg.norm(Kt - T0) / T0_norm
            rec["lambda_min"] = jnp.linalg.eigvalsh((Kt + Kt.T) / 2)[0]
        if cfg.track_lin:
            fl, fl_test = linearized_predict(lin, eta, t)
            rec["lin_gap_train"] = _rms(f - fl)
            if cfg.has_test:
                rec["lin_gap_test"] = _rms(ft - fl_test)
        if cfg.track_outputs:
            rec["outputs_train"] = f
            if cfg.has_test:
                rec["outputs_test"] = ft
        return rec

    def gd_step(_, p):
        sub = [p[2 * l] for l in layers]
        grads = jax.grad(lambda s: _half_mse(f_train(_merge(p, layers, s)), y))(sub)
        return _merge(p, layers, jax.tree_util.tree_map(lambda a, g: a - lr * g, sub, grads))

    def is_bad(loss):
        return ~jnp.isfinite(loss) | (loss > factor * ref)

    def chunk(carry, count):
        """``count`` GD steps (skipped once diverged), then the diagnostics."""
        p, t, bad = carry
        p = jax.lax.cond(bad, lambda q: q, lambda q: jax.lax.fori_loop(0, count, gd_step, q), p)
        t = t + count.astype(t.dtype)
        rec = record(p, t)
        bad = bad | is_bad(rec["train_loss"])
        return (p, t, bad), (rec, bad)

    # One scan over chunk lengths [0, r, ..., r, remainder]: the first chunk records step 0,
    # and the loop body and the diagnostics are traced (compiled) once.
    counts = jnp.asarray(_chunk_counts(cfg))
    init = (params, jnp.zeros((), x.dtype), jnp.zeros((), bool))
    (p_final, _, _), (records, bad) = jax.lax.scan(chunk, init, counts)
    return p_final, lr, lam0, records, bad


_run_one = jax.jit(_run, static_argnames=("cfg",))


@functools.partial(jax.jit, static_argnames=("cfg",))
def _run_batch(models, params, x, y, x_test, y_test, lr, factor, cfg):
    """``_run`` vmapped over a leading seed axis of (models, params, lr)."""
    one = lambda m, p, r: _run(m, p, x, y, x_test, y_test, r, factor, cfg)
    return jax.vmap(one)(models, params, lr)


# ---- validation ------------------------------------------------------------------------
def _check_targets(y: Any, name: str, n: int, out_dim: int, x_name: str) -> jax.Array:
    """(n, out_dim) targets; a 1-D y of length n is accepted when out_dim == 1."""
    arr = as_float_array(y, name)
    if arr.ndim == 1 and out_dim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != out_dim:
        hint = " (1-D targets are only accepted for out_dim=1)" if arr.ndim == 1 else ""
        raise ValueError(
            f"{name} must have shape (n, out_dim) = (n, {out_dim}), got {tuple(arr.shape)}{hint}"
        )
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} rows but {x_name} has {n}")
    check_finite(arr, name)
    return arr


def _check_track(track: Any) -> tuple[str, ...]:
    if isinstance(track, str):
        track = (track,)
    try:
        items = tuple(track)
    except TypeError:
        raise TypeError(
            f"track must be a sequence of names from {TRACKABLE}, got {track!r}"
        ) from None
    for t in items:
        check_choice(t, "track entry", TRACKABLE)
    return items


def _prepare(spec, data, dtype, steps, lr, trainable, record_every, track, divergence_factor):
    """Validated arrays, config and divergence factor shared by ``train`` and ``train_many``:
    ``data`` = (x, y, x_test, y_test) -> (x, y, x_test, y_test, lr, cfg, factor)."""
    x, y, x_test, y_test = data
    steps = check_positive_int(steps, "steps")
    record_every = check_positive_int(record_every, "record_every")
    if lr is not None:
        lr = check_nonneg_float(lr, "lr")
        if lr == 0:
            raise ValueError("lr must be > 0 (or None for n / lambda_max(Theta_0))")
    track = _check_track(track)
    layers = normalize_layers(trainable, spec.n_layers)
    x = check_inputs(x, "x", spec.in_dim).astype(dtype)
    y = _check_targets(y, "y", x.shape[0], spec.out_dim, "x").astype(dtype)
    if (x_test is None) != (y_test is None):
        given, missing = ("x_test", "y_test") if y_test is None else ("y_test", "x_test")
        raise ValueError(f"{given} was given without {missing}: pass both or neither")
    if x_test is not None:
        x_test = check_inputs(x_test, "x_test", spec.in_dim).astype(dtype)
        y_test = _check_targets(y_test, "y_test", x_test.shape[0], spec.out_dim, "x_test")
        y_test = y_test.astype(dtype)
    cfg = _Config(
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
    return x, y, x_test, y_test, lr, cfg, _check_divergence_factor(divergence_factor)


def _chunk_counts(cfg: _Config) -> np.ndarray:
    """GD steps before each record: [0, r, ..., r] plus the remainder when r does not divide."""
    counts = [0] + [cfg.record_every] * cfg.n_chunks + ([cfg.remainder] if cfg.remainder else [])
    return np.asarray(counts, np.int32)


def _recorded_steps(cfg: _Config) -> np.ndarray:
    return np.cumsum(_chunk_counts(cfg)).astype(np.int64)


def _finish(cfg, out, n, seeds=None) -> TrainResult:
    """Host-side: raise on divergence, wrap arrays into a ``TrainResult``."""
    params, lr, (lmin, lmax), recs, bad = out
    steps = _recorded_steps(cfg)
    lr_np, bad = np.asarray(lr), np.asarray(bad)
    loss = np.asarray(recs["train_loss"])
    if cfg.auto_lr and not (np.isfinite(lr_np).all() and (lr_np > 0).all()):
        raise ValueError(
            f"lr=None needs lambda_max(Theta_0) > 0, got lambda_max = {np.asarray(lmax)}: "
            "the NTK of the trainable layers vanishes on x; pass lr explicitly"
        )
    if bad.any():
        bad2 = bad.reshape(-1, len(steps))
        s = int(np.argmax(bad2.any(axis=1)))
        i = int(np.argmax(bad2[s]))
        lr_s = float(lr_np.reshape(-1)[s]) if lr_np.ndim else float(lr_np)
        raise TrainingDiverged(
            int(steps[i]),
            float(loss.reshape(-1, len(steps))[s, i]),
            lr_s,
            None if seeds is None else int(seeds[s]),
        )
    host = {c: np.asarray(recs[c]) for c in _COLUMNS if c in recs}
    history = History(step=steps, seeds=seeds, **host)
    scalar = (lambda a: float(a)) if seeds is None else np.asarray
    return TrainResult(
        params=params,
        lr=scalar(lr),
        history=history,
        n_train=n,
        lambda_min0=scalar(lmin),
        lambda_max0=scalar(lmax),
        outputs_train=np.asarray(recs["outputs_train"]) if "outputs_train" in recs else None,
        outputs_test=np.asarray(recs["outputs_test"]) if "outputs_test" in recs else None,
    )


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


def _check_divergence_factor(value) -> float:
    """> 0; ``inf`` turns divergence detection off (non-finite losses still stop)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"divergence_factor must be a number > 0, got {value!r}") from None
    if not v > 0:
        raise ValueError(f"divergence_factor must be > 0 (inf disables the check), got {value!r}")
    return v


# ---- public ----------------------------------------------------------------------------
def train(
    model: Model,
    params: Params,
    x: Any,
    y: Any,
    *,
    steps: int,
    lr: float | None = None,
    trainable: Any = None,
    x_test: Any = None,
    y_test: Any = None,
    record_every: int = 1,
    track: Any = DEFAULT_TRACK,
    divergence_factor: float = DIVERGENCE_FACTOR,
) -> TrainResult:
    """Full-batch gradient descent on 1/(2n) ||f(X) - Y||_F^2 (module docstring).

    Args:
      model: ``ntkfix.MLP`` (ReLU net) or ``ntkfix.FixedPattern`` (gates at its params0).
      params: initial parameters theta_0 of the trained run (stax.serial layout); all
        arrays (x, y, lr) are cast to their dtype.
      x: (n, in_dim) training inputs.
      y: (n, out_dim) targets; a 1-D y of length n is accepted when out_dim == 1.
      steps: number of GD steps (>= 1).
      lr: step size, or None for n / lambda_max(Theta_0) (Theta_0 the full NTK of the
        trainable layers at ``params``), reported in ``result.lr``.
      trainable: layers updated (and whose NTK is measured): None (all), an index, a
        sequence of indices (-1 = readout), "hidden" or "readout"; frozen layers keep
        their values.
      x_test, y_test: optional held-out data (both or neither).
      record_every: diagnostics every this many steps (and at the last step).
      track: diagnostics beyond the losses: "ntk" (drift, lambda_min), "linearized"
        (gap to the closed-form linearized trajectory), "outputs" (keep f_t on train and
        test at recorded steps in the result).
      divergence_factor: a recorded loss above this factor x (L_0 + ||Y||^2/(2n)), or a
        non-finite one, raises ``TrainingDiverged``.
    Returns:
      a ``TrainResult``; ``result.to_frame()`` is the history as a table.

    Example:
      >>> import jax, ntkfix
      >>> spec = ntkfix.MLP(2, 16, 1)
      >>> p0 = spec.init(jax.random.PRNGKey(0))
      >>> x = jax.random.normal(jax.random.PRNGKey(1), (8, 2))
      >>> y = jax.numpy.sin(x[:, :1])
      >>> res = ntkfix.train(spec, p0, x, y, steps=20, record_every=10)
      >>> res.to_frame()["step"].tolist()
      [0, 10, 20]
    """
    model = check_model(model)
    spec = model.spec
    params = spec.check_params(params)
    dtype = _params_dtype(params)
    settings = (steps, lr, trainable, record_every, track, divergence_factor)
    x, y, x_test, y_test, lr, cfg, factor = _prepare(spec, (x, y, x_test, y_test), dtype, *settings)
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), params)
    lr_arr = jnp.asarray(0.0 if lr is None else lr, dtype)
    out = _run_one(model, params, x, y, x_test, y_test, lr_arr, jnp.asarray(factor, dtype), cfg=cfg)
    return _finish(cfg, out, x.shape[0])


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
    spec: MLP,
    seeds: Any,
    x: Any,
    y: Any,
    *,
    network: str = "relu",
    steps: int,
    lr: float | None = None,
    trainable: Any = None,
    x_test: Any = None,
    y_test: Any = None,
    record_every: int = 1,
    track: Any = DEFAULT_TRACK,
    divergence_factor: float = DIVERGENCE_FACTOR,
    dtype: Any = None,
) -> TrainResult:
    """``train`` for many initialisations at once, the seed axis vectorized by ``jax.vmap``.

    Seed s initialises theta_0 = ``spec.init(PRNGKey(s), dtype)`` (or uses key s), and
    trains the ReLU net (``network="relu"``) or ``FixedPattern(spec, theta_0)``
    (``network="fap"``) from theta_0. Every other argument as in ``train``; with
    ``lr=None`` each seed gets its own n / lambda_max. The result's arrays carry a
    leading seed axis S; ``to_frame()`` has a ``seed`` column. A diverged seed raises
    ``TrainingDiverged`` naming it (under vmap the other seeds' steps are still computed).

    Args:
      spec: the ``ntkfix.MLP`` to initialise and train.
      seeds: a 1-D sequence of int seeds, or a (S, 2) uint32 key array
        (``jax.random.split(key, S)``).
      network: "relu" or "fap".
      dtype: parameter dtype (default: jax's default float).
    Returns:
      a ``TrainResult`` with a leading seed axis (``convergence_rates(res, seed=i)``).

    Example:
      >>> import jax, ntkfix
      >>> spec = ntkfix.MLP(2, 16, 1)
      >>> x = jax.random.normal(jax.random.PRNGKey(1), (8, 2))
      >>> res = ntkfix.train_many(spec, [0, 1, 2], x, x[:, :1], network="fap", steps=5)
      >>> res.history.train_loss.shape, res.to_frame().shape[0]
      ((3, 6), 18)
    """
    if not isinstance(spec, MLP):
        raise TypeError(f"spec must be an ntkfix.MLP, got {type(spec).__name__}")
    check_choice(network, "network", ("relu", "fap"))
    keys, labels = _as_keys(seeds)
    dtype = _check_train_dtype(jnp.result_type(float) if dtype is None else dtype, "dtype")
    settings = (steps, lr, trainable, record_every, track, divergence_factor)
    x, y, x_test, y_test, lr, cfg, factor = _prepare(spec, (x, y, x_test, y_test), dtype, *settings)
    # Initialisation per key (cheap, bitwise equal to spec.init(key)); the runs are vmapped.
    inits = [spec.init(key, dtype) for key in keys]
    models = [FixedPattern(spec, p) for p in inits] if network == "fap" else [spec] * len(inits)
    stack = lambda trees: jax.tree_util.tree_map(lambda *a: jnp.stack(a), *trees)
    lr_arr = jnp.full((len(labels),), 0.0 if lr is None else lr, dtype)
    factor = jnp.asarray(factor, dtype)
    out = _run_batch(stack(models), stack(inits), x, y, x_test, y_test, lr_arr, factor, cfg=cfg)
    return _finish(cfg, out, x.shape[0], seeds=labels)
