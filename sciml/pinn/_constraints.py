"""Hard constraints: a trial function that satisfies Dirichlet, initial and periodic conditions exactly."""

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._conditions import _periodic_bounds, AbstractCondition, Dirichlet, Initial, Periodic
from ._domain import AbstractDomain
from ._space_time import SpaceTime


class HardConstraint(eqx.Module):
    """The output transform `u(x) = A(x) + D(x) N(e(x))` built from a domain and its hard conditions.

    - `N` is the network and `e` its input embedding: a hard periodic axis `i` enters
        as `(cos(2 pi (x_i - lo)/L), sin(2 pi (x_i - lo)/L))` instead of `x_i`, so the
        network takes `network_in_size = dim + (number of periodic axes)` inputs.
    - `D` vanishes where a condition is imposed: the spatial approximate distance
        function of the domain (`domain.distance`, or `space.distance` on a space-time
        domain) for a hard Dirichlet condition, times `(t - t0)/(t1 - t0)` for a hard
        initial condition.
    - `A` is a lifting of the data, exact on those sets: `g` for Dirichlet `u = g`,
        `h` for the initial value `u(t0) = h`, and the transfinite combination
        `g(t, x) + h(x) - g(t0, x)` for both, which matches `h` at `t0` and `g` on the
        boundary whenever the data are compatible (`h = g(t0)` on the boundary).

    The conditions must therefore give `g` and `h` as functions defined (and smooth)
    in the whole domain, not only on the boundary.

    ??? cite

        Lagaris, Likas and Fotiadis, "Artificial neural networks for solving ordinary
        and partial differential equations", IEEE Trans. Neural Netw. 9 (1998);
        Sukumar and Srivastava, "Exact imposition of boundary conditions with distance
        functions in physics-informed deep neural networks", CMAME 389 (2022);
        Dong and Ni, J. Comput. Phys. 435 (2021) for the periodic embedding.
    """

    domain: AbstractDomain
    dirichlet: Callable | None
    initial: Callable | None
    periodic: tuple[tuple[int, float, float], ...] = eqx.field(static=True)

    def __init__(self, domain: AbstractDomain, conditions: Sequence[AbstractCondition]):
        """**Arguments:**

        - `domain`: the problem's domain.
        - `conditions`: the problem's conditions; those with `hard=True` are built in,
            the others ignored (they stay penalty terms of the loss).

        **Raises:**

        `ValueError` naming the condition when a hard one cannot be built in (two hard
        Dirichlet or initial conditions, a hard initial condition off a space-time
        domain).
        """
        if not isinstance(domain, AbstractDomain):
            raise TypeError(f"HardConstraint: domain must be a sciml.pinn domain, got {type(domain).__name__}")
        dirichlet = initial = None
        periodic = []
        for c in conditions:
            if not c.hard:
                continue
            if isinstance(c, Dirichlet):
                if dirichlet is not None:
                    raise ValueError(
                        f"HardConstraint: only one hard Dirichlet condition is supported, got a second ({c.name!r})"
                    )
                dirichlet = c.value
            elif isinstance(c, Initial):
                c.check(domain)
                if initial is not None:
                    raise ValueError(
                        f"HardConstraint: only one hard initial condition is supported, got a second ({c.name!r})"
                    )
                initial = c.value
            elif isinstance(c, Periodic):
                lo, hi = _periodic_bounds(domain, c.axis, f"HardConstraint ({c.name!r})")
                periodic.append((c.axis, lo, hi))
            else:
                raise ValueError(
                    f"HardConstraint: a {type(c).__name__} condition ({c.name!r}) cannot be imposed exactly"
                )
        axes = [a for a, _, _ in periodic]
        if len(set(axes)) != len(axes):
            raise ValueError(f"HardConstraint: an axis is periodic twice: {axes}")
        self.domain = domain
        self.dirichlet = dirichlet
        self.initial = initial
        self.periodic = tuple(sorted(periodic))

    @property
    def network_in_size(self) -> int:
        """The input size the network needs: the point's coordinates plus one per periodic axis."""
        return self.domain.dim + len(self.periodic)

    def embed(self, x: Float[Array, " d"]) -> Float[Array, " k"]:
        """The network's input for one point (the point itself without periodic axes).

        **Arguments:**

        - `x`: one point of the domain.

        **Returns:**

        The embedded point, shape `(network_in_size,)`.
        """
        if not self.periodic:
            return x
        parts = []
        periodic = {a: (lo, hi) for a, lo, hi in self.periodic}
        for j in range(x.shape[0]):
            if j in periodic:
                lo, hi = periodic[j]
                angle = 2 * math.pi * (x[j] - lo) / (hi - lo)
                parts.extend([jnp.cos(angle), jnp.sin(angle)])
            else:
                parts.append(x[j])
        return jnp.stack(parts)

    def apply(self, x: Float[Array, " d"], y: Float[Array, " *out"]) -> Float[Array, " *out"]:
        """The trial function's value from the network output `y` at the point `x`.

        **Arguments:**

        - `x`: one point of the domain.
        - `y`: the network's output there.

        **Returns:**

        `A(x) + D(x) y`.
        """
        space_time = isinstance(self.domain, SpaceTime)
        factor = jnp.ones((), x.dtype)
        if self.dirichlet is not None:
            factor = factor * (self.domain.space.distance(x[1:]) if space_time else self.domain.distance(x))
        if self.initial is not None:
            factor = factor * self.domain.time_distance(x)
        if self.dirichlet is not None and self.initial is not None:
            # Concatenation, not `x.at[0].set`: Taylor mode (jet) has no rule for scatter.
            x0 = jnp.concatenate([jnp.full((1,), self.domain.t0, x.dtype), x[1:]])
            lift = self.dirichlet(x) + self.initial(x) - self.dirichlet(x0)
        elif self.dirichlet is not None:
            lift = self.dirichlet(x)
        elif self.initial is not None:
            lift = self.initial(x)
        else:
            return y
        return lift + factor * y
