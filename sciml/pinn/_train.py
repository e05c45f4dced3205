"""`train`: a schedule of stages (Adam, L-BFGS, Levenberg-Marquardt, ...) for a PINN."""

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax.random as jr
import numpy as np
from jaxtyping import PRNGKeyArray

from .._results import RESULTS
from ._loss import PINNLoss
from ._model import PINN
from ._stage import AbstractStage


@dataclasses.dataclass(frozen=True)
class StageRecord:
    """What one stage of [`sciml.pinn.train`][] did.

    **Attributes:**

    - `name`: the stage's name (`"adam"`, `"lbfgs"`, `"lm"`, ...).
    - `iterations`: the iterations it ran.
    - `time_s`: its wall-clock time in this process (resampling included).
    - `loss`: its final training loss (NaN if it recorded none).
    - `result`: its [`sciml.pinn.RESULTS`][] code; `RESULTS[record.result]` is the message,
        empty on success.
    """

    name: str
    iterations: int
    time_s: float
    loss: float
    result: RESULTS


@dataclasses.dataclass(frozen=True)
class PINNSolution:
    """What [`sciml.pinn.train`][] returns.

    **Attributes:**

    - `model`: the trained [`sciml.pinn.PINN`][].
    - `state`: the final loss state (points and weights).
    - `stages`: one [`sciml.pinn.StageRecord`][] per stage.
    - `losses`: the training loss after every optimizer step (every chunk for
        least-squares stages), all stages concatenated.
    - `iterations`: the cumulative iteration count at each entry of `losses` (chunks of
        least-squares stages advance it by the iterations they took).
    - `stage_ends`: the index in `losses` where each stage ends.
    """

    model: PINN
    state: eqx.nn.State
    stages: list[StageRecord]
    losses: np.ndarray
    iterations: np.ndarray
    stage_ends: list[int]


def train(
    model: PINN,
    loss: PINNLoss,
    state: eqx.nn.State,
    stages: Sequence[AbstractStage],
    *,
    key: PRNGKeyArray,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    quiet: bool = False,
    log_every: int | None = None,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
) -> PINNSolution:
    """Trains a PINN through a schedule of stages, each its own checkpointed run.

    The usual recipe is a first-order stage that explores ([`sciml.pinn.Adam`][], with
    resampling and adaptive weights if the loss has them), then quasi-Newton
    ([`sciml.pinn.LBFGS`][]) and least-squares ([`sciml.pinn.LevenbergMarquardt`][],
    [`sciml.pinn.GaussNewton`][]) stages that converge on a fixed objective
    ([`PINNLoss.freeze`][]: the points and weights the previous stage ended with). Stages
    chain in any order; a stage with `resample=True` first draws new points with the
    loss's resampling strategy (see [`PINNLoss.resample`][]).
    [`sciml.pinn.stage_from_config`][] builds stages from JSON-like configuration.

    With `checkpoint_dir`, stage `i` checkpoints into the subfolder `i-name`; with
    `resume`, completed stages are read back and the interrupted one continues, so the
    run ends where an uninterrupted one would.

    **Arguments:**

    - `model`: the [`sciml.pinn.PINN`][] to train.
    - `loss`, `state`: the [`sciml.pinn.PINNLoss`][] and its state.
    - `stages`: the schedule, [`sciml.pinn.AbstractStage`][] objects.
    - `key`: the run's key (stage `i` uses `fold_in(key, i)`).
    - `checkpoint_dir`, `resume`, `quiet`, `log_every`, `callback`: as in `fit` (the
        least-squares stages call `callback` after every chunk, see
        [`sciml.pinn.AbstractLeastSquaresStage`][]).

    **Returns:**

    A [`sciml.pinn.PINNSolution`][].

    **Raises:**

    `ValueError` for an empty schedule, `TypeError` for one holding something other than
    stage objects (both before any training), and whatever the stages raise.
    """
    if not stages:
        raise ValueError("train: the schedule needs at least one stage")
    for i, stage in enumerate(stages):
        if not isinstance(stage, AbstractStage):
            raise TypeError(
                f"train: stage {i} must be a stage object such as pinn.Adam(1000) or pinn.LevenbergMarquardt(50), "
                f"got {stage!r}; pinn.stage_from_config turns a config dict into one"
            )
    root = None if checkpoint_dir is None else Path(checkpoint_dir)
    records, losses, iterations, ends = [], [], [], []
    for i, stage in enumerate(stages):
        folder = None if root is None else root / f"{i}-{stage.name}"
        stage_key = jr.fold_in(key, i)
        t0 = time.perf_counter()
        if stage.resample:
            state = loss.resample(model, state, jr.fold_in(stage_key, 1))
        out = stage.run(
            model,
            loss,
            state,
            key=stage_key,
            checkpoint_dir=folder,
            resume=resume,
            quiet=quiet,
            log_every=log_every,
            callback=callback,
        )
        model, state = out.model, out.state
        offset = iterations[-1] if iterations else 0
        iterations.extend(offset + n for n in out.iterations.tolist())
        losses.extend(out.losses.tolist())
        ends.append(len(losses))
        records.append(
            StageRecord(
                name=stage.name,
                iterations=int(out.iterations[-1]) if len(out.iterations) else 0,
                time_s=time.perf_counter() - t0,
                loss=float(out.losses[-1]) if len(out.losses) else float("nan"),
                result=out.result,
            )
        )
    return PINNSolution(
        model=model,
        state=state,
        stages=records,
        losses=np.asarray(losses),
        iterations=np.asarray(iterations),
        stage_ends=ends,
    )
