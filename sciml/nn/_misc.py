"""Small helpers shared by the architectures: shape checks, key splitting, state threading."""

from collections.abc import Sequence

import equinox as eqx
import jax.random as jr
from jaxtyping import Array, PRNGKeyArray


def check_shape(model: str, expected: Sequence[int | str], given: tuple[int, ...]) -> None:
    """Raises a `ValueError` naming both shapes when a sample's shape is wrong.

    Runs at trace time (shapes are static), so a wrong input fails before any
    compilation, with a message in terms of one sample rather than of the vmapped batch.

    **Arguments:**

    - `model`: the model's name, for the message.
    - `expected`: the expected shape; an `int` entry must match exactly, a `str` entry
        (e.g. `"n1"`) matches any size.
    - `given`: the shape received.

    **Raises:**

    A `ValueError` when the rank or a fixed size differs.
    """
    ok = len(expected) == len(given) and all(isinstance(e, str) or e == g for e, g in zip(expected, given))
    if not ok:
        text = "(" + ", ".join(str(e) for e in expected) + ("," if len(expected) == 1 else "") + ")"
        raise ValueError(f"{model} expected input of shape {text}, got {tuple(given)}")


def split_key(key: PRNGKeyArray | None, num: int) -> list[PRNGKeyArray | None]:
    """Splits `key` into `num` keys, or returns `num` `None`s when `key` is `None`.

    Models without active dropout must be callable without a key (PINN trial
    functions, vector fields), so a missing key is propagated rather than rejected;
    `eqx.nn.Dropout` itself raises if a key is really needed.
    """
    if key is None:
        return [None] * num
    return list(jr.split(key, num))


def apply_norm(norm: eqx.Module | None, x: Array, state: eqx.nn.State | None) -> tuple[Array, eqx.nn.State | None]:
    """Applies an optional stateful normalisation, threading the state through."""
    if norm is None:
        return x, state
    return norm(x, state)


def require_state(model: str, stateful: bool, state: eqx.nn.State | None) -> None:
    """Raises a clear error when a model holding BatchNorm is called without a state."""
    if stateful and state is None:
        raise ValueError(
            f"{model} has BatchNorm layers and must be called as `model(x, state)` "
            "inside `jax.vmap(..., axis_name='batch', in_axes=(0, None), "
            "out_axes=(0, None))`, with `state` from `eqx.nn.make_with_state` or "
            "`sciml.nn.build_with_state`."
        )
