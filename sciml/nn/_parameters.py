"""Trainable parameters with constraints: a positive value stored through an unconstrained one."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PyTree


def _float_array(value: ArrayLike) -> Float[Array, " *shape"]:
    # An explicit dtype makes the array strongly typed: a weakly typed leaf would come
    # back strongly typed from the first optimizer update and compile the step twice.
    return jnp.asarray(value, dtype=jnp.result_type(float))


class Positive(eqx.Module):
    """A parameter constrained to be positive, trained through an unconstrained one.

    With `transform="log"` the stored array is `log(value)`, so an optimizer works on
    relative changes (the natural scale of rate constants); `"softplus"` stores
    `softplus^{-1}(value)`, which behaves linearly for large values. Read the
    constrained value with `.value`.
    """

    raw: Float[Array, " *shape"]
    transform: str = eqx.field(static=True)

    def __init__(self, value: ArrayLike, *, transform: str = "log"):
        """**Arguments:**

        - `value`: the initial (positive) value, a scalar or an array.
        - `transform`: `"log"` or `"softplus"`.

        **Raises:**

        `ValueError` for a non-positive or non-finite value or an unknown transform.
        """
        if transform not in ("log", "softplus"):
            raise ValueError(f"Positive: transform must be 'log' or 'softplus', got {transform!r}")
        if not isinstance(value, jax.core.Tracer):
            host = np.asarray(value, dtype=float)
            if not np.all(np.isfinite(host) & (host > 0)):
                raise ValueError(f"Positive: the value must be finite and > 0, got {host}")
        value = _float_array(value)
        if transform == "log":
            self.raw = jnp.log(value)
        else:
            # softplus^{-1}(v) = v + log(-expm1(-v)), stable for small and large v.
            self.raw = value + jnp.log(-jnp.expm1(-value))
        self.transform = transform

    @property
    def value(self) -> Float[Array, " *shape"]:
        """The positive value."""
        return jnp.exp(self.raw) if self.transform == "log" else jax.nn.softplus(self.raw)


def _is_positive(x: Any) -> bool:
    return isinstance(x, Positive)


def resolve_parameters(params: PyTree) -> PyTree:
    """Replace every [`sciml.nn.Positive`][] in a pytree by its value.

    **Arguments:**

    - `params`: a pytree of arrays, Python numbers and `Positive` parameters.

    **Returns:**

    The same pytree with positive values in place of the `Positive` wrappers.
    """
    return jtu.tree_map(lambda p: p.value if _is_positive(p) else p, params, is_leaf=_is_positive)
