"""``to_relu``: an ordinary ReLU network equal to a FAP net on the data, certified.

Each fixed-pattern network builds its own twin (the ``Network`` contract's
``relu_twin``): the FAP net of an ``ntkfix.MLP`` a ReLU MLP of width 2m
(``ntkfix._conversion.mlp``), the FAP net of any other network its graph with every gate
rewritten (``ntkfix._conversion.graph``).
"""

from __future__ import annotations

from typing import Any

from ntkfix._conversion.certificate import ConversionCertificate
from ntkfix._core.validate import check_nonneg_float
from ntkfix._models.function import from_user


def to_relu(
    model: Any,
    params: Any,
    x: Any,
    *,
    margin: float = 0.5,
    floor: float = 1.0,
    constants: str = "layer",
    rtol: float | None = None,
) -> tuple[Any, Any, ConversionCertificate]:
    """An ordinary ReLU MLP of width 2m equal to the FAP net ``model`` at ``params`` on ``x``.

    A ``FixedPattern`` of any other network (a function, a stax or Flax model) whose
    gates are max/min/abs gets the same construction gate by gate
    (``ntkfix._conversion.graph``): the twin is then a ``Function`` with
    ``twin.apply(twin_params, x)``, one constant per gate (or per channel:
    ``constants="channel"``, or per unit: ``"unit"``, ``ntkfix._conversion.graph``).

    Args:
      model: a ``FixedPattern`` (gates at ``model.params0``).
      params: the FAP net's parameters (any values, e.g. after training).
      x: (n, in_dim) the inputs the equivalence is built for ((n, ...) for other networks).
      margin: per unit, M = max(floor, (1 + margin) * need), need the data's smallest
        admissible constant for that unit (module docstring); a margin covers nearby
        new inputs.
      floor: lower bound on every constant (> 0).
      constants: "layer" (one constant per layer, the largest unit's: covers new
        inputs best), "unit" (per-unit constants: a smaller rounding error, what a
        float32 twin needs), "unit_shifted" (an MLP's: per unit, each gate moved within
        the data's gap to shrink its constant, ``ntkfix._conversion.offsets``: the
        smaller float32 error, new inputs certified less often) or "refit" (an MLP's:
        the gates above the first layer refitted to the FAP net's signs on ``x`` with
        margin, ``ntkfix._conversion.refit``: constants of order 1, so no digits
        lost to points near a gate - exact in float32 where the others are not - but
        the gates are the FAP net's on ``x`` only; where the data outnumber a layer's
        2m + 1 features and a gate cannot be refitted it falls back to "unit_shifted",
        ``cert.construction`` says which); other networks also "channel" (per channel
        of a conv gate: the twin stays a conv net).
      rtol: the relative error (to max |fap(x)|) the twin may have and still count as
        exact; default ``RTOL`` by dtype (1e-3 in float32, 1e-9 in float64). Above it
        ``cert.exact`` is False and a ``PrecisionWarning`` says what the error is.

    Returns:
      ``(relu_spec, relu_params, cert)``: ``relu_spec.apply(relu_params, x)`` equals
      ``model.apply(params, x)`` on every row with ``cert.building.rows_ok`` (to
      rounding, ``cert.max_error``); rows on a gate boundary (u == 0 < z) are flagged,
      not silently wrong.

    Examples:
      >>> import jax, ntkfix
      >>> spec = ntkfix.MLP(3, 8, 2)
      >>> p0 = spec.init(jax.random.PRNGKey(0))
      >>> p1 = spec.init(jax.random.PRNGKey(1))      # any params
      >>> x = jax.random.normal(jax.random.PRNGKey(2), (6, 3))
      >>> rspec, rparams, cert = ntkfix.to_relu(ntkfix.FixedPattern(spec, p0), p1, x)
      >>> rspec.width, cert.exact
      (16, True)
    """
    network = from_user(model)
    if network is None:
        raise TypeError(f"model must be an ntkfix.FixedPattern, got {type(model).__name__}")
    margin = check_nonneg_float(margin, "margin")
    floor = check_nonneg_float(floor, "floor")
    if floor == 0:
        raise ValueError("floor must be > 0")
    return network.relu_twin(params, x, margin=margin, floor=floor, constants=constants, rtol=rtol)
