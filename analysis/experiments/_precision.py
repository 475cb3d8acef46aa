"""Computing in float32 or float64 inside one process (the conversion's precisions)."""

from __future__ import annotations

import contextlib

import jax
import jax.experimental
import jax.numpy as jnp

DTYPES = ("float32", "float64")


@contextlib.contextmanager
def precision(name: str):
    """Context yielding the jnp dtype ``name``; "float64" turns on jax's x64 inside it
    when the process runs in float32, "float32" turns it off when the process runs in
    float64 (else a network that multiplies by a float64 NumPy scalar, as stax's Conv
    does, computes float32 params in float64); jit caches key on the flag, so this is
    safe."""
    x64 = jnp.result_type(float) == jnp.float64
    if name in DTYPES and (name == "float64") != x64:
        enable = jax.enable_x64 if hasattr(jax, "enable_x64") else jax.experimental.enable_x64
        with enable(name == "float64"):
            yield jnp.dtype(name)
    else:
        yield jnp.dtype(name)


def cast(tree, dtype):
    """Every array leaf of ``tree`` as a jnp array of ``dtype``."""
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), tree)
