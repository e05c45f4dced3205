"""Simple polygons (the L-shape among them), with exact signed distance and an R-function ADF."""

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from ._domain import AbstractShape, safe_norm


class Polygon(AbstractShape):
    """A simple (non-self-intersecting) polygon in the plane, convex or not.

    `contains` and `signed_distance` (positive inside) are exact: the distance to the
    nearest edge, signed by a crossing-number test. Interior samples are drawn by
    rejection from the bounding box; boundary samples choose an edge with probability
    proportional to its length.

    The hard-constraint distance function (`distance`) is the approximate distance
    function of Sukumar and Srivastava: each edge `i` gets the smooth function `phi_i`
    of its trimmed segment, zero exactly on the segment and with unit normal derivative
    there, and the edges are joined by the R-equivalence `phi = 1 / sum_i 1/phi_i`. It
    vanishes on the whole boundary, is positive everywhere else and, unlike the exact
    distance, is smooth inside (the exact distance has kinks on the medial axis, e.g.
    the diagonal towards the re-entrant corner of an L-shape).

    ??? cite

        N. Sukumar and A. Srivastava, "Exact imposition of boundary conditions with
        distance functions in physics-informed deep neural networks", CMAME 389 (2022)
        114333, equations (12)-(16) and (18) with `m = 1`.
    """

    vertices: tuple[tuple[float, float], ...] = eqx.field(static=True)

    def __init__(self, vertices: ArrayLike | Sequence[Sequence[float | int]]):
        """**Arguments:**

        - `vertices`: the corners in order (either orientation), shape `(k, 2)`, `k >= 3`;
            the last edge joins the last vertex to the first.

        **Raises:**

        `ValueError` for a wrong shape or a polygon of zero area.
        """
        v = np.asarray(vertices, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != 2 or v.shape[0] < 3:
            raise ValueError(f"Polygon needs vertices of shape (k, 2) with k >= 3, got shape {v.shape}")
        area = _signed_area(v)
        if not abs(area) > 0:
            raise ValueError("Polygon: the vertices enclose zero area")
        if area < 0:  # store counter-clockwise, so outward normals are (dy, -dx)
            v = v[::-1]
        self.vertices = tuple((float(a), float(b)) for a, b in v)

    @classmethod
    def l_shape(cls) -> "Polygon":
        """The L-shaped domain `[-1, 1]^2` minus `(0, 1] x (0, 1]` (re-entrant corner at the origin).

        **Returns:**

        The polygon with vertices `(0, 0), (1, 0), (1, -1), (-1, -1), (-1, 1), (0, 1)`.
        """
        return cls([(0.0, 0.0), (1.0, 0.0), (1.0, -1.0), (-1.0, -1.0), (-1.0, 1.0), (0.0, 1.0)])

    @property
    def dim(self) -> int:
        return 2

    @property
    def area(self) -> float:
        """The enclosed area."""
        return abs(_signed_area(np.asarray(self.vertices)))

    @property
    def volume(self) -> float:
        return self.area

    @property
    def boundary_measure(self) -> float:
        v = np.asarray(self.vertices)
        return float(np.sum(np.sqrt(np.sum((np.roll(v, -1, axis=0) - v) ** 2, axis=1))))

    @property
    def interior_fraction(self) -> float:
        lo, hi = self.bounding_box()
        return self.area / ((hi[0] - lo[0]) * (hi[1] - lo[1]))

    @property
    def boundary_unit_dim(self) -> int:
        return 1

    def bounding_box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        v = np.asarray(self.vertices)
        return tuple(v.min(axis=0).tolist()), tuple(v.max(axis=0).tolist())

    def _edges(self, dtype) -> tuple[Array, Array]:
        v = np.asarray(self.vertices)
        return jnp.asarray(v, dtype), jnp.asarray(np.roll(v, -1, axis=0), dtype)

    def _inside(self, x: Array) -> Array:
        p, q = self._edges(x.dtype)
        # Crossing number of the ray from x towards +inf along the first axis.
        straddles = (p[:, 1] > x[1]) != (q[:, 1] > x[1])
        dy = jnp.where(straddles, q[:, 1] - p[:, 1], 1)
        crossing_x = p[:, 0] + (x[1] - p[:, 1]) * (q[:, 0] - p[:, 0]) / dy
        return jnp.sum(straddles & (x[0] < crossing_x)) % 2 == 1

    def _edge_distance(self, x: Array) -> Array:
        p, q = self._edges(x.dtype)
        e = q - p
        s = jnp.clip(jnp.sum((x[None, :] - p) * e, axis=1) / jnp.sum(e**2, axis=1), 0, 1)
        nearest = p + s[:, None] * e
        return jnp.min(safe_norm(x[None, :] - nearest, axis=1))

    def signed_distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """The exact Euclidean distance to the boundary, positive inside and negative outside.

        **Arguments:**

        - `x`: one point, shape `(2,)`.

        **Returns:**

        The signed distance.

        **Raises:**

        `ValueError` for a point of the wrong shape.
        """
        self.check_point(x, "Polygon.signed_distance")
        d = self._edge_distance(x)
        # Where the nearest point is inside an edge, the signed distance is that edge line's
        # (positive on the left of a counter-clockwise edge): same value, and a gradient (the
        # inward normal) even on the edge itself, where that of |x - nearest| is undefined.
        p, q = self._edges(x.dtype)
        e = q - p
        s = jnp.sum((x[None, :] - p) * e, axis=1) / jnp.sum(e**2, axis=1)
        line = ((x[0] - p[:, 0]) * e[:, 1] - (x[1] - p[:, 1]) * e[:, 0]) / -jnp.sqrt(jnp.sum(e**2, axis=1))
        nearest = jnp.argmin(jnp.where((s > 0) & (s < 1), jnp.abs(line), jnp.inf))
        on_edge = jnp.abs(jnp.abs(line[nearest]) - d) <= 16 * jnp.finfo(x.dtype).eps * (1 + d)
        return jnp.where(on_edge, line[nearest], jnp.where(self._inside(x), d, -d))

    def contains(self, x: Float[Array, " d"]) -> Bool[Array, ""]:
        self.check_point(x, "Polygon.contains")
        scale = max(max(abs(c) for c in v) for v in self.vertices) + 1.0
        return self._inside(x) | (self._edge_distance(x) <= 16 * jnp.finfo(x.dtype).eps * scale)

    def distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        self.check_point(x, "Polygon.distance")
        p, q = self._edges(x.dtype)
        e = q - p
        length = jnp.sqrt(jnp.sum(e**2, axis=1))
        centre = (p + q) / 2
        # Signed distance to each edge's line, and the trimming function that is positive
        # on the disk having the edge as a diameter (Sukumar & Srivastava eqs. 12-15).
        f = ((x[0] - p[:, 0]) * e[:, 1] - (x[1] - p[:, 1]) * e[:, 0]) / length
        t = ((length / 2) ** 2 - jnp.sum((x[None, :] - centre) ** 2, axis=1)) / length
        varphi = jnp.sqrt(t**2 + f**4)
        phi = jnp.sqrt(f**2 + ((varphi - t) / 2) ** 2)
        # phi = 1 / sum_i 1/phi_i written as prod_i phi_i / sum_i prod_{j != i} phi_j: exactly
        # zero on an edge without dividing by zero, and built from products and sums only,
        # which every derivative strategy (Taylor mode included) differentiates.
        k = phi.shape[0]
        numerator = phi[0]
        for i in range(1, k):
            numerator = numerator * phi[i]
        denominator = jnp.zeros((), phi.dtype)
        for i in range(k):
            others = jnp.ones((), phi.dtype)
            for j in range(k):
                if j != i:
                    others = others * phi[j]
            denominator = denominator + others
        # Only at a vertex do two phi_i vanish together (0 / 0): the distance is 0 there.
        safe = jnp.where(denominator > 0, denominator, 1)
        return jnp.where(denominator > 0, numerator / safe, 0)

    def interior_from_unit(self, u: Float[Array, " n d"]) -> tuple[Float[Array, " n d"], Bool[Array, " n"]]:
        lo, hi = self.bounding_box()
        lo_, hi_ = jnp.asarray(lo, u.dtype)[None, :], jnp.asarray(hi, u.dtype)[None, :]
        points = lo_ + (hi_ - lo_) * u
        return points, jnp.vectorize(self._inside, signature="(d)->()")(points)

    def boundary_from_unit(self, u: Float[Array, " n k"]) -> tuple[Float[Array, " n d"], Float[Array, " n d"]]:
        v = np.asarray(self.vertices)
        w = np.roll(v, -1, axis=0)
        lengths = np.sqrt(np.sum((w - v) ** 2, axis=1))
        edges_cum = np.concatenate([[0.0], np.cumsum(lengths) / lengths.sum()])
        s = u[:, 0]
        edge = jnp.clip(jnp.searchsorted(jnp.asarray(edges_cum[1:], u.dtype), s, side="right"), 0, len(v) - 1)
        start = jnp.asarray(edges_cum[:-1], u.dtype)[edge]
        width = jnp.asarray(np.diff(edges_cum), u.dtype)[edge]
        along = jnp.clip((s - start) / width, 0, 1)
        p, q = jnp.asarray(v, u.dtype)[edge], jnp.asarray(w, u.dtype)[edge]
        points = p + along[:, None] * (q - p)
        e = jnp.asarray((w - v) / lengths[:, None], u.dtype)[edge]
        normals = jnp.stack([e[:, 1], -e[:, 0]], axis=1)
        return points, normals


def _signed_area(v: np.ndarray) -> float:
    x, y = v[:, 0], v[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
