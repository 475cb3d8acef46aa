"""Kernels as objects: one place decides how a kernel is computed and where it goes.

``EmpiricalKernel(model, params, ...)`` (the finite-width NTK of any ``Network``) and
``InfiniteKernel(model, "ntk" | "nngp", ...)`` (an ``ntkfix.MLP``'s closed form or
neural-tangents', or any stax ``kernel_fn``) only say *what* the kernel is: the network
returns its ``KernelPlan`` (``Network.kernel_plan`` / ``infinite_plan``). Every kernel
then offers the same three places to go:

- ``K(x1, x2=None, *, block_size=, devices=, sharded=)``: the matrix in memory, tiled
  (``ntkfix._kernels.tiling``), on one device or many, refused before allocation when
  it would not fit (``KernelTooLarge`` naming ``to_disk``);
- ``K.to_disk(x, path, **options)``: K(x, x) written tile by tile into a .npy memory map,
  with progress, resume and refusal (``ntkfix._kernels.disk``, ``DiskOptions``);
- ``K.estimate(x1, x2=None)``: operations, time at this machine's matmul throughput,
  memory and disk, before anything runs (``Estimate``).

This split follows neural-tangents' (``empirical_ntk_fn`` says what a kernel is,
``nt.batch`` where it is computed).
"""

from __future__ import annotations

import abc
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core.host import matmul_throughput
from ntkfix._core.validate import check_bool, check_positive_int, is_concrete
from ntkfix._kernels.budget import check_memory_kernel, memory_need
from ntkfix._kernels.cost import check_implementation
from ntkfix._kernels.disk import DiskOptions, write_kernel
from ntkfix._kernels.plan import Estimate, KernelPlan
from ntkfix._kernels.sidecar import fingerprint
from ntkfix._kernels.tiling import TileRunner, sharded_kernel, tiled_kernel
from ntkfix._models.base import check_model
from ntkfix._models.network import Network


class Kernel(abc.ABC):
    """A kernel K(x1, x2): call it, write it to disk, or estimate it (module docstring)."""

    name = "kernel"  # the function named in refusals

    @abc.abstractmethod
    def check_inputs(self, x1: Any, x2: Any = None) -> tuple[jax.Array, jax.Array | None]:
        """Validated (x1, x2 or None)."""

    @abc.abstractmethod
    def plan(self, x1: Any, n2: int | None) -> KernelPlan:
        """How K(x1, x2) is computed, x2 of ``n2`` rows (None: K(x1, x1)); x1 may be shapes."""

    @abc.abstractmethod
    def dtype(self, x: Any) -> np.dtype:
        """The kernel's float dtype for inputs ``x``."""

    @abc.abstractmethod
    def fingerprint(self, x: jax.Array) -> str:
        """A hash of everything K(x, x) depends on (the on-disk record of ``to_disk``)."""

    def example_shape(self) -> tuple[int, ...] | None:
        """The shape of one input when the kernel knows it (lets ``estimate`` take n)."""
        return None

    def __call__(
        self,
        x1: Any,
        x2: Any = None,
        *,
        block_size: int | None = None,
        devices: Any = None,
        sharded: bool = False,
    ) -> jax.Array:
        """K(x1, x2) in memory (x2=None: K(x1, x1), exactly symmetric).

        Args:
          x1, x2: inputs (n1, ...) and (n2, ...).
          block_size: rows per tile (default: the plan's; any gives the same kernel).
          devices: None (all local devices), an int (the first that many) or a sequence
            of ``jax.Device``; tiles are dealt round-robin.
          sharded: return one ``jax.Array`` sharded by rows over ``devices`` (n1 must
            be divisible by their number): no device holds the whole kernel.
        """
        x1, x2 = self.check_inputs(x1, x2)
        n1 = x1.shape[0]
        n2 = n1 if x2 is None else x2.shape[0]
        plan = self.plan(x1, None if x2 is None else n2)
        block = plan.block if block_size is None else check_positive_int(block_size, "block_size")
        sharded = check_bool(sharded, "sharded")
        runner = TileRunner(plan.source, x1, x2, devices=devices)
        if not runner.tracing:  # refuse before allocating (the message names the disk twin)
            rows = n1 // len(runner.devices) if sharded else n1  # a sharded device: its slab
            per_entry = plan.entry_bytes(self.dtype(x1).itemsize)
            per_row = plan.source.feature_bytes(1)
            device = runner.devices[0]
            check_memory_kernel(
                rows, n2, per_entry, per_row, plan.temporaries, block, self.name, device=device
            )
        if not sharded:
            return tiled_kernel(runner, n1, n2, block)
        if runner.tracing:
            raise ValueError(
                "sharded=True builds a sharded array from per-device slabs and cannot run "
                f"inside jax.jit/vmap; call {self.name} outside the transformation"
            )
        return sharded_kernel(runner, n1, n2, block)

    def to_disk(self, x: Any, path: Any, **options: Any) -> np.memmap:
        """K(x, x) (n, n), traced, into the .npy file ``path`` tile by tile: resumable,
        estimated and refused before anything is written (``ntkfix._kernels.disk``).

        Options (``DiskOptions``): block_size (default 2048 for n >= 8192 where tiles
        may grow, else the plan's), progress, devices, part, max_seconds, on_tile,
        durable.
        """
        opts = DiskOptions.of(options)
        x, _ = self.check_inputs(x)
        arrays = (self.model, getattr(self, "params", None), x)
        if not all(is_concrete(a) for a in jax.tree_util.tree_leaves(arrays)):
            raise TypeError(f"{self.name}_to_disk writes files: it cannot run inside jax.jit/vmap")
        plan = self.plan(x, None)
        if not plan.trace:
            raise ValueError(
                "to_disk writes traced kernels (n, n): make the kernel with trace=True"
            )
        return write_kernel(plan, x, path, self.fingerprint(x), self.dtype(x), opts)

    def estimate(self, x1: Any, x2: Any = None, *, devices: int = 1) -> Estimate:
        """Operations, seconds, memory and disk of K(x1, x2) before anything runs.

        ``x1``, ``x2``: arrays, ``jax.ShapeDtypeStruct`` or row counts (when the kernel
        knows the shape of one input, e.g. an ``MLP``'s in_dim). Seconds are the
        operations at this machine's measured float32 matmul throughput (a lower bound).
        """
        s1, s2 = self._shapes(x1, "x1"), None if x2 is None else self._shapes(x2, "x2")
        n1 = s1.shape[0]
        n2 = n1 if s2 is None else s2.shape[0]
        plan = self.plan(s1, None if s2 is None else n2)
        itemsize = self.dtype(s1).itemsize
        per_entry = plan.entry_bytes(itemsize)
        block = min(plan.block, max(n1, n2))
        mem = memory_need(
            n1, n2, per_entry, plan.source.feature_bytes(1), plan.temporaries, block, devices
        )
        seconds = None if plan.flops is None else plan.flops / matmul_throughput()
        shape = (n1, n2) if plan.trace else (n1, n2, plan.out_dim, plan.out_dim)
        disk = n1 * n1 * itemsize if s2 is None else 0
        return Estimate(shape, plan.flops, seconds, mem, disk, plan.implementation, plan.block)

    def _shapes(self, x: Any, name: str) -> jax.ShapeDtypeStruct:
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
            n, shape = check_positive_int(x, name), self.example_shape()
            if shape is None:
                raise ValueError(
                    f"{name}={x}: this kernel does not know the shape of one input; pass an "
                    "array or a jax.ShapeDtypeStruct of the inputs"
                )
            return jax.ShapeDtypeStruct((n, *shape), jnp.result_type(float))
        if isinstance(x, jax.ShapeDtypeStruct):
            return x
        return jax.ShapeDtypeStruct(np.shape(x), self.check_inputs(x)[0].dtype)


class EmpiricalKernel(Kernel):
    """The exact empirical NTK Theta(x, x') = J(x) J(x')^T of ``model`` at ``params``.

    Args:
      model: any ``Network`` (an ``ntkfix.MLP``, a ``FixedPattern``, a function
        ``f(params, x)``, a stax triple).
      params: its parameters.
      trace: True -> (n1, n2) blocks (the mean over outputs); False -> (n1, n2, k, k).
      trainable: the parameters that count (an ``MLP``'s dense layers; else None).
      implementation: "auto" (the network's choice) or, for networks other than an
        ``MLP``, "structured" / "structured_gram" / "structured_gradients" / "jacobian" /
        "ntk_vector".
    """

    name = "empirical_ntk"

    def __init__(
        self,
        model: Any,
        params: Any,
        *,
        trace: bool = True,
        trainable: Any = None,
        implementation: str = "auto",
    ):
        self.model: Network = check_model(model)
        self.params = self.model.check_params(params)
        self.trace = check_bool(trace, "trace")
        self.trainable = self.model.check_trainable(trainable)
        self.implementation = check_implementation(implementation)

    def __repr__(self) -> str:
        return (
            f"EmpiricalKernel({self.model.describe()}, trace={self.trace}, "
            f"trainable={self.trainable}, implementation={self.implementation!r})"
        )

    def check_inputs(self, x1, x2=None):
        _, x1, x2, _ = self.model.check_kernel_inputs(self.params, x1, x2, self.trainable)
        return x1, x2

    def plan(self, x1, n2):
        return self.model.kernel_plan(
            self.params,
            x1,
            n2,
            trace=self.trace,
            trainable=self.trainable,
            implementation=self.implementation,
        )

    def dtype(self, x):
        return np.dtype(jnp.result_type(x.dtype, *jax.tree_util.tree_leaves(self.params)))

    def fingerprint(self, x):
        return fingerprint(self.model, self.params, x, self.trainable, self.dtype(x))

    def example_shape(self):
        return self.model.input_shape


class InfiniteKernel(Kernel):
    """The infinite-width ``which`` ("ntk" or "nngp") of an architecture.

    Args:
      model: an ``ntkfix.MLP`` (or its ``FixedPattern``: the same limit), or a stax triple
        ``(init_fn, apply_fn, kernel_fn)`` (its ``kernel_fn``, tile by tile).
      which: "ntk" or "nngp".
      trainable: the NTK of a subset of an ``MLP``'s dense layers (closed form only).
      backend: for an ``MLP``: "auto" (= "closed_form") or "neural_tangents".
    """

    def __init__(self, model: Any, which: str = "ntk", *, trainable: Any = None, backend="auto"):
        self.model: Network = check_model(model, "spec")
        self.which = which
        self.options = {"trainable": trainable, "backend": backend}
        self.name = f"infinite_{which}"
        self.plan(jax.ShapeDtypeStruct((1, *self._one()), jnp.result_type(float)), None)

    def _one(self) -> tuple[int, ...]:
        return self.model.input_shape or (1,)

    def __repr__(self) -> str:
        return f"InfiniteKernel({self.model.describe()}, {self.which!r}, {self.options})"

    def check_inputs(self, x1, x2=None):
        x1 = self.model.check_inputs(x1, "x1" if x2 is not None else "x")
        x2 = None if x2 is None else self.model.check_inputs(x2, "x2")
        return x1, x2

    def plan(self, x1, n2):
        return self.model.infinite_plan(self.which, x1, n2, dtype=x1.dtype, **self.options)

    def dtype(self, x):
        return np.dtype(x.dtype)

    def fingerprint(self, x):
        plan = self.plan(x, None)
        layers = self.options["trainable"]
        if plan.implementation == "closed_form":
            layers = None if self.which == "nngp" else self.model.check_trainable(layers)
        what = f"infinite {self.which} {plan.implementation} {self.model.describe()}"
        return fingerprint(what, (), x, layers, self.dtype(x))

    def example_shape(self):
        return self.model.input_shape
