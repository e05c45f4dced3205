"""Small helpers for the study harness: JSON conversion and package versions."""

import importlib.metadata
import json
import math
import platform
from pathlib import Path
from typing import Any

import numpy as np

from .._misc import atomic_write


def to_jsonable(value: Any) -> Any:
    """Converts numpy/JAX scalars and arrays, tuples and paths into plain JSON values.

    Non-finite floats become `null`, because `NaN` is not valid JSON and would break
    strict readers (`jq`, JavaScript) of `metrics.json`.
    """
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "__array__"):
        array = np.asarray(value)
        if array.ndim == 0:
            return to_jsonable(array.item())
        return to_jsonable(array.tolist())
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")


def write_json(path: Path, obj: Any) -> Path:
    """Writes `obj` as indented JSON to `path` atomically."""
    data = (json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n").encode()
    atomic_write(path, lambda f: f.write(data))
    return Path(path)


def versions() -> dict[str, str]:
    """Versions of the packages that determine a run's numbers, for `metrics.json`."""
    import jax

    out = {"python": platform.python_version()}
    for name in ("sciml", "jax", "jaxlib", "equinox", "optax", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "unknown"
    out["backend"] = jax.default_backend()
    return out
