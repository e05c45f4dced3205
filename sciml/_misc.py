"""Small helpers shared across subpackages: atomic writes, the one JSON writer, package versions."""

import importlib.metadata
import json
import math
import os
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, IO

import numpy as np


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file through a temporary sibling and rename it into place.

    A reader never sees a half-written file and a crash mid-write leaves the
    previous version intact: `os.replace` is atomic on POSIX and Windows.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600 files; outputs are meant to be shared like any other file.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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


def write_json(path: str | os.PathLike, obj: Any, *, sort_keys: bool = False, strict: bool = True) -> Path:
    """Writes `obj` as indented JSON to `path` atomically; the one JSON writer of sciml.

    With `strict` (outputs people read: `metrics.json`, `run.json`) non-finite floats
    become `null`, since `NaN` is not valid JSON; checkpoints pass `strict=False` so a
    skipped step's NaN loss survives a resume unchanged.
    """
    if strict:
        text = json.dumps(to_jsonable(obj), indent=2, sort_keys=sort_keys, allow_nan=False)
    else:
        text = json.dumps(obj, indent=2, sort_keys=sort_keys, default=_json_default)
    data = (text + "\n").encode()
    atomic_write(path, lambda f: f.write(data))
    return Path(path)


def _json_default(obj: object) -> object:
    # numpy / JAX scalars and small arrays turn up in checkpoint metadata all the time.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def versions() -> dict[str, str]:
    """Versions of the packages that determine a run's numbers, for `metrics.json`."""
    import jax

    out = {"python": platform.python_version()}
    for name in ("sciml", "jax", "jaxlib", "equinox", "optax", "diffrax", "lineax", "optimistix", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "unknown"
    out["backend"] = jax.default_backend()
    return out
