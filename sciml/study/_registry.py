"""The registry of problems: the `sciml.problems` entry-point group, read lazily."""

import dataclasses
import difflib
import importlib.metadata
import inspect
import io
import math
import tokenize
import types
import typing
from collections.abc import Iterable
from typing import Any

from .._config import ConfigError


GROUP = "sciml.problems"
# Meanings of the keys that mean the same in every problem that has them; a problem's own
# field comment (or `metadata={"help": ...}`) takes precedence.
_COMMON_MEANINGS = {
    "steps": "training steps (of the first, Adam, stage where there are several)",
    "learning_rate": "learning rate (initial or peak value of its schedule)",
    "width": "hidden units per layer",
    "depth": "hidden layers",
    "activation": "activation function (a sciml.nn activation name)",
    "dtype": "float32 or float64",
    "batch_size": "samples per training step",
    "checkpoint_every": "steps between checkpoints",
    "n_train": "training samples",
    "n_val": "validation samples",
    "n_test": "test samples",
    "points": "collocation points",
    "sampler": "first collocation draw: uniform, lhs or sobol",
    "resample_every": "steps between residual-based (RAD) redraws of the collocation points",
    "rad_k": "RAD exponent k of the residual density",
    "rad_c": "RAD constant c added to the density (its uniform share)",
    "decay_rate": "factor of exponential learning-rate decay over the Adam steps",
    "warmup_steps": "steps of linear learning-rate warm-up (0: none)",
    "lbfgs_steps": "L-BFGS steps after Adam (0 skips the stage)",
    "lbfgs_memory": "L-BFGS history length",
    "lm_rounds": "Levenberg-Marquardt rounds (0 skips the stage)",
    "lm_steps": "Levenberg-Marquardt iterations per round",
    "lm_points": "collocation points per Levenberg-Marquardt round",
    "members": "ensemble members",
    "anchored": "anchored ensemble: each member is regularised towards its own initial draw",
    "bootstrap": "how each member reweights the data (bootstrap scheme)",
    "prior_scale": "scale of each member's fixed random prior function",
}


def problem_names() -> tuple[str, ...]:
    """The names registered under the `sciml.problems` entry-point group, sorted."""
    return tuple(sorted({ep.name for ep in importlib.metadata.entry_points(group=GROUP)}))


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`"; did you mean 'x'?"` for the closest choice, or `""` when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def load_problem(name: str) -> types.ModuleType:
    """Imports the module registered as problem `name`.

    **Raises:**

    `ConfigError` naming the closest registered name and listing them all when `name`
    is not registered.
    """
    entry = [ep for ep in importlib.metadata.entry_points(group=GROUP) if ep.name == name]
    if not entry:
        names = problem_names()
        raise ConfigError(f"unknown problem {name!r}{did_you_mean(name, names)} (available: {', '.join(names)})")
    return entry[0].load()


def _field_comments(config_type: type) -> dict[str, str]:
    """The trailing `# comment` or the attribute docstring of each field of a dataclass."""
    try:
        source = inspect.getsource(config_type)
    except (OSError, TypeError):  # defined in a REPL or a test's fake module
        return {}
    comments: dict[str, str] = {}
    lines = source.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            code = lines[token.start[0] - 1][: token.start[1]].strip()
            name = code.split(":", 1)[0].strip()
            if name.isidentifier() and ":" in code:
                comments[name] = token.string.lstrip("#").strip()
    # Attribute docstrings: a string statement right after the field.
    for i, line in enumerate(lines[:-1]):
        code = line.strip()
        name = code.split(":", 1)[0].strip()
        following = lines[i + 1].strip()
        if name.isidentifier() and ":" in code and following[:3] in ('"""', "'''") and name not in comments:
            comments[name] = following.strip("\"' ")
    return comments


def config_help(config_type: type) -> list[tuple[str, str, str, str]]:
    """`(key, type, default, meaning)` for each field of a problem's `Config`.

    The meaning is, in order of preference, `field(metadata={"help": ...})`, the field's
    trailing `# comment`, its attribute docstring, or the common meaning of a key that
    means the same in every problem (`steps`, `learning_rate`, `width`, ...); else empty.
    """
    hints = typing.get_type_hints(config_type)
    comments = _field_comments(config_type)
    rows = []
    for field in dataclasses.fields(config_type):
        if not field.init:
            continue
        tp = hints[field.name]
        type_name = tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = "(required)"
        meaning = field.metadata.get("help") or comments.get(field.name) or _COMMON_MEANINGS.get(field.name, "")
        rows.append((field.name, type_name, repr(default), meaning))
    return rows


def check_common_settings(config: Any) -> None:
    """Rejects, by field name, settings no problem can use: an unknown activation, a
    learning rate that is not a positive finite number, a negative warm-up.

    **Raises:**

    `ConfigError` naming the field, the value and the accepted ones.
    """
    from ..nn import activation_names

    for field in dataclasses.fields(config):
        name, value = field.name, getattr(config, field.name)
        if (name == "activation" or name.endswith("_activation")) and isinstance(value, str):
            if value not in activation_names():
                raise ConfigError(
                    f"unknown {name} {value!r}{did_you_mean(value, activation_names())} "
                    f"(accepted: {', '.join(activation_names())})"
                )
        if (name in ("learning_rate", "lr") or name.endswith("_learning_rate")) and isinstance(value, (int, float)):
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        if "warmup" in name and isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise ConfigError(f"{name} must be >= 0 (0 means no warm-up), got {value!r}")
