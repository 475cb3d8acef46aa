"""``ntkfix kernel``: empirical and infinite NTK of user data, saved as .npz.

The network is an ``ntkfix.MLP`` (``--width``, ``--depth``) or the user's own
(``--model FILE.py:FUNCTION``: FUNCTION() returns a neural-tangents stax triple
``(init_fn, apply_fn, kernel_fn)`` or a pair ``(init_fn, apply_fn)``; only a triple has
an infinite-width kernel). Rows stay in the file's order. With labels (a .csv's
``--label`` column, a .npz's ``y``) the complexity sqrt(2 y^T K^-1 y / n) of each kernel
and, for two classes on normalized inputs, Arora et al.'s bound are printed next to the
distances; a kernel too ill-conditioned to solve with is said so, with the reason.
"""

from __future__ import annotations

import importlib.util
import warnings
import zipfile
from pathlib import Path

import jax
import numpy as np

import ntkfix
from analysis.errors import UsageError
from ntkfix.kernels import factorize

# What the library's loaders (and numpy/pandas under them) raise for a file that cannot
# be used: missing or unreadable, not .npz/.csv inside, wrong arrays or columns.
BAD_FILE = (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile)

OPTIONS = (  # (flags, argparse keywords); every help ends with its default
    (
        ("--data",),
        dict(
            required=True,
            help=".npz with array x (optionally y), or .csv with --label (required: no default)",
        ),
    ),
    (
        ("--label",),
        dict(
            default=None,
            help="label column of a .csv, excluded from the features and saved "
            "as y (default: none; required for a .csv)",
        ),
    ),
    (("--width",), dict(type=int, default=1024, help="hidden width of the MLP (default: 1024)")),
    (("--depth",), dict(type=int, default=2, help="hidden layers of the MLP (default: 2)")),
    (
        ("--model",),
        dict(
            default=None,
            metavar="FILE.py:FUNCTION",
            help="your own network instead of the MLP: FUNCTION() returns a stax triple "
            "(init_fn, apply_fn, kernel_fn) or (init_fn, apply_fn); --width/--depth are "
            "then ignored (default: the MLP)",
        ),
    ),
    (
        ("--input-shape",),
        dict(
            default=None,
            metavar="H,W,C",
            help="reshape each row to this shape for --model, e.g. 8,8,1 for digits "
            "images (default: rows as vectors)",
        ),
    ),
    (("--seed",), dict(type=int, default=0, help="seed of the network's init (default: 0)")),
    (
        ("--standardize",),
        dict(
            action="store_true",
            help="divide each feature by its standard deviation "
            "(after centering, before projection to the sphere) (default: off)",
        ),
    ),
    (
        ("--no-normalize",),
        dict(
            action="store_true",
            help="skip centering and projection to the sphere (default: both on)",
        ),
    ),
    (
        ("--out",),
        dict(
            default="kernels.npz",
            help="output .npz: x, y (with labels: the targets used, +-1 for two classes, "
            "one-hot for more), index (file rows, in the file's order), empirical_ntk, "
            "infinite_ntk (stax/MLP), dist_*, complexity_*, bound (default: kernels.npz)",
        ),
    ),
)


def add_arguments(parser) -> None:
    for flags, kwargs in OPTIONS:
        parser.add_argument(*flags, **kwargs)


def _npz_has_y(path: str) -> bool:
    try:
        with np.load(path, allow_pickle=False) as f:
            return "y" in getattr(f, "files", ())
    except BAD_FILE:
        return True  # let the loader say what is wrong


def _labelled(suffix: str, path: str, label: str | None, key, opts: dict):
    """The loader's task="auto" (two classes: +-1; more: one-hot; real values: as they
    are); labels of a single value are kept as values (task="regression")."""
    load = (
        (lambda **o: ntkfix.data.from_npz(path, key, **o))
        if suffix == ".npz"
        else (lambda **o: ntkfix.data.from_csv(path, label, key, **o))
    )
    try:
        return load(**opts)
    except ValueError as e:
        if "fewer than 2 classes" not in str(e):
            raise
        return load(task="regression", **opts)


def load_user_data(
    path: str, label: str | None, normalize: bool, seed: int, standardize: bool = False
) -> tuple[ntkfix.data.Dataset, bool]:
    """(all rows of a .npz (arrays x, y) or .csv (label column ``label``) as 'training'
    data in the file's order, whether it has labels).

    Raises:
      UsageError: a file that is not .npz/.csv, a .csv without ``label``, or one the
        library cannot load (the loader's message).
    """
    suffix = Path(path).suffix.lower()
    opts = dict(test_fraction=0.0, center=normalize, sphere=normalize, standardize=standardize)
    key = jax.random.PRNGKey(seed)
    if suffix not in (".npz", ".csv"):
        raise UsageError(f"--data must be a .npz or .csv file, got {path!r}")
    if suffix == ".csv" and label is None:
        raise UsageError("--label is required for a .csv file (the column that holds y)")
    try:
        if suffix == ".npz" and not _npz_has_y(path):
            with np.load(path, allow_pickle=False) as f:
                x = f["x"] if "x" in f.files else None
            if x is None:
                raise ValueError(f"{path!r} has no array 'x'")
            ds = ntkfix.data.from_arrays(x, np.zeros(len(x)), key, task="regression", **opts)
            labelled = False
        else:
            ds, labelled = _labelled(suffix, path, label, key, opts), True
    except BAD_FILE as e:
        raise UsageError(f"cannot use --data {path}: {e}") from e
    return ds, labelled


def load_model(spec: str):
    """FUNCTION() of FILE.py: a stax triple or an (init_fn, apply_fn) pair."""
    file, sep, name = spec.rpartition(":")
    if not sep or not file.endswith(".py") or not name:
        raise UsageError(f"--model must be FILE.py:FUNCTION, got {spec!r}")
    if not Path(file).is_file():
        raise UsageError(f"--model: no such file {file!r}")
    module_spec = importlib.util.spec_from_file_location("ntkfix_user_model", file)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)  # the user's code: its own errors keep their traceback
    fn = getattr(module, name, None)
    if not callable(fn):
        raise UsageError(f"--model: {file} has no function {name!r}")
    net = fn()
    if not (isinstance(net, tuple) and len(net) in (2, 3) and all(map(callable, net))):
        raise UsageError(
            f"--model: {name}() must return (init_fn, apply_fn) or a stax triple "
            f"(init_fn, apply_fn, kernel_fn), got {type(net).__name__}"
        )
    return net


def _network(args, x):
    """(model for the kernels, params, model with an infinite-width kernel or None)."""
    key = jax.random.PRNGKey(args.seed)
    if args.model is None:
        try:
            spec = ntkfix.MLP(in_dim=x.shape[1], width=args.width, depth=args.depth)
        except ValueError as e:  # --width or --depth out of range
            raise UsageError(str(e)) from e
        return spec, spec.init(key), spec
    net = load_model(args.model)
    _, params = net[0](key, (-1, *x.shape[1:]))
    if len(net) == 2:  # (init_fn, apply_fn): the function apply_fn(params, x)
        return net[1], params, None
    return net, params, net


def _input_shape(arg: str | None, x):
    if arg is None:
        return x
    try:
        shape = tuple(int(s) for s in arg.split(","))
    except ValueError:
        shape = ()
    if not shape or int(np.prod(shape)) != x.shape[1]:
        raise UsageError(
            f"--input-shape {arg!r} must be integers H,W,C whose product is the {x.shape[1]} "
            "features of a row"
        )
    return x.reshape((x.shape[0], *shape))


def _condition_note(name: str, K, standardized: bool) -> None:
    """A warning line when ``K`` is too ill-conditioned to solve with (the library's reason)."""
    try:
        factorize(K, name)
    except ntkfix.errors.IllConditionedKernel as e:
        how = " Here: --standardize." if "standardize=True" in str(e) and not standardized else ""
        print(f"ntkfix kernel: warning: {e}{how}")


def _solve_report(name: str, K, y, binary: bool, normalized: bool) -> dict:
    """Print and return the complexity of K (and the Arora bound for the "arora" kernel)."""
    out = {}
    try:
        info = ntkfix.complexity(K, y, return_info=True)
    except ntkfix.errors.IllConditionedKernel:
        print(f"complexity_{name}: not computed (K is ill-conditioned: see the warning)")
        return out
    out[f"complexity_{name}"] = info.value
    print(f"complexity_{name} = {info.value:.4g} (condition number {info.condition_number:.3g})")
    if name == "arora" and binary and normalized:
        b = ntkfix.generalization_bound(K, y)
        out.update(bound=b.total, bound_vacuous=b.vacuous)
        print(str(b))
    return out


def _check_sizes(args) -> None:
    """--width and --depth of the MLP, before the data loads (and warns)."""
    if args.model is None:
        for flag in ("width", "depth"):
            if getattr(args, flag) < 1:
                raise UsageError(f"--{flag} must be an integer >= 1, got {getattr(args, flag)}")


def kernel_command(args) -> Path:
    _check_sizes(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ntkfix.errors.DataQualityWarning)
        ds, labelled = load_user_data(
            args.data, args.label, not args.no_normalize, args.seed, args.standardize
        )
    for w in caught:  # the library's advice in the command line's words
        text = str(w.message).replace("pass standardize=True", "pass --standardize")
        print(f"ntkfix kernel: warning: {text}")
    order = np.argsort(np.asarray(ds.meta["train_index"]))  # back to the file's order
    x = ds.x_train[order]
    y = np.asarray(ds.y_train)[order]
    if args.input_shape is not None and args.model is None:
        raise UsageError("--input-shape is for --model (the MLP takes rows as vectors)")
    xs = _input_shape(args.input_shape, x)
    model, params, inf_model = _network(args, xs)
    emp = ntkfix.empirical_ntk(model, params, xs)
    saved = dict(empirical_ntk=np.asarray(emp))
    results = {}
    if inf_model is not None:
        inf = ntkfix.infinite_ntk(inf_model, xs)
        saved["infinite_ntk"] = np.asarray(inf)
        results = {f"dist_{m}": ntkfix.kernel_distance(emp, inf, m) for m in ntkfix.kernels.METRICS}
    for name, K in saved.items():
        _condition_note(name, K, args.standardize)
    for k, v in results.items():
        print(f"{k} = {v:.4g}")
    if labelled:
        binary = ds.meta.get("kind") == "binary"
        kernels = {"empirical": emp, **({"infinite": saved["infinite_ntk"]} if inf_model else {})}
        if not args.no_normalize:
            kernels["arora"] = ntkfix.arora_kernel(x)
        for name, K in kernels.items():
            results.update(_solve_report(name, K, y, binary, not args.no_normalize))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        x=np.asarray(x),
        **({"y": y} if labelled else {}),
        index=np.arange(len(order)),
        width=args.width,
        depth=args.depth,
        seed=args.seed,
        **saved,
        **results,
    )
    return out
