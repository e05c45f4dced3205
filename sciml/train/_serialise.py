"""Saving and loading models: Equinox leaf serialisation plus a JSON of metadata."""

import io
import json
import os
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.tree_util as jtu
import numpy as np
from jaxtyping import PyTree

from .._misc import atomic_write, versions, write_json


FORMAT = "sciml-model-1"


def _is_array_like(x: Any) -> bool:
    return eqx.is_array(x) or isinstance(x, jax.ShapeDtypeStruct)


def _signature(tree: PyTree) -> list[tuple[str, str]]:
    """(path, dtype[shape]) of every array leaf: what must match to load a file."""
    out = []
    for path, leaf in jtu.tree_leaves_with_path(eqx.filter(tree, _is_array_like)):
        if leaf is None:
            continue
        shape = ",".join(str(d) for d in np.shape(leaf))
        out.append((jtu.keystr(path), f"{np.dtype(leaf.dtype).name}[{shape}]"))
    return out


def metadata_path(path: str | os.PathLike) -> Path:
    """The JSON metadata file that accompanies a saved model file."""
    return Path(path).with_suffix(".json")


def save(path: str | os.PathLike, model: PyTree, **metadata: Any) -> None:
    """Save a model (or any pytree, e.g. `(model, state)`) with JSON metadata.

    Writes the leaves with `eqx.tree_serialise_leaves` to `path` and the metadata to
    the same name with suffix `.json`, both atomically (temporary file, then rename),
    so an interrupted save never leaves a truncated model behind. No pickle is used.

    To make a file reloadable without code, pass `architecture=` (a `sciml.nn`
    registry name) and `config=` (its keyword arguments): then
    `load(path)` rebuilds the skeleton itself.

    **Arguments:**

    - `path`: the model file, conventionally `model.eqx`.
    - `model`: the pytree to save.
    - `**metadata`: JSON-serialisable values stored alongside.

    **Raises:**

    `TypeError` when the metadata is not JSON-serialisable.
    """
    path = Path(path)
    meta = dict(metadata)
    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[1], eqx.nn.State):
        meta.setdefault("has_state", True)
    meta["format"] = FORMAT
    meta["versions"] = versions()
    meta["leaves"] = [f"{p} {s}" for p, s in _signature(model)]
    json.dumps(meta, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, model)
    atomic_write(path, lambda f: f.write(buf.getvalue()))
    write_json(metadata_path(path), meta, sort_keys=True, strict=False)


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Read the JSON metadata saved next to a model file.

    **Raises:**

    `FileNotFoundError` when the metadata file is missing; `ValueError` when it is not
    a sciml model metadata file.
    """
    mpath = metadata_path(path)
    if not mpath.exists():
        raise FileNotFoundError(f"no metadata file {mpath} next to {path}")
    meta = json.loads(mpath.read_text())
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{mpath} is not a sciml model metadata file (format {FORMAT!r})")
    return meta


def load(path: str | os.PathLike, like: PyTree | None = None) -> PyTree:
    """Load a model saved by [`save`][].

    **Arguments:**

    - `path`: the model file.
    - `like`: a pytree of the saved structure whose array leaves are replaced (an
        initialised model, or an `eqx.filter_eval_shape` skeleton). When omitted, the
        skeleton is rebuilt from the `architecture` and `config` metadata through
        `sciml.nn`; a model saved with its state comes back as `(model, state)`.

    **Returns:**

    The loaded pytree.

    **Raises:**

    `FileNotFoundError` for a missing file; `ValueError` when the file's structure does
    not match `like` (naming the first differing leaf) or when no skeleton can be built.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file {path}")
    meta = load_metadata(path)
    from_skeleton = like is None
    if from_skeleton:
        like = _skeleton(meta, path)
    expected = _signature(like)
    saved = [tuple(s.rsplit(" ", 1)) for s in meta.get("leaves", [])]
    if len(saved) != len(expected):
        raise ValueError(
            f"{path} holds {len(saved)} arrays but the given structure has {len(expected)}: "
            "it was saved from a different model or configuration"
        )
    # A rebuilt skeleton takes the session's default dtype; the file's dtype wins.
    strip = (lambda sig: sig.split("[", 1)[1]) if from_skeleton else (lambda sig: sig)
    for i, ((sp, ss), (ep, es)) in enumerate(zip(saved, expected)):
        if strip(ss) != strip(es):
            raise ValueError(
                f"{path} does not match the given structure at array {i} ({ep or 'root'}): "
                f"expected {es}, the file has {ss} (saved as {sp or 'root'})"
            )
    dtypes = iter(np.dtype(ss.split("[", 1)[0]) for _, ss in saved)

    def concrete(x):
        if not _is_array_like(x):
            return x
        dtype = next(dtypes)  # advance for every array, so the order stays aligned
        return np.zeros(x.shape, dtype) if isinstance(x, jax.ShapeDtypeStruct) else x

    like = jtu.tree_map(concrete, like)
    return eqx.tree_deserialise_leaves(path, like)


def _skeleton(meta: dict[str, Any], path: Path) -> PyTree:
    from .. import nn

    if "ensemble" in meta:
        raise ValueError(f"{path} holds an ensemble: load it with sciml.uq.load_ensemble")
    name, config = meta.get("architecture"), meta.get("config")
    if name is None or config is None:
        raise ValueError(
            f"{path} was saved without 'architecture' and 'config' metadata: pass `like=` "
            "with a model of the saved structure"
        )
    key = jax.random.key(0)
    if meta.get("has_state"):
        return eqx.filter_eval_shape(lambda k: nn.build_with_state(name, key=k, **config), key)
    return eqx.filter_eval_shape(lambda k: nn.build(name, key=k, **config), key)
