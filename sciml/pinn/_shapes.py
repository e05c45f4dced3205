"""Balls, axis-aligned cylinders and polygons with holes."""

import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri
from jaxtyping import Array, ArrayLike, Bool, Float

from ._csg import Difference, Union
from ._domain import AbstractShape, as_floats, safe_norm
from ._polygon import Polygon


class Ball(AbstractShape):
    """The closed ball `|x - center| <= radius` in `d >= 2` dimensions (a sphere's inside).

    Samplers map the unit cube exactly: in 2-D and 3-D, interior points through
    `r = R u_0^(1/d)` and the area-preserving angle maps, boundary points through the angle
    (2-D) or Archimedes' `z = 1 - 2 u_0`, `phi = 2 pi u_1` (3-D); in higher dimensions,
    boundary points normalise a Gaussian vector and interior points are drawn by rejection.
    The distance function is `(R^2 - |x - c|^2) / R^2`, as for [`sciml.pinn.Disk`][];
    `signed_distance` is the exact `R - |x - c|`.
    """

    center: tuple[float, ...] = eqx.field(static=True)
    radius: float = eqx.field(static=True)

    def __init__(self, center: ArrayLike | Sequence[float | int], radius: float | int = 1.0):
        """**Arguments:**

        - `center`: the centre, `d >= 2` coordinates (its length sets the dimension).
        - `radius`: the radius, > 0.

        **Raises:**

        `ValueError` for fewer than two coordinates or a non-positive radius.
        """
        self.center = as_floats(center, None, "Ball", "center")
        if len(self.center) < 2:
            raise ValueError(f"Ball needs a centre of d >= 2 coordinates (use Interval in 1-D), got {self.center}")
        (self.radius,) = as_floats(radius, 1, "Ball", "radius")
        if not self.radius > 0:
            raise ValueError(f"Ball needs radius > 0, got {self.radius}")

    @property
    def dim(self) -> int:
        return len(self.center)

    @property
    def volume(self) -> float:
        d = self.dim
        return math.pi ** (d / 2) / math.gamma(d / 2 + 1) * self.radius**d

    @property
    def boundary_measure(self) -> float:
        return self.dim * self.volume / self.radius

    @property
    def interior_fraction(self) -> float:
        return 1.0 if self.dim <= 3 else self.volume / (2 * self.radius) ** self.dim

    @property
    def boundary_unit_dim(self) -> int:
        return self.dim - 1 if self.dim <= 3 else self.dim

    def bounding_box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return tuple(c - self.radius for c in self.center), tuple(c + self.radius for c in self.center)

    def contains(self, x: Float[Array, " d"]) -> Bool[Array, ""]:
        self.check_point(x, "Ball.contains")
        # A few ulps of slack: boundary samples are on the sphere only up to rounding.
        tol = 16 * jnp.finfo(x.dtype).eps
        return jnp.sum((x - jnp.asarray(self.center, x.dtype)) ** 2) <= self.radius**2 * (1 + tol)

    def distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        self.check_point(x, "Ball.distance")
        return (self.radius**2 - jnp.sum((x - jnp.asarray(self.center, x.dtype)) ** 2)) / self.radius**2

    def signed_distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        self.check_point(x, "Ball.signed_distance")
        return self.radius - safe_norm(x - jnp.asarray(self.center, x.dtype))

    def _directions(self, u: Array) -> Array:
        if self.dim == 2:
            theta = 2 * math.pi * u[:, 0]
            return jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=1)
        if self.dim == 3:
            z, phi = 1 - 2 * u[:, 0], 2 * math.pi * u[:, 1]
            rho = jnp.sqrt(jnp.maximum(1 - z**2, 0))
            return jnp.stack([rho * jnp.cos(phi), rho * jnp.sin(phi), z], axis=1)
        # A standard Gaussian vector is isotropic; clip u away from 0 and 1 where ndtri is infinite.
        eps = jnp.finfo(u.dtype).eps
        g = ndtri(jnp.clip(u, eps, 1 - eps))
        return g / safe_norm(g)[:, None]

    def interior_from_unit(self, u: Float[Array, " n d"]) -> tuple[Float[Array, " n d"], Bool[Array, " n"]]:
        center = jnp.asarray(self.center, u.dtype)[None, :]
        if self.dim > 3:
            points = center + self.radius * (2 * u - 1)
            return points, jax.vmap(self.contains)(points)
        r = self.radius * u[:, 0] ** (1 / self.dim)
        return center + r[:, None] * self._directions(u[:, 1:]).astype(u.dtype), jnp.ones(u.shape[0], bool)

    def boundary_from_unit(self, u: Float[Array, " n k"]) -> tuple[Float[Array, " n d"], Float[Array, " n d"]]:
        normals = self._directions(u).astype(u.dtype)
        return jnp.asarray(self.center, u.dtype)[None, :] + self.radius * normals, normals


class Cylinder(AbstractShape):
    """The closed 3-D cylinder whose axis is the coordinate axis `axis`: `|x_perp - center| <= radius`,
    `lo <= x_axis <= hi`, with its two flat caps.

    Interior samples map the unit cube exactly (area-preserving disk map times the axial
    coordinate); boundary samples choose the lateral surface or a cap in proportion to
    area. The distance function is the product of the disk's `(R^2 - rho^2) / R^2` and the
    axial bump `4 (z - lo)(hi - z) / (hi - lo)^2`; `signed_distance` is the exact one.
    """

    center: tuple[float, float] = eqx.field(static=True)
    radius: float = eqx.field(static=True)
    lo: float = eqx.field(static=True)
    hi: float = eqx.field(static=True)
    axis: int = eqx.field(static=True)

    def __init__(
        self,
        center: ArrayLike | Sequence[float | int],
        radius: float | int,
        lo: float | int,
        hi: float | int,
        axis: int = 2,
    ):
        """**Arguments:**

        - `center`: the axis' position in the two other coordinates, in increasing order of axis.
        - `radius`: the radius, > 0.
        - `lo`, `hi`: the caps' positions along the axis.
        - `axis`: 0, 1 or 2 (default 2: the cylinder stands along `z`).

        **Raises:**

        `ValueError` for a bad axis, a non-positive radius or `lo >= hi`.
        """
        if axis not in (0, 1, 2):
            raise ValueError(f"Cylinder: axis must be 0, 1 or 2, got {axis!r}")
        self.center = as_floats(center, 2, "Cylinder", "center")
        (self.radius,) = as_floats(radius, 1, "Cylinder", "radius")
        (self.lo,) = as_floats(lo, 1, "Cylinder", "lo")
        (self.hi,) = as_floats(hi, 1, "Cylinder", "hi")
        self.axis = axis
        if not self.radius > 0:
            raise ValueError(f"Cylinder needs radius > 0, got {self.radius}")
        if not self.lo < self.hi:
            raise ValueError(f"Cylinder needs lo < hi, got [{self.lo}, {self.hi}]")

    @property
    def dim(self) -> int:
        return 3

    @property
    def volume(self) -> float:
        return math.pi * self.radius**2 * (self.hi - self.lo)

    @property
    def boundary_measure(self) -> float:
        return 2 * math.pi * self.radius * (self.hi - self.lo + self.radius)

    @property
    def interior_fraction(self) -> float:
        return 1.0

    @property
    def boundary_unit_dim(self) -> int:
        return 3

    def bounding_box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        (a, b), r = self.center, self.radius
        return self._assemble(self.lo, a - r, b - r), self._assemble(self.hi, a + r, b + r)

    def _assemble(self, along, p, q):
        # (axial, perpendicular...) -> coordinates in axis order; works on floats and arrays.
        return (along, p, q) if self.axis == 0 else (p, along, q) if self.axis == 1 else (p, q, along)

    def _split(self, x: Array) -> tuple[Array, Array]:
        others = [i for i in range(3) if i != self.axis]
        return x[..., self.axis], jnp.stack([x[..., i] for i in others], axis=-1) - jnp.asarray(self.center, x.dtype)

    def contains(self, x: Float[Array, " d"]) -> Bool[Array, ""]:
        self.check_point(x, "Cylinder.contains")
        z, p = self._split(x)
        tol = 16 * jnp.finfo(x.dtype).eps
        return (jnp.sum(p**2) <= self.radius**2 * (1 + tol)) & (z >= self.lo) & (z <= self.hi)

    def distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        self.check_point(x, "Cylinder.distance")
        z, p = self._split(x)
        radial = (self.radius**2 - jnp.sum(p**2)) / self.radius**2
        return radial * 4 * (z - self.lo) * (self.hi - z) / (self.hi - self.lo) ** 2

    def signed_distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        self.check_point(x, "Cylinder.signed_distance")
        z, p = self._split(x)
        q = jnp.stack([safe_norm(p) - self.radius, jnp.abs(z - (self.lo + self.hi) / 2) - (self.hi - self.lo) / 2])
        # Inside and on the surface -max(q), so the gradient there is the inward normal.
        return -jnp.where(jnp.max(q) > 0, safe_norm(jnp.maximum(q, 0)), jnp.max(q))

    def _place(self, z: Array, p: Array) -> Array:
        a, b = self.center
        return jnp.stack(self._assemble(z, a + p[:, 0], b + p[:, 1]), axis=1)

    def interior_from_unit(self, u: Float[Array, " n d"]) -> tuple[Float[Array, " n d"], Bool[Array, " n"]]:
        r, theta = self.radius * jnp.sqrt(u[:, 1]), 2 * math.pi * u[:, 2]
        z = self.lo + (self.hi - self.lo) * u[:, 0]
        points = self._place(z, jnp.stack([r * jnp.cos(theta), r * jnp.sin(theta)], axis=1))
        return points.astype(u.dtype), jnp.ones(u.shape[0], bool)

    def boundary_from_unit(self, u: Float[Array, " n k"]) -> tuple[Float[Array, " n d"], Float[Array, " n d"]]:
        height = self.hi - self.lo
        lateral = height / (height + self.radius)  # the lateral share of the surface area
        on_side = u[:, 0] < lateral
        # The rest of u_0 past the lateral share is uniform: its halves pick the bottom or top cap.
        top = (u[:, 0] - lateral) / (1 - lateral) >= 0.5
        theta = 2 * math.pi * u[:, 1]
        rho = jnp.where(on_side, self.radius, self.radius * jnp.sqrt(u[:, 2]))
        z = jnp.where(on_side, self.lo + height * u[:, 2], jnp.where(top, self.hi, self.lo))
        radial = jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=1)
        points = self._place(z, rho[:, None] * radial)
        cap = jnp.where(top, 1.0, -1.0)
        zero = jnp.zeros_like(theta)
        normal_side = jnp.stack(self._assemble(zero, radial[:, 0], radial[:, 1]), axis=1)
        normal_cap = jnp.stack(self._assemble(cap, zero, zero), axis=1)
        normals = jnp.where(on_side[:, None], normal_side, normal_cap)
        return points.astype(u.dtype), normals.astype(u.dtype)


def polygon_with_holes(
    outer: ArrayLike | Sequence[Sequence[float | int]], holes: Sequence[ArrayLike | Sequence[Sequence[float | int]]]
) -> Difference:
    """A polygon with polygonal holes: `Polygon(outer) - (Polygon(hole_1) | ...)`.

    The holes must lie strictly inside the outer ring and apart from each other; then
    membership, boundary sampling (hole normals point into the hole, out of the domain)
    and `signed_distance` are exact.

    **Arguments:**

    - `outer`: the outer ring's vertices, shape `(k, 2)`.
    - `holes`: one or more hole rings, each of shape `(k_i, 2)`.

    **Returns:**

    The [`sciml.pinn.Difference`][] of the outer polygon and the union of the holes.

    **Raises:**

    `ValueError` without holes, or for a hole that is not strictly inside the outer ring
    or that overlaps another hole (tested on vertices and edges).
    """
    polygon, rings = Polygon(outer), [Polygon(h) for h in holes]
    if not rings:
        raise ValueError("polygon_with_holes: no holes given; use Polygon for a polygon without holes")
    for i, ring in enumerate(rings):
        others = [("the outer ring", polygon, 1)] + [(f"hole {j}", r, -1) for j, r in enumerate(rings) if j != i]
        for name, other, sign in others:
            if _rings_meet(ring, other, sign):
                where = "inside" if sign > 0 else "apart from"
                raise ValueError(f"polygon_with_holes: hole {i} is not strictly {where} {name}")
    holes_union = rings[0]
    for ring in rings[1:]:
        holes_union = Union(holes_union, ring)
    return Difference(polygon, holes_union)


def _rings_meet(ring: Polygon, other: Polygon, sign: int) -> bool:
    """Whether `ring` is not strictly inside (sign 1) or not strictly apart from (sign -1) `other`."""
    v, w = np.asarray(ring.vertices), np.asarray(other.vertices)
    if np.any(sign * _signed_distance(w, v) <= 0):
        return True
    if sign < 0 and np.any(_signed_distance(v, w) >= 0):
        return True
    return _segments_cross(v, w)


def _signed_distance(ring: np.ndarray, x: np.ndarray) -> np.ndarray:
    """NumPy twin of `Polygon.signed_distance` for a few points (construction-time checks)."""
    p, e = ring[None], (np.roll(ring, -1, axis=0) - ring)[None]
    t = np.clip(np.sum((x[:, None] - p) * e, axis=2) / np.sum(e**2, axis=2), 0, 1)
    d = np.min(np.linalg.norm(x[:, None] - p - t[..., None] * e, axis=2), axis=1)
    q = p + e
    straddles = (p[..., 1] > x[:, None, 1]) != (q[..., 1] > x[:, None, 1])
    dy = np.where(straddles, q[..., 1] - p[..., 1], 1)
    crossing = p[..., 0] + (x[:, None, 1] - p[..., 1]) * (q[..., 0] - p[..., 0]) / dy
    inside = np.sum(straddles & (x[:, None, 0] < crossing), axis=1) % 2 == 1
    return np.where(inside, d, -d)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _segments_cross(v: np.ndarray, w: np.ndarray) -> bool:
    p, r = v[:, None, :], (np.roll(v, -1, axis=0) - v)[:, None, :]
    q, s = w[None, :, :], (np.roll(w, -1, axis=0) - w)[None, :, :]
    denom = _cross(r, s)
    safe = np.where(denom != 0, denom, 1)
    t, u = _cross(q - p, s) / safe, _cross(q - p, r) / safe
    return bool(np.any((denom != 0) & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)))
