"""The training settings of `sciml fit` and the model configuration derived from the data."""

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any, Literal

import equinox as eqx
import jax.random as jr

from .. import nn
from .._config import accepted_keys, build_config, ConfigError, parse_overrides
from ..data import Layout


@dataclasses.dataclass(frozen=True)
class FitConfig:
    """Training settings of `sciml fit`; override any with `--set key=value`.

    Every other `--set` key goes to the model's configuration (see `sciml.nn.build`).

    **Attributes:**

    - `steps`, `batch_size`, `learning_rate`, `schedule`, `warmup_steps`, `clip_norm`:
        Adam with a constant or cosine schedule and global-norm clipping; `batch_size`
        is capped at the number of training samples.
    - `val_fraction`, `test_fraction`: the split of whole samples (trajectories).
    - `val_every`, `patience`: validation period (default `steps // 20`) and early
        stopping after `patience` validations without improvement of the validation
        relative L2; the best validated model is kept.
    - `checkpoint_every`: checkpoint period (default `steps // 10`).
    - `window`, `horizon`: trajectories only: input snapshots, and snapshots predicted
        autoregressively per training sample (the rollout loss).
    - `max_bytes`: above this size an HDF5 file is read lazily (default a quarter of
        the physical memory); `prefetch`: batches read ahead in lazy mode.
    - `plot_samples`: test samples shown in the plots.
    """

    steps: int = 2000
    batch_size: int = 32
    learning_rate: float = 1e-3
    schedule: Literal["constant", "cosine"] = "cosine"
    warmup_steps: int = 0
    clip_norm: float | None = 1.0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    val_every: int | None = None
    patience: int | None = None
    checkpoint_every: int | None = None
    window: int = 1
    horizon: int = 1
    max_bytes: int | None = None
    prefetch: int = 2
    plot_samples: int = 4

    def __post_init__(self):
        for name in ("steps", "batch_size", "window", "horizon", "plot_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("val_every", "patience", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or none, got {value}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        for name in ("warmup_steps", "prefetch"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"clip_norm must be > 0 or none, got {self.clip_norm}")
        if self.max_bytes is not None and self.max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0 or none, got {self.max_bytes}")
        if not (
            0 <= self.val_fraction < 1 and 0 < self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1
        ):
            raise ValueError(
                f"need 0 <= val_fraction, 0 < test_fraction and val_fraction + test_fraction < 1, got "
                f"{self.val_fraction} and {self.test_fraction}"
            )
        if self.patience is not None and self.val_fraction == 0:
            raise ValueError("patience needs a validation split (val_fraction > 0)")


# Model keys filled in from the data; a user value for them would contradict the file.
_DERIVED = {
    "fno": ("num_spatial_dims", "in_channels", "out_channels"),
    "resnet": ("num_spatial_dims", "in_channels", "out_channels"),
    "mlp": ("in_size", "out_size"),
    "transformer": ("in_size", "out_size", "output"),
}
_ADAPTERS = {"fno": "field", "resnet": "field", "mlp": "flat", "transformer": "tokens"}


def split_overrides(pairs: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separates `key=value` strings into training settings and model settings."""
    fields = {f.name for f in dataclasses.fields(FitConfig)}
    train, model = [], []
    for pair in pairs:
        key = pair.partition("=")[0].strip()
        (train if key in fields else model).append(pair)
    return train, model


def _parse_model_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    lowered = text.strip().lower()
    if lowered in ("true", "false", "none", "null"):
        return {"true": True, "false": False}.get(lowered)
    if "," in text:
        return [_parse_model_value(item.strip()) for item in text.split(",")]
    return text


def parse_model_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """Parses model `key=value` strings: JSON values (`8`, `[32, 64]`, `true`), else strings.

    **Raises:**

    `ConfigError` for a pair without `=`.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = _parse_model_value(text)
    return out


def model_config(
    name: str, layout: Layout, in_channels: int, out_channels: int, user: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The adapter and the full `sciml.nn` configuration of a surrogate network.

    **Arguments:**

    - `name`: the architecture (`fno`, `resnet`, `mlp`, `transformer`).
    - `layout`: the data layout (grid).
    - `in_channels`, `out_channels`: the surrogate's input and output channels.
    - `user`: the user's model settings.

    **Returns:**

    `(adapter, config)`; `config` rebuilds the network with `sciml.nn.build(name, ...)`.

    **Raises:**

    `ConfigError` for an architecture that does not map fields to fields, a setting the
    data fixes, an unknown key or value, or a BatchNorm configuration.
    """
    if name not in _ADAPTERS:
        why = "maps a field to a vector (pooling head)" if name == "cnn" else "is not a field-to-field model"
        known = name in nn.available()
        raise ConfigError(
            f"model {name!r} {why if known else 'is unknown'}; sciml fit accepts: {', '.join(sorted(_ADAPTERS))}"
        )
    fixed = [k for k in _DERIVED[name] if k in user]
    if fixed:
        raise ConfigError(f"{', '.join(fixed)} for {name!r} is set from the data; remove it from --set")
    size = math.prod(layout.grid)
    derived: dict[str, Any] = {
        "fno": dict(num_spatial_dims=layout.num_spatial_dims, in_channels=in_channels, out_channels=out_channels),
        "mlp": dict(in_size=in_channels * size, out_size=out_channels * size),
        "transformer": dict(in_size=in_channels, out_size=out_channels, output="sequence", max_len=size),
    }.get(name, {})
    if name == "resnet":
        if user.get("variant", "field") != "field":
            raise ConfigError(
                f"resnet variant {user['variant']!r} ends in a pooling head; sciml fit needs variant=field"
            )
        derived = dict(
            variant="field",
            num_spatial_dims=layout.num_spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
        )
    config = {**derived, **user}
    if name == "fno":
        config = _fit_modes(config, layout.grid, "modes" in user)
    try:
        eqx.filter_eval_shape(lambda k: nn.build(name, key=k, **config), jr.key(0))
    except (ValueError, TypeError) as e:
        training = accepted_keys(FitConfig)
        raise ConfigError(f"{e} (training settings: {training})") from None
    return _ADAPTERS[name], config


def _fit_modes(config: dict[str, Any], grid: tuple[int, ...], given: bool) -> dict[str, Any]:
    """Checks FNO `modes` against the grid: at most n // 2 per axis, n // 2 + 1 on the last.

    Beyond that the spectral convolution keeps fewer modes than configured and the rest
    of its weights are dead. A user's value is refused; the default (12) is capped.
    """
    limits = [n // 2 for n in grid[:-1]] + [grid[-1] // 2 + 1]
    modes = config.get("modes", 12)
    per_axis = [modes] * len(grid) if isinstance(modes, int) and not isinstance(modes, bool) else modes
    if not isinstance(per_axis, list) or len(per_axis) != len(grid) or not all(isinstance(m, int) for m in per_axis):
        return config  # the constructor names a malformed value
    if all(m <= lim for m, lim in zip(per_axis, limits)):
        return config
    if given:
        raise ConfigError(
            f"modes={modes} does not fit the grid {tuple(grid)}: at most {limits} Fourier modes per axis "
            f"(n // 2, and n // 2 + 1 on the last axis); set modes to at most {min(limits)}"
        )
    return {**config, "modes": [min(m, lim) for m, lim in zip(per_axis, limits)]}


def config_dict(config: FitConfig) -> dict[str, Any]:
    """A JSON-ready dict of the settings."""
    return dataclasses.asdict(config)


def parse_fit_config(pairs: Sequence[str], steps: int | None) -> FitConfig:
    """`FitConfig` from `--steps` and the training `key=value` strings (applied after it)."""
    updates: list[dict[str, Any]] = [{"steps": steps}] if steps is not None else []
    updates.append(parse_overrides(FitConfig, pairs))
    return build_config(FitConfig, *updates)


def parse_settings(overrides: Sequence[str], steps: int | None) -> tuple[FitConfig, dict[str, Any], set[str]]:
    """Splits and parses `sciml fit`'s `--set key=value` strings and `--steps`.

    **Arguments:**

    - `overrides`: `key=value` strings: `FitConfig` fields, the rest model settings.
    - `steps`: overrides `FitConfig.steps` (None keeps the default).

    **Returns:**

    `(config, model_settings, training_keys)`, the last being the training keys the
    user gave (so a setting that does not apply to the data can be refused).

    **Raises:**

    `ConfigError` for an unknown or malformed setting.
    """
    train_pairs, model_pairs = split_overrides(overrides)
    given = {pair.partition("=")[0].strip() for pair in train_pairs}
    return parse_fit_config(train_pairs, steps), parse_model_overrides(model_pairs), given
