"""Which exact implementation computes the empirical NTK of a network: the cost model.

For a network with P parameters, k outputs and F floating-point operations in its
forward pass of one input (counted from its jaxpr: matmuls and convolutions 2 per
multiply-add, other arithmetic 1 per output element, data movement 0), with a backward
or forward-mode pass taken as 2 F (Novak et al. 2022, arXiv:2206.08720, Table 1; the
same accounting as neural-tangents' ``NtkImplementation``):

    Jacobian contraction   n_feat (1 + 2k) F               Jacobian rows of every input
                         + n_pairs 2 k^2 P  (2 k P traced)  their inner products
    NTK-vector products    n_feat (1 + 2k) F               the columns' vectors J^T e_c
                         + n_pairs 2 k F                    one forward-mode pass each

    structured             n_feat (1 + k) F                 forward, one backward pass
                                                            per output to the layer outputs
                         + n_feat sum_grad 2 k G K O S      per-example weight gradients
                         + n_pairs (sum_gram G S^2 (2K + 2kO + k) + 2 k P_J)

with n_feat = n1 + n2 and n_pairs = n1 n2 for K(x1, x2) (n and n (n + 1) / 2 for
K(x, x)); the structured kernel (``graph_structured``: layers in canonical form G
groups x (K inputs, O outputs) applied at S positions, each by the gram or the
gradients rule, P_J the parameters of the gradients-rule layers and the fallback
leaves; untraced: k^2 for k) exists when at least one parameter enters once and
linearly through a dense layer or a convolution. Memory per tile: Jacobian contraction
holds two blocks of Jacobian rows, 2 b k P scalars; the structured kernel 2 b k P_J
and b^2 G S^2 per gram-rule layer; NTK-vector products only the row block's
activations and a chunk of vectors. ``choose`` takes the cheapest in operations among
those whose memory fits (ties to the structured kernel): the structured kernel
whenever it exists and fits, else Jacobian contraction for convolutional nets (F >> P)
and traced kernels, NTK-vector products for many outputs (k > ~3) with untraced
blocks, and whenever 8 rows of Jacobian do not fit in memory. ``implementation=``
forces any: "structured" (per-layer rules by cost), "structured_gram" /
"structured_gradients" (one rule for every layer), "jacobian", "ntk_vector".
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._kernels.graph_layers import trace_layers
from ntkfix._kernels.graph_structured import (
    Counts,
    block_features,
    block_tile,
    choose_rules,
    counts,
    gram_temporaries,
    structured_block,
    structured_source,
)
from ntkfix._kernels.jacobian import (
    JACOBIAN_BUDGET_BYTES,
    jacobian_block,
    jacobian_source,
    n_params,
)
from ntkfix._kernels.plan import KernelPlan
from ntkfix._kernels.products import products_block, products_chunk, products_source

IMPLEMENTATIONS = (
    "auto",
    "jacobian",
    "ntk_vector",
    "structured",
    "structured_gram",
    "structured_gradients",
)
JACOBIAN_TEMPORARIES = 2  # tile-sized arrays of a Jacobian-contraction or NTK-vector tile
# Operations that move or relabel data: no arithmetic counted.
DATA_MOVEMENT = frozenset(
    "reshape broadcast_in_dim transpose squeeze expand_dims convert_element_type slice "
    "dynamic_slice dynamic_update_slice concatenate pad gather rev copy copy_p "
    "stop_gradient iota select_n".split()
)
MIN_JACOBIAN_BLOCK = 8


def _sub_jaxprs(params: dict):
    for v in params.values():
        for item in v if isinstance(v, (tuple, list)) else (v,):
            inner = getattr(item, "jaxpr", None)
            if inner is not None and hasattr(inner, "eqns"):
                yield inner  # a ClosedJaxpr
            elif hasattr(item, "eqns"):
                yield item  # a Jaxpr


def _size(aval) -> int:
    return int(np.prod(getattr(aval, "shape", ()), dtype=np.int64))


def jaxpr_flops(jaxpr) -> tuple[int, int]:
    """(operations, elements) of one evaluation of ``jaxpr``: the operations as in the
    module docstring, the elements the sum of the sizes of every intermediate (a bound on
    what a linearization keeps). Nested jaxprs (jit, custom_jvp, ...) are counted once
    each, loops' bodies once."""
    flops = elements = 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        out = sum(_size(v.aval) for v in eqn.outvars)
        subs = list(_sub_jaxprs(eqn.params))
        if subs:
            for s in subs:
                f, e = jaxpr_flops(s)
                flops, elements = flops + f, elements + e
            continue
        elements += out
        if name == "dot_general":
            (lc, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            flops += 2 * out * int(np.prod([lhs[d] for d in lc], dtype=np.int64))
        elif name == "conv_general_dilated":
            rhs = eqn.invars[1].aval.shape
            out_feature_dim = eqn.params["dimension_numbers"].rhs_spec[0]
            flops += 2 * out * (int(np.prod(rhs, dtype=np.int64)) // rhs[out_feature_dim])
        elif name not in DATA_MOVEMENT:
            flops += out
    return flops, elements


def one_row(x: Any) -> jax.ShapeDtypeStruct:
    """The shape of one input of the batch ``x`` (an array or a ``ShapeDtypeStruct``)."""
    return jax.ShapeDtypeStruct((1, *x.shape[1:]), x.dtype)


def forward_flops(model, params, x_one: Any) -> tuple[int, int]:
    """(F, A): operations and intermediate elements of ``model.forward(params, x)`` for
    one input ``x_one`` (1, ...) (``jaxpr_flops``; shapes only, nothing is run)."""
    spec = lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype)
    args = jax.tree_util.tree_map(spec, (model, params, x_one))
    return jaxpr_flops(jax.make_jaxpr(lambda m, p, x: m.forward(p, x))(*args).jaxpr)


def jaxpr_primitives(jaxpr) -> set[str]:
    """Names of the primitives ``jaxpr`` applies, nested jaxprs included."""
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for sub in _sub_jaxprs(eqn.params):
            names |= jaxpr_primitives(sub)
    return names


def forward_primitives(model, params, x_one: Any) -> set[str]:
    """The primitives of ``model.forward(params, x)`` for inputs shaped like ``x_one``."""
    spec = lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype)
    args = jax.tree_util.tree_map(spec, (model, params, x_one))
    return jaxpr_primitives(jax.make_jaxpr(lambda m, p, x: m.forward(p, x))(*args).jaxpr)


def costs(
    F: int,
    P: int,
    k: int,
    n1: int,
    n2: int | None,
    trace: bool,
    structured: Counts | None = None,
) -> dict[str, int]:
    """Operations of each implementation for K(x1, x2) (n2 None: K(x, x)); module
    docstring. With ``structured`` (the per-layer counts of ``graph_structured``) also
    the structured kernel's: the same passes, plus its per-input and per-pair work."""
    n_feat = n1 if n2 is None else n1 + n2
    n_pairs = n1 * (n1 + 1) // 2 if n2 is None else n1 * n2
    rows = n_feat * (1 + 2 * k) * F
    out = {
        "jacobian": rows + n_pairs * 2 * (k if trace else k * k) * P,
        "ntk_vector": rows + n_pairs * 2 * k * F,
    }
    if structured is not None:
        # one backward pass per output to the layer outputs (~F), weight gradients apart
        passes = n_feat * (1 + k) * F
        out["structured"] = passes + n_feat * structured.feature + n_pairs * structured.pair
    return out


def check_implementation(implementation: Any) -> str:
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of {', '.join(map(repr, IMPLEMENTATIONS))}, got "
            f"{implementation!r}"
        )
    return implementation


def choose(
    implementation: str,
    F: int,
    P: int,
    k: int,
    n1: int,
    n2: int | None,
    trace: bool,
    itemsize: int,
    structured: Counts | None = None,
) -> str:
    """The implementation to use: ``implementation`` unless "auto"; then the cheapest in
    operations whose memory fits (Jacobian contraction needs 8 rows of Jacobian,
    ``8 k P`` scalars, within ``JACOBIAN_BUDGET_BYTES``; the structured kernel 8 rows of
    its fallback and gradients-rule parameters, and a rule for at least one layer)."""
    if implementation != "auto":
        return implementation
    c = costs(F, P, k, n1, n2, trace, structured)
    fits = lambda rows: MIN_JACOBIAN_BLOCK * k * rows * itemsize <= JACOBIAN_BUDGET_BYTES
    if not fits(P):
        c.pop("jacobian")
    if structured is not None and not fits(structured.rows):
        c.pop("structured")
    return min(c, key=lambda name: (c[name], name != "structured"))


@functools.lru_cache(maxsize=128)
def layers_flops(net) -> tuple[int, int]:
    """``jaxpr_flops`` of a traced forward pass (``graph_layers.Layers``), once."""
    return jaxpr_flops(net.closed.jaxpr)


def _structured(net, params, x1, n2, trace, itemsize, force):
    """(layers, rules, counts, block) of the structured kernel; None when no layer has
    a rule (it would be Jacobian contraction by another name)."""
    if not net.layers:
        return None
    n1 = x1.shape[0]
    n = max(n1, n1 if n2 is None else n2)
    n_feat = n1 if n2 is None else n1 + n2
    n_pairs = n1 * (n1 + 1) // 2 if n2 is None else n1 * n2
    sizes = [int(np.prod(np.shape(a))) for a in jax.tree_util.tree_leaves(params)]
    block = structured_block(n, net.k, sum(sizes), itemsize)
    rules = choose_rules(net, n_feat, n_pairs, block, trace, itemsize, force)
    c = counts(net, rules, sizes, trace)
    return net, rules, c, structured_block(n, net.k, c.rows, itemsize)


def network_features(model, params, x: jax.Array):
    """Features of inputs ``x`` for ``network_block`` (traceable: the compiled training
    loop's kernels): the structured kernel's, each layer's rule by cost for the n x n
    kernel of ``x`` (no layer: every leaf's per-example gradient, Jacobian rows)."""
    net = trace_layers(model, params, one_row(x))
    n = x.shape[0]
    itemsize = jnp.dtype(jnp.result_type(x.dtype, *jax.tree_util.tree_leaves(params))).itemsize
    rules = choose_rules(net, n, n * (n + 1) // 2, min(n, 512), True, itemsize)
    leaves, net_leaves = jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(model)
    return block_features(net, rules, leaves, net_leaves, x)


def network_block(f1, f2, trace: bool) -> jax.Array:
    """The kernel block of two ``network_features``: (n1, n2) traced, else (n1, n2, k, k)."""
    return block_tile(f1, f2, bool(trace), False)


FORCED_RULES = {"structured": None, "structured_gram": "gram", "structured_gradients": "gradients"}


def network_plan(
    model,
    params,
    x1: jax.Array,
    k: int,
    n2: int | None,
    trace: bool,
    implementation: str = "auto",
) -> KernelPlan:
    """The ``KernelPlan`` of the exact kernel of a network that is not an ``MLP``, on
    inputs shaped like ``x1`` (n2 None: K(x1, x1)): the implementation ``choose`` picks
    (or the one asked for), its block size and operation count."""
    implementation = check_implementation(implementation)
    P = n_params(params)
    itemsize = jnp.dtype(jnp.result_type(x1.dtype, *jax.tree_util.tree_leaves(params))).itemsize
    n1 = x1.shape[0]
    n = max(n1, n1 if n2 is None else n2)
    net = trace_layers(model, params, one_row(x1))  # cached per network and shapes
    F, A = layers_flops(net)
    force = FORCED_RULES.get(implementation)
    found = None
    if implementation in ("auto", *FORCED_RULES):
        found = _structured(net, params, x1, n2, trace, itemsize, force)
        if found is None and implementation != "auto":
            raise ValueError(
                f"implementation={implementation!r}: no parameter of this network enters "
                "once and linearly through a dense layer or a convolution; use 'jacobian'"
            )
    c = None if found is None else found[2]
    chosen = choose(
        "structured" if implementation in FORCED_RULES else implementation,
        F, P, k, n1, n2, trace, itemsize, c,
    )  # fmt: skip
    flops = costs(F, P, k, n1, n2, trace, c)[chosen]
    if chosen == "structured":
        net, rules, c, block = found
        source = structured_source(model, params, net, rules, trace, c.rows)
        # gram_temporaries counts (b, b) arrays of scalars; the plan counts tiles of
        # (b, b) entries, k^2 scalars each untraced
        scalars = sum(
            gram_temporaries(lay, k, trace)
            for lay, r in zip(net.layers, rules, strict=True)
            if r == "gram"
        )
        temps = JACOBIAN_TEMPORARIES + -(-scalars // (1 if trace else k * k))
        name = implementation if implementation in FORCED_RULES else "structured"
        return KernelPlan(source, block, temps, flops, name, k)
    if chosen == "jacobian":
        source, block = jacobian_source(model, params, k, trace), jacobian_block(n, k, P, itemsize)
    else:
        block = products_block(n, A, itemsize)
        chunk = products_chunk(k, P, A, itemsize, block)
        source = products_source(model, params, k, trace, chunk)
    return KernelPlan(source, block, JACOBIAN_TEMPORARIES, flops, chosen, k)
