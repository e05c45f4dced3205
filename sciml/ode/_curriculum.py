"""A horizon curriculum: successive `fit` stages on growing prefixes of the trajectories."""

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, PRNGKeyArray, PyTree

from ..train import Checkpointing, Execution, fit, FitResult, Logging, Stage, Validation
from ._data import clip_horizon


def fit_curriculum(
    model: PyTree,
    loss: Callable[..., Any],
    data: Mapping[str, Array],
    optimizer: optax.GradientTransformation,
    *,
    horizons: Sequence[float],
    steps: int | Sequence[int],
    key: PRNGKeyArray,
    batch_size: int | None = None,
    filter_spec: PyTree | None = None,
    validation: Validation | None = None,
    checkpointing: Checkpointing | None = None,
    logging: Logging = Logging(),
    execution: Execution = Execution(),
) -> FitResult:
    """Train on growing time horizons, one `sciml.train.fit` stage per horizon.

    A long trajectory fitted at once has a rugged loss (a small change early on moves
    the whole later trajectory), and a poor initial model may not even integrate to the
    end. Fitting the first part first and extending the horizon stage by stage avoids
    both. Each stage sees [`sciml.ode.clip_horizon`][]`(data, horizon)`, which has
    the shapes of `data`, so the training step compiles once for the whole curriculum
    when `fit` can reuse it: the loss and the model's non-trainable parts must be
    hashable; otherwise each stage compiles once. The optimizer state restarts at each
    stage.

    **Arguments:**

    - `model`, `loss`, `optimizer`, `batch_size`, `filter_spec`, `execution`: as for
        `sciml.train.fit`, the same for every stage.
    - `data`: a dataset from [`sciml.ode.trajectory_data`][].
    - `horizons`: increasing time spans, e.g. `(1.0, 2.0, float("inf"))`.
    - `steps`: steps per stage, one number for all or one per horizon.
    - `key`: the run's key; stage `i` uses `jax.random.fold_in(key, i)`.
    - `validation`: as for `fit`, applied in every stage to the full validation data.
    - `checkpointing`: stage `i` checkpoints to `directory / f"horizon{i}"`, so
        resuming skips finished stages and continues the interrupted one exactly.
    - `logging`: as for `fit`; the progress bar's label gains the horizon.

    **Returns:**

    One `sciml.train.FitResult` for the whole curriculum: the last stage's model and
    optimizer state, `losses` and `history` of all stages in order (history steps
    counted from the start of the curriculum, each record with its `stage`), and one
    `sciml.train.Stage` per horizon in `stages`. `best_step` and `best_metric` are the
    last stage's.

    **Raises:**

    `ValueError` for horizons that are empty, non-positive or not increasing, or a
    number of step counts that does not match; and whatever `fit` raises.
    """
    horizons = [float(h) for h in horizons]
    if not horizons or horizons[0] <= 0 or any(b <= a for a, b in zip(horizons, horizons[1:])):
        raise ValueError(f"fit_curriculum: horizons must be positive and increasing, got {horizons}")
    stage_steps = [steps] * len(horizons) if isinstance(steps, int) else list(steps)
    if len(stage_steps) != len(horizons):
        raise ValueError(f"fit_curriculum: {len(stage_steps)} step counts for {len(horizons)} horizons")
    stages, history, losses = [], [], []
    offset = skipped = 0
    result = None
    for i, (horizon, n) in enumerate(zip(horizons, stage_steps)):
        stage_checkpoints = None
        if checkpointing is not None:
            stage_checkpoints = dataclasses.replace(checkpointing, directory=checkpointing.directory / f"horizon{i}")
        t0 = time.perf_counter()
        result = fit(
            model,
            loss,
            clip_horizon(data, horizon),
            optimizer,
            steps=n,
            key=jr.fold_in(key, i),
            batch_size=batch_size,
            filter_spec=filter_spec,
            validation=validation,
            checkpointing=stage_checkpoints,
            logging=dataclasses.replace(logging, desc=f"{logging.desc} (horizon {horizon:g})"),
            execution=execution,
        )
        model = result.model
        stages.append(
            Stage(
                name=f"horizon {horizon:g}",
                iterations=result.step,
                time_s=time.perf_counter() - t0,
                loss=float(result.losses[-1]) if len(result.losses) else float("nan"),
                result="stopped early" if result.stopped_early else "completed",
            )
        )
        history.extend({**record, "step": record["step"] + offset, "stage": i} for record in result.history)
        losses.append(result.losses)
        offset += result.step
        skipped += result.skipped_steps
    return dataclasses.replace(
        result,
        history=history,
        losses=np.concatenate(losses),
        step=offset,
        best_step=None if result.best_step is None else result.best_step + offset - result.step,
        skipped_steps=skipped,
        stages=tuple(stages),
    )
