"""The regression-or-classification head arguments shared by CNN and ResNet."""

from typing import Literal

import jax.numpy as jnp
from jaxtyping import Array, Float

from ._checks import check_int, check_size


def check_head(
    model: str, out_size: int | Literal["scalar"] | None, num_classes: int | None
) -> int | Literal["scalar"]:
    """Validates that exactly one of `out_size` / `num_classes` is given; returns it.

    Classification and regression heads are the same linear map; the two names
    exist so that a configuration says which one it means.
    """
    if (out_size is None) == (num_classes is None):
        raise ValueError(
            f"{model} needs exactly one of out_size (regression) or num_classes "
            f"(classification), got out_size={out_size!r}, num_classes={num_classes!r}"
        )
    if out_size is None:
        check_int(model, "num_classes", num_classes)
        return num_classes
    check_size(model, "out_size", out_size)
    return out_size


def head_size(out: int | Literal["scalar"]) -> int:
    """The number of linear outputs for a head size."""
    return 1 if out == "scalar" else out


def reshape_head(y: Float[Array, " k"], out: int | Literal["scalar"]) -> Float[Array, " *out"]:
    """Drops the axis of a `"scalar"` head."""
    return jnp.reshape(y, ()) if out == "scalar" else y
