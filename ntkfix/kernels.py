"""Kernels as objects (public module ``ntkfix.kernels``).

``K = ntkfix.kernels.empirical(model, params, trainable=...)`` or
``K = ntkfix.kernels.infinite(spec_or_stax, "ntk" | "nngp")``; then

- ``K(x1, x2=None, *, block_size=, devices=, sharded=)``: the matrix in memory;
- ``K.to_disk(x, path, **options)``: the .npy memory map, resumable (``DiskOptions``);
- ``K.estimate(x1, x2=None)``: operations, time, memory and disk before anything runs.

Every network returns its own ``KernelPlan`` (``Network.kernel_plan``): a ``TileSource``
(features of a block of inputs, a tile from two blocks' features) with its block size,
memory and operation count; the kernel object decides where it goes. The one-line
functions (``ntkfix.empirical_ntk``, ``ntkfix.infinite_ntk``, ...) are thin calls into
these objects. Also here: the reference ``empirical_ntk_autodiff`` (whole-batch
``jax.jacrev``), ``stax_kernel``, ``ntk_flops``, the kernel ``METRICS``, and for kernel
matrices ``factorize`` (Cholesky with the library's diagnosis of a singular or
ill-conditioned kernel) and the regression ``SOLVERS``.

Examples:
  >>> import jax, ntkfix
  >>> spec = ntkfix.MLP(3, 32, 2)
  >>> p = spec.init(jax.random.PRNGKey(0))
  >>> K = ntkfix.kernels.empirical(spec, p)
  >>> K(jax.numpy.ones((4, 3))).shape
  (4, 4)
  >>> K.estimate(1000).implementation
  'structured'
"""

from ntkfix._generalization.large import SOLVERS as SOLVERS
from ntkfix._generalization.linalg import factorize as factorize
from ntkfix._kernels.disk import DiskOptions as DiskOptions
from ntkfix._kernels.empirical import empirical_ntk_autodiff as empirical_ntk_autodiff
from ntkfix._kernels.infinite import stax_kernel as stax_kernel
from ntkfix._kernels.kernel import EmpiricalKernel as EmpiricalKernel
from ntkfix._kernels.kernel import InfiniteKernel as InfiniteKernel
from ntkfix._kernels.kernel import Kernel as Kernel
from ntkfix._kernels.metrics import METRICS as METRICS
from ntkfix._kernels.plan import Estimate as Estimate
from ntkfix._kernels.plan import KernelPlan as KernelPlan
from ntkfix._kernels.structured import ntk_flops as ntk_flops
from ntkfix._kernels.tiling import TileSource as TileSource


def empirical(model, params, *, trace=True, trainable=None, implementation="auto"):
    """The empirical NTK of ``model`` at ``params`` as an object: ``EmpiricalKernel``."""
    return EmpiricalKernel(
        model, params, trace=trace, trainable=trainable, implementation=implementation
    )


def infinite(model, which="ntk", *, trainable=None, backend="auto"):
    """The infinite-width ``which`` ("ntk" or "nngp") as an object: ``InfiniteKernel``."""
    return InfiniteKernel(model, which, trainable=trainable, backend=backend)


__all__ = [
    "DiskOptions",
    "EmpiricalKernel",
    "Estimate",
    "InfiniteKernel",
    "Kernel",
    "KernelPlan",
    "METRICS",
    "SOLVERS",
    "TileSource",
    "empirical",
    "empirical_ntk_autodiff",
    "factorize",
    "infinite",
    "ntk_flops",
    "stax_kernel",
]
