"""Build any architecture from a name and a JSON-serialisable configuration."""

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax.tree_util as jtu
from jaxtyping import PRNGKeyArray

from ._cnn import CNN
from ._field_resnet import FieldResNet
from ._fno import FNO
from ._mlp import MLP
from ._resnet import resnet
from ._transformer import Transformer


class _Required:
    def __repr__(self) -> str:
        return "<required>"


_REQUIRED = _Required()

# Each entry: (constructor, {config key: default}). Defaults repeat the constructors'
# so that a saved (name, config) pair documents itself and unknown keys are caught
# before any array is allocated.
_MLP = {
    "in_size": _REQUIRED,
    "out_size": _REQUIRED,
    "width": 64,
    "depth": 3,
    "activation": "tanh",
    "final_activation": "identity",
    "fourier_features": 0,
    "fourier_sigma": 1.0,
    "input_mean": None,
    "input_std": None,
    "output_mean": None,
    "output_std": None,
    "dropout": 0.0,
}
_CNN = {
    "num_spatial_dims": _REQUIRED,
    "in_channels": _REQUIRED,
    "channels": [16, 32, 64],
    "out_size": None,
    "num_classes": None,
    "kernel_size": 3,
    "activation": "relu",
    "batch_norm": False,
    "pooling": "max",
    "padding_mode": "zeros",
    "dropout": 0.0,
    "bn_momentum": 0.99,
}
_RESNET = {
    "num_spatial_dims": _REQUIRED,
    "in_channels": _REQUIRED,
    "out_size": None,
    "num_classes": None,
    "width": 64,
    "activation": "relu",
    "batch_norm": True,
    "bn_momentum": 0.99,
    "padding_mode": "zeros",
    "dropout": 0.0,
}
_FIELD_RESNET = {
    "num_spatial_dims": _REQUIRED,
    "in_channels": _REQUIRED,
    "out_channels": _REQUIRED,
    "width": 32,
    "depth": 4,
    "kernel_size": 3,
    "padding": "circular",
    "activation": "gelu",
    "batch_norm": False,
    "bn_momentum": 0.99,
}
_TRANSFORMER = {
    "in_size": _REQUIRED,
    "out_size": _REQUIRED,
    "d_model": 64,
    "num_heads": 4,
    "depth": 2,
    "ff_size": None,
    "dropout": 0.0,
    "activation": "gelu",
    "positional": "sinusoidal",
    "max_len": 512,
    "causal": False,
    "output": "sequence",
}
_FNO = {
    "num_spatial_dims": _REQUIRED,
    "in_channels": _REQUIRED,
    "out_channels": _REQUIRED,
    "modes": 12,
    "width": 32,
    "depth": 4,
    "projection_width": 128,
    "activation": "gelu",
    "grid_features": False,
    "dropout": 0.0,
}

# name -> variant -> (constructor, defaults). A name with several variants selects one
# with the `variant` config key; the first listed is the default.
_REGISTRY: dict[str, dict[str | None, tuple[Callable, dict[str, Any]]]] = {
    "mlp": {None: (MLP, _MLP)},
    "cnn": {None: (CNN, _CNN)},
    "resnet": {
        "resnet18": (functools.partial(resnet, 18), _RESNET),
        "resnet34": (functools.partial(resnet, 34), _RESNET),
        "resnet50": (functools.partial(resnet, 50), _RESNET),
        "field": (FieldResNet, _FIELD_RESNET),
    },
    "transformer": {None: (Transformer, _TRANSFORMER)},
    "fno": {None: (FNO, _FNO)},
}


def available() -> tuple[str, ...]:
    """The model names accepted by `build` and `build_with_state`.

    **Returns:**

    A sorted tuple of names (`"cnn"`, `"fno"`, `"mlp"`, `"resnet"`, `"transformer"`).
    """
    return tuple(sorted(_REGISTRY))


def is_stateful(model: Any) -> bool:
    """Whether a model holds state (e.g. BatchNorm statistics).

    **Arguments:**

    - `model`: any pytree, typically a `sciml.nn` model.

    **Returns:**

    `True` when the pytree contains an `eqx.nn.StateIndex`, so the model must be called
    as `model(x, state)` with a state from `eqx.nn.make_with_state`.
    """
    is_index = lambda x: isinstance(x, eqx.nn.StateIndex)
    return any(is_index(leaf) for leaf in jtu.tree_leaves(model, is_leaf=is_index))


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _check_value(name: str, key: str, value: Any, default: Any) -> None:
    """Refuses a value of the wrong kind by name, before a constructor sees it.

    The JSON edge (`model.json`, `--set`) is where a width of `"32"` or `true` arrives;
    bool is an int in Python, so it is refused explicitly.
    """
    if value is None and default is None:
        return
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if key in _SIZES:
        ok, expected = is_int or value == "scalar", "a positive integer or 'scalar'"
    elif key == "modes":
        ok = is_int or (isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value))
        expected = "an integer or a list of integers (one per axis)"
    elif key in _INTEGERS or (isinstance(default, int) and not isinstance(default, bool)):
        ok, expected = is_int, "an integer"
    elif isinstance(default, float):
        ok, expected = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    else:
        return
    if not ok:
        raise ValueError(f"config key {key!r} for {name!r} must be {expected}, got {value!r}")


_SIZES = ("in_size", "out_size")
_INTEGERS = ("num_spatial_dims", "in_channels", "out_channels", "num_classes", "ff_size")


def _resolve(name: str, config: dict[str, Any]) -> tuple[Callable, dict[str, Any]]:
    """Validates a configuration and returns the constructor and its keyword arguments."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available())}")
    variants = _REGISTRY[name]
    config = dict(config)
    if None in variants:
        constructor, defaults = variants[None]
        accepted = sorted(defaults)
    else:
        variant = config.pop("variant", next(iter(variants)))
        if variant not in variants:
            raise ValueError(f"unknown variant {variant!r} for {name!r}; accepted: {', '.join(variants)}")
        constructor, defaults = variants[variant]
        accepted = sorted(["variant", *defaults])
    for k, v in config.items():
        if k not in defaults:
            raise ValueError(f"unknown config key {k!r} for {name!r}; accepted: {', '.join(accepted)}")
        if not _is_json(v):
            raise TypeError(
                f"config key {k!r} for {name!r} must be a JSON-serialisable value (int, "
                f"float, str, bool, None or a list of those), got {type(v).__name__}"
            )
        _check_value(name, k, v, defaults[k])
        if isinstance(defaults[k], float) and isinstance(v, int):
            config[k] = float(v)  # JSON has one number type: `"dropout": 0` means 0.0
    missing = [k for k, v in defaults.items() if v is _REQUIRED and k not in config]
    if missing:
        raise ValueError(f"missing required config key(s) for {name!r}: {', '.join(missing)}")
    return constructor, {**defaults, **config}


def build(name: str, *, key: PRNGKeyArray, **config: Any) -> eqx.Module:
    """Builds a stateless model from its registry name and configuration.

    Configuration values are JSON primitives (ints, floats, strings, booleans, `None`
    and lists), so `(name, config)` saved as JSON rebuilds the same architecture (load
    the weights with `eqx.tree_deserialise_leaves`). Keys per name (defaults as in the
    constructors):

    - `"mlp"` (`MLP`): `in_size`, `out_size` required.
    - `"cnn"` (`CNN`): `num_spatial_dims`, `in_channels` required; one of `out_size`
        / `num_classes`.
    - `"resnet"`: `variant` is `"resnet18"` (default), `"resnet34"`, `"resnet50"`
        (`ResNet`; `num_spatial_dims`, `in_channels`, one of `out_size` /
        `num_classes`, `width`, ...; BatchNorm on by default, so use
        `build_with_state` or pass `batch_norm=False`), or `"field"` (`FieldResNet`;
        `num_spatial_dims`, `in_channels`, `out_channels` required).
    - `"transformer"` (`Transformer`): `in_size`, `out_size` required.
    - `"fno"` (`FNO`): `num_spatial_dims`, `in_channels`, `out_channels` required.

    **Arguments:**

    - `name`: one of `available()`.
    - `key`: the PRNG key for the initialisation.
    - `**config`: the constructor's arguments, as JSON primitives.

    **Returns:**

    The model.

    **Raises:**

    A `ValueError` for an unknown name, variant or key, a missing required key, or a
    configuration that holds state (call `build_with_state`); a `TypeError` for a value
    that is not JSON-serialisable.
    """
    constructor, kwargs = _resolve(name, config)
    # Abstract construction first: it allocates and compiles nothing, so a stateful
    # configuration is refused before paying for the initialisation.
    if is_stateful(eqx.filter_eval_shape(constructor, **kwargs, key=key)):
        raise ValueError(
            f"{name!r} with this config holds BatchNorm state: call "
            f"`sciml.nn.build_with_state({name!r}, ...)` to get `(model, state)`, "
            "or pass batch_norm=False"
        )
    return constructor(**kwargs, key=key)


def build_with_state(name: str, *, key: PRNGKeyArray, **config: Any) -> tuple[eqx.Module, eqx.nn.State]:
    """Builds a model and its initial state (BatchNorm statistics), for any name.

    Stateless models come with an empty `eqx.nn.State`, so a training loop can treat
    every model alike as `model(x, state) -> (y, state)`.

    **Arguments:**

    - `name`: one of `available()`.
    - `key`: the PRNG key for the initialisation.
    - `**config`: as for `build`.

    **Returns:**

    `(model, state)`, from `eqx.nn.make_with_state`.

    **Raises:**

    As `build`, except that stateful configurations are accepted.
    """
    constructor, kwargs = _resolve(name, config)
    return eqx.nn.make_with_state(constructor)(**kwargs, key=key)
