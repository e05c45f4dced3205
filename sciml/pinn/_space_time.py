"""Space-time cylinders `[t0, t1] x space` for evolution equations."""

import equinox as eqx
import jax.numpy as jnp
from jax.typing import DTypeLike
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ._domain import AbstractDomain, as_floats


class SpaceTime(AbstractDomain):
    """The cylinder `[t0, t1] x space`; points are `(t, x_1, ..., x_d)`, time first.

    Its `boundary` (for Dirichlet, Neumann and periodic conditions) is the lateral one,
    `[t0, t1] x boundary(space)`; the initial slice `{t0} x space` is sampled by
    `sample_initial` for initial conditions. Time and space are drawn jointly from one
    unit-cube point, so a Sobol or Latin-hypercube sampler stays stratified in all
    coordinates together.
    """

    space: AbstractDomain
    t0: float = eqx.field(static=True)
    t1: float = eqx.field(static=True)

    def __init__(self, space: AbstractDomain, t0: float | int, t1: float | int):
        """**Arguments:**

        - `space`: the spatial domain (any domain, boxes and non-box shapes alike).
        - `t0`, `t1`: the time interval.

        **Raises:**

        `TypeError` when `space` is not a domain; `ValueError` unless `t0 < t1`.
        """
        if not isinstance(space, AbstractDomain):
            raise TypeError(f"SpaceTime: space must be a sciml.pinn domain, got {type(space).__name__}")
        if isinstance(space, SpaceTime):
            raise ValueError("SpaceTime: the space of a space-time domain cannot itself be a SpaceTime")
        (self.t0,) = as_floats(t0, 1, "SpaceTime", "t0")
        (self.t1,) = as_floats(t1, 1, "SpaceTime", "t1")
        if not self.t0 < self.t1:
            raise ValueError(f"SpaceTime needs t0 < t1, got [{self.t0}, {self.t1}]")
        self.space = space

    @property
    def dim(self) -> int:
        return self.space.dim + 1

    @property
    def interior_fraction(self) -> float:
        return self.space.interior_fraction

    @property
    def boundary_unit_dim(self) -> int:
        return 1 + self.space.boundary_unit_dim

    def bounding_box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        lo, hi = self.space.bounding_box()
        return (self.t0, *lo), (self.t1, *hi)

    def contains(self, x: Float[Array, " d"]) -> Bool[Array, ""]:
        self.check_point(x, "SpaceTime.contains")
        return (x[0] >= self.t0) & (x[0] <= self.t1) & self.space.contains(x[1:])

    def time_distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """`(t - t0) / (t1 - t0)`: zero on the initial slice, one at the final time.

        **Arguments:**

        - `x`: one space-time point.

        **Returns:**

        The scaled elapsed time.
        """
        self.check_point(x, "SpaceTime.time_distance")
        return (x[0] - self.t0) / (self.t1 - self.t0)

    def distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        self.check_point(x, "SpaceTime.distance")
        return self.time_distance(x) * self.space.distance(x[1:])

    def interior_from_unit(self, u: Float[Array, " n d"]) -> tuple[Float[Array, " n d"], Bool[Array, " n"]]:
        t = self.t0 + (self.t1 - self.t0) * u[:, :1]
        x, inside = self.space.interior_from_unit(u[:, 1:])
        return jnp.concatenate([t, x], axis=1), inside

    def boundary_from_unit(self, u: Float[Array, " n k"]) -> tuple[Float[Array, " n d"], Float[Array, " n d"]]:
        t = self.t0 + (self.t1 - self.t0) * u[:, :1]
        x, normals = self.space.boundary_from_unit(u[:, 1:])
        zero = jnp.zeros_like(t)
        return jnp.concatenate([t, x], axis=1), jnp.concatenate([zero, normals], axis=1)

    def sample_initial(
        self, key: PRNGKeyArray, n: int, sampler: str = "uniform", dtype: DTypeLike | None = None
    ) -> Float[Array, " n d"]:
        """Draws `n` points on the initial slice `{t0} x space`.

        **Arguments:**

        - `key`: the PRNG key.
        - `n`: the number of points.
        - `sampler`: `"uniform"`, `"lhs"` or `"sobol"`.
        - `dtype`: the floating-point type; default JAX's default float.

        **Returns:**

        The points `(t0, x)`, shape `(n, dim)`.

        **Raises:**

        `ValueError` for an unknown sampler or a non-positive `n`.
        """
        x = self.space.sample_interior(key, n, sampler, dtype)
        return jnp.concatenate([jnp.full((n, 1), self.t0, x.dtype), x], axis=1)
