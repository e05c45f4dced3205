"""Intervals and boxes (rectangles, cuboids): the tensor-product domains."""

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from ._domain import AbstractShape, as_floats, safe_norm


def _contains(lo, hi, x):
    lo, hi = jnp.asarray(lo, x.dtype), jnp.asarray(hi, x.dtype)
    return jnp.all((x >= lo) & (x <= hi))


def _distance(lo, hi, x):
    lo, hi = jnp.asarray(lo, x.dtype), jnp.asarray(hi, x.dtype)
    # One smooth bump per axis, 1 at the centre and 0 on both faces: the product
    # vanishes on every face and is smooth inside, as a hard constraint needs.
    bumps = 4 * (x - lo) * (hi - x) / (hi - lo) ** 2
    # A product by multiplication, not `jnp.prod`: Taylor mode (jet) has no rule for it.
    out = bumps[0]
    for i in range(1, x.shape[0]):
        out = out * bumps[i]
    return out


def _signed_distance(lo, hi, x):
    lo, hi = jnp.asarray(lo, x.dtype), jnp.asarray(hi, x.dtype)
    # The exact Euclidean signed distance: q > 0 measures how far outside each slab x is.
    q = jnp.abs(x - (lo + hi) / 2) - (hi - lo) / 2
    # Inside and on the faces -max(q), so the gradient on a face is its inward normal.
    return -jnp.where(jnp.max(q) > 0, safe_norm(jnp.maximum(q, 0)), jnp.max(q))


def _interior(lo, hi, u):
    lo, hi = jnp.asarray(lo, u.dtype), jnp.asarray(hi, u.dtype)
    return lo[None, :] + (hi - lo)[None, :] * u, jnp.ones(u.shape[0], bool)


def _boundary(lo, hi, u):
    d = len(lo)
    lo_a, hi_a = np.asarray(lo), np.asarray(hi)
    if d == 1:
        upper = u[:, 0] >= 0.5
        points = jnp.where(upper, hi[0], lo[0])[:, None].astype(u.dtype)
        return points, jnp.where(upper, 1.0, -1.0)[:, None].astype(u.dtype)
    widths = hi_a - lo_a
    areas = np.repeat([np.prod(np.delete(widths, a)) for a in range(d)], 2)
    cumulative = jnp.asarray(np.cumsum(areas) / areas.sum(), u.dtype)
    face = jnp.minimum(jnp.searchsorted(cumulative, u[:, 0], side="right"), 2 * d - 1)
    axis, upper = face // 2, face % 2 == 1
    coords = []
    for j in range(d):
        # The face's d - 1 free coordinates are u[:, 1:], assigned in order to the axes
        # other than the normal one (for j == axis the value is unused).
        t = jnp.where(j < axis, u[:, min(j + 1, d - 1)], u[:, j])
        on_face = jnp.where(upper, float(hi_a[j]), float(lo_a[j]))
        coords.append(jnp.where(axis == j, on_face, float(lo_a[j]) + float(widths[j]) * t))
    points = jnp.stack(coords, axis=1).astype(u.dtype)
    sign = jnp.where(upper, 1.0, -1.0).astype(u.dtype)
    normals = (jnp.arange(d)[None, :] == axis[:, None]).astype(u.dtype) * sign[:, None]
    return points, normals


class Box(AbstractShape):
    """The box `[lo_0, hi_0] x ... x [lo_{d-1}, hi_{d-1}]` (a rectangle for `d = 2`).

    Interior samples map the unit cube affinely (no rejection), boundary samples choose
    a face with probability proportional to its area. The distance function is
    `prod_i 4 (x_i - lo_i)(hi_i - x_i) / (hi_i - lo_i)^2`: zero on every face, one at
    the centre, smooth.
    """

    lo: tuple[float, ...] = eqx.field(static=True)
    hi: tuple[float, ...] = eqx.field(static=True)

    def __init__(self, lo: ArrayLike | Sequence[float | int], hi: ArrayLike | Sequence[float | int]):
        """**Arguments:**

        - `lo`, `hi`: the lower and upper corners, sequences of equal length `d >= 1`.

        **Raises:**

        `ValueError` when the lengths differ or `lo >= hi` on some axis.
        """
        self.lo = as_floats(lo, None, "Box", "lo")
        self.hi = as_floats(hi, len(self.lo), "Box", "hi")
        if not all(a < b for a, b in zip(self.lo, self.hi)):
            raise ValueError(f"Box needs lo < hi on every axis, got lo={self.lo}, hi={self.hi}")

    @property
    def dim(self) -> int:
        return len(self.lo)

    @property
    def interior_fraction(self) -> float:
        return 1.0

    @property
    def boundary_unit_dim(self) -> int:
        return self.dim

    def bounding_box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return self.lo, self.hi

    def contains(self, x: Float[Array, " d"]) -> Bool[Array, ""]:
        self.check_point(x, "Box.contains")
        return _contains(self.lo, self.hi, x)

    def distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        self.check_point(x, "Box.distance")
        return _distance(self.lo, self.hi, x)

    @property
    def volume(self) -> float:
        return float(np.prod(np.subtract(self.hi, self.lo)))

    @property
    def boundary_measure(self) -> float:
        widths = np.subtract(self.hi, self.lo)
        return 2.0 if self.dim == 1 else float(2 * sum(np.prod(np.delete(widths, a)) for a in range(self.dim)))

    def signed_distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """The exact Euclidean signed distance to the faces, positive inside."""
        self.check_point(x, "Box.signed_distance")
        return _signed_distance(self.lo, self.hi, x)

    def interior_from_unit(self, u: Float[Array, " n d"]) -> tuple[Float[Array, " n d"], Bool[Array, " n"]]:
        return _interior(self.lo, self.hi, u)

    def boundary_from_unit(self, u: Float[Array, " n k"]) -> tuple[Float[Array, " n d"], Float[Array, " n d"]]:
        return _boundary(self.lo, self.hi, u)


class Interval(AbstractShape):
    """The interval `[lo, hi]`, whose points have shape `(1,)`.

    Boundary samples are the two end points, each drawn with probability one half;
    the distance function is `4 (x - lo)(hi - x) / (hi - lo)^2`.
    """

    lo: float = eqx.field(static=True)
    hi: float = eqx.field(static=True)

    def __init__(self, lo: float | int, hi: float | int):
        """**Arguments:**

        - `lo`, `hi`: the end points.

        **Raises:**

        `ValueError` unless `lo < hi`.
        """
        (self.lo,) = as_floats(lo, 1, "Interval", "lo")
        (self.hi,) = as_floats(hi, 1, "Interval", "hi")
        if not self.lo < self.hi:
            raise ValueError(f"Interval needs lo < hi, got [{self.lo}, {self.hi}]")

    @property
    def dim(self) -> int:
        return 1

    @property
    def interior_fraction(self) -> float:
        return 1.0

    @property
    def boundary_unit_dim(self) -> int:
        return 1

    def bounding_box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return (self.lo,), (self.hi,)

    def contains(self, x: Float[Array, " d"]) -> Bool[Array, ""]:
        self.check_point(x, "Interval.contains")
        return _contains((self.lo,), (self.hi,), x)

    def distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        self.check_point(x, "Interval.distance")
        return _distance((self.lo,), (self.hi,), x)

    @property
    def volume(self) -> float:
        return self.hi - self.lo

    @property
    def boundary_measure(self) -> float:
        return 2.0

    def signed_distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """The exact signed distance `min(x - lo, hi - x)`."""
        self.check_point(x, "Interval.signed_distance")
        return _signed_distance((self.lo,), (self.hi,), x)

    def interior_from_unit(self, u: Float[Array, " n d"]) -> tuple[Float[Array, " n d"], Bool[Array, " n"]]:
        return _interior((self.lo,), (self.hi,), u)

    def boundary_from_unit(self, u: Float[Array, " n k"]) -> tuple[Float[Array, " n d"], Float[Array, " n d"]]:
        return _boundary((self.lo,), (self.hi,), u)
