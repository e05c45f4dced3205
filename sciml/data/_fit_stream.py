"""`fit_stream`: `sciml.train.fit` on batches read from host data by a `BatchStream`."""

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optax
from jaxtyping import Int, PyTree

from ..train import fit, FitResult
from ._stream import BatchStream


def _checkpoint_step(checkpoint_dir: str | os.PathLike | None) -> int:
    # `fit` points `checkpoint.json` at its current checkpoint; its step is where a
    # resumed run starts, so the read-ahead starts there too.
    if checkpoint_dir is None:
        return 0
    pointer = Path(checkpoint_dir) / "checkpoint.json"
    try:
        return int(json.loads(pointer.read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def fit_stream(
    model: PyTree,
    loss: Callable[..., Any],
    stream: BatchStream,
    optimizer: optax.GradientTransformation | dict[str, Any],
    *,
    steps: int,
    val_ids: Int[np.ndarray, " v"] | None = None,
    metrics: Callable[..., dict[str, Any]] | None = None,
    val_batch_size: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    **kwargs: Any,
) -> FitResult:
    """Trains with `sciml.train.fit` on batches that a [`BatchStream`][] reads from the host.

    Nothing but the data source differs from in-memory training: `fit` receives the
    training sample ids as its dataset and draws a batch of ids per step exactly as it
    draws samples from in-memory arrays; the loss, wrapped by the stream, swaps the ids
    for the samples read (ahead, on a background thread) from the file. Same compiled
    step, same order, same checkpoints: for the same `key` the result equals
    `fit(model, loss, samples.read(ids), ...)` on in-memory data, and `resume=True`
    continues bit-identically.

    **Arguments:**

    - `model`, `optimizer`, `steps`: as for `sciml.train.fit`.
    - `loss`: `loss(model, batch, key)` on host batches (dicts from [`Samples`][]).
    - `stream`: the batch stream; its `key` and `batch_size` are the run's.
    - `val_ids`: validation sample ids; read on demand in chunks of `val_batch_size`
        (default the stream's batch size).
    - `metrics`: `metrics(model, batch) -> {name: scalar}` on validation batches.
    - `checkpoint_dir`, `resume`: as for `fit`; the read-ahead starts at the
        checkpoint's step.
    - `**kwargs`: any other keyword of `sciml.train.fit` (`patience`, `keep_best`,
        `monitor`, `quiet`, ...), except `key`, `batch_size`, `val_data`.

    **Returns:**

    `fit`'s `FitResult`.

    **Raises:**

    `ValueError` for a keyword the stream fixes, and whatever `fit` raises.
    """
    fixed = {"key", "batch_size", "val_data", "data"} & set(kwargs)
    if fixed:
        raise ValueError(f"fit_stream takes {', '.join(sorted(fixed))} from the stream; do not pass it")
    stream.start_at(_checkpoint_step(checkpoint_dir) if resume else 0)
    val_data = None if val_ids is None else np.asarray(val_ids).astype(np.int32)
    return fit(
        model,
        stream.loss(loss),
        stream.train_ids,
        optimizer,
        steps=steps,
        key=stream.key,
        batch_size=stream.batch_size,
        val_data=val_data,
        val_batch_size=val_batch_size or stream.batch_size,
        metrics=None if metrics is None else stream.metrics(metrics),
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        **kwargs,
    )
