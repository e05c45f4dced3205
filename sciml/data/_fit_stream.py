"""`fit_stream`: `sciml.train.fit` on batches read from host data by a `BatchStream`."""

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optax
from jaxtyping import PyTree

from ..train import Checkpointing, Execution, fit, FitResult, Logging, Validation
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
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    state: PyTree | None = None,
    filter_spec: PyTree | None = None,
    validation: Validation | None = None,
    checkpointing: Checkpointing | None = None,
    logging: Logging = Logging(),
    execution: Execution = Execution(),
) -> FitResult:
    """Trains with `sciml.train.fit` on batches that a [`BatchStream`][] reads from the host.

    Nothing but the data source differs from in-memory training: `fit` receives the
    training sample ids as its dataset and draws a batch of ids per step exactly as it
    draws samples from in-memory arrays; the loss, wrapped by the stream, swaps the ids
    for the samples read (ahead, on a background thread) from the file. Same compiled
    step, same order, same checkpoints: for the same `key` the result equals
    `fit(model, loss, samples.read(ids), ...)` on in-memory data, and resuming
    continues bit-identically.

    **Arguments:**

    - `model`, `optimizer`, `steps`, `state`, `filter_spec`, `checkpointing`, `logging`,
        `execution`: as for `sciml.train.fit`; the read-ahead starts at the checkpoint's
        step when resuming.
    - `loss`: `loss(model, batch, key)` on host batches (dicts from [`Samples`][]).
    - `stream`: the batch stream; its `key` and `batch_size` are the run's.
    - `validation`: a `sciml.train.Validation` whose `data` are validation sample ids,
        read on demand in chunks of its `batch_size` (default the stream's); its
        `metrics(model, batch) -> {name: scalar}` see the samples read.

    **Returns:**

    `fit`'s `FitResult`.

    **Raises:**

    Whatever `fit` raises.
    """
    resume = checkpointing is not None and checkpointing.resume
    stream.start_at(_checkpoint_step(checkpointing.directory) if resume else 0)
    if validation is not None:
        validation = dataclasses.replace(
            validation,
            data=np.asarray(validation.data).astype(np.int32),
            batch_size=validation.batch_size or stream.batch_size,
            metrics=None if validation.metrics is None else stream.metrics(validation.metrics),
        )
    return fit(
        model,
        stream.loss(loss),
        stream.train_ids,
        optimizer,
        steps=steps,
        key=stream.key,
        batch_size=stream.batch_size,
        state=state,
        filter_spec=filter_spec,
        validation=validation,
        checkpointing=checkpointing,
        logging=logging,
        execution=execution,
    )
