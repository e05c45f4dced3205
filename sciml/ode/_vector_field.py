"""Vector fields `f(t, y, args)`: a network, and the sum of known and learned terms."""

import abc
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree


class AbstractVectorField(eqx.Module):
    """The right-hand side `f(t, y, args)` of `dy/dt = f(t, y, args)`.

    Any callable with this signature can drive an [`sciml.ode.ODEModel`][]; this
    class names the contract. Its floating-point arrays are the trainable parameters.
    """

    @abc.abstractmethod
    def __call__(self, t: Float[Array, ""], y: Float[Array, " *state"], args: PyTree) -> Float[Array, " *state"]:
        """**Arguments:**

        - `t`: the time.
        - `y`: the state (one trajectory).
        - `args`: the `args` passed to the solve, or None.

        **Returns:**

        `dy/dt`, of the shape of `y`.
        """


class NeuralVectorField(AbstractVectorField):
    """A neural ODE's right-hand side, `f(t, y) = network(y)` or `network([t, y])`.

    The network is any `sciml.nn` model (or other callable module) called on one
    sample, e.g. `sciml.nn.MLP(2, 2, width=64, depth=2, activation="softplus")`.

    **Reference:** Chen, Rubanova, Bettencourt and Duvenaud, "Neural ordinary
    differential equations", NeurIPS 2018.
    """

    network: eqx.Module
    time_dependent: bool = eqx.field(static=True)

    def __init__(self, network: eqx.Module, *, time_dependent: bool = False):
        """**Arguments:**

        - `network`: the model of the right-hand side, called on one state vector.
        - `time_dependent`: feed `[t, *y]` (a vector one longer than `y`) instead of `y`,
            for non-autonomous systems; `y` must then be a vector.
        """
        self.network = network
        self.time_dependent = time_dependent

    def __call__(self, t: Float[Array, ""], y: Float[Array, " *state"], args: PyTree) -> Float[Array, " *state"]:
        del args
        if self.time_dependent:
            return self.network(jnp.concatenate([jnp.reshape(t, (1,)).astype(y.dtype), y]))
        return self.network(y)


class HybridVectorField(AbstractVectorField):
    """A universal differential equation: known physics plus a learned correction.

    `f(t, y, args) = known(t, y, args) + learned(t, y, args)`. The network in `learned`
    models only the missing physics, so it is small and extrapolates where the known
    terms dominate; afterwards the learned terms can be recovered symbolically (sparse
    regression on `learned`'s outputs).

    **Reference:** Rackauckas et al., "Universal differential equations for scientific
    machine learning", arXiv:2001.04385 (2020).
    """

    known: Any
    learned: Any

    def __init__(self, known: Any, learned: Any):
        """**Arguments:**

        - `known`: the known terms, a vector field `f(t, y, args)` (e.g. a
            [`sciml.ode.PhysicsVectorField`][], whose parameters may train too).
        - `learned`: the missing terms, a vector field (e.g. a
            [`sciml.ode.NeuralVectorField`][]).
        """
        self.known = known
        self.learned = learned

    def __call__(self, t: Float[Array, ""], y: Float[Array, " *state"], args: PyTree) -> Float[Array, " *state"]:
        return self.known(t, y, args) + self.learned(t, y, args)
