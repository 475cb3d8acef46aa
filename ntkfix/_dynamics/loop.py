"""The compiled training loop: full-batch GD as a ``lax.scan`` over chunks of
``record_every`` steps, diagnostics at recorded steps, vmapped over seeds for
``train_many``; and the host-side wrap-up into a ``TrainResult`` (definitions in
``ntkfix._dynamics.train``)."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core.errors import TrainingDiverged
from ntkfix._dynamics.linearized import linearized_predict, linearized_state
from ntkfix._dynamics.results import COLUMNS, History, TrainResult
from ntkfix._kernels.layout import flatten_full
from ntkfix._models.network import Network

Model = Network
Params = Any


class RunConfig(NamedTuple):
    layers: Any  # the network's trainable selection (``Network.check_trainable``)
    n_chunks: int
    record_every: int
    remainder: int
    auto_lr: bool
    has_test: bool
    track_ntk: bool
    track_lin: bool
    track_outputs: bool


def _forward(model: Model, x: jax.Array, gates):
    """params -> f(x) (n, k), with a FAP net's frozen ``gates`` of ``x`` (or None)."""
    return lambda p: model.forward(p, x, gates)


class _KernelOps(NamedTuple):
    """How the run gets NTKs from the network: ``features(params, x)`` and
    ``kernel(f1, f2, trace)`` (``Network.ntk_features`` / ``ntk_block``)."""

    features: Any
    kernel: Any


def _kernel_ops(model: Model, layers) -> _KernelOps:
    return _KernelOps(
        lambda p, x: model.ntk_features(p, x, layers),
        lambda f1, f2, trace: model.ntk_block(f1, f2, layers, trace),
    )


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


def _kernel_at_init(ops: _KernelOps, params, x, x_test, with_linearized: bool) -> _Kernel0:
    """Theta_0 in the forms the run needs (one feature pass per input set)."""
    feats = ops.features(params, x)
    full = ops.kernel(feats, feats, False)
    n, _, k, _ = full.shape
    flat = flatten_full(full)
    flat = (flat + flat.T) / 2
    evals, evecs = jnp.linalg.eigh(flat) if with_linearized else (jnp.linalg.eigvalsh(flat), None)
    cross = None
    if with_linearized and x_test is not None:
        cross = ops.kernel(ops.features(params, x_test), feats, False)
    traced = ops.kernel(feats, feats, True)
    return _Kernel0(full, evals, evecs, traced, cross)


class _Setup(NamedTuple):
    """What every step and record of a run needs, computed once (a pytree of arrays)."""

    lr: jax.Array
    lam0: tuple  # (lambda_min, lambda_max) of Theta_0
    T0: jax.Array  # traced Theta_0 (reference for the drift) and its norm
    T0_norm: jax.Array
    lin: Any  # LinearizedState or None
    ref: jax.Array  # L_0 + ||Y||^2 / (2n): the divergence reference
    gates: Any  # the FAP net's decisions on x, or None
    gates_test: Any


def _setup(model, params, x, y, x_test, y_test, lr, cfg: RunConfig) -> _Setup:
    ops = _kernel_ops(model, cfg.layers)
    gates = model.fixed_gates(x)
    gates_test = model.fixed_gates(x_test) if cfg.has_test else None
    K0 = _kernel_at_init(ops, params, x, x_test, cfg.track_lin)
    lr = y.shape[0] / K0.evals[-1] if cfg.auto_lr else lr
    f0 = _forward(model, x, gates)(params)
    lin = None
    if cfg.track_lin:
        f0_test = _forward(model, x_test, gates_test)(params) if cfg.has_test else None
        lin = linearized_state(K0.full, y, f0, K0.cross, f0_test, eigh=(K0.evals, K0.evecs))
    ref = _half_mse(f0, y) + _half_mse(jnp.zeros_like(y), y)
    T0 = K0.traced
    lam0 = (K0.evals[0], K0.evals[-1])
    return _Setup(lr, lam0, T0, jnp.linalg.norm(T0), lin, ref, gates, gates_test)


def _gd_step(model, S: _Setup, x, y, cfg: RunConfig, p):
    """One full-batch GD step on the trainable part of ``p``."""
    layers, f_train = cfg.layers, _forward(model, x, S.gates)
    sub = model.select(p, layers)
    grads = jax.grad(lambda s: _half_mse(f_train(model.merge(p, layers, s)), y))(sub)
    return model.merge(p, layers, jax.tree_util.tree_map(lambda a, g: a - S.lr * g, sub, grads))


def _record(model, S: _Setup, x, y, x_test, y_test, cfg: RunConfig, p, t) -> dict:
    """The diagnostics at ``p`` after ``t`` steps."""
    f = _forward(model, x, S.gates)(p)
    rec = {"train_loss": _half_mse(f, y)}
    ft = _forward(model, x_test, S.gates_test)(p) if cfg.has_test else None
    if cfg.has_test:
        rec["test_loss"] = _half_mse(ft, y_test)
    if cfg.track_ntk:
        ops = _kernel_ops(model, cfg.layers)
        feats = ops.features(p, x)
        Kt = ops.kernel(feats, feats, True)
        rec["ntk_drift"] = jnp.linalg.norm(Kt - S.T0) / S.T0_norm
        rec["lambda_min"] = jnp.linalg.eigvalsh((Kt + Kt.T) / 2)[0]
    if cfg.track_lin:
        fl, fl_test = linearized_predict(S.lin, S.lr / y.shape[0], t)
        rec["lin_gap_train"] = _rms(f - fl)
        if cfg.has_test:
            rec["lin_gap_test"] = _rms(ft - fl_test)
    if cfg.track_outputs:
        rec["outputs_train"] = f
        if cfg.has_test:
            rec["outputs_test"] = ft
    return rec


def _is_bad(S: _Setup, factor, loss):
    return ~jnp.isfinite(loss) | (loss > factor * S.ref)


def _run(model, params, x, y, x_test, y_test, lr, factor, cfg: RunConfig):
    """One training run (pure, traceable); returns (params, lr, lam0, records, bad flags)."""
    S = _setup(model, params, x, y, x_test, y_test, lr, cfg)
    step = lambda _, q: _gd_step(model, S, x, y, cfg, q)

    def chunk(carry, count):
        """``count`` GD steps (skipped once diverged), then the diagnostics."""
        p, t, bad = carry
        p = jax.lax.cond(bad, lambda q: q, lambda q: jax.lax.fori_loop(0, count, step, q), p)
        t = t + count.astype(t.dtype)
        rec = _record(model, S, x, y, x_test, y_test, cfg, p, t)
        bad = bad | _is_bad(S, factor, rec["train_loss"])
        return (p, t, bad), (rec, bad)

    # One scan over chunk lengths [0, r, ..., r, remainder]: the first chunk records step 0,
    # and the loop body and the diagnostics are traced (compiled) once.
    counts = jnp.asarray(_chunk_counts(cfg))
    init = (params, jnp.zeros((), x.dtype), jnp.zeros((), bool))
    (p_final, _, _), (records, bad) = jax.lax.scan(chunk, init, counts)
    return p_final, S.lr, S.lam0, records, bad


run_one = jax.jit(_run, static_argnames=("cfg",))


@functools.partial(jax.jit, static_argnames=("cfg",))
def run_batch(models, params, x, y, x_test, y_test, lr, factor, cfg):
    """``_run`` vmapped over a leading seed axis of (models, params, lr)."""
    one = lambda m, p, r: _run(m, p, x, y, x_test, y_test, r, factor, cfg)
    return jax.vmap(one)(models, params, lr)


@functools.partial(jax.jit, static_argnames=("cfg", "batched"))
def _setup_jit(models, params, x, y, x_test, y_test, lr, cfg, batched):
    one = lambda m, p, r: _setup(m, p, x, y, x_test, y_test, r, cfg)
    return jax.vmap(one)(models, params, lr) if batched else one(models, params, lr)


@functools.partial(jax.jit, static_argnames=("cfg", "batched", "count"))
def _steps_jit(models, S, x, y, p, cfg, batched, count):
    def one(m, s, q):
        for _ in range(count):  # unrolled: no XLA loop around the convolutions
            q = _gd_step(m, s, x, y, cfg, q)
        return q

    return jax.vmap(one)(models, S, p) if batched else one(models, S, p)


@functools.partial(jax.jit, static_argnames=("cfg", "batched"))
def _record_jit(models, S, data, factor, p, t, cfg, batched):
    x, y, x_test, y_test = data

    def one(m, s, q):
        rec = _record(m, s, x, y, x_test, y_test, cfg, q, t)
        return rec, _is_bad(s, factor, rec["train_loss"])

    return jax.vmap(one)(models, S, p) if batched else one(models, S, p)


HOST_UNROLL = 5  # GD steps per jitted call of the host loop


def run_host(models, params, x, y, x_test, y_test, lr, factor, cfg, batched=False):
    """``run_one`` (``run_batch`` with ``batched``) stepping from the host
    (``Network.host_loop``); the same outputs. Once a run diverges the remaining records
    repeat the last one (``finish`` raises ``TrainingDiverged`` at the first)."""
    S = _setup_jit(models, params, x, y, x_test, y_test, lr, cfg, batched)
    p, t, recs, bads = params, 0, [], []
    for count in _chunk_counts(cfg):
        if bads and bool(np.any(np.asarray(bads[-1]))):
            recs.append(recs[-1])
            bads.append(bads[-1])
            continue
        whole, rest = divmod(int(count), HOST_UNROLL)
        for c in [HOST_UNROLL] * whole + ([rest] if rest else []):
            p = _steps_jit(models, S, x, y, p, cfg, batched, c)
        t += int(count)
        data = (x, y, x_test, y_test)
        rec, bad = _record_jit(models, S, data, factor, p, jnp.asarray(t, x.dtype), cfg, batched)
        recs.append(rec)
        bads.append(bad)
    axis = 1 if batched else 0
    stack = lambda *a: jnp.stack(a, axis=axis)
    return p, S.lr, S.lam0, jax.tree_util.tree_map(stack, *recs), stack(*bads)


def _chunk_counts(cfg: RunConfig) -> np.ndarray:
    """GD steps before each record: [0, r, ..., r] plus the remainder when r does not divide."""
    counts = [0] + [cfg.record_every] * cfg.n_chunks + ([cfg.remainder] if cfg.remainder else [])
    return np.asarray(counts, np.int32)


def _recorded_steps(cfg: RunConfig) -> np.ndarray:
    return np.cumsum(_chunk_counts(cfg)).astype(np.int64)


def finish(cfg, out, n, seeds=None) -> TrainResult:
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
    host = {c: np.asarray(recs[c]) for c in COLUMNS if c in recs}
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
