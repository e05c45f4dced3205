"""What a training run returns: [`FitResult`][] with its optional per-stage records, and the guard's error."""

import dataclasses
from typing import Any

import numpy as np
from jaxtyping import PyTree


class NonFiniteError(FloatingPointError):
    """A loss, gradient, updated parameter or optimizer state became NaN or Inf during training."""


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of a staged training run (a curriculum horizon, a PINN optimizer stage).

    **Attributes:**

    - `name`: the stage's label.
    - `iterations`: the iterations (optimizer steps) it ran.
    - `time_s`: its wall-clock time in this process.
    - `loss`: its final training loss.
    - `result`: how it ended, in words (`"completed"`, `"stopped early"`, or a solver's
        result message).
    """

    name: str
    iterations: int
    time_s: float
    loss: float
    result: str


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What a training run returns: [`sciml.train.fit`][] and every wrapper of it.

    **Attributes:**

    - `model`: the trained model (the best one seen in validation if `keep_best`).
    - `state`: its `eqx.nn.State`, or None for a stateless model.
    - `opt_state`: the optimizer state at the last step.
    - `history`: one dict per logging or validation point (`step`, `loss`, validation
        metrics prefixed `val_`, `skipped`, `time_s`).
    - `losses`: the training loss at every step, as a NumPy array.
    - `step`: the number of steps taken (fewer than requested after early stopping).
    - `best_step`, `best_metric`: the best validation point, if validation ran.
    - `stopped_early`: whether early stopping ended the run.
    - `skipped_steps`: updates skipped for non-finite values (`on_nonfinite="skip"`).
    - `stages`: for a staged run, one [`sciml.train.Stage`][] per stage, in order (then
        `losses` and `history` run over all stages); empty for a single `fit`.
    """

    model: PyTree
    state: PyTree | None
    opt_state: PyTree
    history: list[dict[str, Any]]
    losses: np.ndarray
    step: int
    best_step: int | None
    best_metric: float | None
    stopped_early: bool
    skipped_steps: int
    stages: tuple[Stage, ...] = ()
