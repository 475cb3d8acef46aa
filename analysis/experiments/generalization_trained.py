"""Trained FAP and ReLU nets against their NTKs on MNIST-1D (the seed's last claim:
"trained with fixed patterns, networks generalize at least as well as their NTK").

One cell = (task, p, n_train, arch, depth, width, seed) on MNIST-1D (Greydanus & Kobak
2020, arXiv:2011.14439; ``ntkfix.data.mnist1d``: the standard 4,000 / 1,000 split of 5,000
examples, ``num_samples`` more; rows centered and projected to the unit sphere). ``task``
"even_odd": +-1 targets (out_dim 1, sign read out); "ten_class": the 10 digits, one-hot
targets (out_dim 10, argmax read out). Exactly round(p n_train) training labels are
flipped (another class; test labels are clean).

``arch``: "mlp", ``ntkfix.MLP(40, width, depth, out_dim)``; or "cnn1d", the 1D CNN of the
MNIST-1D paper (``ConvBase``: 3 stride-2 convolutions of kernel 5, 3, 3 and ``width``
channels, the paper's 25, flattened into a linear readout; ``_cnn1d``), a stax model on
the signals as (n, 41, 1) sequences (``_cnn1d.images``), ``depth`` = 3 (else a config
error). Both in the ntk parameterization, no bias, every layer trained.

Randomness: key = PRNGKey(seed), (k_data, k_net) = split(key); the data (subsample,
flips) from k_data, theta_0 from k_net (``MLP.init(k_net)``, or the stax ``init_fn``).

Predictors (one row each, ``predictor``):
  fap_net        the FAP net (gates of theta_0) trained by full-batch GD on
                 1/(2n) ||f - Y||^2 for ``steps`` steps, lr = ``lr_scale`` n /
                 lambda_max(Theta_0) (``lr = 0``; Theta_0 = the NTK of every layer at
                 theta_0, the same for both nets) or the ``lr`` knob
  relu_net       the ReLU net trained the same way from the same theta_0
  ntk_empirical  NTK regression with the empirical NTK at theta_0 (the FAP net's = the
                 ReLU net's at theta_0; ``ntkfix.ntk_regression``, f_0 included, with
                 several outputs the full (n k, n k) kernel): GD at t = infinity on the
                 net linearized at theta_0
  ntk_infinite   NTK regression with the infinite-width NTK (f_0 = 0): the closed-form
                 MLP kernel, or the CNN's stax ``kernel_fn``
Both regressions run in ``kernel_dtype`` (theta_0 and the data cast to it); the nets
train in the data's dtype.

Columns: train_error, test_error (0-1, on the corrupted training / clean test labels),
test_accuracy = 1 - test_error; nets: train_loss (final), reached_eps, steps_to_eps
(first recorded step with L <= ``eps``, NaN: not within ``steps``), lr, kernel_drift
(||Theta_T - Theta_0||_F / ||Theta_0||_F of the trained net on the first
``drift_points`` training points), diverged; kernels: complexity sqrt(2 y^T K^-1 y / n)
(summed over outputs), condition_number and ill_conditioned (True: the solve refused
the kernel, ``IllConditionedKernel``, its numbers NaN; try ``kernel_dtype = "float64"``);
every row: bound (Arora et al.'s bound with H^infty on the cell's inputs,
``ntkfix.generalization_bound``; even/odd only, NaN for ten_class: the theorem is for
+-1 labels; the two-layer net's, whatever ``arch``), seconds (the predictor's time).

``PAPER_BASELINES``: the MNIST-1D paper's published test accuracies (10 classes, the
standard split), printed beside the measured ones, never recomputed.
"""

from __future__ import annotations

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

import ntkfix
from analysis.config import Knob, defaults
from analysis.experiments import Experiment, _cnn1d, require
from analysis.experiments._precision import DTYPES, cast, precision

# Greydanus (2020), "Scaling down deep learning", arXiv:2011.14439, and the mnist1d
# README (github.com/greydanus/mnist1d, "Comparing MNIST and MNIST-1D"): test accuracy
# on MNIST-1D, 10 classes, 4,000 / 1,000 split.
PAPER_BASELINES = {
    "logistic regression": 0.32,
    "MLP": 0.68,
    "CNN": 0.94,
    "GRU": 0.91,
    "human expert": 0.96,
}
PAPER = "Greydanus 2020 (arXiv:2011.14439), 10 classes"
TASKS = ("even_odd", "ten_class")
ARCHS = ("mlp", "cnn1d")
PREDICTORS = ("fap_net", "relu_net", "ntk_empirical", "ntk_infinite")
LABELS = dict(fap_net="FAP net", relu_net="ReLU net", ntk_empirical="NTK(θ_0)",
              ntk_infinite="NTK ∞")  # fmt: skip

KNOBS = {
    "task": Knob("even_odd", choices=TASKS),  # +-1 even/odd, or the 10 digits one-hot
    "p": Knob(0.0, low=0, high=1, note="the fraction of flipped labels"),
    "n_train": Knob(400, low=1),
    "n_test": Knob(0, low=0, note="0: all 1,000 test rows"),  # test rows used (of the 1,000)
    "num_samples": Knob(5000, low=10),  # MNIST-1D examples generated (80%: training)
    # the network: the MLP, or the MNIST-1D paper's 1D CNN (3 convolutions, module docstring)
    "arch": Knob("mlp", choices=ARCHS),
    "depth": Knob(2, low=1),  # hidden layers L of the MLP; arch "cnn1d": 3 (its convolutions)
    "width": Knob(128, low=1),  # hidden width m of the MLP; arch "cnn1d": channels (paper: 25)
    "seed": Knob(0, low=0),  # the cell's key: the data draw (flips) and theta_0
    "steps": Knob(400, low=1),  # full-batch GD steps of both nets
    "record_every": Knob(10, low=1),  # the grid of steps_to_eps
    "eps": Knob(1e-3, low=0, strict="low"),  # the training loss the nets should reach
    "lr": Knob(0.0, low=0, note="0: lr_scale n / lambda_max(Theta_0)"),  # GD's step size
    # lr = lr_scale x n / lambda_max(Theta_0) (lr = 0): at 1, the edge of stability, deep
    # nets on MNIST-1D can diverge
    "lr_scale": Knob(0.5, low=0, high=1, strict="low"),
    "drift_points": Knob(200, low=2),  # training points of the kernel drift
    "delta": Knob(0.05, low=0, high=1, strict="both"),  # failure probability of the bound
    # the precision of the NTK regressions (float64: the kernels of narrow nets, e.g. the
    # 25-channel CNN on 10 classes, whose condition exceeds float32's 0.1 / eps)
    "kernel_dtype": Knob("float32", choices=DTYPES),
}
SCHEMA = defaults(KNOBS)


def load(cell: dict):
    """(dataset, k_net) of a cell (module docstring)."""
    k_data, k_net = jax.random.split(jax.random.PRNGKey(cell["seed"]))
    kw = dict(n_train=cell["n_train"], p=cell["p"], num_samples=cell["num_samples"])
    if cell["n_test"]:
        kw["n_test"] = cell["n_test"]
    task = "multiclass" if cell["task"] == "ten_class" else "even_odd"
    return ntkfix.data.mnist1d(k_data, task, **kw), k_net


def error(f, y) -> float:
    """0-1 error: argmax against the one-hot y (several outputs), else sign (sign(0) = +1)."""
    f, y = np.asarray(f, np.float64), np.asarray(y, np.float64)
    if f.ndim == 2 and f.shape[1] > 1:
        return float(np.mean(np.argmax(f, 1) != np.argmax(y, 1)))
    return float(np.mean(np.where(f.reshape(-1) >= 0, 1.0, -1.0) != y.reshape(-1)))


def _drift(model, p0, params, x) -> float:
    K0 = np.asarray(ntkfix.empirical_ntk(model, p0, x), np.float64)
    K1 = np.asarray(ntkfix.empirical_ntk(model, params, x), np.float64)
    return float(np.linalg.norm(K1 - K0) / np.linalg.norm(K0))


def step_size(cell, model, p0, ds) -> float:
    """The cell's lr: the ``lr`` knob, or lr_scale x n / lambda_max(Theta_0)."""
    if cell["lr"]:
        return float(cell["lr"])
    one = ntkfix.train(model, p0, ds.x_train, ds.y_train, steps=1, track=())
    return cell["lr_scale"] * float(one.lr)


def _net_row(cell, model, p0, ds, lr: float) -> dict:
    """Train ``model`` from p0 (module docstring) and measure it."""
    t0 = time.perf_counter()
    try:
        res = ntkfix.train(
            model, p0, ds.x_train, ds.y_train, steps=cell["steps"], lr=lr,
            record_every=cell["record_every"], track=(),
        )  # fmt: skip
    except ntkfix.errors.TrainingDiverged:
        nan = float("nan")
        return dict(lr=lr, train_loss=nan, diverged=True, reached_eps=False, steps_to_eps=nan,
                    train_error=nan, test_error=nan, kernel_drift=nan)  # fmt: skip
    loss = np.asarray(res.history.train_loss, np.float64)
    diverged = not np.all(np.isfinite(loss))
    reached = ntkfix.steps_to_reach(res.history.step, loss, cell["eps"])
    row = dict(lr=float(res.lr), train_loss=float(loss[-1]), diverged=diverged,
               reached_eps=reached is not None,
               steps_to_eps=float("nan") if reached is None else float(reached))  # fmt: skip
    if diverged:
        return {**row, **dict.fromkeys(("train_error", "test_error", "kernel_drift"), np.nan)}
    apply = model.apply if hasattr(model, "apply") else model[1]  # a stax triple's apply_fn
    row.update(
        train_error=error(apply(res.params, ds.x_train), ds.y_train),
        test_error=error(apply(res.params, ds.x_test), ds.y_test),
        kernel_drift=_drift(model, p0, res.params, ds.x_train[: cell["drift_points"]]),
    )
    return {**row, "seconds": time.perf_counter() - t0}


def _kernel_row(model, params, ds) -> dict:
    """NTK regression (``ntkfix.ntk_regression``): empirical at ``params``, or infinite;
    NaN errors and ``ill_conditioned`` where the kernel is too ill-conditioned to solve."""
    t0 = time.perf_counter()
    try:
        pred = ntkfix.ntk_regression(
            model, params, ds.x_train, ds.y_train, ds.x_test, return_info=True
        )
    except ntkfix.errors.IllConditionedKernel:
        keys = ("train_error", "test_error", "complexity", "condition_number")
        return {**dict.fromkeys(keys, np.nan), "ill_conditioned": True,
                "seconds": time.perf_counter() - t0}  # fmt: skip
    n = ds.x_train.shape[0]
    return dict(
        train_error=error(pred.train, ds.y_train),
        test_error=error(pred.test, ds.y_test),
        complexity=math.sqrt(2.0 * float(np.sum(pred.quadratic_form)) / n),
        condition_number=float(pred.condition_number),
        seconds=time.perf_counter() - t0,
    )


def arora_bound(cell, ds) -> float:
    """Arora et al.'s bound with H^infty on the cell's (unit-norm) inputs; NaN: 10 classes."""
    if cell["task"] != "even_odd":
        return float("nan")
    K = np.asarray(ntkfix.arora_kernel(ds.x_train), np.float64)
    y = np.asarray(ds.y_train, np.float64).reshape(-1)
    return float(ntkfix.generalization_bound(K, y, cell["delta"], jitter="auto").total)


def network(cell: dict, ds, k_net):
    """(ReLU net, theta_0, ds) of a cell: the MLP, or the stax 1D CNN with ``ds``'s inputs
    as its (n, 41, 1) sequences (module docstring)."""
    k, dtype = int(np.shape(ds.y_train)[1]), jnp.asarray(ds.x_train).dtype
    if cell["arch"] == "cnn1d":
        net = _cnn1d.cnn1d(cell["width"], k)
        seq = dataclasses.replace(
            ds, x_train=_cnn1d.images(ds.x_train), x_test=_cnn1d.images(ds.x_test)
        )
        return net, _cnn1d.init(net, k_net, dtype), seq
    spec = ntkfix.MLP(ds.x_train.shape[1], cell["width"], cell["depth"], out_dim=k)
    return spec, spec.init(k_net, dtype), ds


def run_cell(cell: dict) -> list[dict]:
    ds, k_net = load(cell)
    bound = arora_bound(cell, ds)  # on the (n, 40) inputs
    relu, p0, ds = network(cell, ds, k_net)
    fap = ntkfix.FixedPattern(relu, p0)
    lr = step_size(cell, fap, p0, ds)
    rows = {
        "fap_net": _net_row(cell, fap, p0, ds, lr),
        "relu_net": _net_row(cell, relu, p0, ds, lr),
    }
    with precision(cell["kernel_dtype"]) as dtype:  # the regressions' precision
        p0k = cast(p0, dtype)
        dsk = dataclasses.replace(ds, **cast(dict(x_train=ds.x_train, y_train=ds.y_train,
                                  x_test=ds.x_test, y_test=ds.y_test), dtype))  # fmt: skip
        fapk = ntkfix.FixedPattern(relu, p0k)
        rows["ntk_empirical"] = _kernel_row(fapk, p0k, dsk)
        rows["ntk_infinite"] = _kernel_row(fapk, None, dsk)
    out = []
    for name in PREDICTORS:
        r = {"diverged": False, "ill_conditioned": False, **rows[name]}
        r.update(predictor=name, predictor_label=LABELS[name], bound=bound,
                 kind="net" if name.endswith("_net") else "kernel",
                 test_accuracy=1.0 - r["test_error"], n_corrupted=len(ds.meta["corrupted"]),
                 test_size=int(ds.x_test.shape[0]))  # fmt: skip
        out.append(r)
    return out


def check(cfg) -> None:
    """ConfigError: arch "cnn1d" with another depth than its 3 convolutions."""
    for cell in cfg.cells():
        require(
            cell["arch"] == "mlp" or cell["depth"] == _cnn1d.CONV_LAYERS,
            f"{cfg.experiment}: arch 'cnn1d' (the MNIST-1D paper's CNN) has "
            f"{_cnn1d.CONV_LAYERS} convolutions: set depth = {_cnn1d.CONV_LAYERS}, got "
            f"depth={cell['depth']}",
        )


EXPERIMENT = Experiment(
    name="generalization_trained",
    knobs=KNOBS,
    run_cell=run_cell,
    check=check,
    description="trained FAP and ReLU nets (MLP or 1D CNN) vs NTK regression (theta_0, "
    "infinite) on MNIST-1D",
)
