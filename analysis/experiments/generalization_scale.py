"""Generalization at scale: infinite-width NTK regression as n_train grows to 50,000.

The question of ``generalization_size`` (does the complexity sqrt(2 y^T K^-1 y / n) of
Arora et al. 2019, arXiv:1901.08584, track the test error as n grows, and does label
noise show in it?) at sizes where the finite-width kernels and trained nets of that
experiment are out of reach: one kernel, the infinite-width NTK of the MLP's
``trainable`` layers, on MNIST-1D (Greydanus & Kobak 2020, arXiv:2011.14439) or any
dataset of ``_datasets``.

One cell = (dataset, n_train, seed). The inputs, hence K, do not depend on the label
noise (only round(p n_train) training labels flip, with the cell's key), so every level
p of ``noise`` is measured in the cell from ONE solve with the columns [y_p, ...]:

    K = Theta_inf(X, X) (n, n)          in memory, or a .npy memory map in ``scratch``
                                        (``ntkfix.infinite_ntk_to_disk``) when a float32
                                        K and its float32 factor would not fit half the
                                        available memory
    A = K^-1 [y_p1, y_p2, ...]          ``ntkfix.kernel_regression(..., solver)``: float64
                                        Cholesky, or for large n a float32 Cholesky
                                        preconditioning float64 CG (float64 accuracy)
    complexity_p = sqrt(2 y_p^T A_p / n)       (``KernelPrediction.quadratic_form``)
    test_error_p = 0-1 error of sign(Theta_inf(X_test, X) A_p) on the clean test labels

Rows (one per p), with the column names of ``generalization`` so its tables and plots
apply (``predictor`` "ntk_infinite", ``kind`` "kernel", ``predictor_label`` "NTK ∞", ``width`` NaN):
p, complexity, kernel_scale c (2 x the mean of diag K), complexity_normalized
(complexity x sqrt(c): H^infty units), condition_number, rounding (the relative
first-order bound on how far the rounding of K to ``dtype`` moves y^T K^-1 y,
``KernelPrediction.quadratic_form_rounding``: near 1e-3 or above, the kernel's
float32 entries, not the data, set the complexity), test_error, n_corrupted,
test_size, in_dim, n_duplicates, and the cost: solver_used ("cholesky" /
"float32_pcg"), kernel_on_disk, kernel_seconds (both kernels), solve_seconds.

Randomness: key = PRNGKey(seed), (k_data, _) = split(key) as in ``generalization``; the
dataset (subsample of the training share, label flips) from k_data: the same x_train as
``generalization_size`` for the same cell. The kernel is deterministic.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import ntkfix
from analysis.config import Knob, defaults
from analysis.experiments import Experiment, generalization, require
from analysis.experiments._datasets import check_sizes, load_dataset
from analysis.experiments._precision import DTYPES
from ntkfix.host import available_memory
from ntkfix.kernels import SOLVERS

KNOBS = {
    "dataset": Knob("mnist1d_even_odd"),  # as in ``generalization`` (``_datasets``)
    "num_samples": Knob(5000, low=10),  # MNIST-1D examples generated (80%: training share)
    "label": Knob("label"),
    "standardize": Knob(False),
    "drop_duplicates": Knob(False),
    "noise": Knob([0.0, 0.2], low=0, high=1, per_cell=True, note="fractions of flipped labels"),
    "seed": Knob(0, low=0),
    "n_train": Knob(1000, low=1),
    "n_test": Knob(0, low=0, note="0: all the rest"),
    "depth": Knob(1, low=1),
    "trainable": Knob("hidden", choices=generalization.TRAINABLE),
    "teacher_dim": Knob(16, low=2),
    "dtype": Knob("float32", choices=DTYPES),
    "solver": Knob("auto", choices=SOLVERS),  # as ``ntkfix.kernel_regression``'s
    "ridge": Knob(0.0, low=0, note="absolute diagonal term; 0: interpolate"),
    # largest accepted condition estimate of K (0: the library's, 0.1 / eps(dtype))
    "max_condition": Knob(0.0, low=0, note="0: the library's default"),
    # where a kernel too large for memory is written ("": the system's temporary dir)
    "scratch": Knob(""),
    # "auto": on disk when K and its float32 factor exceed half the free memory
    "on_disk": Knob("auto", choices=("auto", "always", "never")),
}
SCHEMA = defaults(KNOBS)


def kernel_on_disk(n: int, choice: str) -> bool:
    """Whether a cell writes K to a memory map: ``choice`` "always"/"never", or "auto":
    when a float32 K and its float32 Cholesky factor (8 n^2 bytes) exceed half the
    available memory."""
    if choice != "auto":
        return choice == "always"
    avail = available_memory()
    return avail is not None and 8 * n * n > 0.5 * avail


def run_cell(cell: dict) -> list[dict]:
    """The rows of one cell, one per label-noise level (module docstring)."""
    k_data, _ = jax.random.split(jax.random.PRNGKey(cell["seed"]))
    datasets = [load_dataset({**cell, "p": p}, k_data) for p in cell["noise"]]
    ds = datasets[0]
    for other in datasets[1:]:  # the label flips are the only difference
        if not np.array_equal(np.asarray(other.x_train), np.asarray(ds.x_train)):
            raise RuntimeError("the inputs of a cell changed with the label noise p")
    x, xt = ds.x_train, ds.x_test
    spec = ntkfix.MLP(in_dim=ds.in_dim, width=1, depth=cell["depth"])
    trainable = cell["trainable"]
    disk = kernel_on_disk(x.shape[0], cell["on_disk"])
    with tempfile.TemporaryDirectory(dir=cell["scratch"] or None, prefix="ntkfix-") as tmp:
        t0 = time.perf_counter()
        if disk:
            K = ntkfix.infinite_ntk_to_disk(
                spec, x, Path(tmp) / "K.npy", trainable=trainable, progress=False
            )
        else:
            K = np.asarray(ntkfix.infinite_ntk(spec, x, trainable=trainable))
        K_test = np.asarray(ntkfix.infinite_ntk(spec, xt, x, trainable=trainable))
        kernel_seconds = time.perf_counter() - t0
        scale = 2.0 * float(np.mean(np.diagonal(K), dtype=np.float64))
        Y = np.stack([np.asarray(d.y_train, np.float64).reshape(-1) for d in datasets], 1)
        t0 = time.perf_counter()
        pred = ntkfix.kernel_regression(
            K,
            Y,
            K_test,
            cell["ridge"],
            return_info=True,
            solver=cell["solver"],
            max_condition=cell["max_condition"] or None,
        )
        solve_seconds = time.perf_counter() - t0
        del K
    n = x.shape[0]
    rows = []
    for j, d in enumerate(datasets):
        value = math.sqrt(2.0 * float(pred.quadratic_form[j]) / n)
        rows.append(
            dict(
                p=float(cell["noise"][j]),
                predictor="ntk_infinite",
                kind="kernel",
                width=float("nan"),
                predictor_label=generalization.label("ntk_infinite", None),
                complexity=value,
                kernel_scale=scale,
                complexity_normalized=value * math.sqrt(scale),
                condition_number=pred.condition_number,
                rounding=float(pred.quadratic_form_rounding[j]),
                ridge=pred.ridge,
                test_error=generalization.zero_one_error(pred.test[:, j], d.y_test),
                train_error=generalization.zero_one_error(pred.train[:, j], d.y_train),
                n_corrupted=len(d.meta["corrupted"]),
                test_size=d.n_test,
                in_dim=d.in_dim,
                n_duplicates=len(d.meta.get("duplicates", ())),
                solver_used=pred.solver,
                kernel_on_disk=disk,
                kernel_seconds=kernel_seconds,
                solve_seconds=solve_seconds,
            )
        )
    return rows


def check(cfg) -> None:
    """ConfigError naming the experiment: the dataset and dtype (as ``generalization``),
    the sizes it holds, and a ``scratch`` folder that does not exist."""
    generalization.check_data(cfg)
    for scratch in cfg.values("scratch"):
        require(
            not scratch or Path(scratch).is_dir(),
            f"{cfg.experiment}: scratch = {scratch!r} is not an existing folder (the "
            'kernels larger than memory are written there; "": the temporary directory)',
        )
    for cell in cfg.cells():
        check_sizes(cfg.experiment, cell)


EXPERIMENT = Experiment(
    name="generalization_scale",
    knobs=KNOBS,
    run_cell=run_cell,
    check=check,
    description="complexity and test error of infinite-width NTK regression vs n_train, "
    "to n = 50,000 (MNIST-1D)",
)
