"""Stages run by `sciml.train.fit` with an optax optimizer: `Adam`, `LBFGS`, `OptaxStage`."""

import os
from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import numpy as np
import optax
from jaxtyping import PRNGKeyArray

from .._results import RESULTS
from ..train import Checkpointing, Execution, fit, Logging, make_optimizer
from ._loss import PINNLoss
from ._model import PINN
from ._stage import AbstractStage, check_count, check_flag, check_number, StageOutput


_SCHEDULES = ("constant", "cosine", "exponential", "warmup_cosine")


class AbstractOptaxStage(AbstractStage):
    """A stage that is one run of [`sciml.train.fit`][] with an optax optimizer.

    Besides the fields of [`sciml.pinn.AbstractStage`][]:

    - `adaptive`: whether the loss's resampling and weight updates run during the stage;
        otherwise it sees [`PINNLoss.freeze`][] (the points and weights it starts with).
    - `on_nonfinite`: `fit`'s answer to a non-finite loss or update, `"raise"` or `"skip"`.

    - `optimizer`: the optax transformation.
    """

    adaptive: eqx.AbstractVar[bool]
    on_nonfinite: eqx.AbstractVar[str]
    optimizer: eqx.AbstractVar[optax.GradientTransformation]

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
        """Trains with `sciml.train.fit` (see [`sciml.pinn.AbstractStage.run`][])."""
        stage_loss = loss if self.adaptive else loss.freeze()
        # The one call of `fit` in sciml.pinn.
        result = fit(
            model,
            stage_loss,
            None,
            self.optimizer,
            steps=self.steps,
            key=key,
            state=state,
            checkpointing=None if checkpoint_dir is None else Checkpointing(checkpoint_dir, resume=resume),
            logging=Logging(every=log_every, quiet=quiet, callback=callback, desc=f"pinn {self.name}"),
            execution=Execution(on_nonfinite=self.on_nonfinite),
        )
        losses = np.asarray(result.losses)
        return StageOutput(
            model=result.model,
            state=result.state,
            losses=losses,
            iterations=np.arange(1, len(losses) + 1),
            result=RESULTS.successful,
        )


class Adam(AbstractOptaxStage):
    """Adam with a learning-rate schedule (`optax.adam`), the exploring first stage.

    ??? cite

        Kingma and Ba, *Adam: a method for stochastic optimization*, ICLR 2015.

    **Arguments:**

    - `steps`: the number of steps.
    - `learning_rate`: the peak learning rate.
    - `schedule`: `"constant"`, `"cosine"`, `"exponential"` or `"warmup_cosine"` (see
        [`sciml.train.make_schedule`][]), with `decay_steps` (default `steps`),
        `decay_rate` (exponential), `warmup_steps` and `end_learning_rate`.
    - `b1`, `b2`: Adam's moment decay rates.
    - `clip_norm`: clip the gradient's global norm to this (None: no clipping).
    - `adaptive`: resampling and weight updates run during the stage (default true).
    - `resample`: redraw the points before the stage.

    **Raises:**

    `ValueError` naming the argument with a bad value.
    """

    name: ClassVar[str] = "adam"
    on_nonfinite: ClassVar[str] = "raise"
    steps: int
    learning_rate: float | int = 1e-3
    schedule: str = "constant"
    decay_steps: int | None = None
    decay_rate: float | int = 0.1
    warmup_steps: int = 0
    end_learning_rate: float | int = 0.0
    b1: float | int = 0.9
    b2: float | int = 0.999
    clip_norm: float | int | None = None
    adaptive: bool = True
    resample: bool = False

    def __check_init__(self):
        check_count("Adam", "steps", self.steps)
        check_number("Adam", "learning_rate", self.learning_rate)
        if self.schedule not in _SCHEDULES:
            raise ValueError(f"Adam: unknown schedule {self.schedule!r}; accepted: {', '.join(_SCHEDULES)}")
        check_count("Adam", "decay_steps", self.decay_steps, optional=True)
        check_number("Adam", "decay_rate", self.decay_rate)
        check_count("Adam", "warmup_steps", self.warmup_steps, minimum=0)
        check_number("Adam", "end_learning_rate", self.end_learning_rate, strict=False)
        for name in ("b1", "b2"):
            value = getattr(self, name)
            check_number("Adam", name, value, strict=False)
            if value >= 1:
                raise ValueError(f"Adam: {name} must be in [0, 1), got {value!r}")
        check_number("Adam", "clip_norm", self.clip_norm, optional=True)
        check_flag("Adam", "adaptive", self.adaptive)
        check_flag("Adam", "resample", self.resample)

    @property
    def optimizer(self) -> optax.GradientTransformation:
        """The optax transformation, through [`sciml.train.make_optimizer`][] (cached: the
        same options give the same object, so `fit`'s compiled step is reused)."""
        config = {
            "name": "adam",
            "learning_rate": self.learning_rate,
            "schedule": self.schedule,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "warmup_steps": self.warmup_steps,
            "end_learning_rate": self.end_learning_rate,
            "b1": self.b1,
            "b2": self.b2,
            "clip_norm": self.clip_norm,
        }
        return make_optimizer({k: v for k, v in config.items() if v is not None}, steps=self.steps)


class LBFGS(AbstractOptaxStage):
    """L-BFGS with optax's zoom line search (`optax.lbfgs`), on a fixed objective by default.

    L-BFGS builds curvature pairs and line-searches one objective, so by default the
    points and weights stay as the previous stage left them (`adaptive=False`).
    Occasional resampling (every few hundred steps) costs it little and curbs
    overfitting of the collocation points: `adaptive=True` allows it. A line search that
    reaches a zero step at machine precision can produce a non-finite curvature pair;
    that update is skipped.

    ??? cite

        Liu and Nocedal, *On the limited memory BFGS method for large scale
        optimization*, Math. Program. 45 (1989).

    **Arguments:**

    - `steps`: the number of iterations.
    - `memory_size`: the number of curvature pairs kept.
    - `adaptive`: resampling and weight updates run during the stage (default false).
    - `resample`: redraw the points before the stage.

    **Raises:**

    `ValueError` naming the argument with a bad value.
    """

    name: ClassVar[str] = "lbfgs"
    on_nonfinite: ClassVar[str] = "skip"
    steps: int
    memory_size: int = 10
    adaptive: bool = False
    resample: bool = False

    def __check_init__(self):
        check_count("LBFGS", "steps", self.steps)
        check_count("LBFGS", "memory_size", self.memory_size)
        check_flag("LBFGS", "adaptive", self.adaptive)
        check_flag("LBFGS", "resample", self.resample)

    @property
    def optimizer(self) -> optax.GradientTransformation:
        """`optax.lbfgs`, through [`sciml.train.make_optimizer`][] (cached)."""
        return make_optimizer({"name": "lbfgs", "memory_size": self.memory_size}, steps=self.steps)


class OptaxStage(AbstractOptaxStage):
    """Any optax transformation as a stage (e.g. `optax.adamw(...)`, `optax.sgd(...)`).

    **Arguments:**

    - `optimizer`: the `optax.GradientTransformation` (line searches such as
        `optax.lbfgs` get `value`, `grad` and `value_fn` from `fit`).
    - `steps`: the number of steps.
    - `name`: the label of the stage.
    - `adaptive`: resampling and weight updates run during the stage (default true).
    - `resample`: redraw the points before the stage.
    - `on_nonfinite`: `"raise"` (default) or `"skip"` non-finite updates.

    **Raises:**

    `ValueError` naming the argument with a bad value.
    """

    optimizer: optax.GradientTransformation
    steps: int
    name: str = "optax"
    adaptive: bool = True
    resample: bool = False
    on_nonfinite: str = "raise"

    def __check_init__(self):
        if not isinstance(self.optimizer, optax.GradientTransformation):
            raise ValueError(
                f"OptaxStage: optimizer must be an optax GradientTransformation, got {type(self.optimizer).__name__}"
            )
        check_count("OptaxStage", "steps", self.steps)
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"OptaxStage: name must be a non-empty string, got {self.name!r}")
        check_flag("OptaxStage", "adaptive", self.adaptive)
        check_flag("OptaxStage", "resample", self.resample)
        if self.on_nonfinite not in ("raise", "skip"):
            raise ValueError(f"OptaxStage: on_nonfinite must be 'raise' or 'skip', got {self.on_nonfinite!r}")
