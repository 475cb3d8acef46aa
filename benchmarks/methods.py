"""The benchmarked methods, how to build each, and cost models used to skip hopeless cells.

Every method computes the same float32 kernel K(x, x), shape (n, n), traced over the
outputs (neural-tangents' ``trace_axes=(-1,)``):

- ``ntkfix``: ``ntkfix.empirical_ntk(model, params, x)`` (structured, tiled, symmetric).
- ``nt_jc`` / ``nt_nvp`` / ``nt_sd``: ``neural_tangents.empirical_ntk_fn(model.apply,
  trace_axes=(-1,), vmap_axes=0, implementation=JACOBIAN_CONTRACTION /
  NTK_VECTOR_PRODUCTS / STRUCTURED_DERIVATIVES)``, jitted, called as ``fn(x, None, params)``.

Models: ``relu`` (``ntkfix.MLP``) at its initial parameters; ``fap``
(``ntkfix.FixedPattern`` with gates from params0) at params0 + 0.01 * noise, so the
gates need their own forward pass, as during training.

Cost models (float32, P parameters, k outputs; only used to skip a cell before trying
it; the FLOP count used for reporting is ``ntkfix._kernels.structured.ntk_flops`` for every method):

    ntkfix: memory  features(n) + 4 n^2,                time  ntk_flops
    nt_sd:  memory  2 features(n) + 4 (2L + 2) n^2,     time  2 x ntk_flops without symmetry
    nt_jc:  memory  2 * 4 n k P (the Jacobian),          time  6 n k P + 2 n^2 k P
    nt_nvp: memory  max(2 * 4 n k P, 2 * 4 n^2 L m),    time  8 n^2 k P
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import types
import warnings
from pathlib import Path

METHODS = ("ntkfix", "nt_jc", "nt_nvp", "nt_sd")
NT_IMPL = {
    "nt_jc": "JACOBIAN_CONTRACTION",
    "nt_nvp": "NTK_VECTOR_PRODUCTS",
    "nt_sd": "STRUCTURED_DERIVATIVES",
}
MODELS = ("relu", "fap")
IN_DIM = 32


def core() -> types.ModuleType:
    """The ntkfix package, or, where one of its optional imports is missing (a bare GPU
    machine has jax and numpy only: no pandas), its jax + numpy core loaded without
    ``ntkfix/__init__.py``: a namespace with ``MLP``, ``FixedPattern`` and
    ``empirical_ntk`` (its private modules: ``library``)."""
    try:
        import ntkfix

        return ntkfix
    except ImportError as e:
        pkg = types.ModuleType("ntkfix", "ntkfix core (loaded by benchmarks.methods.core)")
        pkg.__path__ = [str(Path(__file__).resolve().parents[1] / "ntkfix")]
        sys.modules["ntkfix"] = pkg
        pkg.MLP = importlib.import_module("ntkfix._models.mlp").MLP
        pkg.FixedPattern = importlib.import_module("ntkfix._models.fixed").FixedPattern
        pkg.empirical_ntk = importlib.import_module("ntkfix._kernels.empirical").empirical_ntk
        warnings.warn(
            f"ntkfix's package import failed ({e}); benchmarking its core only", stacklevel=2
        )
        return pkg


def library(module: str) -> types.ModuleType:
    """``ntkfix.<module>`` (e.g. "_kernels.structured"), also where only ntkfix's core
    loads (``core``)."""
    core()
    return importlib.import_module(f"ntkfix.{module}")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One benchmark cell."""

    n: int
    width: int
    depth: int
    model: str = "relu"
    in_dim: int = IN_DIM
    seed: int = 0

    def spec(self):
        return core().MLP(self.in_dim, self.width, self.depth)


def useful_flops(cell: Cell) -> int:
    """The operation count every method is credited with
    (``ntkfix._kernels.structured.ntk_flops``)."""
    structured = library("_kernels.structured")
    return structured.ntk_flops(cell.spec(), cell.n, shared=cell.model == "relu")


def estimate(method: str, cell: Cell) -> tuple[float, float]:
    """(bytes, flops) a method needs on ``cell``, from the cost models above."""
    structured = library("_kernels.structured")
    feature_bytes, ntk_flops = structured.feature_bytes, structured.ntk_flops
    spec = cell.spec()
    n, k, L, P = cell.n, spec.out_dim, spec.depth, spec.n_params()
    layers = tuple(range(spec.n_layers))
    feats = feature_bytes(spec, n, layers, 4, traced=True)
    shared = cell.model == "relu"
    if method == "ntkfix":
        return feats + 4 * n * n, ntk_flops(spec, n, shared=shared)
    if method == "nt_sd":
        return 2 * feats + 4 * (2 * L + 2) * n * n, 2 * ntk_flops(spec, n, n, shared=shared)
    if method == "nt_jc":
        return 8 * n * k * P, 6 * n * k * P + 2 * n * n * k * P
    if method == "nt_nvp":  # it vmaps a full-batch vjp over n cotangents: n^2 activations
        return max(8 * n * k * P, 8 * n * n * L * spec.width), 8 * n * n * k * P
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def build(method: str, cell: Cell):
    """(call, dtype) for ``method`` on ``cell``: ``call()`` returns the (n, n) kernel."""
    import jax
    import jax.numpy as jnp

    ntkfix = core()
    spec = cell.spec()
    key_p, key_x, key_e = jax.random.split(jax.random.PRNGKey(cell.seed), 3)
    p0 = spec.init(key_p, jnp.float32)
    x = jax.random.normal(key_x, (cell.n, cell.in_dim), jnp.float32) / cell.in_dim**0.5
    if cell.model == "relu":
        model, params = spec, p0
    elif cell.model == "fap":
        model = ntkfix.FixedPattern(spec, p0)
        leaves, tree = jax.tree_util.tree_flatten(p0)
        keys = jax.random.split(key_e, len(leaves))
        noise = [
            a + 0.01 * jax.random.normal(kk, a.shape, a.dtype)
            for a, kk in zip(leaves, keys, strict=True)
        ]
        params = jax.tree_util.tree_unflatten(tree, noise)
    else:
        raise ValueError(f"unknown model {cell.model!r}; expected one of {MODELS}")
    x, params = jax.block_until_ready((x, params))
    if method == "ntkfix":
        return (lambda: ntkfix.empirical_ntk(model, params, x)), x.dtype
    if method not in NT_IMPL:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    nt = library("_core.nt").import_nt(f"benchmark method {method}")
    impl = getattr(nt.NtkImplementation, NT_IMPL[method])
    fn = jax.jit(
        nt.empirical_ntk_fn(model.apply, trace_axes=(-1,), vmap_axes=0, implementation=impl)
    )
    return (lambda: fn(x, None, params)), x.dtype
