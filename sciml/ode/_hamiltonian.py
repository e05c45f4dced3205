"""Hamiltonian neural networks: the vector field is the symplectic gradient of a learned scalar."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from ._vector_field import AbstractVectorField


class HamiltonianVectorField(AbstractVectorField):
    r"""A Hamiltonian system `dy/dt = J grad H(y)` with a learned (or known) scalar `H`.

    The state is `y = (q, p)`, positions first and conjugate momenta second, each of
    length `n`, and `J = [[0, I], [-I, 0]]`, so that

    $$ \dot q = \partial H / \partial p, \qquad \dot p = -\partial H / \partial q. $$

    Whatever the parameters, the exact flow of this field conserves `H` and preserves
    phase-space volume: a model built on it cannot gain or lose energy over long
    rollouts, only misplace the level sets of `H`. The gradient is taken by automatic
    differentiation, so training differentiates through `grad H` (second derivatives
    of the network): use a smooth activation (`tanh`, `softplus`), not `relu`.

    `network` is any callable module mapping one state `y` of shape `(2n,)` to a scalar
    (shape `()` or `(1,)`), e.g. `sciml.nn.MLP(2, "scalar", width=64, depth=2)`. Drive
    it with [`sciml.ode.ODEModel`][]; `H` is conserved only up to the integrator's
    error, so use a high-order solver with tight tolerances (`diffrax.Dopri8()`) for long
    rollouts.

    **Reference:** Greydanus, Dzamba and Yosinski, "Hamiltonian neural networks",
    NeurIPS 2019.
    """

    network: Callable[[Any], Any]

    def __init__(self, network: Callable[[Any], Any]):
        """**Arguments:**

        - `network`: the Hamiltonian `H(y)`, called on one state `y = (q, p)`.

        **Raises:**

        `TypeError` when `network` is not callable.
        """
        if not callable(network):
            raise TypeError(f"HamiltonianVectorField: network must be callable H(y), got {type(network).__name__}")
        self.network = network

    def hamiltonian(self, y: Float[Array, " dim"]) -> Float[Array, ""]:
        """The value of `H` at one state.

        **Arguments:**

        - `y`: the state `(q, p)`, a vector of even length.

        **Returns:**

        `H(y)`, a scalar.

        **Raises:**

        `ValueError` (at trace time) when `y` is not a vector of even length or the
        network's output is not a scalar.
        """
        shape = jnp.shape(y)
        if len(shape) != 1 or shape[0] == 0 or shape[0] % 2:
            raise ValueError(
                f"HamiltonianVectorField: the state must be a vector (q, p) of even length 2n, got shape {shape}"
            )
        h = self.network(y)
        if jnp.shape(h) not in ((), (1,)):
            raise ValueError(
                "HamiltonianVectorField: the network must return a scalar H (shape () or (1,)), "
                f"got shape {jnp.shape(h)} for a state of shape {shape}"
            )
        return jnp.reshape(h, ())

    def __call__(self, t: Float[Array, ""], y: Float[Array, " dim"], args: PyTree) -> Float[Array, " dim"]:
        """The symplectic gradient `J grad H(y)`; `t` and `args` are unused (`H` is autonomous)."""
        del t, args
        grad = jax.grad(self.hamiltonian)(y)
        n = y.shape[0] // 2
        return jnp.concatenate([grad[n:], -grad[:n]])
