"""Constructive solid geometry: unions, intersections and differences of shapes."""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from ._domain import AbstractDomain, AbstractShape
from ._sampling import _sobol, first_inside


# Monte Carlo points (Sobol, deterministic) that estimate a composed shape's measures.
_ESTIMATE_POINTS = 2**14
# Per-point probability that pooled boundary rejection runs short of points.
_SHORTFALL = 1e-12


def _r_and(f: Array, g: Array) -> Array:
    # Rvachev's R0 conjunction, positive exactly where both are; normalised to first order
    # (unit slope in f where g > 0), smooth except where f = g = 0.
    s = f**2 + g**2
    root = jnp.where(s > 0, jnp.sqrt(jnp.where(s > 0, s, 1)), 0)
    return f + g - root


def _smooth_signed(shape: AbstractShape, x: Array) -> Array:
    """A smooth function of one sign with `shape.signed_distance`, of unit slope on the boundary."""
    from ._box import Box, Interval
    from ._disk import Disk
    from ._shapes import Ball, Cylinder

    if isinstance(shape, (Box, Interval)):
        lo, hi = (jnp.asarray(v, x.dtype) for v in (shape.bounding_box()))
        slabs = (x - lo) * (hi - x) / (hi - lo)
        out = slabs[0]
        for i in range(1, x.shape[0]):
            out = _r_and(out, slabs[i])
        return out
    if isinstance(shape, (Disk, Ball)):
        return (shape.radius**2 - jnp.sum((x - jnp.asarray(shape.center, x.dtype)) ** 2)) / (2 * shape.radius)
    if isinstance(shape, Cylinder):
        z, p = shape._split(x)
        radial = (shape.radius**2 - jnp.sum(p**2)) / (2 * shape.radius)
        return _r_and(radial, (z - shape.lo) * (shape.hi - z) / (shape.hi - shape.lo))
    if isinstance(shape, _AbstractComposition):
        return shape.distance(x)
    return shape.signed_distance(x)


class _AbstractComposition(AbstractShape):
    """Two shapes `a`, `b` combined into a closed shape; the concrete classes say how.

    Measures come from a deterministic quasi-Monte Carlo estimate at construction; interior
    points are drawn by rejection from the bounding box, boundary points from the operands'
    boundaries (each in proportion to its measure) by keeping those on the composed boundary.
    """

    a: AbstractShape
    b: AbstractShape
    _volume: float = eqx.field(static=True)
    _kept: tuple[float, float] = eqx.field(static=True)
    _tries: int = eqx.field(static=True)

    @abc.abstractmethod
    def _combine(self, sa: Array, sb: Array) -> Array:
        """The composed signed distance from the operands' (min / max of them)."""

    @abc.abstractmethod
    def _r_combine(self, sa: Array, sb: Array) -> Array:
        """The smooth R-function counterpart of `_combine`."""

    @abc.abstractmethod
    def _keep(self, from_b: Array, s_other: Array) -> Array:
        """Whether a boundary point of one operand, away from the other's boundary, is on the result's."""

    @property
    @abc.abstractmethod
    def _flip_b(self) -> bool:
        """Whether the normals of `b`'s boundary points flip (a subtracted operand)."""

    def __init__(self, a: AbstractDomain, b: AbstractDomain):
        """**Arguments:**

        - `a`, `b`: the operands, shapes of the same dimension (boxes, disks, polygons, balls,
            cylinders, meshes or compositions; a `SpaceTime` is built around the result instead).

        **Raises:**

        `TypeError` for an operand that is not a shape; `ValueError` for different dimensions,
        an empty result, or a result whose boundary is under 1% of the operands' boundaries.
        """
        name = type(self).__name__
        for which, op in (("first", a), ("second", b)):
            if not isinstance(op, AbstractShape):
                raise TypeError(
                    f"{name}: the {which} operand must be a shape (Box, Disk, Polygon, Ball, Cylinder, MeshDomain "
                    f"or a composition), got {type(op).__name__}; to compose in space-time, compose the spatial "
                    "shapes and wrap the result in SpaceTime"
                )
        if a.dim != b.dim:
            raise ValueError(f"{name}: operands of dimensions {a.dim} and {b.dim}; both must have the same")
        self.a, self.b = a, b
        self._volume, self._kept, self._tries = 1.0, (1.0, 1.0), 1  # placeholders until estimated below
        lo, hi = self.bounding_box()
        if not all(x < y for x, y in zip(lo, hi)):
            raise ValueError(f"{name}: the result is empty (the operands' bounding boxes do not overlap)")
        box = float(np.prod(np.subtract(hi, lo)))
        u_in = np.asarray(lo) + np.subtract(hi, lo) * _sobol(_ESTIMATE_POINTS, self.dim)
        u_a = _sobol(_ESTIMATE_POINTS // 2, a.boundary_unit_dim)
        u_b = _sobol(_ESTIMATE_POINTS // 2, b.boundary_unit_dim)
        with jax.ensure_compile_time_eval():
            fraction, kept_a, kept_b = (float(v) for v in _estimate(self, u_in, u_a, u_b))
        if fraction == 0:
            raise ValueError(f"{name}: the result is empty, or under {1 / _ESTIMATE_POINTS:.0e} of its box")
        self._volume, self._kept = fraction * box, (kept_a, kept_b)
        accept = self.boundary_measure / (a.boundary_measure + b.boundary_measure)
        if accept < 0.01:
            raise ValueError(
                f"{name}: the result's boundary is {accept:.1%} of its operands' boundaries, too little to "
                "sample by rejection; simplify the operands (e.g. clip them to the result)"
            )
        # A lower confidence bound on the acceptance (four standard errors of the estimate, and
        # at least one estimate point's worth), then enough tries per point that even a single
        # requested point runs short with probability _SHORTFALL.
        samples = _ESTIMATE_POINTS // 2
        low = accept - 4 * math.sqrt(accept * (1 - accept) / samples) - 1 / samples
        self._tries = max(2, math.ceil(math.log(_SHORTFALL) / math.log1p(-low)))

    @property
    def dim(self) -> int:
        return self.a.dim

    @property
    def volume(self) -> float:
        """The interior measure, estimated by quasi-Monte Carlo at construction (relative error ~1e-3)."""
        return self._volume

    @property
    def boundary_measure(self) -> float:
        """The boundary measure, estimated by quasi-Monte Carlo at construction."""
        return self._kept[0] * self.a.boundary_measure + self._kept[1] * self.b.boundary_measure

    @property
    def interior_fraction(self) -> float:
        lo, hi = self.bounding_box()
        return 0.9 * self._volume / float(np.prod(np.subtract(hi, lo)))

    @property
    def boundary_unit_dim(self) -> int:
        return self._tries * (1 + max(self.a.boundary_unit_dim, self.b.boundary_unit_dim))

    def signed_distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """The min / max combination of the operands' signed distances.

        Zero exactly on the boundary and right in sign everywhere, but only a bound on the
        Euclidean distance away from it: a union's is exact outside, an intersection's
        inside, and a difference's wherever the nearest boundary point is the same for both.
        Where two operands' boundaries touch with opposite normals (e.g. boxes sharing a
        face), it also vanishes on the shared part, inside a union.
        """
        self.check_point(x, f"{type(self).__name__}.signed_distance")
        return self._combine(self.a.signed_distance(x), self.b.signed_distance(x))

    def distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """The approximate distance function for hard constraints: Rvachev's R0 combination.

        Smooth signed functions of the operands, joined by R-functions (`f + g -/+ sqrt(f^2 + g^2)`):
        zero on the boundary, positive inside, unit slope across the boundary away from
        corners. Boxes, disks, balls, cylinders and compositions enter through smooth
        polynomials (e.g. `(R^2 - |x - c|^2) / 2R`, and `(x - lo)(hi - x) / (hi - lo)` per axis),
        so the result is smooth inside where `signed_distance` has kinks (on a box's
        diagonals); polygons and meshes enter through their exact, kinked signed distance.

        ??? cite

            V. Shapiro, "Semi-analytic geometry with R-functions", Acta Numerica 16 (2007) 239-303.
        """
        self.check_point(x, f"{type(self).__name__}.distance")
        return self._r_combine(_smooth_signed(self.a, x), _smooth_signed(self.b, x))

    def _tolerance(self, dtype) -> tuple[float, float]:
        lo, hi = self.bounding_box()
        scale = max(max(abs(v) for v in lo + hi), max(np.subtract(hi, lo))) + 1.0
        tol = math.sqrt(float(jnp.finfo(dtype).eps)) * scale
        return tol, 16 * tol

    def _on_boundary(self, x: Array, n: Array, from_b: Array) -> Bool[Array, " n"]:
        tol, step = self._tolerance(x.dtype)
        sa, sb = jax.vmap(self.a.signed_distance)(x), jax.vmap(self.b.signed_distance)(x)
        s_other = jnp.where(from_b, sa, sb)
        # Where the operands' boundaries coincide, probe both sides along the composed normal,
        # and take the point from `a` only, so a shared piece is neither lost nor drawn twice.
        n = jnp.where((from_b & self._flip_b)[:, None], -n, n)
        inner = jax.vmap(self.signed_distance)(x - step * n) > 0
        outer = jax.vmap(self.signed_distance)(x + step * n) < 0
        tie = jnp.abs(s_other) <= tol
        return jnp.where(tie, ~from_b & inner & outer, self._keep(from_b, s_other))

    def interior_from_unit(self, u: Float[Array, " n d"]) -> tuple[Float[Array, " n d"], Bool[Array, " n"]]:
        lo, hi = self.bounding_box()
        lo_, hi_ = jnp.asarray(lo, u.dtype)[None, :], jnp.asarray(hi, u.dtype)[None, :]
        points = lo_ + (hi_ - lo_) * u
        return points, jax.vmap(self.contains)(points)

    def boundary_from_unit(self, u: Float[Array, " n k"]) -> tuple[Float[Array, " n d"], Float[Array, " n d"]]:
        n, width = u.shape[0], 1 + max(self.a.boundary_unit_dim, self.b.boundary_unit_dim)
        # Candidate j of point i is u[i, j * width:(j + 1) * width]; candidates are taken try by
        # try, so every first try that lands on the boundary is kept (stratification survives).
        c = jnp.transpose(u.reshape(n, self._tries, width), (1, 0, 2)).reshape(n * self._tries, width)
        ma, mb = self.a.boundary_measure, self.b.boundary_measure
        from_b = c[:, 0] >= ma / (ma + mb)
        xa, na = self.a.boundary_from_unit(c[:, 1 : 1 + self.a.boundary_unit_dim])
        xb, nb = self.b.boundary_from_unit(c[:, 1 : 1 + self.b.boundary_unit_dim])
        x = jnp.where(from_b[:, None], xb, xa)
        normals = jnp.where(from_b[:, None], -nb if self._flip_b else nb, na)
        keep = self._on_boundary(x, jnp.where(from_b[:, None], nb, na), from_b)
        both = first_inside(jnp.concatenate([x, normals], axis=1), keep, n)
        return both[:, : self.dim], both[:, self.dim :]


@eqx.filter_jit
def _estimate(shape: _AbstractComposition, u_in, u_a, u_b):
    """The inside fraction of the box and the kept fractions of the operands' boundaries."""
    dtype = jnp.result_type(float)
    inside = jnp.mean(jax.vmap(shape.contains)(jnp.asarray(u_in, dtype)))
    kept = []
    for from_b, op, u in ((False, shape.a, u_a), (True, shape.b, u_b)):
        x, n = op.boundary_from_unit(jnp.asarray(u, dtype))
        kept.append(jnp.mean(shape._on_boundary(x, n, jnp.full(x.shape[0], from_b))))
    return inside, kept[0], kept[1]


class Union(_AbstractComposition):
    """The union `a | b` of two shapes (closed): points in either.

    Its boundary is the part of each operand's boundary outside the other;
    [`sciml.pinn.Intersection`][] and [`sciml.pinn.Difference`][] are its siblings.
    """

    def bounding_box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        (la, ha), (lb, hb) = self.a.bounding_box(), self.b.bounding_box()
        return tuple(map(min, la, lb)), tuple(map(max, ha, hb))

    def contains(self, x: Float[Array, " d"]) -> Bool[Array, ""]:
        self.check_point(x, "Union.contains")
        return self.a.contains(x) | self.b.contains(x)

    def _combine(self, sa, sb):
        return jnp.maximum(sa, sb)

    def _r_combine(self, sa, sb):
        return -_r_and(-sa, -sb)

    def _keep(self, from_b, s_other):
        return s_other < 0

    @property
    def _flip_b(self) -> bool:
        return False


class Intersection(_AbstractComposition):
    """The intersection `a & b` of two shapes (closed): points in both.

    Its boundary is the part of each operand's boundary inside the other.
    """

    def bounding_box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        (la, ha), (lb, hb) = self.a.bounding_box(), self.b.bounding_box()
        return tuple(map(max, la, lb)), tuple(map(min, ha, hb))

    def contains(self, x: Float[Array, " d"]) -> Bool[Array, ""]:
        self.check_point(x, "Intersection.contains")
        return self.a.contains(x) & self.b.contains(x)

    def _combine(self, sa, sb):
        return jnp.minimum(sa, sb)

    def _r_combine(self, sa, sb):
        return _r_and(sa, sb)

    def _keep(self, from_b, s_other):
        return s_other > 0

    @property
    def _flip_b(self) -> bool:
        return False


class Difference(_AbstractComposition):
    """The difference `a - b`: the closure of the points of `a` not in `b` (a hole when `b` is inside `a`).

    Its boundary is the part of `a`'s boundary outside `b` and the part of `b`'s inside `a`,
    whose outward normals are `b`'s reversed. For holes strictly inside `a`, as in
    [`sciml.pinn.polygon_with_holes`][], `signed_distance` is the exact Euclidean one.
    """

    def bounding_box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return self.a.bounding_box()

    def contains(self, x: Float[Array, " d"]) -> Bool[Array, ""]:
        self.check_point(x, "Difference.contains")
        tol, _ = self._tolerance(x.dtype)
        # Closed: the removed part is b's interior, so b's boundary stays in.
        return self.a.contains(x) & (self.b.signed_distance(x) <= tol)

    def _combine(self, sa, sb):
        return jnp.minimum(sa, -sb)

    def _r_combine(self, sa, sb):
        return _r_and(sa, -sb)

    def _keep(self, from_b, s_other):
        return jnp.where(from_b, s_other > 0, s_other < 0)

    @property
    def _flip_b(self) -> bool:
        return True
