"""`train`: a schedule of optimizers (Adam, L-BFGS, Levenberg-Marquardt) for a PINN."""

import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax.random as jr
import numpy as np
from jaxtyping import PRNGKeyArray

from ..train import Checkpointing, Execution, fit, Logging, make_optimizer
from ._least_squares import least_squares_stage
from ._loss import PINNLoss
from ._model import PINN


OPTAX_STAGES = ("adam", "adamw", "sgd", "lbfgs")
LEAST_SQUARES_STAGES = ("lm", "gauss_newton")
_LEAST_SQUARES_KEYS = {"name", "steps", "linear_solver", "chunk", "rtol", "atol", "cg_steps", "points", "resample"}
_STAGE_KEYS = ("steps", "resample", "adaptive")


@dataclasses.dataclass(frozen=True)
class PINNSolution:
    """What [`sciml.pinn.train`][] returns.

    **Attributes:**

    - `model`: the trained [`sciml.pinn.PINN`][].
    - `state`: the final loss state (points and weights).
    - `stages`: one dict per stage: `name`, `steps` (run), `time_s` (wall clock in this
        process), `loss` (final), and for least-squares stages `result` and `converged`.
    - `losses`: the training loss after every optimizer step (every chunk for
        least-squares stages), all stages concatenated.
    - `iterations`: the cumulative iteration count at each entry of `losses` (chunks of
        least-squares stages advance it by the iterations they took).
    - `stage_ends`: the index in `losses` where each stage ends.
    """

    model: PINN
    state: eqx.nn.State
    stages: list[dict[str, Any]]
    losses: np.ndarray
    iterations: np.ndarray
    stage_ends: list[int]


def check_stages(stages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validates a schedule of stages (see [`sciml.pinn.train`][]).

    **Arguments:**

    - `stages`: the stage configurations.

    **Returns:**

    The stages as plain dicts.

    **Raises:**

    `ValueError` naming the stage with an unknown name, a missing or bad step count or an
    unknown key.
    """
    out = []
    if not stages:
        raise ValueError("train: the schedule needs at least one stage")
    for i, stage in enumerate(stages):
        if not isinstance(stage, Mapping):
            raise ValueError(
                f"train: stage {i} must be a mapping like {{'name': 'adam', 'steps': 1000}}, got {stage!r}"
            )
        stage = dict(stage)
        name = stage.get("name")
        if name not in OPTAX_STAGES + LEAST_SQUARES_STAGES:
            raise ValueError(
                f"train: stage {i} has unknown name {name!r}; "
                f"accepted: {', '.join(OPTAX_STAGES + LEAST_SQUARES_STAGES)}"
            )
        steps = stage.get("steps")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"train: stage {i} ({name}) needs a positive int 'steps', got {steps!r}")
        for flag in ("resample", "adaptive"):
            if not isinstance(stage.get(flag, False), bool):
                raise ValueError(f"train: stage {i} ({name}): {flag!r} must be true or false, got {stage[flag]!r}")
        if name in LEAST_SQUARES_STAGES:
            unknown = sorted(set(stage) - _LEAST_SQUARES_KEYS)
            if unknown:
                raise ValueError(
                    f"train: stage {i} ({name}) has unknown key(s) {unknown}; accepted: {sorted(_LEAST_SQUARES_KEYS)}"
                )
        out.append(stage)
    return out


def train(
    model: PINN,
    loss: PINNLoss,
    state: eqx.nn.State,
    stages: Sequence[Mapping[str, Any]],
    *,
    key: PRNGKeyArray,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    quiet: bool = False,
    log_every: int | None = None,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
) -> PINNSolution:
    """Trains a PINN through a schedule of stages, each its own checkpointed run.

    The usual recipe is a first-order stage that explores (Adam, with resampling and
    adaptive weights if the loss has them), then quasi-Newton and Gauss-Newton stages that
    converge on a fixed objective: L-BFGS and least-squares stages use
    [`PINNLoss.freeze`][] (the points and weights the previous stage ended with).

    Stages are dicts:

    - `{"name": "adam" | "adamw" | "sgd" | "lbfgs", "steps": n, ...}`: a run of
        [`sciml.train.fit`][], the other keys forming its optimizer configuration
        (`learning_rate`, `schedule`, `decay_steps`, `decay_rate`, `memory_size`, ...),
        except `adaptive`: whether the loss's resampling and weight updates run during
        the stage (default true, false for L-BFGS).
    - `{"name": "lm" | "gauss_newton", "steps": n, ...}`: a least-squares stage through
        optimistix, see [`sciml.pinn.least_squares_stage`][] for the keys.
    - any stage may say `"resample": true`: draw new points with the loss's resampling
        strategy (see [`PINNLoss.resample`][]) before the stage starts.

    With `checkpoint_dir`, stage `i` checkpoints into the subfolder `i-name`; with
    `resume`, completed stages are read back and the interrupted one continues, so the
    run ends where an uninterrupted one would.

    **Arguments:**

    - `model`: the [`sciml.pinn.PINN`][] to train.
    - `loss`, `state`: the [`sciml.pinn.PINNLoss`][] and its state.
    - `stages`: the schedule.
    - `key`: the run's key (stage `i` uses `fold_in(key, i)`).
    - `checkpoint_dir`, `resume`, `quiet`, `log_every`, `callback`: as in `fit` (the
        least-squares stages call `callback` after every chunk, see
        [`sciml.pinn.least_squares_stage`][]).

    **Returns:**

    A [`sciml.pinn.PINNSolution`][].

    **Raises:**

    `ValueError` for a malformed schedule (before any training), and whatever `fit`
    raises.
    """
    stages = check_stages(stages)
    root = None if checkpoint_dir is None else Path(checkpoint_dir)
    records, losses, iterations, ends = [], [], [], []
    for i, stage in enumerate(stages):
        name, steps = stage["name"], stage["steps"]
        folder = None if root is None else root / f"{i}-{name}"
        stage_key = jr.fold_in(key, i)
        t0 = time.perf_counter()
        if stage.get("resample", False):
            state = loss.resample(model, state, jr.fold_in(stage_key, 1))
        if name in LEAST_SQUARES_STAGES:
            options = {k: v for k, v in stage.items() if k not in ("name", "steps", "resample")}
            model, info = least_squares_stage(
                model,
                loss.freeze(),
                state,
                steps=steps,
                solver=name,
                checkpoint_dir=folder,
                resume=resume,
                quiet=quiet,
                callback=callback,
                **options,
            )
            stage_losses = list(info["losses"])
            stage_iterations = list(info["iterations"])
            record = {"result": info["result"], "converged": info["converged"], "steps": info["steps"]}
        else:
            optimizer = {k: v for k, v in stage.items() if k not in _STAGE_KEYS}
            # L-BFGS builds curvature pairs and line-searches one objective, so by default
            # points and weights stay as the previous stage left them. Occasional
            # resampling (every few hundred steps) costs it little and curbs overfitting
            # of the collocation points: `"adaptive": True` allows it.
            adaptive = stage.get("adaptive", name != "lbfgs")
            stage_loss = loss if adaptive else loss.freeze()
            result = fit(
                model,
                stage_loss,
                None,
                make_optimizer(optimizer, steps=steps),
                steps=steps,
                key=stage_key,
                state=state,
                checkpointing=None if folder is None else Checkpointing(folder, resume=resume),
                logging=Logging(every=log_every, quiet=quiet, callback=callback, desc=f"pinn {name}"),
                # A line search that reaches a zero step at machine precision can produce
                # a non-finite curvature pair; skipping that update is the right answer.
                execution=Execution(on_nonfinite="skip" if name == "lbfgs" else "raise"),
            )
            model, state = result.model, result.state
            stage_losses = list(result.losses)
            stage_iterations = list(range(1, len(stage_losses) + 1))
            record = {"steps": result.step, "skipped": result.skipped_steps}
        offset = iterations[-1] if iterations else 0
        iterations.extend(offset + i for i in stage_iterations)
        losses.extend(stage_losses)
        ends.append(len(losses))
        records.append(
            {
                "name": name,
                **record,
                "time_s": time.perf_counter() - t0,
                "loss": stage_losses[-1] if stage_losses else float("nan"),
            }
        )
    return PINNSolution(
        model=model,
        state=state,
        stages=records,
        losses=np.asarray(losses),
        iterations=np.asarray(iterations),
        stage_ends=ends,
    )
