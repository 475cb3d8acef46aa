"""Refit gates: a width-2m twin whose cancellation does not grow with the data's margins
(``constants="refit"``, MLPs).

The twin of ``ntkfix._conversion.mlp`` carries per unit a gate neuron g = relu(u) and a
value neuron p = relu(M u + z), and the next layer reads v = p - M g = 1[u > 0] z. Its
float32 error is eps x M |u| per unit (the cancellation), and M >= need = max over the
data of max(0, -sign(u) z) / |u|: one point near the gate costs the whole unit digits.

Nothing in the identity needs u itself. Any gate argument s with the FAP net's signs on
the data (s > 0 exactly where u > 0) gives relu(M s + z) - M relu(s) = 1[u > 0] z for
M >= need(s). A hidden layer l >= 1 of the twin reads the 2m neurons Y = [g, p] of the
layer below, so its gates may be any affine map s = Y A + c. This module fits, per unit,
s to the target sign(u) r (r = max |z| of the unit on the data) by ridge least squares
on the scaled features [Y, 1], taking the largest ridge lambda (the smallest weights)
for which every data point has the right sign with |s| >= ``MARGIN`` r:

    A = argmin ||[Y, 1] A - sign(u) r||^2 + lambda ||A||^2,  lambda from ``RIDGE``

Then need(s) <= max |z| / (MARGIN r) = 1 / MARGIN, so M <= (1 + margin) / MARGIN, and the
cancelling terms are of the size of z itself: the twin loses a few ulps, not log2(need)
bits. Where the data outnumber the features (n > 2m + 1) a fit may not exist; then the
unit keeps its gate u (only possible while every gate below is u: the first hidden
layer, whose features are the inputs, keeps u with its best threshold,
``offsets.best_thresholds``), and ``refit_twin`` returns None when a later unit cannot
be fitted (the caller falls back to ``"unit_shifted"``).

The price: the refit gates are the FAP net's on the data only. On new inputs the twin's
gates differ from the FAP net's wherever a refit s and u disagree in sign, and
``cert.check(x_new)`` counts those rows out (``flipped_units``).

Twin layer l (standard parameterization, rows: the inputs x for l = 0, else Y):

    gates:  s_l = Y A_l + c_l,     values: M_l s_l + z_l,   z_l = Y Z_l + beta b_l,
    Z_l = [[-D(M_{l-1}) a W_l], [a W_l]]   (x a W_l for l = 0),
    W~ = [A_l | A_l D(M_l) + Z_l],  b~ = [c_l | c_l M_l + beta b_l],
    readout: W~ = Z_depth, b~ = beta b_depth.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._conversion.offsets import best_thresholds

MARGIN = 0.25  # a refit gate has |s| >= MARGIN r on every data point
LIFT = 0.5  # its target: sign(u) max(|u|, LIFT r), the original gate lifted off 0
RIDGE = np.logspace(-1.0, -14.0, 27)  # lambda / sigma_max^2 tried, largest first


def _dense64(params) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """The (W, b) of every dense layer in float64, each bias flattened to (m,)."""
    return [
        (np.asarray(W, np.float64), None if b is None else np.asarray(b, np.float64).reshape(-1))
        for W, b in params[::2]
    ]


def fit_gates(F: np.ndarray, on: np.ndarray, z: np.ndarray, u: np.ndarray):
    """Per unit, the ridge fit of the module docstring: ``(A, fitted)`` with A (q, m) the
    affine map from the features F (n, q) (last column ones) and ``fitted`` (m,) True
    where every row of the unit has the right sign with margin; float64."""
    r = np.max(np.abs(z), axis=0)
    r = np.where(r > 0, r, 1.0)
    size = np.maximum(np.abs(u), LIFT * r[None, :])
    target = np.where(on, size, -size)
    scale = np.max(np.abs(F), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    U, S, Vt = np.linalg.svd(F / scale[None, :], full_matrices=False)
    UT = U.T @ target
    A = np.zeros((F.shape[1], z.shape[1]))
    fitted = np.zeros(z.shape[1], bool)
    for lam in RIDGE * S[0] ** 2:
        w = (Vt.T @ ((S / (S**2 + lam))[:, None] * UT)) / scale[:, None]
        s = F @ w
        good = np.all(np.where(on, s, -s) >= MARGIN * r[None, :], axis=0) & ~fitted
        A[:, good], fitted = w[:, good], fitted | good
        if fitted.all():
            break
    return A, fitted


def _need(s: np.ndarray, z: np.ndarray) -> np.ndarray:
    nz = s != 0
    return np.max(
        np.where(nz, np.maximum(0.0, -np.sign(s) * z) / np.where(nz, np.abs(s), 1.0), 0.0), axis=0
    )


def _first_gates(spec, p0, p, x, on, margin, floor):
    """Layer 0: refit where the inputs allow it, else u with its best threshold."""
    a, beta = spec.weight_scale(0), spec.bias_scale()
    W0, b0 = p0[0]
    u = a * (x @ W0) + (0.0 if b0 is None else beta * b0)
    z = a * (x @ p[0][0]) + (0.0 if p[0][1] is None else beta * p[0][1])
    t, _ = best_thresholds(u, z, on, margin, floor)
    A = np.vstack([a * W0, (0.0 if b0 is None else beta * b0) - t])
    fit, fitted = fit_gates(np.hstack([x, np.ones((len(x), 1))]), on, z, u)
    return np.where(fitted[None, :], fit, A), u


def _z_map(spec, p, l: int, M_prev) -> tuple[np.ndarray, np.ndarray]:
    """(Z_l, beta b_l): z_l = rows Z_l + beta b_l (module docstring)."""
    W, b = p[l]
    aW = spec.weight_scale(l) * W
    Z = aW if M_prev is None else np.vstack([-M_prev[:, None] * aW, aW])
    bias = np.zeros(W.shape[1]) if b is None else spec.bias_scale() * b
    return Z, bias


def refit_twin(spec, params0, params, x, on, margin: float, floor: float):
    """The refit twin of the module docstring, built in float64 on ``x`` with the FAP
    net's gates ``on`` (per hidden layer (n, m) bool): ``(layers, M)`` with ``layers``
    the twin's (W~, b~) per dense layer (float64 numpy, standard parameterization) and
    M the (m,) constants per hidden layer; None where a unit of a layer above the first
    cannot be fitted."""
    p0, p = _dense64(params0), _dense64(params)
    x = np.asarray(x, np.float64)
    rows = x
    layers, Ms, M_prev = [], [], None
    ones = np.ones((len(x), 1))
    for l in range(spec.depth):
        on_l = np.asarray(on[l])
        Z, bz = _z_map(spec, p, l, M_prev)
        z = rows @ Z + bz
        if l == 0:
            A, u = _first_gates(spec, p0, p, x, on_l, margin, floor)
        else:
            u = np.maximum(u, 0.0) @ (spec.weight_scale(l) * p0[l][0])
            u = u + (0.0 if p0[l][1] is None else spec.bias_scale() * p0[l][1])
            A, fitted = fit_gates(np.hstack([rows, ones]), on_l, z, u)
            if not fitted.all():
                return None
        s = np.hstack([rows, ones]) @ A
        M = np.maximum(floor, (1.0 + margin) * _need(s, z))
        Wt = np.hstack([A[:-1], A[:-1] * M[None, :] + Z])
        bt = np.concatenate([A[-1], A[-1] * M + bz])
        layers.append((Wt, bt))
        Ms.append(M)
        rows, M_prev = np.maximum(rows @ Wt + bt, 0.0), M
    layers.append(_z_map(spec, p, spec.depth, M_prev))
    return layers, tuple(Ms)


def twin_terms(spec, layers, params, x, gates_on):
    """Per hidden layer (s_l, z_l) on ``x`` in the dtype of ``layers``: the twin's gate
    arguments and the FAP net's value pre-activations (gated by ``gates_on``)."""
    _, hs, _ = spec.gated_forward(params, x, gates_on)
    out, rows = [], x
    for l in range(spec.depth):
        Wt, bt = layers[2 * l]
        pre = rows @ Wt + bt
        m = pre.shape[1] // 2
        out.append((pre[:, :m], spec.layer(params, l, hs[l])))
        rows = jax.nn.relu(pre)
    return out


def gate_args64(relu_params, x) -> list[np.ndarray]:
    """The twin's gate arguments s_l on ``x``, per hidden layer, in float64 (numpy)."""
    rows, out = np.asarray(x, np.float64), []
    dense = _dense64(relu_params)
    for W, b in dense[:-1]:
        pre = rows @ W + b
        out.append(pre[:, : pre.shape[1] // 2])
        rows = np.maximum(pre, 0.0)
    return out


def as_params(layers, dtype) -> list:
    """The float64 (W~, b~) of ``refit_twin`` as stax.serial params in ``dtype``."""
    out: list = []
    for l, (W, b) in enumerate(layers):
        out.append((jnp.asarray(W, dtype), jnp.asarray(b, dtype)[None, :]))
        if l < len(layers) - 1:
            out.append(())
    return out
