"""Optimizers and learning-rate schedules built from plain configuration."""

import functools
import json
from collections.abc import Mapping
from typing import Any

import optax


_OPTIMIZERS = ("adam", "adamw", "sgd", "lbfgs")
_SCHEDULES = ("constant", "cosine", "exponential", "warmup_cosine")
_OPTIMIZER_KEYS = {
    "name",
    "learning_rate",
    "schedule",
    "decay_steps",
    "decay_rate",
    "warmup_steps",
    "end_learning_rate",
    "clip_norm",
    "weight_decay",
    "momentum",
    "nesterov",
    "b1",
    "b2",
    "memory_size",
}


def _check_positive(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"optimizer config: '{name}' must be a positive number, got {value!r}")


def make_schedule(config: Mapping[str, Any], *, steps: int | None = None) -> optax.Schedule:
    """Build a learning-rate schedule from a configuration mapping.

    **Arguments:**

    - `config`: keys `learning_rate` (required, > 0), `schedule` (one of `"constant"`,
        `"cosine"`, `"exponential"`, `"warmup_cosine"`; default constant), `decay_steps`
        (defaults to `steps`), `decay_rate` (exponential), `warmup_steps` (a linear
        warm-up from zero, usable with every schedule), `end_learning_rate`.
    - `steps`: the run's length, used when `decay_steps` is not given.

    **Returns:**

    An optax schedule `step -> learning rate`.

    **Raises:**

    `ValueError` for an unknown schedule or a non-positive rate or step count.
    """
    lr = config.get("learning_rate")
    _check_positive("learning_rate", lr)
    name = config.get("schedule", "constant") or "constant"
    if name not in _SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; accepted: {', '.join(_SCHEDULES)}")
    warmup = int(config.get("warmup_steps", 0))
    if warmup < 0:
        raise ValueError(f"optimizer config: 'warmup_steps' must be >= 0, got {warmup}")
    decay_steps = config.get("decay_steps", steps)
    end_lr = float(config.get("end_learning_rate", 0.0))
    if name == "constant":
        main = optax.constant_schedule(lr)
    else:
        if decay_steps is None:
            raise ValueError(f"schedule {name!r} needs 'decay_steps' (or the run's step count)")
        _check_positive("decay_steps", decay_steps)
        decay_steps = max(int(decay_steps) - warmup, 1)
        if name in ("cosine", "warmup_cosine"):
            main = optax.cosine_decay_schedule(lr, decay_steps, alpha=end_lr / lr)
        else:
            rate = config.get("decay_rate", 0.1)
            _check_positive("decay_rate", rate)
            main = optax.exponential_decay(lr, decay_steps, rate, end_value=end_lr or None)
    if warmup == 0:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def make_optimizer(
    config: Mapping[str, Any] | optax.GradientTransformation, *, steps: int | None = None
) -> optax.GradientTransformation:
    """Build an optax optimizer from a configuration mapping.

    Passing an optax `GradientTransformation` returns it unchanged, so every entry
    point accepts either form.

    **Arguments:**

    - `config`: `name` (one of `"adam"`, `"adamw"`, `"sgd"`, `"lbfgs"`), the schedule keys
        of [`make_schedule`][] (`learning_rate` defaults to 1 for L-BFGS, whose line search
        chooses the step), `clip_norm` (global-norm gradient clipping), `weight_decay`
        (adamw), `momentum` / `nesterov` (sgd), `b1` / `b2` (adam, adamw), `memory_size`
        (lbfgs).
    - `steps`: the run's length, the default decay horizon of schedules.

    **Returns:**

    An `optax.GradientTransformation`; L-BFGS is an `optax.GradientTransformationExtraArgs`
    that needs `value`, `grad` and `value_fn` in `update`, which `sciml.train.fit` supplies.

    **Raises:**

    `ValueError` naming an unknown optimizer, an unknown key or a bad value.
    """
    if isinstance(config, optax.GradientTransformation):
        return config
    if not isinstance(config, Mapping):
        raise TypeError(
            f"optimizer must be an optax GradientTransformation or a config mapping, got {type(config).__name__}"
        )
    try:
        canonical = json.dumps(dict(config), sort_keys=True)
    except TypeError:
        return _make_optimizer(dict(config), steps)
    # The same configuration gives the same optax object, so a training step compiled
    # for it is reused by later runs instead of being compiled again.
    return _cached_optimizer(canonical, steps)


@functools.lru_cache(maxsize=64)
def _cached_optimizer(canonical: str, steps: int | None) -> optax.GradientTransformation:
    return _make_optimizer(json.loads(canonical), steps)


def _make_optimizer(config: dict[str, Any], steps: int | None) -> optax.GradientTransformation:
    unknown = sorted(set(config) - _OPTIMIZER_KEYS)
    if unknown:
        raise ValueError(f"unknown optimizer config key(s) {unknown}; accepted: {', '.join(sorted(_OPTIMIZER_KEYS))}")
    name = config.get("name")
    if name not in _OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; accepted: {', '.join(_OPTIMIZERS)}")
    if name == "lbfgs":
        config = {"learning_rate": 1.0, **config}
    schedule = make_schedule(config, steps=steps)
    if name == "adam":
        opt = optax.adam(schedule, b1=config.get("b1", 0.9), b2=config.get("b2", 0.999))
    elif name == "adamw":
        opt = optax.adamw(
            schedule,
            b1=config.get("b1", 0.9),
            b2=config.get("b2", 0.999),
            weight_decay=config.get("weight_decay", 1e-4),
        )
    elif name == "sgd":
        momentum = config.get("momentum")
        opt = optax.sgd(schedule, momentum=momentum, nesterov=bool(config.get("nesterov", False)))
    else:
        # A schedule would fight the zoom line search, so L-BFGS takes a constant scale.
        if config.get("schedule", "constant") != "constant":
            raise ValueError("lbfgs takes no learning-rate schedule: its line search picks the step")
        opt = optax.lbfgs(learning_rate=config["learning_rate"], memory_size=int(config.get("memory_size", 10)))
    clip = config.get("clip_norm")
    if clip is not None:
        _check_positive("clip_norm", clip)
        opt = optax.chain(optax.clip_by_global_norm(float(clip)), opt)
    return opt


def takes_extra_args(optimizer: optax.GradientTransformation) -> bool:
    """Whether `update` accepts `value`, `grad` and `value_fn` (needed by line searches).

    optax chains forward these only to the members that use them, so passing them to
    every such transformation costs nothing unless a line search calls `value_fn`.
    """
    return isinstance(optimizer, optax.GradientTransformationExtraArgs)
