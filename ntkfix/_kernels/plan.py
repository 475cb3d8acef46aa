"""How one kernel will be computed: the ``KernelPlan`` a network (or an infinite-width
architecture) returns, and the resources it needs (``Estimate``).

A plan is what the rest of ntkfix needs to compute a kernel without knowing which
network it belongs to: the ``TileSource`` (features of a block of inputs, tiles from two
blocks' features: ``ntkfix._kernels.tiling``), the rows per tile, the tile-sized
temporaries a tile holds (the memory estimate), the operation count and which exact
implementation the network chose. The kernel objects (``ntkfix._kernels.kernel``) take it
to memory, to several devices or to disk.
"""

from __future__ import annotations

import dataclasses

from ntkfix._kernels.tiling import TileSource


@dataclasses.dataclass(frozen=True, eq=False)
class KernelPlan:
    """The computation of one kernel K(x1, x2) (x2 None: K(x1, x1), symmetric tiles).

    Attributes:
      source: the ``TileSource`` (features and tiles).
      block: rows per tile the network recommends (any block gives the same kernel).
      temporaries: tile-sized (block x block) arrays a tile holds at once (memory plan).
      flops: floating-point operations of the whole kernel (multiply + add = 2), for the
        sizes the plan was made for.
      implementation: the exact rule that computes it ("structured", "jacobian",
        "ntk_vector", "structured_gram", "structured_gradients", "closed_form",
        "neural_tangents").
      out_dim: k, the network's outputs (a block is (b1, b2) traced, else (b1, b2, k, k)).
    """

    source: TileSource
    block: int
    temporaries: int
    flops: int | None
    implementation: str
    out_dim: int

    @property
    def trace(self) -> bool:
        return self.source.trace

    def entry_bytes(self, itemsize: int) -> int:
        """Bytes of one (i, j) entry of the kernel: k^2 scalars untraced, 1 traced."""
        k = 1 if self.trace else self.out_dim
        return itemsize * k * k


@dataclasses.dataclass(frozen=True)
class Estimate:
    """What a kernel will cost before it runs (``Kernel.estimate``).

    Attributes:
      shape: the kernel's shape.
      flops: floating-point operations (``KernelPlan.flops``).
      seconds: flops at this machine's measured matmul throughput (a lower bound: the
        tiles run near, never above, it).
      memory_bytes: peak memory of an in-memory kernel: output, features of all inputs
        and the tiles in flight.
      disk_bytes: size of the .npy file ``to_disk`` writes (square kernels).
      implementation: the rule that will compute it.
      block: rows per tile.
    """

    shape: tuple[int, ...]
    flops: int | None
    seconds: float | None
    memory_bytes: int
    disk_bytes: int
    implementation: str
    block: int
