"""Kernel regression = gradient descent on the MSE at infinite time, with a kernel.

For the loss 1/(2n) ||f(X) - Y||_F^2 and a fixed kernel K (the linearized network, or
the infinite-width NTK), gradient flow from f_0 converges (any learning rate small
enough, t -> infinity) to

    f_inf(x) = f_0(x) + K(x, X) (K(X, X) + ridge I)^-1 (Y - f_0(X)),

ridge = 0 for plain GD (Jacot et al. 2018, arXiv:1806.07572; Lee et al. 2019,
arXiv:1902.06720); ridge > 0 is the limit with the kernel regularized
as in neural-tangents' ``predict.gradient_descent_mse(..., diag_reg=ridge,
diag_reg_absolute_scale=True)``. With f_0 = 0 it is the mean prediction over random
initializations of the infinite-width network. Solves use
``ntkfix._generalization.linalg.factorize``
(Cholesky in float64; ``IllConditionedKernel`` instead of NaN).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ntkfix._core.validate import (
    as_host_float64,
    check_matrix,
    check_outputs,
    check_targets,
)
from ntkfix._generalization.large import as_kernel_array, checked_factor, use_pcg
from ntkfix._generalization.large import solve as pcg_solve
from ntkfix._generalization.linalg import factorize, kernel_dtype
from ntkfix._kernels.empirical import empirical_ntk
from ntkfix._kernels.kernel import InfiniteKernel
from ntkfix._kernels.layout import flatten_full
from ntkfix._kernels.streamed import stream_abs_quadratic, stream_matmul
from ntkfix._models.base import check_model


@dataclasses.dataclass(frozen=True, eq=False)
class KernelPrediction:
    """Result of ``kernel_regression(..., return_info=True)`` (and ``ntk_regression``).

    Attributes:
      test: (n_test, k) predictions f_inf(X_test) (shape (n_test,) for 1-D targets).
      train: (n_train, k) predictions on the training inputs (= y when ridge = 0).
      dual_coef: (n_train, k) alpha = (K + ridge I)^-1 (y - f_0(X_train)).
      ridge: the diagonal term used.
      condition_number: 1-norm condition estimate of K + ridge I.
      quadratic_form: (k,) float64, r_c^T (K + ridge I)^-1 r_c per target column c with
        r = y - f_0(X_train): the quadratic form of ``complexity`` (sqrt(2 q_c / n) for
        f_0 = 0, ridge = 0), from the same solve, so one factorization of K serves several
        label vectors (e.g. label-noise levels).
      solver: the solver used, "cholesky" or "float32_pcg" (``solver="auto"`` decides
        by size and memory maps).
      quadratic_form_rounding: (k,) relative first-order bound on how much
        ``quadratic_form`` moves when every entry of K moves by one unit in the last place
        of K's dtype (|E_ij| <= eps |K_ij|): eps |alpha_c|^T |K| |alpha_c| / |q_c|. Above
        ~1e-3 the quadratic form (and the complexity) says more about the rounding of a
        float32 K than about the kernel: compute K in float64 or pass a ridge.
    """

    test: jax.Array
    train: jax.Array
    dual_coef: jax.Array
    ridge: float
    condition_number: float
    quadratic_form: np.ndarray
    solver: str
    quadratic_form_rounding: np.ndarray


def _initial_outputs(f0: Any, shape: tuple, name: str) -> np.ndarray:
    """The outputs at theta_0 (float64, exactly ``shape``); None means zeros."""
    return np.zeros(shape) if f0 is None else check_outputs(f0, name, shape, host=True)


def _out_dtype(*arrays: Any) -> np.dtype:
    """Float dtype of the inputs, as jax stores it (float32 unless x64 is enabled)."""
    return jax.dtypes.canonicalize_dtype(jnp.result_type(*(kernel_dtype(a) for a in arrays)))


SOLVE_KNOBS = ("ridge", "max_condition", "return_info", "solver")


def kernel_regression(
    K_train_train: Any,
    y_train: Any,
    K_test_train: Any,
    ridge: float = 0.0,
    *,
    f_train_0: Any = None,
    f_test_0: Any = None,
    max_condition: float | None = None,
    return_info: bool = False,
    solver: str = "auto",
) -> jax.Array | KernelPrediction:
    """Predictions of GD at t = infinity with a fixed kernel (module docstring formula).

    Args:
      K_train_train: (n, n) symmetric kernel on the training inputs.
      y_train: (n,) or (n, k) targets.
      K_test_train: (n_test, n) kernel between test and training inputs.
      ridge: absolute diagonal regularization >= 0 (0: interpolate).
      f_train_0, f_test_0: initial outputs f_0 on the training/test inputs, shapes of
        y_train and (n_test, k); None means 0 (mean over initializations).
      max_condition: largest accepted condition estimate of K + ridge I (default
        0.1 / eps(K.dtype)).
      return_info: return a ``KernelPrediction`` with train predictions too.
      solver: "cholesky" (float64, in memory), "float32_pcg" (float32 factor + float64
        PCG, kernels streamed: large n, ``numpy.memmap`` kernels) or "auto" (as
        ``complexity``).

    Returns:
      test predictions with y_train's trailing shape, or a ``KernelPrediction``.

    Raises:
      IllConditionedKernel: K + ridge I singular or too ill-conditioned (pass ridge > 0).

    Examples:
      >>> import numpy as np, ntkfix
      >>> K = np.array([[2.0, 1.0], [1.0, 2.0]])
      >>> ntkfix.kernel_regression(K, [1.0, -1.0], np.array([[1.0, 0.0]])).tolist()
      [1.0]
    """
    pcg = use_pcg(K_train_train, solver)
    if pcg:
        K_train_train = as_kernel_array(K_train_train, "K_train_train")
        factor = checked_factor(K_train_train, "K_train_train", ridge, max_condition, "ridge")
    else:
        factor = factorize(
            K_train_train,
            "K_train_train",
            regularization=ridge,
            max_condition=max_condition,
            regularize_arg="ridge",
            allow_auto=False,
        )
    n = factor.n
    y = check_targets(
        y_train, "y_train", rows=n, against="the training kernel", promote=False, host=True
    )
    Kx = K_test_train if pcg and isinstance(K_test_train, np.ndarray) else None
    Kx = check_matrix(K_test_train, "K_test_train") if Kx is None else Kx
    if Kx.ndim != 2 or Kx.shape[1] != n:
        raise ValueError(
            f"K_test_train has {Kx.shape[1]} columns but K_train_train is {n} x {n} "
            f"(K_test_train must be (n_test, n_train), got shape {tuple(Kx.shape)})"
        )
    Y = y.reshape(n, -1)
    k = Y.shape[1]
    f0_tr = _initial_outputs(f_train_0, y.shape, "f_train_0").reshape(n, k)
    f0_te = _initial_outputs(f_test_0, (Kx.shape[0],) + y.shape[1:], "f_test_0").reshape(-1, k)
    if pcg:
        alpha = pcg_solve(K_train_train, Y - f0_tr, factor)[0]
    else:
        alpha = factor.solve(Y - f0_tr)
    dtype = _out_dtype(K_train_train, y_train, K_test_train)
    out = lambda a, m: jnp.asarray(a.reshape((m,) + y.shape[1:]).astype(dtype))
    test = out(f0_te + (stream_matmul(Kx, alpha) if pcg else Kx @ alpha), Kx.shape[0])
    if not return_info:
        return test
    if pcg:
        train = f0_tr + stream_matmul(K_train_train, alpha)
    else:
        train = f0_tr + as_host_float64(K_train_train, "K_train_train") @ alpha
    q = np.sum((Y - f0_tr) * alpha, axis=0)
    eps = float(np.finfo(kernel_dtype(K_train_train)).eps)
    rounding = eps * stream_abs_quadratic(K_train_train, alpha) / np.maximum(np.abs(q), 1e-300)
    return KernelPrediction(
        test=test,
        train=out(train, n),
        dual_coef=jnp.asarray(alpha.astype(dtype)),
        ridge=factor.regularization,
        condition_number=factor.condition_number,
        quadratic_form=q,
        solver="float32_pcg" if pcg else "cholesky",
        quadratic_form_rounding=rounding,
    )


def ntk_regression(
    model: Any,
    params: Any,
    x_train: Any,
    y_train: Any,
    x_test: Any,
    *,
    trainable: Any = None,
    backend: str = "auto",
    include_init: bool = True,
    **solve: Any,
) -> jax.Array | KernelPrediction:
    """GD at t = infinity with the NTK of a network: finite width, or infinite width.

    - ``params`` given: the empirical NTK of ``model`` (ReLU ``MLP`` or
      ``FixedPattern``) at ``params`` for the ``trainable`` layers, i.e. the exact limit
      of GD on the network linearized at ``params`` (for a one-hidden-layer
      ``FixedPattern`` with ``trainable=0`` that is GD on the FAP net itself). With
      ``include_init`` the initial outputs f_0 = model.apply(params, .) are used; with
      several outputs the full (n k, n k) kernel is used, cross-output blocks included.
    - ``params=None``: the infinite-width NTK of ``model.spec`` (``infinite_ntk`` with
      ``backend`` and ``trainable``), f_0 = 0: the mean prediction over initializations.

    Args:
      model: ``MLP`` or ``FixedPattern``.
      params: stax.serial params, or None for infinite width.
      x_train, x_test: (n, in_dim) and (n_test, in_dim) inputs.
      y_train: (n,) or (n, out_dim) targets.
      trainable: dense layers whose parameters are trained (as in ``empirical_ntk``).
      backend: infinite-width backend (as in ``infinite_ntk``).
      include_init: use f_0 of the network at ``params`` (finite width only).
      **solve: the knobs of the solve, passed to ``kernel_regression``: ``ridge``
        (default 0), ``max_condition``, ``return_info`` (default False), ``solver``.

    Returns:
      as ``kernel_regression``.
    """
    unknown = sorted(set(solve) - set(SOLVE_KNOBS))
    if unknown:
        raise TypeError(
            f"ntk_regression() got an unexpected keyword argument {unknown[0]!r}; its "
            f"knobs of the solve are {', '.join(SOLVE_KNOBS)} (as in kernel_regression)"
        )
    return_info = solve.get("return_info", False)
    model = check_model(model)
    x_train = model.check_inputs(x_train, "x_train")
    x_test = model.check_inputs(x_test, "x_test")
    y = check_targets(
        y_train, "y_train", rows=x_train.shape[0], against="x_train", promote=False, host=True
    )
    k = 1 if y.ndim == 1 else y.shape[1]
    regress = lambda Ktt, Kxt, yy, f0tr, f0te: kernel_regression(
        Ktt, yy, Kxt, f_train_0=f0tr, f_test_0=f0te, **solve
    )
    if params is None:  # per output (the infinite-width kernel is the same for each)
        K = InfiniteKernel(model, "ntk", trainable=trainable, backend=backend)
        return regress(K(x_train), K(x_test, x_train), y, None, None)
    out_dim = model.output_shape(model.check_params(params), x_train)[1]
    if k != out_dim:
        raise ValueError(f"y_train has {k} output column(s) but the network has out_dim={out_dim}")
    kern = lambda a, b=None: empirical_ntk(model, params, a, b, trace=(k == 1), trainable=trainable)
    f0 = (
        (lambda a: model.apply(params, a))
        if include_init
        else (lambda a: jnp.zeros((a.shape[0], k)))
    )
    if k == 1:
        f0tr, f0te = f0(x_train).reshape(y.shape), f0(x_test).reshape((-1,) + y.shape[1:])
        return regress(kern(x_train), kern(x_test, x_train), y, f0tr, f0te)
    res = regress(
        flatten_full(kern(x_train)),
        flatten_full(kern(x_test, x_train)),
        y.reshape(-1),
        f0(x_train).reshape(-1),
        f0(x_test).reshape(-1),
    )
    n, n_test = x_train.shape[0], x_test.shape[0]
    if not return_info:
        return res.reshape(n_test, k)
    return KernelPrediction(
        test=res.test.reshape(n_test, k),
        train=res.train.reshape(n, k),
        dual_coef=res.dual_coef.reshape(n, k),
        ridge=res.ridge,
        condition_number=res.condition_number,
        quadratic_form=res.quadratic_form,
        solver=res.solver,
        quadratic_form_rounding=res.quadratic_form_rounding,
    )
