"""Run fingerprints: a readable, process-independent description of what a run depends on.

A checkpoint records these so that resuming with anything that changes the result (the
data, the key, the optimizer's hyperparameters, the model's activation, the filter spec)
is refused with a message that names the difference. An optax transformation is a pair of
closures, so its hyperparameters are read from the closure cells of `init` and `update`,
recursively; functions are named by their qualified name, never by address, so the
description is the same in every process.
"""

import dataclasses
import functools
import hashlib
import types
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import numpy as np
from jaxtyping import PRNGKeyArray, PyTree


_MAX_DEPTH = 12
_MAX_LINES = 4000


def _array_line(x: Any) -> str:
    if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jr.key_data(x)
    arr = np.asarray(x)
    digest = hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()[:12]
    return f"{arr.dtype}{list(arr.shape)} #{digest}"


def _name(obj: Any) -> str:
    # The qualified name without the module: a script run as `__main__` and later
    # imported by name (the CLI) describes its functions alike.
    return getattr(obj, "__qualname__", None) or type(obj).__qualname__


def _walk(obj: Any, path: str, out: list[str], seen: set[int], depth: int) -> None:
    if len(out) >= _MAX_LINES:
        return
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes, np.generic)):
        out.append(f"{path}={obj!r}")
        return
    if isinstance(obj, (np.ndarray, jax.Array)):
        out.append(f"{path}={_array_line(obj)}")
        return
    if depth > _MAX_DEPTH or id(obj) in seen:
        out.append(f"{path}=<{type(obj).__qualname__}>")
        return
    seen = seen | {id(obj)}
    if isinstance(obj, types.FunctionType):
        out.append(f"{path}=<function {_name(obj)}>")
        cells = obj.__closure__ or ()
        for name, cell in zip(obj.__code__.co_freevars, cells):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            _walk(value, f"{path}.{name}", out, seen, depth + 1)
        for i, value in enumerate(obj.__defaults__ or ()):
            _walk(value, f"{path}.default{i}", out, seen, depth + 1)
        return
    if isinstance(obj, types.MethodType):
        _walk(obj.__func__, path, out, seen, depth + 1)
        _walk(obj.__self__, f"{path}.self", out, seen, depth + 1)
        return
    if isinstance(obj, functools.partial):
        _walk(obj.func, f"{path}.func", out, seen, depth + 1)
        for i, value in enumerate(obj.args):
            _walk(value, f"{path}.args{i}", out, seen, depth + 1)
        for k in sorted(obj.keywords):
            _walk(obj.keywords[k], f"{path}.{k}", out, seen, depth + 1)
        return
    if isinstance(obj, (tuple, list)):
        out.append(f"{path}=<{type(obj).__qualname__} of {len(obj)}>")
        names = getattr(obj, "_fields", None) or range(len(obj))
        for name, value in zip(names, obj):
            _walk(value, f"{path}.{name}" if isinstance(name, str) else f"{path}[{name}]", out, seen, depth + 1)
        return
    if isinstance(obj, dict):
        out.append(f"{path}=<dict of {len(obj)}>")
        for k in sorted(obj, key=repr):
            _walk(obj[k], f"{path}[{k!r}]", out, seen, depth + 1)
        return
    if isinstance(obj, (set, frozenset)):
        out.append(f"{path}={sorted(map(repr, obj))}")
        return
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # Equinox Modules are dataclasses: their fields (static ones included) are the
        # hyperparameters and the sub-modules.
        out.append(f"{path}=<{_name(type(obj))}>")
        for field in dataclasses.fields(obj):
            _walk(getattr(obj, field.name, None), f"{path}.{field.name}", out, seen, depth + 1)
        return
    out.append(f"{path}=<{_name(obj) if callable(obj) else _name(type(obj))}>")


def describe(obj: Any, root: str = "") -> list[str]:
    """One `path=value` line per hyperparameter-like leaf of `obj` (arrays as dtype, shape and hash)."""
    out: list[str] = []
    _walk(obj, root, out, set(), 0)
    return out


def data_fingerprint(data: PyTree) -> str:
    """A hash of a dataset's structure, dtypes, shapes and values."""
    h = hashlib.sha256()
    for path, leaf in jtu.tree_leaves_with_path(data):
        arr = np.asarray(leaf)
        h.update(f"{jtu.keystr(path)}:{arr.dtype}:{arr.shape}".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def key_fingerprint(key: PRNGKeyArray) -> list[int]:
    return np.asarray(jr.key_data(key)).reshape(-1).tolist()


def structure_lines(params: PyTree, static: PyTree) -> tuple[list[str], list[str]]:
    """Describe a partitioned model: its trainable leaves (the filter spec) and everything else.

    **Returns:**

    `(filter_spec, model)`: the path, dtype and shape of every trainable array; and the
    path and value of every other field (activations, static sizes, frozen arrays by hash).
    """
    trainable = [
        f"{jtu.keystr(p)}={x.dtype}{list(x.shape)}"
        for p, x in jtu.tree_leaves_with_path(params)
        if isinstance(x, (np.ndarray, jax.Array))
    ]
    return trainable, describe(static)


def first_difference(old: list[str], new: list[str]) -> str:
    """The first differing line of two descriptions, in words."""
    old_map = dict(line.split("=", 1) if "=" in line else (line, "") for line in old)
    new_map = dict(line.split("=", 1) if "=" in line else (line, "") for line in new)
    for path in list(new_map) + [p for p in old_map if p not in new_map]:
        if old_map.get(path) != new_map.get(path):
            before, now = old_map.get(path, "<absent>"), new_map.get(path, "<absent>")
            return f"at {path or '(root)'}: {before} in the checkpoint, {now} now"
    return "in a part too long to list"
