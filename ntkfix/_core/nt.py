"""The one place that imports neural-tangents.

neural-tangents 0.6.5 imports ``neural_tangents.experimental`` at import time, which
imports TensorFlow and tf2jax; ntkfix needs nothing from it. When TensorFlow is not
installed we register an empty ``neural_tangents.experimental`` module first, so the
rest of neural-tangents imports. neural-tangents only imports with jax 0.4.x (it
fails on jax >= 0.6): callers get ``NeuralTangentsUnavailable`` with the reason.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import types

from ntkfix._core.errors import NeuralTangentsUnavailable


def _install_experimental_shim() -> bool:
    """Register an empty ``neural_tangents.experimental`` when TensorFlow is absent."""
    name = "neural_tangents.experimental"
    if name in sys.modules or importlib.util.find_spec("tensorflow") is not None:
        return False
    sys.modules[name] = types.ModuleType(name, "placeholder: TensorFlow is not installed")
    return True


def prepare_import() -> None:
    """Let ``import neural_tangents`` work after ``import ntkfix`` without TensorFlow:
    registers the placeholder ``neural_tangents.experimental`` when neural-tangents is
    installed but not yet imported (cheap: nothing is imported here)."""
    if "neural_tangents" not in sys.modules and importlib.util.find_spec("neural_tangents"):
        _install_experimental_shim()


@functools.cache
def _import():
    if importlib.util.find_spec("neural_tangents") is None:
        return None, "neural-tangents is not installed (pip install 'ntkfix[nt]')"
    shimmed = _install_experimental_shim()
    try:
        import neural_tangents as nt
    except Exception as e:  # jax too new, broken install, ...
        if shimmed:
            sys.modules.pop("neural_tangents.experimental", None)
        import jax

        return None, (
            f"neural-tangents failed to import with jax {jax.__version__} "
            f"({type(e).__name__}: {e}); it needs jax 0.4.25..0.4.38"
        )
    return nt, None


def available() -> bool:
    """Whether neural-tangents can be used in this environment."""
    return _import()[0] is not None


def unavailable_reason() -> str | None:
    """Why neural-tangents cannot be used, or None when it can."""
    return _import()[1]


def import_nt(feature: str = "this feature"):
    """The ``neural_tangents`` module, or ``NeuralTangentsUnavailable`` naming ``feature``."""
    nt, reason = _import()
    if nt is None:
        raise NeuralTangentsUnavailable(f"{feature} needs neural-tangents: {reason}")
    return nt


def import_stax(feature: str = "MLP.stax()"):
    return import_nt(feature).stax
