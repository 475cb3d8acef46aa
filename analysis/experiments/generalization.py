"""Generalization of FAP and ReLU nets vs the NTK complexity sqrt(2 y^T K^-1 y / n).

Shared measurement of the experiments ``generalization_noise`` (sweep over the label
corruption p) and ``generalization_size`` (sweep over n_train): one cell = one dataset
draw (``dataset``, ``n_train``, ``n_test``, ``p``, ``seed``; the names and files a
``dataset`` may be, and ``label``, ``standardize``, ``drop_duplicates``: ``_datasets``),
measured with several kernels and two trained networks. The question (docs/design.md;
Arora et al. 2019, arXiv:1901.08584): does the data-dependent complexity rise with label noise as
the test error does, and is the finite-width FAP NTK's value, at widths used in
practice, close to the infinite-width one?

Randomness. ``seed`` -> key = PRNGKey(seed); (k_data, k_net) = split(key). The dataset
(split, label corruption, and for ``teacher`` the points and the teacher network) is
drawn from k_data; the network of width m from ``fold_in(k_net, m)``. The test set
depends on (dataset, n_test, seed) only (not on n_train or p) for the real datasets;
``teacher`` draws n_train + n_test fresh points for every n_train.

Network. ``ntkfix.MLP(d, m, depth)`` with the library defaults (ntk parameterization,
W_std = sqrt(2), out_W_std = 1, no bias), ``trainable`` layers "hidden" (default; for
depth 1 the FAP net is then *linear* in its trained weights and GD on it is exactly
kernel GD with its finite-width NTK) or "all". Inputs are centered and projected to the
unit sphere; labels are +-1; exactly round(p n_train) training labels are flipped
(p = 0.5 makes the training labels independent of the inputs; test labels are clean).

Rows (tidy: one per predictor and width), every knob of the cell plus:

    predictor    "arora"          Arora et al.'s H^infty, x.x' (pi - t) / (2 pi) (diag 1/2)
                 "ntk_infinite"   infinite-width NTK of the MLP's ``trainable`` layers
                 "fap_ntk"        finite-width empirical NTK of the FAP net at theta_0 of
                                  width ``width`` (``trainable`` layers) = the ReLU net's NTK
                                  at theta_0, and the kernel the FAP net trains with (exactly,
                                  for depth 1 hidden-only; at t = 0 for deeper nets)
                 "fap_net"        FAP net (gates of theta_0) trained by full-batch GD
                 "relu_net"       ReLU net trained by full-batch GD from the same theta_0
    kind         "kernel" or "net"
    width        hidden width m (NaN for the infinite-width kernels)
    predictor_label  display name, e.g. "FAP NTK m=1024"
    complexity   sqrt(2 y^T K^-1 y / n) with K exactly as listed above (kernels only)
    kernel_scale c: the NTK's infinite-width diagonal mean over 1/2, i.e. Theta_inf ~ c H
                 (for depth 1 hidden-only on unit-norm inputs c = 2/d exactly); 1 for "arora"
    complexity_normalized  complexity of K / c = complexity * sqrt(c): every kernel in the
                 units of H^infty (diagonal 1/2), where Arora et al.'s bound is stated; the
                 finite- and infinite-width NTKs share c, so their ratio is unchanged
    condition_number  1-norm condition estimate of K (kernels)
    bound, confidence  Arora et al.'s bound complexity + confidence at ``delta`` ("arora" only;
                 ``ntkfix.generalization_bound``); bound_vacuous: bound > 1 (says nothing
                 about a 0-1 error)
    test_error   0-1 error of sign(f) on the clean test labels (sign(0) = +1); for kernels f is
                 kernel regression f(x) = K(x, X) K^-1 y (ridge 0, f_0 = 0: GD at t = infinity
                 averaged over initializations)
    train_error  0-1 error on the (corrupted) training labels (nets; 0 for interpolating kernels)
    train_loss, test_loss  1/(2n) ||f - y||^2 after ``steps`` GD steps (nets)
    lr           step size n / lambda_max(Theta_0) of GD (nets)
    limit_test_error  test error of f_0 + K(x, X) K^-1 (y - f_0(X)) with K the FAP NTK of
                 the trained width: the t = infinity limit of GD on the net linearized at
                 theta_0 (for depth 1 hidden-only: of GD on the FAP net itself) (nets)
    limit_agreement   share of test points where sign(net) == sign(that limit) (nets)
    limit_gap    RMS over test points of net - limit outputs (nets)
    diverged     True when GD diverged (the net's numbers are then NaN)
    (arch = "cnn", digits as 8x8x1 images; ``_arch.cnn_kernels``:)
                 "cntk"           neural-tangents' infinite-width CNTK of the CNN
                 "fap_cnn_ntk"    finite FAP-CNN NTK at theta_0, width = channels C
                 (their kernel_scale: the CNTK's diagonal mean over 1/2)
    n_corrupted, test_size, in_dim   realised number of flipped labels, test-set size, d
    n_duplicates  test rows equal to a training row (dropped if ``drop_duplicates``)
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

import ntkfix
from analysis.config import Knob, defaults
from analysis.experiments import Experiment, _arch, require
from analysis.experiments._datasets import check_sizes, dataset_size, load_dataset
from analysis.experiments._precision import DTYPES

TRAINABLE = ("hidden", "all")
KNOBS = {
    # digits_even_odd | digits_<a>v<b> | mnist1d_even_odd | mnist1d_<a>v<b> | breast_cancer
    # | teacher | csv:PATH | npz:PATH (``_datasets``; checked by ``check``)
    "dataset": Knob("digits_even_odd"),
    # MNIST-1D examples generated (5000: the standard data set; 80% are the training share)
    "num_samples": Knob(5000, low=10),
    "label": Knob("label"),  # the label column of a csv: dataset
    "standardize": Knob(False),  # divide features by their training std (real data)
    "drop_duplicates": Knob(False),  # drop test rows equal to a training row
    "p": Knob(0.0, low=0, high=1, note="the fraction of flipped labels"),
    "seed": Knob(0, low=0),
    "n_train": Knob(500, low=1),
    # 0: every point not used for training (teacher: TEACHER_TEST_SIZE)
    "n_test": Knob(0, low=0, note="0: all the rest"),
    "widths": Knob([256, 1024, 4096], low=1),  # widths of the finite-width FAP NTK
    "depth": Knob(1, low=1),
    "trainable": Knob("hidden", choices=TRAINABLE),
    # width of the trained FAP and ReLU nets (0: no training)
    "train_width": Knob(1024, low=0, note="0: no trained nets"),
    "steps": Knob(2000, low=1),  # full-batch GD steps, lr = n / lambda_max(Theta_0)
    "teacher_dim": Knob(16, low=2),  # input dimension of the teacher task
    "delta": Knob(0.05, low=0, high=1, strict="both"),  # failure probability of the bound
    "dtype": Knob("float32", choices=DTYPES),  # "float64" needs JAX_ENABLE_X64=1
    # arch = "cnn": also the CNTK and FAP-CNN NTKs of ``channels`` (digits only; ``_arch``)
    "arch": Knob("mlp", choices=_arch.ARCHS),
    "channels": Knob([16, 64], low=1),
    "conv_layers": Knob(2, low=1),
    "kernel_size": _arch.KNOBS["kernel_size"],
    "pooling": _arch.KNOBS["pooling"],
}
SCHEMA = defaults(KNOBS)

PREDICTORS = ("arora", "ntk_infinite", "fap_ntk", "fap_net", "relu_net", "cntk", "fap_cnn_ntk")


# ---- measurements -----------------------------------------------------------------------
def zero_one_error(f, y) -> float:
    """Share of rows where sign(f) (sign(0) = +1) differs from the +-1 label y."""
    f, y = np.asarray(f, np.float64).reshape(-1), np.asarray(y, np.float64).reshape(-1)
    return float(np.mean(np.where(f >= 0, 1.0, -1.0) != y))


def label(predictor: str, width) -> str:
    """Display name of a predictor (tables and legends)."""
    names = {
        "arora": "Arora H∞",
        "ntk_infinite": "NTK ∞",
        "fap_ntk": "FAP NTK",
        "fap_net": "FAP net",
        "relu_net": "ReLU net",
        "cntk": "CNTK",
        "fap_cnn_ntk": "FAP-CNN NTK",
    }
    has_width = width is not None and not (isinstance(width, float) and math.isnan(width))
    unit = " C=" if predictor == "fap_cnn_ntk" else " m="
    return names[predictor] + (f"{unit}{int(width)}" if has_width else "")


def kernel_row(predictor, width, K, K_test, ds, scale, delta=None) -> dict:
    """Complexity and kernel-regression test error of one kernel (module docstring)."""
    info = ntkfix.complexity(K, ds.y_train, return_info=True)
    pred = ntkfix.kernel_regression(K, ds.y_train, K_test)
    row = dict(
        predictor=predictor,
        kind="kernel",
        width=width,
        complexity=info.value,
        kernel_scale=scale,
        complexity_normalized=info.value * math.sqrt(scale),
        condition_number=info.condition_number,
        test_error=zero_one_error(pred, ds.y_test),
        train_error=0.0,
    )
    if delta is not None:
        b = ntkfix.generalization_bound(K, ds.y_train, delta)
        row.update(bound=b.total, confidence=b.confidence, bound_vacuous=b.vacuous)
    return row


def net_rows(spec, p0, ds, cell, limit) -> list[dict]:
    """Train the FAP net and the ReLU net from ``p0``; compare them with the GD limit."""
    rows = []
    for predictor, model in (("fap_net", ntkfix.FixedPattern(spec, p0)), ("relu_net", spec)):
        row = dict(predictor=predictor, kind="net", width=spec.width, diverged=False)
        try:
            res = ntkfix.train(
                model,
                p0,
                ds.x_train,
                ds.y_train,
                steps=cell["steps"],
                trainable=cell["trainable"],
                x_test=ds.x_test,
                y_test=ds.y_test,
                record_every=cell["steps"],
                track=(),
            )
        except ntkfix.errors.TrainingDiverged as e:
            rows.append({**row, "diverged": True, "lr": e.lr})
            continue
        f_test = np.asarray(model.apply(res.params, ds.x_test), np.float64)
        limit = np.asarray(limit, np.float64)
        row.update(
            train_loss=float(res.history.train_loss[-1]),
            test_loss=float(res.history.test_loss[-1]),
            train_error=zero_one_error(model.apply(res.params, ds.x_train), ds.y_train),
            test_error=zero_one_error(f_test, ds.y_test),
            lr=float(res.lr),
            limit_test_error=zero_one_error(limit, ds.y_test),
            limit_agreement=float(np.mean((f_test >= 0) == (limit >= 0))),
            limit_gap=float(np.sqrt(np.mean((f_test - limit) ** 2))),
        )
        rows.append(row)
    return rows


def spec_for(cell: dict, in_dim: int, width: int) -> ntkfix.MLP:
    return ntkfix.MLP(in_dim=in_dim, width=width, depth=cell["depth"])


def init_params(cell: dict, spec: ntkfix.MLP, k_net: jax.Array):
    """theta_0 of width ``spec.width``: ``spec.init(fold_in(k_net, width), dtype)``."""
    return spec.init(jax.random.fold_in(k_net, spec.width), jnp.dtype(cell["dtype"]))


def run_cell(cell: dict) -> list[dict]:
    """All rows of one cell (module docstring); an ill-conditioned kernel whose rows are
    nearly parallel says how to standardize in a config."""
    try:
        return _run_cell(cell)
    except ntkfix.errors.IllConditionedKernel as e:
        if "standardize=True" not in str(e) or cell["standardize"]:
            raise
        raise ntkfix.errors.IllConditionedKernel(
            f"{e} In this config: standardize = true.",
            e.condition_number,
            e.max_condition,
            e.regularization,
        ) from e


def _run_cell(cell: dict) -> list[dict]:
    k_data, k_net = jax.random.split(jax.random.PRNGKey(cell["seed"]))
    ds = load_dataset(cell, k_data)
    x, xt, trainable = ds.x_train, ds.x_test, cell["trainable"]
    d = ds.in_dim
    spec_inf = spec_for(cell, d, 1)
    K_inf = ntkfix.infinite_ntk(spec_inf, x, trainable=trainable)
    scale = 2.0 * float(jnp.mean(jnp.diagonal(K_inf)))
    rows = [
        kernel_row(
            "arora",
            None,
            ntkfix.arora_kernel(x),
            ntkfix.arora_kernel(xt, x),
            ds,
            1.0,
            cell["delta"],
        ),
        kernel_row(
            "ntk_infinite",
            None,
            K_inf,
            ntkfix.infinite_ntk(spec_inf, xt, x, trainable=trainable),
            ds,
            scale,
        ),
    ]
    train_width = cell["train_width"]
    for width in sorted(set(cell["widths"]) | ({train_width} if train_width else set())):
        spec = spec_for(cell, d, width)
        p0 = init_params(cell, spec, k_net)
        fap = ntkfix.FixedPattern(spec, p0)
        K = ntkfix.empirical_ntk(fap, p0, x, trainable=trainable)
        K_test = ntkfix.empirical_ntk(fap, p0, xt, x, trainable=trainable)
        if width in cell["widths"]:
            rows.append(kernel_row("fap_ntk", width, K, K_test, ds, scale))
        if width == train_width:
            limit = ntkfix.kernel_regression(
                K, ds.y_train, K_test, f_train_0=fap.apply(p0, x), f_test_0=fap.apply(p0, xt)
            )
            rows += net_rows(spec, p0, ds, cell, limit)
    if cell["arch"] == "cnn":
        kernels = list(_arch.cnn_kernels(cell, x, xt, k_net))
        cnn_scale = 2.0 * float(jnp.mean(jnp.diagonal(kernels[0][2])))  # the CNTK's
        rows += [kernel_row(p, c, K, Kt, ds, cnn_scale) for p, c, K, Kt in kernels]
    extra = dict(
        n_corrupted=len(ds.meta["corrupted"]),
        test_size=ds.n_test,
        in_dim=d,
        n_duplicates=len(ds.meta.get("duplicates", ())),
    )
    return [{**r, "predictor_label": label(r["predictor"], r["width"]), **extra} for r in rows]


# ---- validation -------------------------------------------------------------------------
def check(cfg) -> None:
    """ConfigError (one line, naming the experiment) for what ``KNOBS`` cannot say: the
    dataset's name, arch "cnn" on other data than digits, float64 without 64-bit JAX, and
    sizes the dataset cannot hold."""
    name = cfg.experiment
    check_data(cfg)
    for arch in cfg.values("arch"):
        for ds in cfg.values("dataset"):
            require(
                arch == "mlp" or ds.startswith("digits_"),
                f"{name}: arch 'cnn' needs digits (8x8x1 images), got dataset {ds!r}",
            )
    for cell in cfg.cells():
        check_sizes(name, cell)


def check_data(cfg) -> None:
    """ConfigError naming the experiment for an unknown or unusable ``dataset`` (also of
    ``generalization_scale``) and dtype "float64" without 64-bit JAX."""
    name = cfg.experiment
    for ds in cfg.values("dataset"):
        for label in cfg.values("label"):
            try:
                for num_samples in cfg.values("num_samples"):
                    dataset_size(ds, label, num_samples)
            except (ValueError, TypeError, OSError, ImportError) as e:  # the loader's message
                require(False, f"{name}: {e}")
    for dt in cfg.values("dtype"):
        require(
            dt == "float32" or jax.config.jax_enable_x64,
            f"{name}: dtype 'float64' needs 64-bit JAX (set JAX_ENABLE_X64=1)",
        )


def experiment(name: str, description: str) -> Experiment:
    """The ``Experiment`` of a sweep (``generalization_noise``, ``generalization_size``):
    this module's knobs, cells and checks under ``name``."""
    return Experiment(
        name=name, knobs=KNOBS, run_cell=run_cell, check=check, description=description
    )
