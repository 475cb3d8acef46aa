"""What the two-stream evaluator (``ntkfix._models.graph``) refuses, in words, and where.

An operation with no gate to freeze, on parameter-dependent values, is refused with
``UnsupportedOperation``: what it is in a network's words (``IN_WORDS``: x**2 as in
LayerNorm, GELU, a variance; not only jax's primitive name) and the line of the user's
own code it came from (``where_in_code``: the innermost frame of jax's traceback outside
jax, Flax, Equinox, neural-tangents, ntkfix and installed packages, with the library
line it went through).
"""

from __future__ import annotations

import os

from ntkfix._core.errors import UnsupportedOperation

# Elementwise or reducing operations with no gate to freeze: refused on parameter-
# dependent values (a FAP net of such a graph is not a fixed-pattern network).
SMOOTH = frozenset(
    "exp exp2 log log1p expm1 tanh logistic sin cos tan asin acos atan atan2 sinh cosh "
    "asinh acosh atanh erf erfc erf_inv lgamma digamma igamma igammac random_gamma_grad "
    "pow sqrt rsqrt cbrt integer_pow polygamma bessel_i0e bessel_i1e".split()
)
PIECEWISE_REFUSED = {
    "reduce_max": "a max reduction (max-pooling, logsumexp, ...)",
    "reduce_min": "a min reduction",
    "argmax": "an argmax",
    "argmin": "an argmin",
    "reduce_window_max": "max-pooling",
    "reduce_window_min": "min-pooling",
    "floor": "rounding (floor)",
    "ceil": "rounding (ceil)",
    "round": "rounding",
    "sort": "sorting",
    "top_k": "top-k",
    "cumax": "a cumulative max",
    "cummin": "a cumulative min",
}
# Libraries whose frames are not the user's code (a path holding one of these).
LIBRARY_PARTS = (
    "site-packages",
    "dist-packages",
    "/jax/",
    "/jaxlib/",
    "/flax/",
    "/equinox/",
    "/neural_tangents/",
    "/haiku/",
    "/optax/",
)


def _library(path: str) -> bool:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # ntkfix/
    p = os.path.abspath(path)
    return p.startswith(here + os.sep) or any(part in p for part in LIBRARY_PARTS)


def where_in_code(eqn) -> str:
    """Where ``eqn`` was written in the user's code ("file.py:12 (fn)"): the innermost
    frame of jax's traceback outside jax, Flax, Equinox, neural-tangents, ntkfix and
    installed packages; with the library line it went through ("inside flax/...")."""
    try:
        from jax._src import source_info_util

        frames = [f for f in source_info_util.user_frames(eqn.source_info) if f is not None]
    except Exception:  # private API: best effort
        return "unknown location"
    if not frames:
        return "unknown location"
    show = lambda f: f"{_short(f.file_name)}:{f.start_line} ({f.function_name})"
    mine = [f for f in frames if not _library(f.file_name)]
    if not mine:
        return show(frames[0])
    inner = "" if mine[0] is frames[0] else f", inside {show(frames[0])}"
    return show(mine[0]) + inner


def _short(path: str) -> str:
    """The path from the package or folder that names it (".../flax/linen/x.py" ->
    "flax/linen/x.py"; a user's file relative to the working directory)."""
    for part in LIBRARY_PARTS[2:]:
        if part in path:
            return part.strip("/") + "/" + path.split(part, 1)[1]
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


# What a refused primitive is, in words, and the layers that put it in a network.
IN_WORDS = {
    "integer_pow": ("x**2", "LayerNorm, GELU (tanh form), a variance"),
    "pow": ("a power x**y", "a variance or a normalization"),
    "sqrt": ("a square root", "LayerNorm, BatchNorm (the standard deviation)"),
    "rsqrt": ("1 / sqrt(x)", "LayerNorm, BatchNorm (the normalization)"),
    "tanh": ("tanh", "GELU (tanh form), a tanh activation"),
    "logistic": ("a sigmoid", "jax.nn.sigmoid, SiLU / swish, a gate"),
    "exp": ("exp", "softmax, attention, ELU / SELU, softplus"),
    "log": ("log", "log-softmax, logsumexp, softplus"),
    "log1p": ("log1p", "softplus"),
    "erf": ("erf", "GELU (exact form)"),
    "div": ("a division (its divisor)", "LayerNorm, BatchNorm, softmax"),
}


def refuse(eqn, what: str) -> None:
    """Raise ``UnsupportedOperation`` for ``eqn``: ``what`` (or its ``IN_WORDS``) and where."""
    name = eqn.primitive.name
    what, as_in = IN_WORDS.get(name, (what, ""))
    raise UnsupportedOperation(
        f"{what} on parameter-dependent values{', as in ' + as_in if as_in else ''} (jax "
        f"primitive {name}) at {where_in_code(eqn)}: it has no gate that can be frozen at "
        "params0; ntkfix's fixed activation patterns need a network whose nonlinearities "
        "are ReLU-like gates (relu, leaky relu, abs, max/min with a constant)"
    )
