"""Triangle (2-D) and tetrahedral (3-D) meshes as domains, read with meshio, with tagged boundary parts."""

import hashlib
import math
import os
from collections.abc import Mapping

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from ._domain import AbstractDomain, AbstractShape, safe_norm


class _Frozen:
    """A read-only NumPy array that hashes by content, so a mesh can be a static field."""

    def __init__(self, array: np.ndarray):
        self.array = np.array(array)
        self.array.flags.writeable = False
        digest = hashlib.sha1(self.array.tobytes()).hexdigest()
        self._hash = hash((self.array.shape, self.array.dtype.str, digest))

    def __repr__(self) -> str:
        return f"array(shape={self.array.shape}, dtype={self.array.dtype})"

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return isinstance(other, _Frozen) and (
            self is other or (self._hash == other._hash and np.array_equal(self.array, other.array))
        )


def _simplex_measure(corners: np.ndarray) -> np.ndarray:
    """Measures of simplices `(m, k + 1, d)` of dimension k (lengths, areas, volumes)."""
    edges = corners[:, 1:] - corners[:, :1]
    gram = np.einsum("mid,mjd->mij", edges, edges)
    k = edges.shape[1]
    return np.sqrt(np.maximum(np.linalg.det(gram), 0)) / math.factorial(k)


class MeshDomain(AbstractShape):
    """A domain given by a conforming triangle (2-D) or tetrahedral (3-D) mesh.

    Interior points are uniform in the mesh: a cell is chosen with probability proportional
    to its area or volume, and a point in it from uniform barycentric coordinates (the
    spacings of sorted uniforms). Boundary points are uniform on the boundary facets (the
    facets of exactly one cell), with outward unit normals. `contains` locates the point in
    some cell by barycentric coordinates (all cells at once: meant for meshes of up to
    some 10^4 cells). `signed_distance` and `distance` are both the exact Euclidean distance
    to the boundary facets, positive inside (it has kinks on the medial axis).

    Boundary tags (gmsh physical groups, meshio cell sets) name parts of the boundary:
    `boundary_part(name)` is the domain restricted to one for boundary sampling and
    distance, for a condition on that part.
    """

    points: _Frozen = eqx.field(static=True)
    cells: _Frozen = eqx.field(static=True)
    facets: _Frozen = eqx.field(static=True)
    tags: tuple[tuple[str, _Frozen], ...] = eqx.field(static=True)

    def __init__(
        self, points: ArrayLike, cells: ArrayLike, tags: Mapping[str, ArrayLike] | None = None, *, who: str = ""
    ):
        """**Arguments:**

        - `points`: the vertex coordinates, shape `(p, d)` with `d` = 2 or 3.
        - `cells`: vertex indices of the triangles (`d = 2`) or tetrahedra (`d = 3`), shape `(c, d + 1)`.
        - `tags`: boundary parts by name, each the vertex indices of its facets, shape `(f, d)`
            (segments in 2-D, triangles in 3-D); facets not on the boundary are ignored.
        - `who`: where the mesh came from, for error messages.

        **Raises:**

        `ValueError` for wrong shapes, indices out of range, degenerate cells, or a tag none of
        whose facets is on the boundary.
        """
        where = f" ({who})" if who else ""
        p, c = np.asarray(points, np.float64), np.asarray(cells)
        if p.ndim != 2 or p.shape[1] not in (2, 3):
            raise ValueError(f"MeshDomain{where}: points must have shape (p, 2) or (p, 3), got {p.shape}")
        d = p.shape[1]
        if c.ndim != 2 or c.shape[1] != d + 1 or not np.issubdtype(c.dtype, np.integer):
            raise ValueError(f"MeshDomain{where}: {d}-D cells must be integers of shape (c, {d + 1}), got {c.shape}")
        if c.size == 0 or c.min() < 0 or c.max() >= len(p):
            raise ValueError(f"MeshDomain{where}: no cells, or cell vertex indices outside [0, {len(p)})")
        volumes = _simplex_measure(p[c])
        if not np.all(volumes > 1e-12 * volumes.max()):
            raise ValueError(f"MeshDomain{where}: {int(np.sum(volumes <= 1e-12 * volumes.max()))} degenerate cells")
        # A facet is one cell's vertices without one vertex; boundary facets belong to one cell.
        faces = np.concatenate([np.delete(c, j, axis=1) for j in range(d + 1)])
        opposite = np.concatenate([c[:, j] for j in range(d + 1)])
        keys, first, counts = np.unique(np.sort(faces, axis=1), axis=0, return_index=True, return_counts=True)
        if np.any(counts > 2):
            raise ValueError(f"MeshDomain{where}: a facet is shared by more than two cells (not a conforming mesh)")
        boundary = faces[first[counts == 1]]
        normals = _facet_normals(p[boundary])
        # Orient each facet's normal away from its cell's remaining vertex.
        away = np.sum(normals * (p[boundary[:, 0]] - p[opposite[first[counts == 1]]]), axis=1)
        boundary = np.where((away < 0)[:, None], boundary[:, ::-1], boundary)
        index = {tuple(k): i for i, k in enumerate(np.sort(boundary, axis=1).tolist())}
        frozen_tags = []
        for name, facets in (tags or {}).items():
            f = np.asarray(facets)
            if f.ndim != 2 or f.shape[1] != d:
                raise ValueError(f"MeshDomain{where}: tag {name!r} needs facets of shape (f, {d}), got {f.shape}")
            hits = sorted({index[k] for k in map(tuple, np.sort(f, axis=1).tolist()) if k in index})
            if not hits:
                raise ValueError(f"MeshDomain{where}: none of the facets of tag {name!r} is on the boundary")
            frozen_tags.append((str(name), _Frozen(np.asarray(hits))))
        self.points, self.cells, self.facets = _Frozen(p), _Frozen(c), _Frozen(boundary)
        self.tags = tuple(frozen_tags)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "MeshDomain":
        """Reads a mesh file with `meshio` (gmsh `.msh`, VTK, XDMF, ... ; `gmsh` itself is not needed).

        Tetrahedra make a 3-D domain, else triangles a 2-D one (a third coordinate, if stored,
        must be constant). Boundary tags come from the facet blocks (lines in 2-D, triangles in
        3-D) of the cell sets and of gmsh's physical groups, named by `field_data` (or by their
        number when unnamed).

        **Arguments:**

        - `path`: the mesh file.

        **Returns:**

        The domain.

        **Raises:**

        `ValueError` for a file without triangles or tetrahedra, or a flat mesh not in a plane.
        """
        import meshio

        return cls.from_meshio(meshio.read(path), who=str(path))

    @classmethod
    def from_meshio(cls, mesh, *, who: str = "a meshio.Mesh") -> "MeshDomain":
        """The domain of a `meshio.Mesh` in memory (as read, or made by `pygmsh`); see `from_file`.

        **Arguments:**

        - `mesh`: the `meshio.Mesh`.
        - `who`: where the mesh came from, for error messages.

        **Returns:**

        The domain.

        **Raises:**

        `ValueError` as `from_file`.
        """
        types = [block.type for block in mesh.cells]
        cell_type, facet_type = ("tetra", "triangle") if "tetra" in types else ("triangle", "line")
        if cell_type not in types:
            raise ValueError(f"MeshDomain: {who} holds no triangles or tetrahedra, only {sorted(set(types))}")
        points = np.asarray(mesh.points, np.float64)
        if cell_type == "triangle" and points.shape[1] == 3:
            if np.ptp(points[:, 2]) > 0:
                raise ValueError(f"MeshDomain: {who} is a triangle mesh not in a plane z = const")
            points = points[:, :2]
        cells = np.concatenate([b.data for b in mesh.cells if b.type == cell_type])
        tags: dict[str, list[np.ndarray]] = {}
        for name, per_block in mesh.cell_sets.items():
            for block, chosen in zip(mesh.cells, per_block):
                if block.type == facet_type and chosen is not None and len(chosen):
                    tags.setdefault(name, []).append(block.data[np.asarray(chosen)])
        names = {int(v[0]): k for k, v in mesh.field_data.items() if int(v[1]) == points.shape[1] - 1}
        for block, ids in zip(mesh.cells, mesh.cell_data.get("gmsh:physical", [])):
            if block.type == facet_type:
                for tag in np.unique(ids):
                    name = names.get(int(tag), str(int(tag)))
                    if name not in mesh.cell_sets:  # meshio also lists named groups as cell sets
                        tags.setdefault(name, []).append(block.data[ids == tag])
        return cls(points, cells, {k: np.concatenate(v) for k, v in tags.items()}, who=who)

    @property
    def dim(self) -> int:
        return self.points.array.shape[1]

    @property
    def tag_names(self) -> tuple[str, ...]:
        """The names of the tagged boundary parts."""
        return tuple(name for name, _ in self.tags)

    @property
    def volume(self) -> float:
        return float(np.sum(_simplex_measure(self.points.array[self.cells.array])))

    @property
    def boundary_measure(self) -> float:
        return float(np.sum(_simplex_measure(self.points.array[self.facets.array])))

    @property
    def interior_fraction(self) -> float:
        return 1.0

    @property
    def boundary_unit_dim(self) -> int:
        return self.dim

    def bounding_box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        p = self.points.array[np.unique(self.cells.array)]
        return tuple(p.min(axis=0).tolist()), tuple(p.max(axis=0).tolist())

    def boundary_part(self, name: str) -> "MeshBoundaryPart":
        """The domain with its boundary restricted to the tagged part `name`.

        **Arguments:**

        - `name`: a tag, one of `tag_names`.

        **Returns:**

        A [`sciml.pinn.MeshBoundaryPart`][].

        **Raises:**

        `ValueError` for an unknown tag, listing the known ones.
        """
        return MeshBoundaryPart(self, name)

    def _facet_rows(self, name: str | None) -> np.ndarray:
        if name is None:
            return self.facets.array
        for tag, rows in self.tags:
            if tag == name:
                return self.facets.array[rows.array]
        known = ", ".join(map(repr, self.tag_names)) or "none"
        raise ValueError(f"MeshDomain: unknown boundary tag {name!r}; the mesh's tags: {known}")

    def contains(self, x: Float[Array, " d"]) -> Bool[Array, ""]:
        self.check_point(x, "MeshDomain.contains")
        corners = self.points.array[self.cells.array]
        inverse = jnp.asarray(np.linalg.inv(np.swapaxes(corners[:, 1:] - corners[:, :1], 1, 2)), x.dtype)
        lam = jnp.einsum("cij,cj->ci", inverse, x[None, :] - jnp.asarray(corners[:, 0], x.dtype))
        # Slack of sqrt(eps) in barycentric terms: boundary samples are on facets up to rounding.
        tol = math.sqrt(float(jnp.finfo(x.dtype).eps))
        return jnp.any(jnp.all(lam >= -tol, axis=1) & (jnp.sum(lam, axis=1) <= 1 + tol))

    def _signed(self, x: Array, name: str | None) -> Array:
        """The distance to the boundary facets (or those of one tag), positive in the domain."""
        rows = self._facet_rows(name)
        corners = jnp.asarray(self.points.array[rows], x.dtype)
        distances = _point_simplex_distance(x, corners)
        d = jnp.min(distances)
        # Where the nearest point is inside a facet, the signed distance is its plane's: the same
        # value, with a gradient (the inward normal) on the facet itself, as Neumann data needs.
        normals = jnp.asarray(_facet_normals(self.points.array[rows]), x.dtype)
        plane = -jnp.sum(normals * (x[None, :] - corners[:, 0]), axis=1)
        nearest = jnp.argmin(
            jnp.where(
                jnp.abs(jnp.abs(plane) - distances) <= 16 * jnp.finfo(x.dtype).eps * (1 + d), jnp.abs(plane), jnp.inf
            )
        )
        on_facet = jnp.abs(jnp.abs(plane[nearest]) - d) <= 16 * jnp.finfo(x.dtype).eps * (1 + d)
        return jnp.where(on_facet, plane[nearest], jnp.where(self.contains(x), d, -d))

    def signed_distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        self.check_point(x, "MeshDomain.signed_distance")
        return self._signed(x, None)

    def distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        self.check_point(x, "MeshDomain.distance")
        return self.signed_distance(x)

    def interior_from_unit(self, u: Float[Array, " n d"]) -> tuple[Float[Array, " n d"], Bool[Array, " n"]]:
        corners = self.points.array[self.cells.array]
        return _sample_simplices(corners, _simplex_measure(corners), u), jnp.ones(u.shape[0], bool)

    def boundary_from_unit(self, u: Float[Array, " n k"]) -> tuple[Float[Array, " n d"], Float[Array, " n d"]]:
        return _sample_facets(self.points.array, self._facet_rows(None), u)


class MeshBoundaryPart(AbstractDomain):
    """A [`sciml.pinn.MeshDomain`][] whose boundary is one tagged part of the mesh's boundary.

    Interior sampling and `contains` are the mesh's; boundary sampling draws on the tagged
    facets only, with outward normals; `distance` is the Euclidean distance to the part
    (zero exactly on it, positive elsewhere in the domain, negative outside), the factor a
    hard constraint on that part needs. Not a shape: compose the meshes, then select.
    """

    mesh: MeshDomain
    name: str = eqx.field(static=True)

    def __init__(self, mesh: MeshDomain, name: str):
        """**Arguments:**

        - `mesh`: the mesh domain.
        - `name`: one of `mesh.tag_names`.

        **Raises:**

        `ValueError` for an unknown tag, listing the known ones.
        """
        mesh._facet_rows(name)
        self.mesh, self.name = mesh, name

    @property
    def dim(self) -> int:
        return self.mesh.dim

    @property
    def interior_fraction(self) -> float:
        return 1.0

    @property
    def boundary_unit_dim(self) -> int:
        return self.mesh.dim

    def bounding_box(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return self.mesh.bounding_box()

    def contains(self, x: Float[Array, " d"]) -> Bool[Array, ""]:
        return self.mesh.contains(x)

    def distance(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        self.check_point(x, "MeshBoundaryPart.distance")
        return self.mesh._signed(x, self.name)

    def interior_from_unit(self, u: Float[Array, " n d"]) -> tuple[Float[Array, " n d"], Bool[Array, " n"]]:
        return self.mesh.interior_from_unit(u)

    def boundary_from_unit(self, u: Float[Array, " n k"]) -> tuple[Float[Array, " n d"], Float[Array, " n d"]]:
        return _sample_facets(self.mesh.points.array, self.mesh._facet_rows(self.name), u)


def _facet_normals(corners: np.ndarray) -> np.ndarray:
    """Unit normals of segments `(f, 2, 2)` or triangles `(f, 3, 3)`, oriented by vertex order."""
    if corners.shape[2] == 2:
        e = corners[:, 1] - corners[:, 0]
        n = np.stack([e[:, 1], -e[:, 0]], axis=1)
    else:
        n = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def _sample_simplices(corners: np.ndarray, measures: np.ndarray, u: Array) -> Array:
    """Points uniform on a union of simplices `(m, k + 1, d)` from unit points `(n, k)`."""
    cumulative = np.cumsum(measures) / np.sum(measures)
    start = np.concatenate([[0.0], cumulative[:-1]])
    which = jnp.clip(jnp.searchsorted(jnp.asarray(cumulative, u.dtype), u[:, 0], side="right"), 0, len(measures) - 1)
    # What u_0 has left inside the chosen simplex's share is again uniform: reuse it.
    width = jnp.asarray(cumulative - start, u.dtype)[which]
    rest = jnp.clip((u[:, 0] - jnp.asarray(start, u.dtype)[which]) / width, 0, 1)
    s = jnp.sort(jnp.concatenate([rest[:, None], u[:, 1:]], axis=1), axis=1)
    n = u.shape[0]
    # Spacings of sorted uniforms are uniform barycentric coordinates on the simplex.
    lam = jnp.diff(jnp.concatenate([jnp.zeros((n, 1), u.dtype), s, jnp.ones((n, 1), u.dtype)], axis=1), axis=1)
    return jnp.einsum("nk,nkd->nd", lam, jnp.asarray(corners, u.dtype)[which])


def _sample_facets(points: np.ndarray, facets: np.ndarray, u: Array) -> tuple[Array, Array]:
    corners = points[facets]
    measures = _simplex_measure(corners)
    # The first coordinate picks the facet, the others (d - 1 of them) place the point in it.
    cumulative = np.cumsum(measures) / np.sum(measures)
    which = jnp.clip(jnp.searchsorted(jnp.asarray(cumulative, u.dtype), u[:, 0], side="right"), 0, len(measures) - 1)
    s = jnp.sort(u[:, 1:], axis=1)
    n = u.shape[0]
    lam = jnp.diff(jnp.concatenate([jnp.zeros((n, 1), u.dtype), s, jnp.ones((n, 1), u.dtype)], axis=1), axis=1)
    x = jnp.einsum("nk,nkd->nd", lam, jnp.asarray(corners, u.dtype)[which])
    return x, jnp.asarray(_facet_normals(corners), u.dtype)[which]


def _point_segment(x: Array, a: Array, b: Array) -> Array:
    e = b - a
    t = jnp.clip(jnp.sum((x - a) * e, axis=-1) / jnp.sum(e**2, axis=-1), 0, 1)
    return safe_norm(x - a - t[..., None] * e)


def _point_simplex_distance(x: Array, corners: Array) -> Array:
    """Distances from one point to each segment `(f, 2, d)` or triangle `(f, 3, d)`."""
    if corners.shape[1] == 2:
        return _point_segment(x[None, :], corners[:, 0], corners[:, 1])
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    e1, e2, w = b - a, c - a, x[None, :] - a
    g11, g12, g22 = jnp.sum(e1 * e1, -1), jnp.sum(e1 * e2, -1), jnp.sum(e2 * e2, -1)
    r1, r2 = jnp.sum(w * e1, -1), jnp.sum(w * e2, -1)
    det = g11 * g22 - g12**2
    s, t = (g22 * r1 - g12 * r2) / det, (g11 * r2 - g12 * r1) / det
    inside = (s >= 0) & (t >= 0) & (s + t <= 1)
    plane = safe_norm(w - s[:, None] * e1 - t[:, None] * e2)
    edges = jnp.minimum(
        jnp.minimum(_point_segment(x[None, :], a, b), _point_segment(x[None, :], b, c)),
        _point_segment(x[None, :], c, a),
    )
    return jnp.where(inside, plane, edges)
