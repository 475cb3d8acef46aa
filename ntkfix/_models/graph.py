"""Freezing the gates of any JAX function: the two-stream jaxpr evaluator.

A FAP network is "the same graph with every ReLU's gate taken from theta_0". For a
function ``f(params, x)`` this is done without touching the user's code: ``f`` is traced
to a jaxpr once, and its equations are evaluated on two streams at once,

- the *gate stream* at ``params0`` (the initial network), and
- the *value stream* at ``params``,

sharing every value that does not depend on the parameters (preprocessing of ``x``,
constants). At each piecewise-linear gate the value stream takes the gate stream's
decision:

    max(a, b)       ->  where(a0 > b0, a, b)       (jax.nn.relu, jnp.maximum(z, 0), stax.Relu)
    min(a, b)       ->  where(a0 < b0, a, b)
    abs(a)          ->  where(a0 >= 0, a, -a)
    clamp(lo, a, hi)->  where(a0 < lo0, lo, where(a0 > hi0, hi, a))
    a0 > b0, ...    ->  the comparison's result at params0 (so select_n / jnp.where
                        gates, e.g. jax.nn.leaky_relu, are frozen too)
    sign(a)         ->  sign(a0)

with a0, b0 the operands in the gate stream. The decisions are booleans: no gradient
flows through them. Higher-order primitives (``pjit``, ``custom_jvp_call``,
``custom_vjp_call``, ``remat``, ``closed_call``) are evaluated recursively. Refused,
with the operation and where it occurs in the user's code, when they act on
parameter-dependent values: smooth nonlinearities (``tanh``, ``exp`` - hence softmax -,
``erf`` - hence GELU -, ``log``, ``sqrt``, ``pow``, a division by a parameter-dependent
value, ...), max-pooling and other reductions by max/min/argmax, and control flow
(``scan``, ``while``, ``cond``).

At ``params == params0`` the FAP function equals ``f`` (every decision is the one ``f``
itself takes) and so does its gradient away from ties (a tie z0 == 0 has measure zero).

For a fixed input set the decisions depend only on ``x``: ``GraphProgram.gates``
computes them once, and ``GraphProgram.apply`` with ``gates=`` skips the gate stream.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._conversion.certificate import gate_threshold
from ntkfix._core.errors import UnsupportedOperation
from ntkfix._models.refusals import PIECEWISE_REFUSED, SMOOTH, where_in_code
from ntkfix._models.refusals import refuse as _refuse

try:  # newer jax
    from jax.extend.core import Literal
except ImportError:  # jax 0.4.x
    from jax.core import Literal

CONTROL_FLOW = frozenset({"scan", "while", "cond"})
COMPARISONS = frozenset({"gt", "ge", "lt", "le", "eq", "ne"})
# Call-like primitives whose body is evaluated recursively: name -> the param holding it.
CALLS = {
    "pjit": "jaxpr",
    "jit": "jaxpr",  # the name of pjit in newer jax
    "closed_call": "call_jaxpr",
    "core_call": "call_jaxpr",
    "remat": "jaxpr",
    "checkpoint": "jaxpr",
    "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr",
    "custom_vjp_call_jaxpr": "fun_jaxpr",
}


def _jaxpr_and_consts(obj) -> tuple[Any, list]:
    """(Jaxpr, consts) of a ClosedJaxpr or a Jaxpr."""
    if hasattr(obj, "jaxpr") and hasattr(obj, "consts"):
        return obj.jaxpr, list(obj.consts)
    return obj, []


class _Env:
    """Values of jaxpr variables in the two streams; ``dep`` marks parameter-dependent
    variables (the two streams differ); other variables hold one shared value."""

    def __init__(self):
        self.gate: dict = {}
        self.value: dict = {}
        self.dep: set = set()

    def read(self, v) -> tuple[Any, Any, bool]:
        if isinstance(v, Literal):
            return v.val, v.val, False
        return self.gate.get(v), self.value[v], v in self.dep

    def write(self, v, gate, value, dep: bool) -> None:
        self.value[v] = value
        self.gate[v] = gate if dep else value
        if dep:
            self.dep.add(v)


@dataclasses.dataclass
class _Decisions:
    """The frozen decisions, in evaluation order: recorded (gate stream on) or replayed.

    With ``twin`` (one constant M per ReLU-like gate) the gates are not frozen but
    rewritten as the ReLU network of width 2 (``ntkfix._conversion.graph``):
    G(u) z = relu(M u + z) - M relu(u), u the gate stream's and z the value stream's
    argument; ``terms`` collects every gate's (u, z). With ``shift`` each gate's u is
    replaced by u - t (its threshold, ``ntkfix._conversion.certificate.gate_threshold``),
    in the gate stream too; with ``calibrate`` (the original decisions u > 0) the
    thresholds are chosen on the way.
    """

    given: list | None
    made: list = dataclasses.field(default_factory=list)
    twin: list | None = None
    terms: list | None = None
    shift: list | None = None  # per relu term, its threshold t (u - t replaces u)
    calibrate: list | None = None  # per relu term, the original decision u > 0
    frac: float = 0.5

    def take(self, compute: Callable[[], jax.Array]) -> jax.Array:
        if self.given is None:
            d = compute()
            self.made.append(d)
            return d
        if len(self.made) >= len(self.given):
            raise ValueError(
                f"gates hold {len(self.given)} decisions but the network takes more: they "
                "were computed for other inputs or another network"
            )
        d = self.given[len(self.made)]
        self.made.append(d)
        return d


def _bind(eqn, invals):
    """``eqn``'s primitive applied to ``invals`` (as ``jax.core.eval_jaxpr`` does it:
    jax 0.4 returns (subfuns, params) from ``get_bind_params``, newer jax the params)."""
    bound = eqn.primitive.get_bind_params(eqn.params)
    subfuns, params = bound if isinstance(bound, tuple) else ((), bound)
    out = eqn.primitive.bind(*subfuns, *invals, **params)
    return out if eqn.primitive.multiple_results else [out]


def _gate_op(eqn, gates, values, deps, decisions: _Decisions):
    """(gate outputs, value outputs) of a gate equation with parameter-dependent inputs."""
    name = eqn.primitive.name
    if decisions.twin is not None or decisions.terms is not None:
        return _relu_form(eqn, gates, values, decisions)
    if name in COMPARISONS or name == "sign":
        d = decisions.take(lambda: _bind(eqn, gates)[0])
        return [d], [d], False
    if name in ("max", "min"):
        a0, b0 = gates
        op = jnp.greater if name == "max" else jnp.less
        d = decisions.take(lambda: op(a0, b0))
        out_v = jnp.where(d, values[0], values[1]).astype(eqn.outvars[0].aval.dtype)
        out_g = None if decisions.given is not None else _bind(eqn, gates)[0]
        return [out_g], [out_v], True
    if name == "abs":
        d = decisions.take(lambda: gates[0] >= 0)
        out_g = None if decisions.given is not None else _bind(eqn, gates)[0]
        return [out_g], [jnp.where(d, values[0], -values[0])], True
    if name == "clamp":
        lo0, a0, hi0 = gates
        below = decisions.take(lambda: a0 < lo0)
        above = decisions.take(lambda: a0 > hi0)
        lo, a, hi = values
        out_v = jnp.where(below, lo, jnp.where(above, hi, a)).astype(eqn.outvars[0].aval.dtype)
        out_g = None if decisions.given is not None else _bind(eqn, gates)[0]
        return [out_g], [out_v], True
    return None


GATES = COMPARISONS | {"sign", "max", "min", "abs", "clamp"}


@dataclasses.dataclass(frozen=True, eq=False)
class _Pred:
    """A comparison of parameter-dependent values in relu form: true where u > 0 (u at
    params0). Only a select may consume it (``_relu_select``)."""

    u: jax.Array


def _shifted(u, decisions: _Decisions):
    """u - t with t this gate's threshold (chosen here when calibrating), or u."""
    i = len(decisions.terms)
    if decisions.calibrate is not None:
        t = gate_threshold(u, decisions.calibrate[i], decisions.frac)
        decisions.shift.append(float(np.nan_to_num(t)))  # nan: no gap, left unshifted
    if decisions.shift is None:
        return u
    return u - jnp.asarray(decisions.shift[i], u.dtype)


def _relu_term(u, z, base, dtype, decisions: _Decisions):
    """(base + G(u) z, frozen (terms) or rewritten as relu(M u + z) - M relu(u) (twin);
    and u - t, the gate's argument after its threshold (``_shifted``))."""
    u, z = jnp.broadcast_arrays(jnp.asarray(u, dtype), jnp.asarray(z, dtype))
    u = _shifted(u, decisions)
    decisions.terms.append((u, z))
    if decisions.twin is None:
        return jnp.asarray(base + jnp.where(u > 0, z, 0), dtype), u
    M = jnp.asarray(decisions.twin[len(decisions.terms) - 1], dtype)
    if M.ndim:  # per channel (last axis) or per unit (every axis but the batch's)
        M = M.reshape((1,) * (u.ndim - M.ndim) + M.shape)
    return jnp.asarray(base + (jax.nn.relu(M * u + z) - M * jax.nn.relu(u)), dtype), u


def _relu_form(eqn, gates, values, decisions: _Decisions):
    """A gate as b + G(u) z with u from the gate stream and z, b from the value stream:
    max(a, b): u = a0 - b0, z = a - b;  min(a, b): u = b0 - a0, z = a - b;
    abs(a): b = -a, u = a0, z = 2a; a comparison a > b or a >= b (a < b, a <= b) gives
    the predicate u = a0 - b0 (b0 - a0) of a select (``_relu_select``). Then G(u) z is
    frozen (terms) or rewritten (twin)."""
    name = eqn.primitive.name
    dtype = eqn.outvars[0].aval.dtype
    if name in ("gt", "ge", "lt", "le"):
        (a0, b0) = gates
        pred = _Pred(a0 - b0 if name in ("gt", "ge") else b0 - a0)
        return [pred], [pred], True
    # (u, z, b) and the gate stream's own b0 + c relu(u): c = z0 / u
    if name == "max":
        (a0, b0), (a, b) = gates, values
        u, z, base, base0, c = a0 - b0, a - b, b, b0, 1
    elif name == "min":
        (a0, b0), (a, b) = gates, values
        u, z, base, base0, c = b0 - a0, a - b, b, b0, -1
    elif name == "abs":
        u, z, base, base0, c = gates[0], 2 * values[0], -values[0], -gates[0], 2
    else:
        raise UnsupportedOperation(
            f"{name} at {where_in_code(eqn)}: ReLU twins are built for max/min/abs gates "
            "and selects on a > b / a >= b comparisons (relu, jnp.maximum, stax.Relu, abs, "
            "leaky relu); clamp, sign and ==/!= are not converted"
        )
    out_v, u_t = _relu_term(u, z, base, dtype, decisions)
    if decisions.shift is None:
        return [_bind(eqn, gates)[0]], [out_v], True
    return [jnp.asarray(base0 + c * jax.nn.relu(u_t), dtype)], [out_v], True


def _relu_select(eqn, gates, values, decisions: _Decisions):
    """select_n(pred, f, t) = f + 1[u > 0] (t - f) on both streams (the gate stream's own
    select is rewritten too, so the twin holds no comparison): two relu terms."""
    pred = values[0]
    if len(values) != 3:
        raise UnsupportedOperation(
            f"select_n with {len(values) - 1} cases at {where_in_code(eqn)}: ReLU twins "
            "convert two-way selects (jnp.where) only"
        )
    dtype = eqn.outvars[0].aval.dtype
    (f0, t0), (f, t) = gates[1:], values[1:]
    out_g = _relu_term(pred.u, t0 - f0, f0, dtype, decisions)[0]
    out_v = _relu_term(pred.u, t - f, f, dtype, decisions)[0]
    return [out_g], [out_v], True


def _eval(jaxpr, consts, gate_args, value_args, dep_args, decisions: _Decisions):
    """Evaluate ``jaxpr`` on the two streams; returns (gate outs, value outs, dep flags)."""
    env = _Env()
    for v, c in zip(jaxpr.constvars, consts, strict=True):
        env.write(v, c, c, False)
    for v, g, x, d in zip(jaxpr.invars, gate_args, value_args, dep_args, strict=True):
        env.write(v, g, x, d)
    replay = decisions.given is not None
    for eqn in jaxpr.eqns:
        reads = [env.read(v) for v in eqn.invars]
        gates = [r[0] for r in reads]
        values = [r[1] for r in reads]
        deps = [r[2] for r in reads]
        name = eqn.primitive.name
        if not any(deps):  # shared by both streams: computed once
            outs = _bind(eqn, values)
            for v, o in zip(eqn.outvars, outs, strict=True):
                env.write(v, o, o, False)
            continue
        if name in CALLS and CALLS[name] in eqn.params:
            sub, sub_consts = _jaxpr_and_consts(eqn.params[CALLS[name]])
            outs_g, outs_v, outs_d = _eval(sub, sub_consts, gates, values, deps, decisions)
        elif name in GATES:
            outs_g, outs_v, d = _gate_op(eqn, gates, values, deps, decisions)
            outs_d = [d] * len(outs_v)
        elif name == "select_n" and isinstance(values[0], _Pred):
            outs_g, outs_v, d = _relu_select(eqn, gates, values, decisions)
            outs_d = [d]
        elif any(isinstance(v, _Pred) for v in values):
            raise UnsupportedOperation(
                f"{name} at {where_in_code(eqn)} uses a comparison of parameter-dependent "
                "values other than as the condition of a select (jnp.where): not converted "
                "to a ReLU twin"
            )
        elif name in SMOOTH:
            _refuse(eqn, "a smooth nonlinearity")
        elif name == "div" and deps[1]:
            _refuse(eqn, "a division")
        elif name in PIECEWISE_REFUSED:
            _refuse(eqn, PIECEWISE_REFUSED[name])
        elif name in CONTROL_FLOW:
            _refuse(eqn, "control flow")
        else:  # linear and structural operations: both streams
            outs_v = _bind(eqn, values)
            outs_g = [None] * len(outs_v) if replay else _bind(eqn, gates)
            outs_d = [True] * len(outs_v)
        for v, g, x, d in zip(eqn.outvars, outs_g, outs_v, outs_d, strict=True):
            env.write(v, g, x, d)
    reads = [env.read(v) for v in jaxpr.outvars]
    return [r[0] for r in reads], [r[1] for r in reads], [r[2] for r in reads]


# (fn, treedef, leaf shapes, x shape) -> GraphProgram, the most recently used kept
_PROGRAMS: collections.OrderedDict = collections.OrderedDict()
MAX_PROGRAMS = 256


@dataclasses.dataclass(frozen=True, eq=False)
class GraphProgram:
    """The jaxpr of ``fn(params, x)`` for one input shape, ready for two-stream evaluation.

    Attributes:
      fn: the user's function.
      treedef: the params pytree structure ``fn`` was traced with.
      closed: the ``ClosedJaxpr`` of ``fn`` with inputs (params leaves..., x).
    """

    fn: Callable
    treedef: Any
    closed: Any

    @classmethod
    def trace(cls, fn: Callable, params: Any, x: jax.Array) -> GraphProgram:
        leaves, treedef = jax.tree_util.tree_flatten(params)
        flat = lambda *args: fn(jax.tree_util.tree_unflatten(treedef, args[:-1]), args[-1])
        closed = jax.make_jaxpr(flat)(*leaves, x)
        return cls(fn, treedef, closed)

    @classmethod
    def for_shapes(cls, fn: Callable, params: Any, x: Any) -> GraphProgram:
        """The program of ``fn`` for arguments shaped like ``(params, x)``, traced once per
        function and shapes (values do not matter: tracers are fine)."""
        leaves, treedef = jax.tree_util.tree_flatten(params)
        sig = lambda a: (tuple(np.shape(a)), str(a.dtype))
        key = (fn, treedef, tuple(sig(a) for a in leaves), sig(x))
        if key not in _PROGRAMS:
            sds = lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype)
            shapes = jax.tree_util.tree_unflatten(treedef, [sds(a) for a in leaves])
            _PROGRAMS[key] = cls.trace(fn, shapes, sds(x))
            while len(_PROGRAMS) > MAX_PROGRAMS:
                _PROGRAMS.popitem(last=False)
        _PROGRAMS.move_to_end(key)
        return _PROGRAMS[key]

    def _run(self, params0, params, x, gates):
        leaves0 = jax.tree_util.tree_leaves(params0) if params0 is not None else None
        leaves = jax.tree_util.tree_leaves(params)
        n = len(leaves)
        decisions = _Decisions(given=None if gates is None else list(gates))
        g_args = (leaves0 if leaves0 is not None else [None] * n) + [x]
        _, outs, _ = _eval(
            self.closed.jaxpr,
            self.closed.consts,
            g_args,
            leaves + [x],
            [True] * n + [False],
            decisions,
        )
        if gates is not None and len(decisions.made) != len(decisions.given):
            raise ValueError(
                f"gates hold {len(decisions.given)} decisions but the network took "
                f"{len(decisions.made)}: they were computed for another network"
            )
        out = (
            outs[0]
            if len(outs) == 1
            else jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(outs), outs)
        )
        return out, decisions.made

    def terms(self, params0, params, x, shift=None) -> list:
        """Every ReLU-like gate's (u, z): its argument at params0 and at params (the
        relu-form b + G(u) z of ``_relu_form``), in evaluation order; with ``shift`` (one
        threshold per gate, ``calibrate``) u - t in the gate stream the twin computes."""
        decisions = _Decisions(given=None, terms=[], shift=None if shift is None else list(shift))
        self._eval_with(params0, params, x, decisions)
        return decisions.terms

    def calibrate(self, params0, params, x, on: list, frac: float = 0.5) -> list[float]:
        """One threshold per gate (``gate_threshold``) so that the twin's gate stream
        takes the decisions ``on`` (the original u > 0 of each gate, from ``terms``) with
        no argument at 0, chosen gate by gate (a threshold moves the later gates' u)."""
        decisions = _Decisions(given=None, terms=[], shift=[], calibrate=list(on), frac=frac)
        self._eval_with(params0, params, x, decisions)
        return decisions.shift

    def twin_apply(self, params0, params, M, x, shift=None):
        """The ReLU network of width 2 per gate: each G(u) z as relu(M u + z) - M relu(u)
        with ``M[i]`` the i-th gate's constant (and u - ``shift[i]`` for u if given)."""
        decisions = _Decisions(
            given=None, twin=list(M), terms=[], shift=None if shift is None else list(shift)
        )
        return self._eval_with(params0, params, x, decisions)[0]

    def _eval_with(self, params0, params, x, decisions):
        leaves0, leaves = jax.tree_util.tree_leaves(params0), jax.tree_util.tree_leaves(params)
        n = len(leaves)
        _, outs, _ = _eval(
            self.closed.jaxpr,
            self.closed.consts,
            leaves0 + [x],
            leaves + [x],
            [True] * n + [False],
            decisions,
        )
        return outs

    def apply(self, params0, params, x, gates=None):
        """The FAP function at ``params`` (gates at ``params0``, or the given ``gates``)."""
        return self._run(params0, params, x, gates)[0]

    def gates(self, params0, x) -> list:
        """The frozen decisions (bool arrays, in evaluation order) of inputs ``x``."""
        return self._run(params0, params0, x, None)[1]
