"""Training checkpoints: the whole training carry, written so a crash never loses one."""

import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import equinox as eqx
from jaxtyping import PyTree

from .._misc import atomic_write, write_json


POINTER = "checkpoint.json"
FORMAT = "sciml-checkpoint-1"
_START_OVER = "rerun without --resume to start over"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed: a damaged or truncated pointer or weights file,
    a pointer to a missing file, or a checkpoint of another model or optimizer.

    A subclass of `ValueError`; the message names the file and says how to start over.
    """


def write_checkpoint(directory: str | os.PathLike, step: int, tree: PyTree, meta: dict[str, Any]) -> Path:
    """Write `tree` as checkpoint `step` and point `checkpoint.json` at it.

    The leaves go to a new file named after the step; only once it is complete does the
    pointer file move (atomically) to it, and only then are older checkpoints removed.
    A crash at any moment therefore leaves a pointer to a complete checkpoint. The
    pointer records the file's sha256, so a damaged file is recognised on reading.
    """
    directory = Path(directory)
    name = f"checkpoint-{step:09d}.eqx"
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, tree)
    data = buf.getvalue()
    atomic_write(directory / name, lambda f: f.write(data))
    pointer = {**meta, "format": FORMAT, "step": step, "file": name, "sha256": hashlib.sha256(data).hexdigest()}
    write_json(directory / POINTER, pointer, sort_keys=True, strict=False)
    for old in directory.glob("checkpoint-*.eqx"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return directory / name


def read_checkpoint(
    directory: str | os.PathLike, like: PyTree, check: Callable[[dict[str, Any]], None] | None = None
) -> tuple[PyTree, dict[str, Any]] | None:
    """Read the current checkpoint into the structure of `like`; None when there is none.

    **Arguments:**

    - `directory`: the checkpoint folder.
    - `like`: a pytree of the checkpoint's structure.
    - `check`: called with the pointer's metadata before the arrays are read, so a
        checkpoint of another run is refused by what differs, not by a shape mismatch.

    **Raises:**

    [`CheckpointError`][] naming the file when the pointer is damaged or points to a
    missing file, the checkpoint file is truncated or corrupt (its sha256 differs from
    the one recorded), or it does not fit `like` (written by another model or optimizer).
    Whatever `check` raises (a checkpoint of another run).
    """
    directory = Path(directory)
    pointer = directory / POINTER
    if not pointer.exists():
        return None
    try:
        meta = json.loads(pointer.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"checkpoint pointer {pointer} cannot be read ({e}); {_START_OVER}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{pointer} is not a sciml training checkpoint (format {FORMAT!r}); {_START_OVER}")
    name = meta.get("file")
    # A bare file name: the pointer may not lead outside the checkpoint folder.
    if not isinstance(name, str) or Path(name).name != name or not isinstance(meta.get("step"), int):
        raise CheckpointError(f"{pointer} is damaged: no valid 'file' and 'step' entries; {_START_OVER}")
    if check is not None:
        check(meta)
    path = directory / name
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(
            f"{pointer} points to {path}, which cannot be read ({e.strerror or e}); {_START_OVER}"
        ) from None
    if "sha256" in meta and hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise CheckpointError(
            f"checkpoint {path} ({len(data)} bytes) is truncated or corrupt: its sha256 differs from the one "
            f"recorded in {pointer.name}; {_START_OVER}"
        )
    try:
        tree = eqx.tree_deserialise_leaves(io.BytesIO(data), like)
    except Exception as e:  # Equinox's TreePathError, NumPy's read errors
        raise CheckpointError(
            f"checkpoint {path} does not match this run's model and optimizer ({type(e).__name__}: {e}); "
            f"use a fresh output folder, or {_START_OVER}"
        ) from None
    return tree, meta
