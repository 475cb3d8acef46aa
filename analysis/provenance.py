"""Versions, device and hashes recorded with every result row.

Only the standard library at import (the benchmark harness uses ``package_version``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import metadata
from typing import Any


def package_version(dist: str) -> str:
    """The installed version of distribution ``dist``, or "absent"."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


@functools.cache
def versions() -> dict[str, str]:
    """Package versions and device, as columns for result tables."""
    import jax

    import ntkfix

    return {
        "ntkfix_version": package_version("ntkfix"),
        "jax_version": jax.__version__,
        "neural_tangents_version": (
            package_version("neural-tangents")
            if ntkfix.host.neural_tangents_available()
            else "unavailable"
        ),
        "device": f"{jax.default_backend()}:{jax.devices()[0].device_kind}",
    }


def stable_hash(obj: Any, length: int = 12) -> str:
    """Short sha256 of a JSON-serialisable object with sorted keys (stable across runs)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]
