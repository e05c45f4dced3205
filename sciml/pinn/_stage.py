"""`AbstractStage`: one step of a PINN training schedule, an immutable strategy object."""

import abc
import dataclasses
import os
from collections.abc import Callable
from typing import Any

import equinox as eqx
import numpy as np
from jaxtyping import PRNGKeyArray

from .._results import RESULTS
from ._loss import PINNLoss
from ._model import PINN


@dataclasses.dataclass(frozen=True)
class StageOutput:
    """What [`AbstractStage.run`][] returns.

    **Attributes:**

    - `model`, `state`: the trained model and the loss state after the stage.
    - `losses`: the training loss after every optimizer step (every chunk for
        least-squares stages).
    - `iterations`: the stage's iteration count at each entry of `losses` (from 1).
    - `result`: a [`sciml.pinn.RESULTS`][] code; `RESULTS.successful` when the stage ran its
        steps or converged.
    """

    model: PINN
    state: eqx.nn.State
    losses: np.ndarray
    iterations: np.ndarray
    result: RESULTS


class AbstractStage(eqx.Module):
    """One stage of [`sciml.pinn.train`][]'s schedule: an optimizer and its options.

    A stage is immutable data (its hyperparameters), checked when it is built; `run`
    trains a model with it, checkpointing into a folder of its own so that a killed run
    resumes exactly. Concrete stages: [`sciml.pinn.Adam`][], [`sciml.pinn.LBFGS`][],
    [`sciml.pinn.OptaxStage`][] (any optax transformation),
    [`sciml.pinn.LevenbergMarquardt`][] and [`sciml.pinn.GaussNewton`][]. A new optimizer
    is a new subclass providing the fields below and `run`.

    **Fields every stage has:**

    - `name`: a short label (checkpoint folders, progress bars, metrics keys).
    - `steps`: the maximum number of iterations.
    - `resample`: whether [`sciml.pinn.train`][] redraws the points with the loss's
        resampling strategy (see [`PINNLoss.resample`][]) before the stage starts.
    """

    name: eqx.AbstractVar[str]
    steps: eqx.AbstractVar[int]
    resample: eqx.AbstractVar[bool]

    @abc.abstractmethod
    def run(
        self,
        model: PINN,
        loss: PINNLoss,
        state: eqx.nn.State,
        *,
        key: PRNGKeyArray,
        checkpoint_dir: str | os.PathLike | None = None,
        resume: bool = False,
        quiet: bool = False,
        log_every: int | None = None,
        callback: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> StageOutput:
        """Trains `model` on `loss` for this stage.

        **Arguments:**

        - `model`, `loss`, `state`: the model, its [`sciml.pinn.PINNLoss`][] and the loss
            state.
        - `key`: the stage's key.
        - `checkpoint_dir`: the stage's own checkpoint folder (None: no checkpoints).
        - `resume`: continue from the checkpoint in `checkpoint_dir` if there is one.
        - `quiet`: no progress bar.
        - `log_every`: how often to record the loss (stages that log per step).
        - `callback`: `callback(iteration, record)` at logging points, as in
            [`sciml.train.fit`][].

        **Returns:**

        A [`sciml.pinn.StageOutput`][].
        """


def check_count(stage: str, name: str, value: Any, *, optional: bool = False, minimum: int = 1) -> None:
    """Raises `ValueError` naming `stage` and `name` unless `value` is an int >= `minimum` (or None if optional)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{stage}: {name} must be an int >= {minimum}{' or None' if optional else ''}, got {value!r}")


def check_number(stage: str, name: str, value: Any, *, optional: bool = False, strict: bool = True) -> None:
    """Raises `ValueError` naming `stage` and `name` unless `value` is a finite number > 0 (>= 0 unless strict)."""
    if optional and value is None:
        return
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    ok = ok and np.isfinite(value) and (value > 0 if strict else value >= 0)
    if not ok:
        raise ValueError(
            f"{stage}: {name} must be a finite number {'>' if strict else '>='} 0"
            f"{' or None' if optional else ''}, got {value!r}"
        )


def check_flag(stage: str, name: str, value: Any) -> None:
    """Raises `ValueError` naming `stage` and `name` unless `value` is a bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{stage}: {name} must be True or False, got {value!r}")
