"""Where a model enters the library: ``check_model``.

Kernels, training, bounds and conversion take a ``model`` and talk to it only through
the ``Network`` contract (``ntkfix._models.network``); this is where a user's object
becomes one.
"""

from __future__ import annotations

from typing import Any

from ntkfix._models.function import from_user
from ntkfix._models.network import Network


def check_model(model: Any, name: str = "model") -> Network:
    """``model`` as an ntkfix ``Network``, else a TypeError naming ``name``.

    Accepted: any ``Network`` (``ntkfix.MLP``, ``ntkfix.FixedPattern(...)``, a user's own
    subclass), a function ``f(params, x)`` returning (n, k) outputs, or a neural-tangents
    stax triple ``(init_fn, apply_fn, kernel_fn)`` (wrapped as ``Function``).
    """
    wrapped = from_user(model)
    if wrapped is None:
        raise TypeError(
            f"{name} must be an ntkfix.MLP, an ntkfix.FixedPattern, a function "
            f"f(params, x) -> (n, k) or a stax triple (init_fn, apply_fn, kernel_fn), got "
            f"{type(model).__name__}"
        )
    return wrapped
