"""A horizon curriculum: successive `fit` stages on growing prefixes of the trajectories."""

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax.random as jr
import optax
from jaxtyping import Array, PRNGKeyArray, PyTree

from ..train import fit, FitResult
from ._data import clip_horizon


def fit_curriculum(
    model: PyTree,
    loss: Callable[..., Any],
    data: Mapping[str, Array],
    optimizer: optax.GradientTransformation | dict[str, Any],
    *,
    horizons: Sequence[float],
    steps: int | Sequence[int],
    key: PRNGKeyArray,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    **fit_kwargs: Any,
) -> list[FitResult]:
    """Train on growing time horizons, one `sciml.train.fit` stage per horizon.

    A long trajectory fitted at once has a rugged loss (a small change early on moves
    the whole later trajectory), and a poor initial model may not even integrate to the
    end. Fitting the first part first and extending the horizon stage by stage avoids
    both. Each stage sees [`sciml.ode.clip_horizon`][]`(data, horizon)`, which has
    the shapes of `data`, so the training step compiles once for the whole curriculum
    when `fit` can reuse it: every stage must build the same optimizer (an optax object,
    or a config with the same `steps` for every stage) and the loss and the model's
    non-trainable parts must be hashable (no fixed arrays such as normaliser statistics,
    which `fit` compiles in as constants); otherwise each stage compiles once.
    The optimizer state restarts at each stage.

    **Arguments:**

    - `model`, `loss`, `optimizer`: as for `sciml.train.fit`.
    - `data`: a dataset from [`sciml.ode.trajectory_data`][].
    - `horizons`: increasing time spans, e.g. `(1.0, 2.0, float("inf"))`.
    - `steps`: steps per stage, one number for all or one per horizon.
    - `key`: the run's key; stage `i` uses `jax.random.fold_in(key, i)`.
    - `checkpoint_dir`: stage `i` checkpoints to `checkpoint_dir / f"horizon{i}"`, so
        `resume=True` skips finished stages and continues the interrupted one exactly.
    - `resume`: continue from those checkpoints.
    - `**fit_kwargs`: passed on to every `fit` call (`batch_size`, `quiet`, ...).

    **Returns:**

    The `FitResult` of every stage; the last one's `model` is the trained model.

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
    label = fit_kwargs.pop("desc", None)
    results = []
    for i, (horizon, n) in enumerate(zip(horizons, stage_steps)):
        where = None if checkpoint_dir is None else Path(checkpoint_dir) / f"horizon{i}"
        result = fit(
            model,
            loss,
            clip_horizon(data, horizon),
            optimizer,
            steps=n,
            key=jr.fold_in(key, i),
            checkpoint_dir=where,
            resume=resume,
            desc=f"{label or 'fit'} (horizon {horizon:g})",
            **fit_kwargs,
        )
        results.append(result)
        model = result.model
    return results
