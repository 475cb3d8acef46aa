"""Tiled evaluation of any kernel given by per-block features, on one device or many.

The tiler knows no kernel math (as neural-tangents' ``batching.py`` knows none): a
``TileSource`` says how to compute the features of a block of inputs and a tile from
two blocks' features. K(x1, x2) is cut into tiles of ``block`` rows x ``block``
columns; tile (i, j) is ``source.tile`` of the features of row block i and column
block j.

- Symmetric K(x, x): only tiles with i <= j are computed. Tile (j, i) is the transpose
  of tile (i, j) and a diagonal tile is its own upper triangle mirrored, so K == K^T
  exactly. Gram work: n (n + block) / 2 pairs of inputs instead of n^2.
- The features of each row block are computed once and kept when all of them fit
  ``feature_budget`` bytes (per device); otherwise the current row block is kept and
  column blocks are recomputed for every tile, so memory stays O(block * width * depth).
- Tiles are dealt round-robin to ``devices``; features computed on one device are
  copied to another when it needs them (``jax.device_put``). Every tile runs the same
  XLA computation whichever device runs it, so one or several devices of one kind give
  bitwise identical kernels.
- At most ``lookahead`` tiles are in flight (dispatched, not yet consumed), so memory
  does not grow with the number of tiles while all devices stay busy.
- Inside ``jax.jit``/``vmap`` (tracers) the same tiles are traced for the default device.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core.validate import is_concrete
from ntkfix._kernels.layout import swap_block

# Column features are computed once and kept when they fit this budget (bytes, per device).
DEFAULT_FEATURE_BUDGET_BYTES = 2 * 2**30


@dataclasses.dataclass(frozen=True)
class Tile:
    """Tile (i, j): rows r0:r1 of x1 by columns c0:c1 of x2; ``diag``: on the diagonal of K(x,x)."""

    i: int
    j: int
    r0: int
    r1: int
    c0: int
    c1: int
    diag: bool = False


def spans(n: int, block: int, slabs: int = 1) -> list[tuple[int, int]]:
    """[start, end) of the row blocks of ``n`` rows: ``slabs`` equal slabs (n % slabs == 0)
    cut into blocks of ``block`` rows (the last of each slab may be shorter)."""
    s = n // slabs
    return [(a, min(a + block, b0 + s)) for b0 in range(0, n, s) for a in range(b0, b0 + s, block)]


def plan(n1: int, n2: int, block: int, symmetric: bool, slabs: int = 1) -> list[Tile]:
    """Row-major tiles of an (n1, n2) kernel; only i <= j when ``symmetric`` (n1 == n2).
    With ``slabs`` > 1 no tile crosses a boundary between the ``slabs`` equal row slabs
    (nor, when symmetric, a column boundary at the same places)."""
    rows = spans(n1, block, slabs)
    cols = rows if symmetric else spans(n2, block)
    return [
        Tile(i, j, r0, r1, c0, c1, symmetric and i == j)
        for i, (r0, r1) in enumerate(rows)
        for j, (c0, c1) in enumerate(cols)
        if not (symmetric and j < i)
    ]


def default_block(width: int, n: int) -> int:
    """Rows per tile: large enough that the (block, width) x (width, block) Gram matmuls
    run near peak and per-tile dispatch costs nothing, small enough that a symmetric
    kernel wastes little on its diagonal tiles and temporaries stay small (n / block >= 2
    where possible). CPU: 512 (1024 above width 2048), at least 256; accelerators: 4x
    larger. Tuned on a 2-core AVX-512 CPU; any block gives the same kernel."""
    scale = 1 if jax.default_backend() == "cpu" else 4
    base, low = scale * (512 if width <= 2048 else 1024), scale * 256
    while base > low and n < 2 * base:
        base //= 2
    return base


def resolve_devices(devices: Any, tracing: bool) -> list:
    """``devices`` as a list: None -> all local devices of the default backend; an int ->
    that many of them; or a sequence of ``jax.Device``. Tracing -> [None] (default device)."""
    if tracing:
        return [None]
    local = jax.local_devices()
    if devices is None:
        return list(local)
    if isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise ValueError(f"devices={devices} but {len(local)} local device(s) are available")
        return list(local[:devices])
    if isinstance(devices, jax.Device):
        return [devices]
    if (
        isinstance(devices, Sequence)
        and devices
        and all(isinstance(d, jax.Device) for d in devices)
    ):
        if len(set(devices)) != len(devices):
            raise ValueError(f"devices lists a device more than once: {list(devices)}")
        return list(devices)
    raise TypeError(f"devices must be None, an int or a sequence of jax.Device, got {devices!r}")


@dataclasses.dataclass(frozen=True, eq=False)
class TileSource:
    """A kernel as the tiler sees it.

    Attributes:
      operands: the pytree the features need (e.g. ``(model, params)``); copied once to
        each device that computes tiles.
      features: ``features(operands, x_block) -> feats`` (any pytree), jit-compiled.
      tile: ``tile(f1, f2, diag) -> block``, (b1, b2) when ``trace`` else (b1, b2, k, k);
        with ``diag`` (a diagonal tile of K(x, x), f1 is f2) the block must be exactly
        symmetric (e.g. ``layout.mirror_block``).
      feature_bytes: ``feature_bytes(n)``: bytes of the features of ``n`` inputs (decides
        whether all column features can be kept).
      trace: the layout of the blocks.
      whole: optional ``whole(operands, x) -> K(x, x)``: a kernel of one diagonal tile
        in one compiled call (the features and the tile fused: one dispatch, no feature
        arrays handed between them); it must equal ``tile(f, f, True)`` of
        ``features(operands, x)``.
    """

    operands: Any
    features: Callable[[Any, jax.Array], Any]
    tile: Callable[[Any, Any, bool], jax.Array]
    feature_bytes: Callable[[int], int]
    trace: bool
    whole: Callable[[Any, jax.Array], jax.Array] | None = None


class TileRunner:
    """Computes tiles of K(x1, x2) (x2 None: symmetric) on ``devices``; see module docstring."""

    def __init__(
        self,
        source: TileSource,
        x1: jax.Array,
        x2: jax.Array | None,
        *,
        devices: Any = None,
        feature_budget: int = DEFAULT_FEATURE_BUDGET_BYTES,
        lookahead: int | None = None,
    ):
        self.source, self.trace = source, bool(source.trace)
        self.symmetric = x2 is None
        self.xs = (x1,) if self.symmetric else (x1, x2)
        leaves = jax.tree_util.tree_leaves((source.operands, x1, x2))
        self.tracing = not all(is_concrete(a) for a in leaves)
        self.devices = resolve_devices(devices, self.tracing)
        self.lookahead = 2 * len(self.devices) if lookahead is None else max(1, int(lookahead))
        self._operands = {None: source.operands}
        cols = self.xs[-1].shape[0]
        rows = 0 if self.symmetric else x1.shape[0]
        self.cache_all = feature_budget >= source.feature_bytes(cols + rows)
        self._feats: dict[tuple[int, int], dict] = {}

    def on_device(self, dev):
        """The source's operands on ``dev`` (copied once)."""
        if dev not in self._operands:
            self._operands[dev] = jax.device_put(self._operands[None], dev)
        return self._operands[dev]

    def block_features(self, xb: jax.Array, dev):
        """Features of the inputs ``xb`` on ``dev`` (None: the default device)."""
        if dev is not None:
            xb = jax.device_put(xb, dev)
        return self.source.features(self.on_device(dev), xb)

    def _compute(self, side: int, a: int, e: int, dev) -> tuple:
        return self.block_features(self.xs[side][a:e], dev)

    def features(self, side: int, b: int, span: tuple[int, int], dev, keep: bool) -> tuple:
        """Features of block ``b`` (rows ``span``) of x1 (side 0) or x2 (side 1), on ``dev``."""
        side = 0 if self.symmetric else side
        per_dev = self._feats.get((side, b), {})
        if dev in per_dev:
            return per_dev[dev]
        f = (
            jax.device_put(next(iter(per_dev.values())), dev)
            if per_dev
            else self._compute(side, *span, dev)
        )
        if keep or self.cache_all:
            self._feats.setdefault((side, b), {})[dev] = f
        return f

    def run(
        self, tiles: Sequence[Tile], where: Callable[[Tile], Any] | None = None
    ) -> Iterator[tuple[Tile, jax.Array]]:
        """Yield ``(tile, block_array)`` in order; the array is ready (computed) when yielded.
        Tiles go round-robin to the devices, or to ``where(tile)``."""
        inflight: collections.deque = collections.deque()
        row = None
        for t, tile in enumerate(tiles):
            dev = self.devices[t % len(self.devices)] if where is None else where(tile)
            if not self.cache_all and tile.i != row:  # keep only the current row block
                self._feats = {k: v for k, v in self._feats.items() if k == (0, tile.i)}
                row = tile.i
            fi = self.features(0, tile.i, (tile.r0, tile.r1), dev, keep=True)
            fj = fi if tile.diag else self.features(1, tile.j, (tile.c0, tile.c1), dev, keep=False)
            inflight.append((tile, self.source.tile(fi, fj, tile.diag)))
            if len(inflight) > self.lookahead:
                yield self._ready(*inflight.popleft())
        while inflight:
            yield self._ready(*inflight.popleft())

    def _ready(self, tile: Tile, blk: jax.Array):
        if not self.tracing:
            blk.block_until_ready()
        return tile, blk


@functools.partial(jax.jit, static_argnames=("mirror", "trace"), donate_argnums=0)
def _insert(K, blk, r0, c0, mirror, trace):
    """K with ``blk`` at (r0, c0), and its transpose at (c0, r0) when ``mirror`` (in place)."""
    tail = () if trace else (0, 0)
    K = jax.lax.dynamic_update_slice(K, blk, (r0, c0) + tail)
    if mirror:
        K = jax.lax.dynamic_update_slice(K, swap_block(blk, trace), (c0, r0) + tail)
    return K


def tiled_kernel(runner: TileRunner, n1: int, n2: int, block: int) -> jax.Array:
    """The whole kernel from ``runner``'s tiles, assembled in place on the first device."""
    tiles = plan(n1, n2, block, runner.symmetric)
    if len(tiles) == 1 and runner.symmetric and runner.source.whole is not None:
        dev = runner.devices[0]
        x = runner.xs[0] if dev is None else jax.device_put(runner.xs[0], dev)
        return runner.source.whole(runner.on_device(dev), x)
    if len(tiles) == 1:
        return next(runner.run(tiles))[1]
    home = runner.devices[0]
    K = None
    for tile, blk in runner.run(tiles):
        if K is None:
            shape = (n1, n2) + blk.shape[2:]
            if home is None:
                K = jnp.zeros(shape, blk.dtype)
            else:
                with jax.default_device(home):
                    K = jnp.zeros(shape, blk.dtype)
        if home is not None:
            blk = jax.device_put(blk, home)
        K = _insert(K, blk, tile.r0, tile.c0, runner.symmetric and not tile.diag, runner.trace)
    return K


def _local_devices_of(devices: list) -> set:
    """The devices of ``devices`` this process can address (all of them on one host)."""
    me = jax.process_index()
    return {d for d in devices if d.process_index == me}


def sharded_slabs(
    runner: TileRunner, n1: int, n2: int, block: int, local: set | None = None
) -> dict:
    """Row slabs of K on the ``local`` ones of ``runner.devices`` (default: this process's).

    Device p of the c devices owns rows [p s, (p + 1) s), s = n1 / c, and computes the
    tiles of its rows. For K(x, x) a tile (i, j), i < j, is computed once, by the owner of
    row block i, and its transpose is copied to the owner of row block j when that device
    is local; when it is not (another host), the owner of j computes tile (j, i) itself.
    Returns {device: (s, n2[, k, k]) slab} for the local devices.
    """
    devs = runner.devices
    if n1 % len(devs):
        raise ValueError(
            f"sharded=True splits the {n1} rows of x1 evenly over {len(devs)} devices: "
            f"use a number of rows divisible by {len(devs)} (or devices= a divisor of {n1})"
        )
    local = _local_devices_of(devs) if local is None else set(local)
    s = n1 // len(devs)

    def owner(r0: int):
        return devs[r0 // s]

    tiles = []
    for t in plan(n1, n2, block, runner.symmetric, slabs=len(devs)):
        if owner(t.r0) in local:
            tiles.append(t)
        elif runner.symmetric and owner(t.c0) in local:  # the row owner is on another host
            tiles.append(Tile(t.j, t.i, t.c0, t.c1, t.r0, t.r1, diag=False))
    slabs: dict = {}

    def put(dev, blk, r0: int, c0: int) -> None:
        if dev not in slabs:
            with jax.default_device(dev):
                slabs[dev] = jnp.zeros((s, n2) + blk.shape[2:], blk.dtype)
        slabs[dev] = _insert(slabs[dev], blk, r0 % s, c0, False, runner.trace)

    for tile, blk in runner.run(tiles, where=lambda t: owner(t.r0)):
        put(owner(tile.r0), blk, tile.r0, tile.c0)
        mirrored = runner.symmetric and tile.i < tile.j
        if mirrored and owner(tile.c0) in local:
            dest = owner(tile.c0)
            put(dest, jax.device_put(swap_block(blk, runner.trace), dest), tile.c0, tile.r0)
    return slabs


def sharded_kernel(runner: TileRunner, n1: int, n2: int, block: int) -> jax.Array:
    """K as one ``jax.Array`` whose rows are split evenly over ``runner.devices``
    (``NamedSharding`` over a 1-D mesh with axis "rows"); each device holds its slab."""
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devs = runner.devices
    slabs = sharded_slabs(runner, n1, n2, block)
    if not slabs:
        raise ValueError(f"sharded=True: none of devices={devs} belongs to this process")
    sharding = NamedSharding(Mesh(np.array(devs), ("rows",)), PartitionSpec("rows"))
    first = next(iter(slabs.values()))
    shape = (n1, n2) + first.shape[2:]
    ordered = [slabs[d] for d in devs if d in slabs]
    return jax.make_array_from_single_device_arrays(shape, sharding, ordered)
