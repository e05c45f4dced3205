"""`PINN`: the trained object, a network with its hard constraints and unknown PDE coefficients."""

from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from ..nn import Positive, resolve_parameters
from ._constraints import HardConstraint


def _as_parameter(value: Any) -> Any:
    if isinstance(value, Positive) or eqx.is_array(value):
        return value
    # A strongly typed array: a weakly typed leaf would come back strongly typed from the
    # first optimizer update and compile the training step twice.
    return jnp.asarray(value, dtype=jnp.result_type(float))


class PINN(eqx.Module):
    """The trial function of a physics-informed fit: `u(x) = constraint(network)(x)`.

    Everything trainable lives here, so [`sciml.train.fit`][] trains it as it is: the
    network's parameters and the unknown coefficients of an inverse problem. A
    coefficient constrained positive is a `sciml.nn.Positive` (stored as its
    logarithm, so the optimizer works on relative changes); residuals read the values
    through `args` (see [`sciml.pinn.PDEProblem`][]). The hard constraint holds
    no arrays (geometry is static), so it is never trained.

    ??? cite

        Raissi, Perdikaris and Karniadakis, J. Comput. Phys. 378 (2019), section 4
        (coefficients learnt jointly with the network).
    """

    network: Callable
    coefficients: PyTree
    constraint: HardConstraint | None

    def __init__(
        self,
        network: Callable[..., Any],
        *,
        coefficients: Mapping[str, Any] | None = None,
        constraint: HardConstraint | None = None,
    ):
        """**Arguments:**

        - `network`: any `sciml.nn` model (or callable module) of one input, e.g.
            `sciml.nn.MLP(d, "scalar", ...)`; with periodic hard constraints its input size
            is `constraint.network_in_size`.
        - `coefficients`: the unknown PDE coefficients by name: numbers or arrays (any
            sign) or `sciml.nn.Positive(value)` (positive, log-parametrised).
        - `constraint`: the [`sciml.pinn.HardConstraint`][] built from the
            problem's domain and conditions, or None for penalties only.

        **Raises:**

        `TypeError` for a non-callable network, coefficients that are not a mapping, or a
        constraint of the wrong type.
        """
        if not callable(network):
            raise TypeError(f"PINN: network must be callable on one point, got {type(network).__name__}")
        if coefficients is not None:
            if not isinstance(coefficients, Mapping):
                raise TypeError(
                    f"PINN: coefficients must be a mapping name -> value, got {type(coefficients).__name__}"
                )
            coefficients = {str(k): _as_parameter(v) for k, v in coefficients.items()}
        if constraint is not None and not isinstance(constraint, HardConstraint):
            raise TypeError(f"PINN: constraint must be a HardConstraint, got {type(constraint).__name__}")
        self.network = network
        self.coefficients = coefficients
        self.constraint = constraint

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " *out"]:
        """**Arguments:**

        - `x`: one point, shape `(d,)`.

        **Returns:**

        `u(x)`, of the network's output shape.
        """
        if self.constraint is None:
            return self.network(x)
        return self.constraint.apply(x, self.network(self.constraint.embed(x)))

    def coefficient_values(self) -> dict[str, Array]:
        """The current unknown coefficients, positive ones resolved to their values.

        **Returns:**

        A dict name -> value (empty without coefficients).
        """
        return {} if self.coefficients is None else dict(resolve_parameters(self.coefficients))

    def merge_args(self, known: PyTree) -> PyTree:
        """The `args` a residual receives: the known coefficients with the unknown ones added.

        **Arguments:**

        - `known`: the problem's `args`.

        **Returns:**

        `known` (positive parameters resolved) without unknown coefficients; otherwise a
        dict of both.

        **Raises:**

        `ValueError` when the problem's `args` is not a dict or a name is in both.
        """
        unknown = self.coefficient_values()
        if not unknown:
            return resolve_parameters(known)
        if known is None:
            known = {}
        if not isinstance(known, Mapping):
            raise ValueError(
                "PINN: with unknown coefficients the problem's args must be a dict (or None) so the "
                f"two can be merged by name, got {type(known).__name__}"
            )
        clash = sorted(set(known) & set(unknown))
        if clash:
            raise ValueError(f"PINN: coefficient(s) {clash} are both known (problem args) and unknown (model)")
        return {**resolve_parameters(dict(known)), **unknown}
