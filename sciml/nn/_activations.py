"""Activation functions by name, so that configurations stay JSON-serialisable."""

from collections.abc import Callable

import jax
import jax.numpy as jnp


def _identity(x):
    return x


def _rbf(x):
    # The Gaussian radial basis activation of the universal-differential-equation
    # networks of Rackauckas et al. 2020.
    return jnp.exp(-(x**2))


# Names are the strings accepted everywhere an `activation=` argument appears. `sin` is
# the SIREN activation (Sitzmann et al. 2020); `tanh` is the PINN default (Raissi et al.
# 2019) because it is smooth, so residuals with second derivatives stay informative.
_ACTIVATIONS: dict[str, Callable] = {
    "identity": _identity,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "sin": jnp.sin,
    "softplus": jax.nn.softplus,
    "sigmoid": jax.nn.sigmoid,
    "elu": jax.nn.elu,
    "leaky_relu": jax.nn.leaky_relu,
    "rbf": _rbf,
}


def activation_names() -> tuple[str, ...]:
    """The names accepted by `get_activation`, sorted."""
    return tuple(sorted(_ACTIVATIONS))


def get_activation(activation: str | Callable) -> Callable:
    """Resolves an activation given by name (or passes a callable through).

    **Arguments:**

    - `activation`: one of `activation_names()`, or any elementwise callable.

    **Returns:**

    The activation function.

    **Raises:**

    A `ValueError` listing the accepted names when the name is unknown.
    """
    if callable(activation):
        return activation
    try:
        return _ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(f"unknown activation {activation!r}; accepted: {', '.join(activation_names())}") from None
