"""Boundary, initial and data conditions: where they are sampled and their residual at one point."""

import abc
from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._box import Box, Interval
from ._derivatives import AbstractDerivativeMethod
from ._domain import AbstractDomain
from ._operators import derivative, grad
from ._space_time import SpaceTime


class Constant(eqx.Module):
    """A constant boundary or initial value, stored as static Python numbers.

    Conditions turn plain numbers into this, so that no condition value ever becomes an
    array leaf of a model (where an optimizer would train it).
    """

    value: float | tuple = eqx.field(static=True)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " *out"]:
        """**Arguments:**

        - `x`: one point (unused: the value is the same everywhere).

        **Returns:**

        The constant, in the point's dtype.
        """
        return jnp.asarray(self.value, x.dtype)


def as_function(value: Any, who: str) -> Callable:
    """A condition value as a function of one point: callables pass, numbers become [`Constant`][]."""
    if callable(value):
        return value
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{who}: the value must be a number, an array or a function g(x), got {type(value).__name__}"
        ) from None
    return Constant(float(array) if array.ndim == 0 else tuple(array.tolist()))


def _flat(r: Array) -> Float[Array, " k"]:
    return jnp.reshape(r, (-1,))


class AbstractCondition(eqx.Module):
    """One term of a PINN loss besides the PDE residual.

    A condition samples its points from the domain (`sample`, a dict of arrays with a
    leading point axis) and gives its residual at one of them (`residual`); the loss
    averages the squared residual over the points. Conditions with `hard=True` are not
    penalised but built into the trial function by [`sciml.pinn.HardConstraint`][].
    Values `g` are numbers or functions of one point `g(x)` (the full point, time first
    on a [`sciml.pinn.SpaceTime`][]).

    Every condition has a `name` (its loss term's), `hard` (whether it is imposed
    exactly: a class variable, always False, for those that cannot be) and the class
    variable `resampled` (whether its points can be redrawn during training: False for
    data).
    """

    name: eqx.AbstractVar[str]
    hard: eqx.AbstractVar[bool]
    resampled: eqx.AbstractClassVar[bool]

    @abc.abstractmethod
    def check(self, domain: AbstractDomain) -> None:
        """Raises a `ValueError` when the condition does not apply to `domain`."""

    @abc.abstractmethod
    def sample(self, domain: AbstractDomain, key: PRNGKeyArray, n: int, sampler: str, dtype: Any) -> dict[str, Array]:
        """The condition's points: a dict of arrays with a leading axis of size `n`."""

    @abc.abstractmethod
    def residual(
        self, u: Callable, point: dict[str, Array], method: AbstractDerivativeMethod | None
    ) -> Float[Array, " k"]:
        """The residual at one point, flattened."""


class Dirichlet(AbstractCondition):
    """`u = g` on the boundary (the lateral boundary of a space-time domain).

    With `hard=True` the trial function satisfies it exactly (see
    [`sciml.pinn.HardConstraint`][]); `g` must then be defined, and smooth, in
    the whole domain, because it doubles as the lifting of the boundary data.
    """

    resampled: ClassVar[bool] = True
    value: Callable
    name: str = eqx.field(static=True)
    hard: bool = eqx.field(static=True)

    def __init__(self, value: Any = 0.0, *, name: str = "dirichlet", hard: bool = False):
        """**Arguments:**

        - `value`: the boundary value `g`: a number, an array (vector-valued `u`) or a
            function `g(x)` of one point.
        - `name`: the loss term's name.
        - `hard`: impose exactly through the trial function instead of a penalty.
        """
        self.value = as_function(value, "Dirichlet")
        self.name = name
        self.hard = hard

    def check(self, domain):
        del domain  # applies to every domain

    def sample(self, domain, key, n, sampler, dtype):
        points, _ = domain.sample_boundary(key, n, sampler, dtype)
        return {"x": points}

    def residual(self, u, point, method):
        x = point["x"]
        return _flat(u(x) - self.value(x))


class Neumann(AbstractCondition):
    """`du/dn = grad(u) . n = g` on the boundary, with the outward unit normal `n`.

    Soft only: an exact Neumann condition needs a different trial-function construction
    (Sukumar & Srivastava 2022, section 4.2) that the residual derivatives would make costly.
    """

    resampled: ClassVar[bool] = True
    hard: ClassVar[bool] = False
    value: Callable
    name: str = eqx.field(static=True)

    def __init__(self, value: Any = 0.0, *, name: str = "neumann", hard: bool = False):
        """**Arguments:**

        - `value`: the normal derivative `g`: a number, an array or a function `g(x)`.
        - `name`: the loss term's name.
        - `hard`: must be False.

        **Raises:**

        `ValueError` for `hard=True`.
        """
        if hard:
            raise ValueError("Neumann: hard Neumann conditions are not supported; use hard=False (a penalty)")
        self.value = as_function(value, "Neumann")
        self.name = name

    def check(self, domain):
        del domain  # applies to every domain

    def sample(self, domain, key, n, sampler, dtype):
        points, normals = domain.sample_boundary(key, n, sampler, dtype)
        return {"x": points, "normal": normals}

    def residual(self, u, point, method):
        x, normal = point["x"], point["normal"]
        flux = jnp.tensordot(grad(u, x, method=method), normal, axes=1)
        return _flat(flux - self.value(x))


def _periodic_bounds(domain: AbstractDomain, axis: int, who: str) -> tuple[float, float]:
    space, offset = (domain.space, 1) if isinstance(domain, SpaceTime) else (domain, 0)
    if isinstance(domain, SpaceTime) and axis == 0:
        raise ValueError(
            f"{who}: axis 0 is time on a SpaceTime domain; periodic axes are spatial (1..{domain.dim - 1})"
        )
    if not isinstance(space, (Box, Interval)):
        raise ValueError(f"{who}: periodic conditions need a box or an interval (in space), got {type(space).__name__}")
    if not 0 <= axis < domain.dim:
        raise ValueError(f"{who}: axis {axis} is out of range for a {domain.dim}-dimensional domain")
    lo, hi = space.bounding_box()
    return lo[axis - offset], hi[axis - offset]


class Periodic(AbstractCondition):
    """`u(.., lo, ..) = u(.., hi, ..)` between the two faces of a box normal to `axis`,
    and likewise for the first `derivatives` derivatives along `axis` (C^k periodicity).

    With `hard=True` the coordinate is instead fed to the network as
    `(cos(2 pi (x - lo) / L), sin(2 pi (x - lo) / L))`, which makes every function the
    network can represent exactly periodic with all its derivatives.

    ??? cite

        Dong and Ni, "A method for representing periodic functions and enforcing exactly
        periodic boundary conditions with deep neural networks", J. Comput. Phys. 435 (2021).
    """

    resampled: ClassVar[bool] = True
    axis: int = eqx.field(static=True)
    derivatives: int = eqx.field(static=True)
    name: str = eqx.field(static=True)
    hard: bool = eqx.field(static=True)

    def __init__(self, axis: int, *, derivatives: int = 1, name: str = "periodic", hard: bool = False):
        """**Arguments:**

        - `axis`: the periodic coordinate (a spatial one: `>= 1` on a space-time domain).
        - `derivatives`: how many derivatives along `axis` must match too (0, 1, 2...).
        - `name`: the loss term's name.
        - `hard`: impose exactly through a periodic input embedding.

        **Raises:**

        `ValueError` for a negative axis or derivative count.
        """
        if isinstance(axis, bool) or not isinstance(axis, int) or axis < 0:
            raise ValueError(f"Periodic: axis must be a non-negative int, got {axis!r}")
        if isinstance(derivatives, bool) or not isinstance(derivatives, int) or derivatives < 0:
            raise ValueError(f"Periodic: derivatives must be a non-negative int, got {derivatives!r}")
        self.axis = axis
        self.derivatives = derivatives
        self.name = name
        self.hard = hard

    def check(self, domain):
        _periodic_bounds(domain, self.axis, "Periodic")

    def sample(self, domain, key, n, sampler, dtype):
        lo, hi = _periodic_bounds(domain, self.axis, "Periodic")
        points = domain.sample_interior(key, n, sampler, dtype)
        return {"x": points.at[:, self.axis].set(lo), "pair": points.at[:, self.axis].set(hi)}

    def residual(self, u, point, method):
        index = (self.axis,)
        terms = [
            derivative(u, point["x"], index * k, method=method) - derivative(u, point["pair"], index * k, method=method)
            for k in range(self.derivatives + 1)
        ]
        return jnp.concatenate([_flat(t) for t in terms])


class Initial(AbstractCondition):
    """`u(t0, x) = h(x)` (or `du/dt(t0, x) = h(x)` with `order=1`) on a space-time domain.

    With `hard=True` (order 0 only) the trial function satisfies it exactly.
    """

    resampled: ClassVar[bool] = True
    value: Callable
    order: int = eqx.field(static=True)
    name: str = eqx.field(static=True)
    hard: bool = eqx.field(static=True)

    def __init__(self, value: Any, *, order: int = 0, name: str = "initial", hard: bool = False):
        """**Arguments:**

        - `value`: `h`, a number, an array or a function of the space-time point `(t0, x)`.
        - `order`: 0 for the value, 1 for the time derivative (second-order-in-time PDEs).
        - `name`: the loss term's name.
        - `hard`: impose exactly through the trial function (order 0 only).

        **Raises:**

        `ValueError` for an order other than 0 and 1, or a hard first-order condition.
        """
        if order not in (0, 1):
            raise ValueError(f"Initial: order must be 0 (value) or 1 (time derivative), got {order!r}")
        if hard and order:
            raise ValueError("Initial: only order-0 initial conditions can be hard")
        self.value = as_function(value, "Initial")
        self.order = order
        self.name = name
        self.hard = hard

    def check(self, domain):
        if not isinstance(domain, SpaceTime):
            raise ValueError(f"Initial: initial conditions need a SpaceTime domain, got {type(domain).__name__}")

    def sample(self, domain, key, n, sampler, dtype):
        self.check(domain)
        return {"x": domain.sample_initial(key, n, sampler, dtype)}

    def residual(self, u, point, method):
        x = point["x"]
        value = u(x) if self.order == 0 else derivative(u, x, (0,), method=method)
        return _flat(value - self.value(x))


class Observations(AbstractCondition):
    """Data: `u(x_i) = y_i` at fixed (e.g. sparse, noisy sensor) points.

    The term that lets a PINN fit unknown PDE coefficients (inverse problems): see
    [`sciml.pinn.PINN`][]'s `coefficients`. Its points are never resampled.

    ??? cite

        Raissi, Perdikaris and Karniadakis, "Physics-informed neural networks", J.
        Comput. Phys. 378 (2019), section 4 (data-driven discovery).
    """

    resampled: ClassVar[bool] = False
    hard: ClassVar[bool] = False
    points: Float[Array, " m d"]
    values: Float[Array, " m *out"]
    name: str = eqx.field(static=True)

    def __init__(
        self, points: Float[ArrayLike, " m d"], values: Float[ArrayLike, " m *out"], *, name: str = "observations"
    ):
        """**Arguments:**

        - `points`: the observation points, shape `(m, d)`.
        - `values`: the observed `u`, shape `(m,)` for scalar `u` or `(m, *out)`.
        - `name`: the loss term's name.

        **Raises:**

        `ValueError` when the shapes do not fit or the data are not finite.
        """
        points = jnp.asarray(points, dtype=jnp.result_type(float))
        values = jnp.asarray(values, dtype=jnp.result_type(float))
        if points.ndim != 2 or values.shape[:1] != points.shape[:1] or points.shape[0] == 0:
            raise ValueError(
                f"Observations: points must have shape (m, d) and values (m, ...) with the same m > 0, "
                f"got {points.shape} and {values.shape}"
            )
        if not (np.all(np.isfinite(np.asarray(points))) and np.all(np.isfinite(np.asarray(values)))):
            raise ValueError("Observations: points and values must be finite")
        self.points = points
        self.values = values
        self.name = name

    def check(self, domain):
        if self.points.shape[1] != domain.dim:
            raise ValueError(
                f"Observations: the points have {self.points.shape[1]} coordinates but the "
                f"{type(domain).__name__} is {domain.dim}-dimensional"
            )

    def sample(self, domain, key, n, sampler, dtype):
        return {"x": self.points.astype(dtype), "y": self.values.astype(dtype)}

    def residual(self, u, point, method):
        return _flat(u(point["x"]) - point["y"])


def stack_residuals(
    condition: AbstractCondition, u: Callable, points: dict[str, Array], method
) -> Float[Array, " n k"]:
    """The condition's residual at every point, shape `(n, k)`."""
    return jax.vmap(lambda p: condition.residual(u, p, method))(points)
