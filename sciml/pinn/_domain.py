"""`AbstractDomain`: where a PDE holds, how to sample it and its boundary, and its distance function."""

import abc

import equinox as eqx
import numpy as np
from jax.typing import DTypeLike
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ._sampling import check_sampler, first_inside, oversample, unit_cube


class AbstractDomain(eqx.Module):
    """A bounded domain of points `x` of shape `(dim,)`.

    A concrete domain maps points of the unit cube onto itself and onto its boundary
    (`interior_from_unit`, `boundary_from_unit`), so that every sampler of
    [`sciml.pinn.unit_cube`][] (uniform, Latin hypercube, Sobol) works on every
    domain: boxes and disks through measure-preserving maps, other shapes by rejection
    from their bounding box. It also gives an *approximate distance function*
    (`distance`): zero exactly on the boundary, positive inside, smooth where the
    boundary is, which the hard constraints multiply the network by.

    Geometry is stored as static Python floats, so a domain holds no arrays and can sit
    inside a trained model without becoming a parameter.
    """

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """The number of coordinates of a point."""

    @property
    @abc.abstractmethod
    def interior_fraction(self) -> float:
        """The fraction of `interior_from_unit`'s images that are inside (1 for exact maps)."""

    @property
    @abc.abstractmethod
    def boundary_unit_dim(self) -> int:
        """How many unit-cube coordinates `boundary_from_unit` consumes per point."""

    @abc.abstractmethod
    def bounding_box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """`(lower, upper)` corners of a box containing the domain."""

    @abc.abstractmethod
    def contains(self, x: Float[Array, " d"]) -> Bool[Array, ""]:
        """Whether one point lies in the closed domain."""

    @abc.abstractmethod
    def distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """The approximate distance function at one point (zero on the boundary)."""

    @abc.abstractmethod
    def interior_from_unit(self, u: Float[Array, " n d"]) -> tuple[Float[Array, " n d"], Bool[Array, " n"]]:
        """Maps unit-cube points to candidate interior points and says which are inside."""

    @abc.abstractmethod
    def boundary_from_unit(self, u: Float[Array, " n k"]) -> tuple[Float[Array, " n d"], Float[Array, " n d"]]:
        """Maps unit-cube points to boundary points and their outward unit normals."""

    def check_point(self, x: Array, who: str = "") -> None:
        """Raises a `ValueError` naming the domain when `x` is not one point of it.

        **Arguments:**

        - `x`: the array to check, expected of shape `(dim,)`.
        - `who`: the caller, for the message.

        **Raises:**

        `ValueError` when the shape is wrong.
        """
        if x.shape != (self.dim,):
            where = f"{who}: " if who else ""
            raise ValueError(
                f"{where}{type(self).__name__} is {self.dim}-dimensional and takes points of shape "
                f"({self.dim},), got shape {tuple(x.shape)}"
            )

    def sample_interior(
        self, key: PRNGKeyArray, n: int, sampler: str = "uniform", dtype: DTypeLike | None = None
    ) -> Float[Array, " n d"]:
        """Draws `n` points inside the domain.

        **Arguments:**

        - `key`: the PRNG key.
        - `n`: the number of points (static).
        - `sampler`: `"uniform"`, `"lhs"` or `"sobol"` (see [`sciml.pinn.unit_cube`][]).
        - `dtype`: the floating-point type; default JAX's default float.

        **Returns:**

        The points, shape `(n, dim)`.

        **Raises:**

        `ValueError` for an unknown sampler or a non-positive `n`.
        """
        check_sampler(sampler, f"{type(self).__name__}.sample_interior")
        _check_count(n, f"{type(self).__name__}.sample_interior")
        exact = self.interior_fraction >= 1
        m = n if exact else oversample(n, self.interior_fraction)
        points, inside = self.interior_from_unit(unit_cube(key, m, self.dim, sampler, dtype))
        return points if exact else first_inside(points, inside, n)

    def sample_boundary(
        self, key: PRNGKeyArray, n: int, sampler: str = "uniform", dtype: DTypeLike | None = None
    ) -> tuple[Float[Array, " n d"], Float[Array, " n d"]]:
        """Draws `n` points on the boundary, distributed by boundary measure.

        **Arguments:**

        - `key`: the PRNG key.
        - `n`: the number of points (static).
        - `sampler`: `"uniform"`, `"lhs"` or `"sobol"`.
        - `dtype`: the floating-point type; default JAX's default float.

        **Returns:**

        `(points, normals)`, both of shape `(n, dim)`; the normals are outward unit vectors.

        **Raises:**

        `ValueError` for an unknown sampler or a non-positive `n`.
        """
        check_sampler(sampler, f"{type(self).__name__}.sample_boundary")
        _check_count(n, f"{type(self).__name__}.sample_boundary")
        return self.boundary_from_unit(unit_cube(key, n, self.boundary_unit_dim, sampler, dtype))


def _check_count(n: int, who: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{who}: the number of points must be a positive int, got {n!r}")


def as_floats(values, size: int | None, who: str, name: str) -> tuple[float, ...]:
    """Geometry given as a scalar or a sequence, as a tuple of Python floats."""
    flat = tuple(float(v) for v in np.atleast_1d(np.asarray(values, dtype=np.float64)).reshape(-1))
    if size is not None and len(flat) != size:
        raise ValueError(f"{who}: {name} must have {size} entries, got {len(flat)}")
    return flat


class AbstractShape(AbstractDomain):
    """A spatial domain that knows its measures and its signed distance, so it can be composed.

    Shapes combine into new shapes with `a | b` ([`sciml.pinn.Union`][]), `a & b`
    ([`sciml.pinn.Intersection`][]) and `a - b` ([`sciml.pinn.Difference`][]).
    """

    @property
    @abc.abstractmethod
    def volume(self) -> float:
        """The interior measure (length, area or volume)."""

    @property
    @abc.abstractmethod
    def boundary_measure(self) -> float:
        """The boundary measure (number of end points, perimeter or surface area)."""

    @abc.abstractmethod
    def signed_distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """A signed distance to the boundary at one point: zero on it, positive inside, negative outside."""

    def __or__(self, other: "AbstractShape") -> "AbstractShape":
        from ._csg import Union

        return Union(self, other)

    def __and__(self, other: "AbstractShape") -> "AbstractShape":
        from ._csg import Intersection

        return Intersection(self, other)

    def __sub__(self, other: "AbstractShape") -> "AbstractShape":
        from ._csg import Difference

        return Difference(self, other)


def safe_norm(v: Array, axis: int = -1) -> Array:
    """The Euclidean norm along `axis`, with a zero (not NaN) gradient at the origin."""
    import jax.numpy as jnp

    s = jnp.sum(v**2, axis=axis)
    positive = s > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, s, 1)), 0)
