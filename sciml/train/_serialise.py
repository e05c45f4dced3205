"""Saving and loading models: Equinox leaf serialisation plus a JSON of metadata."""

import hashlib
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


# Version 2 adds the fingerprints of the settings and the weights; a version-1 file
# cannot be checked, so it is refused with the advice to save it again.
FORMAT = "sciml-model-2"
_FINGERPRINT = "fingerprint"


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


def _json_default(obj: object) -> object:
    if hasattr(obj, "tolist"):  # NumPy / JAX scalars and small arrays
        return obj.tolist()
    raise TypeError(f"model metadata must be JSON-serialisable; cannot write {type(obj).__name__}: {obj!r}")


def metadata_path(path: str | os.PathLike) -> Path:
    """The JSON metadata file that accompanies a saved model file."""
    return Path(path).with_suffix(".json")


def save(path: str | os.PathLike, model: PyTree, **metadata: Any) -> None:
    """Save a model (or any pytree, e.g. `(model, state)`) with JSON metadata.

    Writes the leaves with `eqx.tree_serialise_leaves` to `path` and the metadata to
    the same name with suffix `.json`, both atomically (temporary file, then rename),
    so an interrupted save never leaves a truncated model behind. No pickle is used.
    The metadata records sha256 fingerprints of itself (the settings) and of the
    weights file, so [`load`][] refuses an edited `model.json` or a damaged, truncated
    or swapped `model.eqx` instead of rebuilding a different model without a word.

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
    # What the file will hold once read back (tuples as lists, arrays as lists): the
    # fingerprint is taken of that, so loading recomputes it from the file alone.
    meta = json.loads(json.dumps(meta, default=_json_default))
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, model)
    weights = buf.getvalue()
    meta[_FINGERPRINT] = {
        "settings_sha256": _settings_digest(meta),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    atomic_write(path, lambda f: f.write(weights))
    write_json(metadata_path(path), meta, sort_keys=True, strict=False)


def _settings_digest(meta: dict[str, Any]) -> str:
    """sha256 of every metadata entry but the fingerprint itself, in a canonical form."""
    body = {k: v for k, v in meta.items() if k != _FINGERPRINT}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _checked_file(path: Path, what: str) -> Path:
    if path.is_dir():
        raise ValueError(f"{path} is a directory; pass the {what} file itself (e.g. model.eqx inside it)")
    if not path.exists():
        raise FileNotFoundError(f"no {what} file {path}")
    return path


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Read the JSON metadata saved next to a model file, and check it was not edited.

    The settings fingerprint stored by [`save`][] is recomputed, so a `model.json`
    changed by hand (another activation of the same shapes, say) is refused instead of
    silently rebuilding a different model.

    **Raises:**

    `FileNotFoundError` when the metadata file is missing; `ValueError` when it is a
    directory, not valid JSON, not a sciml model metadata file, or was edited.
    """
    mpath = _checked_file(metadata_path(path), "model metadata")
    try:
        meta = json.loads(mpath.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{mpath} is not valid JSON ({e}); save the model again") from None
    if not isinstance(meta, dict) or not str(meta.get("format", "")).startswith("sciml-model-"):
        raise ValueError(f"{mpath} is not a sciml model metadata file (format {FORMAT!r})")
    if meta["format"] != FORMAT:
        raise ValueError(
            f"{mpath} has format {meta['format']!r}, from another sciml version; this one reads {FORMAT!r}: "
            "save (or fit) the model again"
        )
    stored = meta.get(_FINGERPRINT)
    if not isinstance(stored, dict) or stored.get("settings_sha256") != _settings_digest(meta):
        raise ValueError(
            f"{mpath} was changed after it was saved (its settings no longer match the fingerprint stored with "
            "the weights); restore the file or save (fit) the model again"
        )
    return meta


def load(path: str | os.PathLike, like: PyTree | None = None) -> PyTree:
    """Load a model saved by [`save`][].

    The weights file is checked against the sha256 stored in the metadata first, so a
    truncated, corrupt or swapped file is refused before Equinox reads it.

    **Arguments:**

    - `path`: the model file.
    - `like`: a pytree of the saved structure whose array leaves are replaced (an
        initialised model, or an `eqx.filter_eval_shape` skeleton). When omitted, the
        skeleton is rebuilt from the `architecture` and `config` metadata through
        `sciml.nn`; a model saved with its state comes back as `(model, state)`.

    **Returns:**

    The loaded pytree.

    **Raises:**

    `FileNotFoundError` for a missing file; `ValueError` naming the file when it is a
    directory, its weights or metadata were changed after saving, its structure does
    not match `like` (naming the first differing leaf), or no skeleton can be built.
    """
    path = _checked_file(Path(path), "model")
    meta = load_metadata(path)
    weights = path.read_bytes()
    if hashlib.sha256(weights).hexdigest() != meta[_FINGERPRINT].get("weights_sha256"):
        raise ValueError(
            f"{path} ({len(weights)} bytes) is not the weights file saved with {metadata_path(path).name} "
            "(its sha256 differs): it is truncated, corrupt or from another model; save (fit) the model again"
        )
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
    try:
        return eqx.tree_deserialise_leaves(io.BytesIO(weights), like)
    except Exception as e:  # Equinox's TreePathError and NumPy's read errors: say which file
        raise ValueError(f"{path} cannot be read as the saved model ({type(e).__name__}: {e})") from None


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
    if not isinstance(config, dict):
        raise ValueError(f"{metadata_path(path)}: 'config' must be an object of keyword arguments, got {config!r}")
    key = jax.random.key(0)
    build = nn.build_with_state if meta.get("has_state") else nn.build
    try:
        return eqx.filter_eval_shape(lambda k: build(name, key=k, **config), key)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{metadata_path(path)}: cannot rebuild {name!r} from its config ({e})") from None
