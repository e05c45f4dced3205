"""The disk: a non-box domain with an exact area-preserving sampler."""

import math
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from ._domain import AbstractShape, as_floats, safe_norm


class Disk(AbstractShape):
    """The closed disk `|x - center| <= radius` in the plane.

    Interior samples use the area-preserving map `r = R sqrt(u_0)`, `theta = 2 pi u_1`,
    so stratified and quasi-random samplers keep their uniformity without rejection.
    The distance function is `(R^2 - |x - c|^2) / R^2`: zero on the circle, one at the
    centre, a polynomial (so every derivative a residual takes is exact and cheap).
    """

    center: tuple[float, float] = eqx.field(static=True)
    radius: float = eqx.field(static=True)

    def __init__(self, center: ArrayLike | Sequence[float | int] = (0.0, 0.0), radius: float | int = 1.0):
        """**Arguments:**

        - `center`: the centre, two coordinates.
        - `radius`: the radius, > 0.

        **Raises:**

        `ValueError` for a centre without two coordinates or a non-positive radius.
        """
        cx, cy = as_floats(center, 2, "Disk", "center")
        (radius,) = as_floats(radius, 1, "Disk", "radius")
        if not radius > 0:
            raise ValueError(f"Disk needs radius > 0, got {radius}")
        self.center = (cx, cy)
        self.radius = radius

    @property
    def dim(self) -> int:
        return 2

    @property
    def interior_fraction(self) -> float:
        return 1.0

    @property
    def boundary_unit_dim(self) -> int:
        return 1

    def bounding_box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        (cx, cy), r = self.center, self.radius
        return (cx - r, cy - r), (cx + r, cy + r)

    def _offset(self, x: Array) -> Array:
        return x - jnp.asarray(self.center, x.dtype)

    def contains(self, x: Float[Array, " d"]) -> Bool[Array, ""]:
        self.check_point(x, "Disk.contains")
        # A relative tolerance of a few ulps: boundary samples are exactly on the circle
        # only up to rounding.
        tol = 16 * jnp.finfo(x.dtype).eps
        return jnp.sum(self._offset(x) ** 2) <= self.radius**2 * (1 + tol)

    def distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        self.check_point(x, "Disk.distance")
        return (self.radius**2 - jnp.sum(self._offset(x) ** 2)) / self.radius**2

    @property
    def volume(self) -> float:
        return math.pi * self.radius**2

    @property
    def boundary_measure(self) -> float:
        return 2 * math.pi * self.radius

    def signed_distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """The exact Euclidean signed distance `R - |x - center|`, positive inside."""
        self.check_point(x, "Disk.signed_distance")
        return self.radius - safe_norm(self._offset(x))

    def interior_from_unit(self, u: Float[Array, " n d"]) -> tuple[Float[Array, " n d"], Bool[Array, " n"]]:
        r = self.radius * jnp.sqrt(u[:, 0])
        theta = 2 * math.pi * u[:, 1]
        points = jnp.stack([self.center[0] + r * jnp.cos(theta), self.center[1] + r * jnp.sin(theta)], axis=1)
        return points.astype(u.dtype), jnp.ones(u.shape[0], bool)

    def boundary_from_unit(self, u: Float[Array, " n k"]) -> tuple[Float[Array, " n d"], Float[Array, " n d"]]:
        theta = 2 * math.pi * u[:, 0]
        normals = jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=1).astype(u.dtype)
        center = jnp.asarray(self.center, u.dtype)[None, :]
        return center + self.radius * normals, normals
