"""Exactness of the FAP -> ReLU conversion (``ntkfix.to_relu``) for trained FAP nets.

One cell = (width, depth, b_std) with every seed of ``seeds`` inside: the FAP nets of
those seeds (gates at their theta_0) are trained together (``ntkfix.train_many``,
``steps`` GD steps, lr = n / lambda_max(Theta_0) for ``lr = 0``) on n points uniform
on S^{d-1} with random +-1 labels, then each is converted into a ReLU net of width 2m
built on the training inputs (per unit j of layer l, M_lj = max(``floor``, (1 +
``margin``) * need_lj) with ``constants = "unit"``; "layer": the layer's largest for all)
and checked on the training inputs and on ``n_test`` fresh points on the sphere. The
conversion and its checks run in each precision of ``dtypes`` (the trained parameters
cast to it; training itself runs in jax's default float): one row per (seed, dtype).
``b_std = 0`` means a net without biases (the bias axis of the grid). The identity holds
unit by unit in exact arithmetic; the errors below are the rounding of p - M g, which
grows with M.

``arch = "cnn"`` (experiment ``conversion_cnn``; ``_arch``): the stax CNN with ``width``
channels, ``depth`` conv layers, ``kernel_size`` and ``pooling``, trained as a FAP-CNN
(every parameter; a fixed ``lr`` is advised: at n / lambda_max the FAP-CNN can diverge) on
``n`` digits as 8x8x1 images with their even/odd labels, converted by ``ntkfix.to_relu``
of its graph (``constants``: one M per (position, channel), per channel, or per ReLU
layer, the largest unit's; the CNN's ReLU is
``jax.nn.relu``, one gate per layer: ``_arch.cnn(one_gate=True)``) and checked on the
training images and on ``n_test`` held-out digits. A "unit" is then one (position,
channel) of a conv layer, and ``relu_width`` counts the twin's channels per conv layer
(2 C: the pair [relu(u), relu(M u + z)] of each channel).

Columns (besides the knobs, ``seed``, ``dtype`` and provenance):
  construction        how the twin's gates were built (``cert.construction``): "refit"
                      (``constants = "refit"``), "unit_shifted" where a gate could not be
                      refitted, or the ``constants`` asked for
  diverged            the FAP training diverged (every value below NaN)
  loss_final          training loss of the trained FAP net
  param_change        ||theta - theta_0|| / ||theta_0||
  relu_width          hidden width of the ReLU twin (2 m); for a CNN its channels per conv
                      layer (2 C), counted from the gate layers' units / 64 positions
  M_max, M_min        largest / smallest per-unit constant M over all hidden units
  M_layers            JSON list of the largest per-unit M of each hidden layer
  need_max            largest sign-aware minimal constant on the training data
  unit_error_max      the certificate's largest per-unit rounding estimate (eps x the size of
                      the cancelling terms p, M g; ``cert.unit_error``)
  ratio_max           largest max |z| / |u| on the training data (bounds need: need <= |z| / |u|)
  train_exact         the identity holds on every training row (no gate-boundary unit)
  train_max_error     max |twin(x) - fap(x)| over the training rows
  train_rel_error     train_max_error / max |fap(x)| on the training rows
  test_frac_equivalent  fraction of fresh points where the identity holds for every unit
  test_max_error      max |twin - fap| over all fresh points
  test_rel_error      test_max_error / max |fap| on the fresh points
  test_max_error_ok   max |twin - fap| over the fresh points where the identity holds
  test_rel_error_ok   the same relative to the output scale
  test_boundary_units (point, unit) pairs with u == 0 < z on the fresh points
  test_ratio_max      largest max |z| / |u| on the fresh points (the M they would need)
  floor_rel_error     the rounding floor of any twin of this form in the row's dtype on the
                      training rows: its value neurons relu(M u + z) stored at the smallest
                      admissible M (``cert.rounding_floor``; MLP twins, NaN for a CNN)
  plain_rel_error     the same with M = 0: the rounding any net of that dtype pays
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import jax.numpy as jnp
import numpy as np

import ntkfix
from analysis.config import Knob, defaults
from analysis.experiments import Experiment, _arch
from analysis.experiments._common import SeedRuns, train_cell
from analysis.experiments._precision import DTYPES, cast, precision
from analysis.experiments._rows import NAN, compact, param_change
from analysis.experiments._task import NET_DEFAULTS, init_params, knobs

KNOBS = knobs(
    width=256,
    depth=2,
    seeds=[0, 1, 2],
    dtypes=Knob(["float32", "float64"], choices=DTYPES, per_cell=True),
    n=128,
    n_test=1024,
    data_seed=0,
    steps=200,
    lr=0.0,
    margin=Knob(0.5, low=0),
    # ``to_relu``'s constants: "refit" (gates above the first refitted to the FAP net's
    # signs with margin, MLPs only: the float32 twin loses no digits to a point near a
    # gate; the gates are the FAP net's on the training data only), "unit_shifted" (per
    # unit, gates moved within the data's gap; MLPs), "unit" (per unit; a CNN's per
    # (position, channel)), "channel" (a CNN's per channel) or "layer" (one per layer)
    constants=Knob("refit", choices=("layer", "channel", "unit", "unit_shifted", "refit")),
    floor=Knob(1.0, low=0, strict="low"),
    **NET_DEFAULTS,
    **_arch.KNOBS,
)
SCHEMA = defaults(KNOBS)

COLUMNS = (
    "construction", "diverged", "loss_final", "param_change", "relu_width", "M_max", "M_min",
    "M_layers",
    "need_max", "unit_error_max", "ratio_max", "train_exact", "train_max_error",
    "train_rel_error",
    "test_frac_equivalent", "test_max_error", "test_rel_error", "test_max_error_ok",
    "test_rel_error_ok", "test_boundary_units", "test_ratio_max", "floor_rel_error",
    "plain_rel_error",
)  # fmt: skip


def _rel(err: float, scale: float) -> float:
    return err / scale if scale > 0 else NAN


def seed_rows(cell, spec, task, runs: SeedRuns, seed: int) -> list[dict]:
    """The rows (module docstring) of ``seed``: one per precision in ``dtypes``."""
    return [_convert(cell, spec, task, runs, seed, dtype) for dtype in cell["dtypes"]]


def _convert(cell, spec, task, runs: SeedRuns, seed: int, dtype_name: str) -> dict:
    row = dict.fromkeys(COLUMNS, NAN)
    row.update(
        seed=seed,
        dtype=dtype_name,
        diverged=seed in runs.diverged,
        train_exact=False,
        M_layers="[]",
    )
    i = runs.position(seed)
    if i is None:
        return row
    p0_native, params_native = init_params(spec, seed), runs.params(seed)
    with precision(dtype_name) as dtype:
        p0, params = cast(p0_native, dtype), cast(params_native, dtype)
        x, x_test = jnp.asarray(task.x, dtype), jnp.asarray(task.x_test, dtype)
        model = ntkfix.FixedPattern(spec, p0)
        with warnings.catch_warnings():  # the rounding error is a column of its own
            warnings.simplefilter("ignore", ntkfix.errors.PrecisionWarning)
            rspec, _, cert = ntkfix.to_relu(
                model,
                params,
                x,
                margin=cell["margin"],
                floor=cell["floor"],
                constants=cell["constants"],
            )
        train, test = cert.building, cert.check(x_test)
        floor = cert.rounding_floor(x, dtype) if cell["arch"] == "mlp" else None
    row.update(
        construction=cert.construction or cell["constants"],
        loss_final=float(runs.result.history.train_loss[i, -1]),
        param_change=param_change(p0_native, params_native),
        relu_width=_relu_width(rspec, cert),
        M_max=max(cert.M_max),
        M_min=min(float(m.min()) for m in cert.M),
        M_layers=json.dumps(compact(cert.M_max)),
        need_max=max(float(r.max()) for r in cert.required),
        unit_error_max=max(cert.unit_error_max),
        ratio_max=max(cert.ratio),
        train_exact=cert.identity_holds,
        train_max_error=train.max_error,
        train_rel_error=_rel(train.max_error, train.output_scale),
        test_frac_equivalent=float(np.mean(test.rows_ok)),
        test_max_error=test.max_error,
        test_rel_error=_rel(test.max_error, test.output_scale),
        test_max_error_ok=test.max_error_ok,
        test_rel_error_ok=_rel(test.max_error_ok, test.output_scale),
        test_boundary_units=test.boundary_units,
        test_ratio_max=max(test.ratio),
        floor_rel_error=NAN if floor is None else floor.twin,
        plain_rel_error=NAN if floor is None else floor.plain,
    )
    return row


def _relu_width(rspec, cert) -> int:
    """The twin's hidden width: an MLP twin's ``width`` (2 m); a CNN twin's channels per
    conv layer, 2 x (units of its widest gate layer) / (8 x 8 positions)."""
    if getattr(rspec, "width", None) is not None:  # an MLP twin
        return rspec.width
    units = max(m.size for m in cert.M)
    return 2 * units // math.prod(_arch.DIGITS_SHAPE[:2])


def run_cell(cell):
    spec, task = _arch.net_and_task(cell, one_gate=True)
    runs = train_cell(cell, spec, task, "fap", record_every=cell["steps"], track=())
    return [row for s in cell["seeds"] for row in seed_rows(cell, spec, task, runs, s)]


EXPERIMENT = Experiment(
    name="conversion",
    knobs=KNOBS,
    run_cell=run_cell,
    check=_arch.check_trainable,  # a CNN trains every parameter
    description="trained FAP nets converted to ReLU nets of width 2m: error on train, fresh points",
)
CNN_EXPERIMENT = Experiment(
    name="conversion_cnn",
    knobs={
        **KNOBS,
        "arch": dataclasses.replace(KNOBS["arch"], default="cnn"),
        "constants": dataclasses.replace(KNOBS["constants"], default="unit"),
    },
    run_cell=run_cell,
    check=_arch.check_trainable,  # a CNN trains every parameter
    description="trained FAP-CNNs on digits converted to ReLU CNNs of 2C channels: errors",
)
