"""The linear layers of any traced network: where each parameter enters, and the forward
pass that exposes them (the jaxpr side of ``ntkfix._kernels.graph_structured``).

A network's ``forward(params, x)`` for one input is traced to a jaxpr with inputs
(param leaves..., network leaves..., x) (a FAP net's params0 are network leaves: its
gate stream is part of the graph, so the value stream's parameters enter the same way
as a ReLU net's). ``find_layers`` then looks for every parameter leaf used exactly once,
as one operand of a ``dot_general`` (a dense layer, an einsum, a batched per-head
matrix) or as the kernel of a ``conv_general_dilated`` (``batch_group_count`` 1), after
at most operations that only relabel its entries (reshape, transpose, squeeze,
expand_dims, a dtype conversion: isometries, so the kernel is unchanged) and inside any
number of ``pjit``/``closed_call``s. Such a layer's output z is linear in the leaf W
with the other operand h (the layer input) fixed, so df/dW is h (x) df/dz summed over
the positions where W is applied: the two rules of ``graph_structured`` need only h and
df/dz. A leaf used twice (tied weights), non-linearly (``W * W``, ``tanh(W)``), inside a
custom derivative or through any other primitive is a *fallback* leaf: its per-example
gradient comes from the same backward pass, exactly.

``probed_forward`` evaluates the jaxpr with a zero *probe* added to every layer's
output (z + p), and returns the layer inputs: the vjp with respect to the probes is
df/dz at every layer, one batched backward pass per output.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Any

import jax
import numpy as np

try:  # newer jax
    from jax.extend.core import Literal
except ImportError:  # jax 0.4.x
    from jax.core import Literal

# operations that only relabel a parameter's entries (the kernel is invariant under them)
RELABEL = frozenset(
    {"convert_element_type", "reshape", "transpose", "squeeze", "expand_dims", "copy", "copy_p"}
)
# call-like primitives whose body is searched: name -> the param holding it
CALLS = {
    "pjit": "jaxpr",
    "jit": "jaxpr",
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "remat": "jaxpr",
    "checkpoint": "jaxpr",
}


@dataclasses.dataclass(frozen=True, eq=False)
class Layer:
    """One parameter leaf that enters linearly through one ``dot_general`` or convolution.

    Attributes:
      kind: "dot" or "conv".
      leaf: index of the parameter leaf.
      path: equation indices from the top jaxpr down to the layer's equation.
      operand: which operand of the equation is the parameter (0 or 1).
      params: the equation's params.
      h_shape: shape of the other operand (the layer input) for one network input.
      z_shape, z_dtype: the layer output's.
      w_shape: shape of the parameter operand.
      G, K, O, S: the canonical form, W as G blocks (K, O) with
        z[g, o, s] = sum_k h[g, k, s] W[g, k, o]: groups (dot batch dimensions, conv
        feature groups), inputs per output (contracted dimensions; conv input channels of
        a group x window), outputs per group, positions per network input.
    """

    kind: str
    leaf: int
    path: tuple[int, ...]
    operand: int
    params: dict
    h_shape: tuple[int, ...]
    z_shape: tuple[int, ...]
    z_dtype: Any
    w_shape: tuple[int, ...]
    G: int
    K: int
    O: int
    S: int

    @property
    def n_params(self) -> int:
        return self.G * self.K * self.O


def _prod(shape) -> int:
    return int(math.prod(shape))


def _dot_layer(eqn, operand: int, leaf: int, path) -> Layer:
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    h = eqn.invars[1 - operand].aval.shape
    w = eqn.invars[operand].aval.shape
    hc, hb = (lc, lb) if operand == 1 else (rc, rb)
    wc, wb = (rc, rb) if operand == 1 else (lc, lb)
    hf = [d for d in range(len(h)) if d not in (*hc, *hb)]
    wf = [d for d in range(len(w)) if d not in (*wc, *wb)]
    z = eqn.outvars[0].aval
    return Layer(
        "dot", leaf, path, operand, dict(eqn.params), tuple(h), tuple(z.shape), z.dtype,
        tuple(w), G=_prod(h[d] for d in hb), K=_prod(h[d] for d in hc),
        O=_prod(w[d] for d in wf), S=_prod(h[d] for d in hf),
    )  # fmt: skip


def _conv_layer(eqn, leaf: int, path) -> Layer:
    dn = eqn.params["dimension_numbers"]
    h, w = eqn.invars[0].aval.shape, eqn.invars[1].aval.shape
    z = eqn.outvars[0].aval
    G = eqn.params["feature_group_count"]
    window = _prod(w[d] for d in dn.rhs_spec[2:])
    S = _prod(z.shape[d] for d in (dn.out_spec[0], *dn.out_spec[2:]))
    return Layer(
        "conv", leaf, path, 1, dict(eqn.params), tuple(h), tuple(z.shape), z.dtype, tuple(w),
        G=G, K=h[dn.lhs_spec[1]] // G * window, O=w[dn.rhs_spec[0]] // G, S=S,
    )  # fmt: skip


def _rule(eqn, hit: list[int], alias_of, path) -> Layer | None:
    """The layer of ``eqn`` when exactly one operand is a parameter it has a rule for."""
    name = eqn.primitive.name
    if len(hit) != 1:
        return None
    leaf = alias_of[hit[0]]
    if name == "dot_general":
        return _dot_layer(eqn, hit[0], leaf, path)
    if name == "conv_general_dilated" and hit == [1] and eqn.params["batch_group_count"] == 1:
        return _conv_layer(eqn, leaf, path)
    return None


def _scan(jaxpr, alias: dict, path: tuple, uses: collections.Counter, layers: list) -> None:
    """Record in ``uses`` every use of a parameter leaf and in ``layers`` the candidates;
    ``alias``: variable -> the leaf it relabels."""
    for e, eqn in enumerate(jaxpr.eqns):
        ins = [None if isinstance(v, Literal) else alias.get(v) for v in eqn.invars]
        hit = [i for i, a in enumerate(ins) if a is not None]
        if not hit:
            continue
        name = eqn.primitive.name
        if name in RELABEL and len(eqn.invars) == 1:
            alias[eqn.outvars[0]] = ins[0]
            continue
        if name in CALLS and CALLS[name] in eqn.params:
            sub = eqn.params[CALLS[name]]
            sub = getattr(sub, "jaxpr", sub)
            inner = {sv: ins[i] for i, sv in enumerate(sub.invars) if ins[i] is not None}
            _scan(sub, inner, path + (e,), uses, layers)
            for v in sub.outvars:  # a relabelled leaf leaves the call: not followed
                if not isinstance(v, Literal) and v in inner:
                    uses[inner[v]] += 2
            continue
        layer = _rule(eqn, hit, ins, path + (e,))
        for i in hit:
            uses[ins[i]] += 1
        if layer is not None:
            layers.append(layer)


@dataclasses.dataclass(frozen=True, eq=False)
class Layers:
    """The traced forward pass of one input and its linear layers.

    Attributes:
      closed: the ``ClosedJaxpr`` with inputs (param leaves..., network leaves..., x).
      layers: the layers with a rule, in evaluation order.
      fallback: indices of the parameter leaves without one (used, but not once and
        linearly through a rule): their per-example gradients are computed directly.
      n_leaves: number of parameter leaves.
      k: outputs per input.
    """

    closed: Any
    layers: tuple[Layer, ...]
    fallback: tuple[int, ...]
    n_leaves: int
    k: int

    @property
    def targets(self) -> dict:
        return {layer.path: i for i, layer in enumerate(self.layers)}

    @property
    def prefixes(self) -> frozenset:
        return frozenset(layer.path[:j] for layer in self.layers for j in range(1, len(layer.path)))


def find_layers(closed, n_leaves: int) -> Layers:
    """The ``Layers`` of the traced forward pass ``closed`` (first ``n_leaves`` inputs:
    the parameter leaves)."""
    jaxpr = closed.jaxpr
    alias = {v: i for i, v in enumerate(jaxpr.invars[:n_leaves])}
    uses: collections.Counter = collections.Counter()
    layers: list[Layer] = []
    _scan(jaxpr, alias, (), uses, layers)
    for v in jaxpr.outvars:
        if not isinstance(v, Literal) and v in alias:
            uses[alias[v]] += 2
    ruled = [lay for lay in layers if uses[lay.leaf] == 1]
    done = {lay.leaf for lay in ruled}
    fallback = tuple(i for i in range(n_leaves) if uses[i] and i not in done)
    k = int(jaxpr.outvars[0].aval.shape[-1])
    return Layers(closed, tuple(ruled), fallback, n_leaves, k)


def _bind(eqn, invals):
    """``eqn``'s primitive applied to ``invals`` (jax 0.4 ``get_bind_params`` returns
    (subfuns, params), newer jax the params)."""
    bound = eqn.primitive.get_bind_params(eqn.params)
    subfuns, params = bound if isinstance(bound, tuple) else ((), bound)
    out = eqn.primitive.bind(*subfuns, *invals, **params)
    return out if eqn.primitive.multiple_results else [out]


def probed_forward(net: Layers, leaves: list, net_leaves: list, x, probes: list):
    """(outputs (k,), layer inputs) of one input ``x`` (1, ...) with ``probes[i]`` added
    to layer i's output."""
    record: list = [None] * len(net.layers)
    operands = [lay.operand for lay in net.layers]
    where = (net.targets, net.prefixes, operands)
    args = [*leaves, *net_leaves, x]
    out = _eval(net.closed.jaxpr, list(net.closed.consts), args, (), probes, record, where)[0]
    return out.reshape(-1), record


def _eval(jaxpr, consts, args, path, probes, record, where) -> list:
    """Evaluate ``jaxpr``, adding ``probes[r]`` to layer r's output and recording its
    input in ``record[r]``; ``where``: (path -> layer, call paths to enter, operands)."""
    targets, prefixes, operands = where
    env: dict = {}
    read = lambda v: v.val if isinstance(v, Literal) else env[v]
    for v, c in zip(jaxpr.constvars, consts, strict=True):
        env[v] = c
    for v, a in zip(jaxpr.invars, args, strict=True):
        env[v] = a
    for e, eqn in enumerate(jaxpr.eqns):
        here = path + (e,)
        invals = [read(v) for v in eqn.invars]
        if here in prefixes:
            sub = eqn.params[CALLS[eqn.primitive.name]]
            body, sub_consts = getattr(sub, "jaxpr", sub), list(getattr(sub, "consts", ()))
            outs = _eval(body, sub_consts, invals, here, probes, record, where)
        else:
            outs = _bind(eqn, invals)
            r = targets.get(here)
            if r is not None:
                record[r] = invals[1 - operands[r]]
                outs = [outs[0] + probes[r]]
        for v, o in zip(eqn.outvars, outs, strict=True):
            env[v] = o
    return [read(v) for v in jaxpr.outvars]


_CACHE: collections.OrderedDict = collections.OrderedDict()
MAX_CACHED = 128


def trace_layers(model, params, x_one) -> Layers:
    """The ``Layers`` of ``model.forward(params, x)`` for one input shaped like ``x_one``
    (1, ...): traced from shapes only, once per network and shapes."""
    leaves, ptree = jax.tree_util.tree_flatten(params)
    net_leaves, mtree = jax.tree_util.tree_flatten(model)
    sds = lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype)
    sig = tuple((tuple(np.shape(a)), str(a.dtype)) for a in [*leaves, *net_leaves, x_one])
    key = (mtree, ptree, sig)
    try:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    except TypeError:  # an unhashable network: traced every time
        key = None
    n, m = len(leaves), len(net_leaves)

    def flat(*args):
        p = jax.tree_util.tree_unflatten(ptree, args[:n])
        net = jax.tree_util.tree_unflatten(mtree, args[n : n + m])
        return net.forward(p, args[-1])

    closed = jax.make_jaxpr(flat)(*[sds(a) for a in [*leaves, *net_leaves, x_one]])
    found = find_layers(closed, n)
    if key is not None:
        _CACHE[key] = found
        while len(_CACHE) > MAX_CACHED:
            _CACHE.popitem(last=False)
    return found
