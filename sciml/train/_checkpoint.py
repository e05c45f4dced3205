"""Training checkpoints: the whole training carry, written so a crash never loses one."""

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


def write_checkpoint(directory: str | os.PathLike, step: int, tree: PyTree, meta: dict[str, Any]) -> Path:
    """Write `tree` as checkpoint `step` and point `checkpoint.json` at it.

    The leaves go to a new file named after the step; only once it is complete does the
    pointer file move (atomically) to it, and only then are older checkpoints removed.
    A crash at any moment therefore leaves a pointer to a complete checkpoint.
    """
    directory = Path(directory)
    name = f"checkpoint-{step:09d}.eqx"
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, tree)
    atomic_write(directory / name, lambda f: f.write(buf.getvalue()))
    write_json(
        directory / POINTER, {**meta, "format": FORMAT, "step": step, "file": name}, sort_keys=True, strict=False
    )
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

    `ValueError` when the pointer is corrupt or the checkpoint does not fit `like`
    (it was written by a different model or optimizer); whatever `check` raises.
    """
    directory = Path(directory)
    pointer = directory / POINTER
    if not pointer.exists():
        return None
    try:
        meta = json.loads(pointer.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"checkpoint pointer {pointer} is not valid JSON: {e}") from None
    if meta.get("format") != FORMAT or "file" not in meta:
        raise ValueError(f"{pointer} is not a sciml training checkpoint")
    if check is not None:
        check(meta)
    path = directory / meta["file"]
    try:
        tree = eqx.tree_deserialise_leaves(path, like)
    except Exception as e:
        raise ValueError(
            f"checkpoint {path} does not match this run's model and optimizer ({type(e).__name__}: {e}); "
            "use a fresh output folder or drop --resume"
        ) from None
    return tree, meta
