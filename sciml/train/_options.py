"""The option objects of [`sciml.train.fit`][]: validation, checkpointing, logging, execution.

Each groups the settings of one concern into a small immutable object that checks its
own arguments when built, as `diffrax.SaveAt` or `diffrax.PIDController` do, so a bad
setting fails where it is written rather than deep in a training run. The same objects
serve `fit`, `sciml.uq.fit_ensemble`, `sciml.data.fit_stream` and
`sciml.ode.fit_curriculum`.
"""

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jaxtyping import PyTree


def _check_positive_int(owner: str, name: str, value: Any, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{owner}: '{name}' must be a positive integer, got {value!r}")


def _check_callable(owner: str, name: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{owner}: '{name}' must be callable or None, got {type(value).__name__}")


@dataclasses.dataclass(frozen=True)
class Validation:
    """Validation during [`sciml.train.fit`][]: held-out data, metrics, best model, early stopping.

    **Arguments:**

    - `data`: the validation dataset, a pytree of arrays with a leading sample axis.
    - `every`: the validation period in steps; default `max(steps // 20, 1)`.
    - `batch_size`: the chunk size of evaluation (memory only; the numbers do not depend on it).
    - `metrics`: `metrics(model, batch) -> {name: scalar}` (with a model state:
        `metrics(model, state, batch)`); default the training loss on `data`.
    - `monitor`: the metric that decides the best model and early stopping; default the
        only metric, or `"loss"`.
    - `mode`: `"min"` or `"max"`, whether a lower or a higher `monitor` is better.
    - `patience`: stop after this many validations without improvement; default never.
    - `keep_best`: return the best validated model instead of the last one.

    **Raises:**

    `ValueError` for a non-positive period, chunk or patience, or an unknown `mode`.
    """

    data: PyTree
    every: int | None = None
    batch_size: int | None = None
    metrics: Callable[..., dict[str, Any]] | None = None
    monitor: str | None = None
    mode: str = "min"
    patience: int | None = None
    keep_best: bool = False

    def __post_init__(self):
        if self.data is None:
            raise ValueError("Validation: 'data' is required (a pytree of arrays with a leading sample axis)")
        _check_positive_int("Validation", "every", self.every)
        _check_positive_int("Validation", "batch_size", self.batch_size)
        _check_positive_int("Validation", "patience", self.patience)
        _check_callable("Validation", "metrics", self.metrics)
        if self.mode not in ("min", "max"):
            raise ValueError(f"Validation: 'mode' must be 'min' or 'max', got {self.mode!r}")
        if self.monitor is not None and not isinstance(self.monitor, str):
            raise TypeError(f"Validation: 'monitor' must be a metric name (str), got {self.monitor!r}")
        if not isinstance(self.keep_best, bool):
            raise TypeError(f"Validation: 'keep_best' must be True or False, got {self.keep_best!r}")


@dataclasses.dataclass(frozen=True)
class Checkpointing:
    """Checkpoints of [`sciml.train.fit`][], from which a killed run resumes bit-identically.

    A checkpoint holds the whole training carry (parameters, optimizer state, model
    state, step) and the run's fingerprint (step count, batch size, key, data, optimizer,
    model structure, filter spec, ...): resuming with any of them changed is refused.
    No checkpoint ever holds a non-finite array.

    **Arguments:**

    - `directory`: the checkpoint folder; the history also goes to `history.jsonl` there.
    - `every`: the checkpoint period in steps; default `max(steps // 10, 1)`.
    - `resume`: continue from the checkpoint in `directory` if there is one.

    **Raises:**

    `ValueError` for a missing directory or a non-positive period.
    """

    directory: str | os.PathLike
    every: int | None = None
    resume: bool = False

    def __post_init__(self):
        if not isinstance(self.directory, (str, os.PathLike)) or not str(self.directory):
            raise ValueError(f"Checkpointing: 'directory' must be a folder path, got {self.directory!r}")
        object.__setattr__(self, "directory", Path(self.directory))
        _check_positive_int("Checkpointing", "every", self.every)
        if not isinstance(self.resume, bool):
            raise TypeError(f"Checkpointing: 'resume' must be True or False, got {self.resume!r}")


@dataclasses.dataclass(frozen=True)
class Logging:
    """What [`sciml.train.fit`][] reports while it runs.

    The loop synchronises with the device only at logging, validation and checkpoint
    points, so a longer `every` costs less on fast steps.

    **Arguments:**

    - `every`: how often (in steps) to record the loss in the history; default
        `max(steps // 100, 1)`.
    - `path`: a JSON-lines file for the history; default `history.jsonl` in the
        checkpoint folder, if any.
    - `quiet`: no progress bar.
    - `callback`: `callback(step, record)` at every logging point.
    - `desc`: the progress bar's label.

    **Raises:**

    `ValueError` for a non-positive period; `TypeError` for a callback that is not callable.
    """

    every: int | None = None
    path: str | os.PathLike | None = None
    quiet: bool = False
    callback: Callable[[int, dict[str, Any]], None] | None = None
    desc: str = "fit"

    def __post_init__(self):
        _check_positive_int("Logging", "every", self.every)
        _check_callable("Logging", "callback", self.callback)
        if self.path is not None:
            if not isinstance(self.path, (str, os.PathLike)):
                raise ValueError(f"Logging: 'path' must be a file path, got {self.path!r}")
            object.__setattr__(self, "path", Path(self.path))
        if not isinstance(self.quiet, bool):
            raise TypeError(f"Logging: 'quiet' must be True or False, got {self.quiet!r}")
        if not isinstance(self.desc, str):
            raise TypeError(f"Logging: 'desc' must be a string, got {self.desc!r}")


@dataclasses.dataclass(frozen=True)
class Execution:
    """How each compiled step of [`sciml.train.fit`][] runs: its non-finite guard and its devices.

    Both settings change how a step executes, not what is minimised, so they travel
    together and leave the signature of `fit` to the concepts of the problem.

    **Arguments:**

    - `on_nonfinite`: `"raise"` stops with [`sciml.train.NonFiniteError`][] at the first
        step whose loss, gradients, new parameters, optimizer state or model state hold a
        NaN or Inf, keeping the parameters from before it; `"skip"` drops such updates
        and counts them.
    - `mesh`: a `jax.sharding.Mesh` with a `"batch"` axis for data-parallel training
        (see [`sciml.parallel.data_mesh`][]): batches are sharded, parameters replicated.

    **Raises:**

    `ValueError` for an unknown `on_nonfinite` or a mesh without a `"batch"` axis.
    """

    on_nonfinite: str = "raise"
    mesh: jax.sharding.Mesh | None = None

    def __post_init__(self):
        if self.on_nonfinite not in ("raise", "skip"):
            raise ValueError(f"Execution: 'on_nonfinite' must be 'raise' or 'skip', got {self.on_nonfinite!r}")
        if self.mesh is not None:
            if not isinstance(self.mesh, jax.sharding.Mesh):
                raise TypeError(f"Execution: 'mesh' must be a jax.sharding.Mesh, got {type(self.mesh).__name__}")
            if "batch" not in self.mesh.axis_names:
                raise ValueError(
                    f"Execution: 'mesh' needs a 'batch' axis (see sciml.parallel.data_mesh), "
                    f"got axes {self.mesh.axis_names}"
                )
