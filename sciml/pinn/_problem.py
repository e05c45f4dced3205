"""`PDEProblem`: a residual, a domain and conditions: the data of a physics-informed fit."""

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
from jaxtyping import PyTree

from ._conditions import AbstractCondition
from ._domain import AbstractDomain


RESIDUAL = "residual"


class PDEProblem(eqx.Module):
    """A PDE `r(u, x, args) = 0` in a domain, with boundary, initial and data conditions.

    The residual is written for one point and a trial function `u` of one point, using
    the derivative helpers ([`sciml.pinn.derivatives`][],
    [`sciml.pinn.laplacian`][], ...), e.g. for Burgers' equation on space-time
    points `(t, x)`:

    ```python
    def burgers(u, x, args):
        v, v_t, v_x, v_xx = pinn.derivatives(u, x, [(), (0,), (1,), (1, 1)])
        return v_t + v * v_x - args["nu"] * v_xx
    ```

    `args` holds the coefficients: known ones given here, unknown (trained) ones from
    the model's `coefficients` (see [`sciml.pinn.PINN`][]), merged by name.

    ??? cite

        Raissi, Perdikaris and Karniadakis, "Physics-informed neural networks: a deep
        learning framework for solving forward and inverse problems involving nonlinear
        partial differential equations", J. Comput. Phys. 378 (2019) 686-707.
    """

    residual: Callable
    domain: AbstractDomain
    conditions: tuple[AbstractCondition, ...]
    args: PyTree

    def __init__(
        self,
        residual: Callable[..., Any],
        domain: AbstractDomain,
        conditions: Sequence[AbstractCondition] = (),
        args: PyTree = None,
    ):
        """**Arguments:**

        - `residual`: `r(u, x, args)`, the PDE residual at one point `x` of shape
            `(domain.dim,)`, a scalar or an array (systems).
        - `domain`: the [`sciml.pinn.AbstractDomain`][] where the PDE holds.
        - `conditions`: boundary, initial and data conditions, each with a distinct name.
        - `args`: the known coefficients, a dict when the model has unknown ones.

        **Raises:**

        `TypeError` for a non-callable residual, a non-domain or a non-condition;
        `ValueError` for duplicate or reserved names, or a condition that does not
        apply to the domain (naming it).
        """
        if not callable(residual):
            raise TypeError(f"PDEProblem: residual must be a function r(u, x, args), got {type(residual).__name__}")
        if not isinstance(domain, AbstractDomain):
            raise TypeError(f"PDEProblem: domain must be a sciml.pinn domain, got {type(domain).__name__}")
        conditions = tuple(conditions)
        names = [RESIDUAL]
        for c in conditions:
            if not isinstance(c, AbstractCondition):
                raise TypeError(f"PDEProblem: conditions must be sciml.pinn conditions, got {type(c).__name__}")
            if c.name in names:
                raise ValueError(
                    f"PDEProblem: two loss terms are named {c.name!r} ('{RESIDUAL}' is reserved); "
                    "give the conditions distinct name= arguments"
                )
            names.append(c.name)
            c.check(domain)
        self.residual = residual
        self.domain = domain
        self.conditions = conditions
        self.args = args

    @property
    def soft_conditions(self) -> tuple[AbstractCondition, ...]:
        """The conditions imposed by penalty terms (those not `hard`)."""
        return tuple(c for c in self.conditions if not c.hard)

    @property
    def terms(self) -> tuple[str, ...]:
        """The names of the loss terms: `"residual"` then every soft condition."""
        return (RESIDUAL, *(c.name for c in self.soft_conditions))
