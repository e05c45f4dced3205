"""Tests for sciml.pinn's geometry: composed shapes, polygons with holes, 3-D boxes, balls,
cylinders and meshes, checked against analytic shapes computed by hand here.

No training: each test samples a few hundred points and compares membership, signed
distance, boundary points and normals with the exact answers (to 1e-12 where exact).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml import pinn


def _vmap(f, x):
    return np.asarray(jax.vmap(f)(jnp.asarray(x, jnp.float64)))


# Compiled samplers: a composition's rejection sampling is many small operations, slow run eagerly.
@eqx.filter_jit
def _interior(domain, key, n, sampler="uniform"):
    return domain.sample_interior(key, n, sampler)


@eqx.filter_jit
def _boundary(domain, key, n, sampler="uniform"):
    return domain.sample_boundary(key, n, sampler)


# ----------------------------------------------------------------- square minus disk
@pytest.fixture(scope="module")
def holed():
    return pinn.Box((0.0, 0.0), (2.0, 2.0)) - pinn.Disk((1.0, 1.0), 0.5)


def test_difference_membership_and_distance(holed):
    assert isinstance(holed, pinn.Difference)
    points = [(1.0, 1.0), (0.2, 0.2), (1.0, 1.5), (1.0, 1.49), (2.5, 1.0), (0.0, 1.0), (1.0, 1.6)]
    np.testing.assert_array_equal(_vmap(holed.contains, points), [False, True, True, False, False, True, True])
    # Hand-computed distances: to the nearest face, or to the circle r = 0.5 about (1, 1).
    expected = [-0.5, 0.2, 0.0, -0.01, -0.5, 0.0, 0.1]
    np.testing.assert_allclose(_vmap(holed.signed_distance, points), expected, atol=1e-12)
    # The R-function distance vanishes where the signed one does and has its sign.
    r = _vmap(holed.distance, points)
    np.testing.assert_allclose(r[[2, 5]], 0.0, atol=1e-12)
    np.testing.assert_array_equal(np.sign(r[[0, 1, 3, 4, 6]]), [-1, 1, -1, -1, 1])
    # Smooth inside, unlike the signed distance: no kink across the box's diagonal.
    below, above = jnp.array([0.3 + 1e-7, 0.3]), jnp.array([0.3, 0.3 + 1e-7])
    assert np.linalg.norm(jax.grad(holed.distance)(below) - jax.grad(holed.distance)(above)) < 1e-5
    assert np.linalg.norm(jax.grad(holed.signed_distance)(below) - jax.grad(holed.signed_distance)(above)) > 1
    assert holed.volume == pytest.approx(4 - math.pi / 4, rel=2e-3)
    assert holed.boundary_measure == pytest.approx(8 + math.pi, rel=2e-3)


@pytest.mark.parametrize("sampler", ["uniform", "sobol"])
def test_difference_sampling(holed, sampler, getkey):
    x = np.asarray(_interior(holed, getkey(), 2000, sampler))
    assert x.shape == (2000, 2) and np.all(_vmap(holed.contains, x))
    r = np.linalg.norm(x - 1.0, axis=1)
    assert np.all(r >= 0.5)
    # Uniform in area: the annulus 0.5 <= r < 1 holds 0.75 pi of the 4 - pi / 4.
    assert abs(np.mean(r < 1) - 0.75 * math.pi / (4 - math.pi / 4)) < 0.03
    xb, nb = (np.asarray(a) for a in _boundary(holed, getkey(), 2000, sampler))
    on_circle = np.abs(np.linalg.norm(xb - 1.0, axis=1) - 0.5) <= 1e-12
    on_face = np.min(np.abs(np.concatenate([xb, 2 - xb], axis=1)), axis=1) <= 1e-12
    assert np.all(on_circle | on_face)
    # The hole's normals point into the hole, out of the domain.
    np.testing.assert_allclose(nb[on_circle], -(xb[on_circle] - 1.0) / 0.5, atol=1e-12)
    face = np.where(on_face[:, None], np.round(nb), 0.0)
    np.testing.assert_allclose(nb[on_face], face[on_face], atol=1e-12)
    expected_face = np.where(xb <= 1e-12, -1.0, np.where(xb >= 2 - 1e-12, 1.0, 0.0))
    np.testing.assert_allclose(nb[on_face], expected_face[on_face], atol=1e-12)
    assert abs(np.mean(on_circle) - math.pi / (8 + math.pi)) < 0.03
    # Off the box's four corners (where the gradient is not defined), -grad distance is the normal.
    smooth = np.max(np.minimum(np.abs(xb), np.abs(2 - xb)), axis=1) > 1e-6
    np.testing.assert_allclose(jax.vmap(jax.grad(holed.distance))(xb[smooth]), -nb[smooth], atol=1e-9)
    assert len(np.unique(xb, axis=0)) == 2000


def test_composed_space_time_boundary(holed, getkey):
    domain = pinn.SpaceTime(holed, 0.0, 1.0)
    x, n = _boundary(domain, getkey(), 300, "lhs")
    np.testing.assert_allclose(_vmap(holed.signed_distance, x[:, 1:]), 0.0, atol=1e-12)
    np.testing.assert_allclose(n[:, 0], 0.0)
    # Inside a compiled function too: the composition's geometry is static.
    sample = eqx.filter_jit(lambda d, k: d.sample_boundary(k, 64)[0])
    np.testing.assert_allclose(_vmap(holed.signed_distance, sample(holed, getkey())), 0.0, atol=1e-12)


# --------------------------------------------------------- union and intersection
def test_union_matches_the_l_shape_polygon(getkey):
    union = pinn.Box((-1.0, -1.0), (1.0, 0.0)) | pinn.Box((-1.0, -1.0), (0.0, 1.0))
    l_shape = pinn.Polygon.l_shape()
    grid = np.stack(np.meshgrid(np.linspace(-1.3, 1.3, 23), np.linspace(-1.3, 1.3, 23)), -1).reshape(-1, 2)
    np.testing.assert_array_equal(_vmap(union.contains, grid), _vmap(l_shape.contains, grid))
    sd_union, sd_exact = _vmap(union.signed_distance, grid), _vmap(l_shape.signed_distance, grid)
    np.testing.assert_array_equal(np.sign(sd_union), np.sign(sd_exact))
    outside = sd_exact < 0
    np.testing.assert_allclose(sd_union[outside], sd_exact[outside], atol=1e-12)  # exact outside a union
    assert union.boundary_measure == pytest.approx(8.0, rel=2e-3)
    x, n = (np.asarray(a) for a in _boundary(union, getkey(), 4000, "sobol"))
    np.testing.assert_allclose(_vmap(l_shape.signed_distance, x), 0.0, atol=1e-12)
    far = np.min(np.linalg.norm(x[:, None] - np.asarray(l_shape.vertices)[None], axis=2), axis=1) > 0.02
    assert np.all(_vmap(l_shape.signed_distance, (x + 0.01 * n)[far]) < 0)
    assert np.all(_vmap(l_shape.signed_distance, (x - 0.01 * n)[far]) > 0)
    # Faces the two boxes share (x0 = -1, x1 = -1) are drawn once: 2 of the 8 each.
    assert abs(np.mean(np.abs(x[:, 0] + 1) <= 1e-12) - 0.25) < 0.03
    assert abs(np.mean(np.abs(x[:, 1] + 1) <= 1e-12) - 0.25) < 0.03


def test_intersection_quarter_disk(getkey):
    quarter = pinn.Box((0.0, 0.0), (2.0, 2.0)) & pinn.Disk((0.0, 0.0), 1.0)
    points = [(0.5, 0.5), (0.9, 0.9), (-0.5, 0.5), (0.5, 0.0)]
    np.testing.assert_array_equal(_vmap(quarter.contains, points), [True, False, False, True])
    np.testing.assert_allclose(
        _vmap(quarter.signed_distance, points), [1 - 0.5 * math.sqrt(2), 1 - 0.9 * math.sqrt(2), -0.5, 0.0], atol=1e-12
    )
    assert quarter.volume == pytest.approx(math.pi / 4, rel=2e-3)
    x, n = (np.asarray(a) for a in _boundary(quarter, getkey(), 1000))
    arc = np.abs(np.linalg.norm(x, axis=1) - 1) <= 1e-12
    axes = (np.min(np.abs(x), axis=1) <= 1e-12) & np.all(x >= -1e-12, axis=1)
    assert np.all(arc | axes)
    np.testing.assert_allclose(n[arc], x[arc], atol=1e-12)
    np.testing.assert_allclose(n[~arc], -np.eye(2)[np.argmin(np.abs(x[~arc]), axis=1)], atol=1e-12)
    assert abs(np.mean(arc) - (math.pi / 2) / (2 + math.pi / 2)) < 0.04


def test_composition_errors():
    with pytest.raises(TypeError, match="SpaceTime"):
        pinn.Union(pinn.SpaceTime(pinn.Disk(), 0.0, 1.0), pinn.Box((0, 0, 0), (1, 1, 1)))
    with pytest.raises(ValueError, match="dimensions 2 and 3"):
        pinn.Disk() | pinn.Box((0, 0, 0), (1, 1, 1))
    with pytest.raises(ValueError, match="empty"):
        pinn.Disk((0, 0), 1) & pinn.Disk((5, 0), 1)


# ----------------------------------------------------------------- polygons with holes
def test_polygon_with_holes(getkey):
    domain = pinn.polygon_with_holes(
        [(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2), (1, 2)], [(3, 3), (2.5, 3), (3, 2.5)]]
    )
    points = [(1.5, 1.5), (0.5, 0.5), (1.5, 2.25), (2.8, 2.8), (3.5, 3.5), (5, 2)]
    np.testing.assert_array_equal(_vmap(domain.contains, points), [False, True, True, False, True, False])
    # Exact for holes strictly inside: distance to the nearest ring, negative in a hole.
    np.testing.assert_allclose(
        _vmap(domain.signed_distance, points), [-0.5, 0.5, 0.25, -0.1 / math.sqrt(2), 0.5, -1.0], atol=1e-12
    )
    assert domain.volume == pytest.approx(16 - 1 - 0.125, rel=2e-3)
    x, n = _boundary(domain, getkey(), 1000, "sobol")
    np.testing.assert_allclose(_vmap(domain.signed_distance, x), 0.0, atol=1e-12)
    assert np.all(_vmap(domain.signed_distance, x - 1e-3 * n) > 0)
    assert np.all(_vmap(domain.signed_distance, x + 1e-3 * n) < 1e-3 * (1 + 1e-9))
    # On the boundary, the gradients a Neumann condition takes are the inward normals, not NaN.
    for f in (domain.signed_distance, domain.distance):
        np.testing.assert_allclose(jax.vmap(jax.grad(f))(x[:50]), -n[:50], atol=1e-9)
    with pytest.raises(ValueError, match="hole 0 is not strictly inside the outer ring"):
        pinn.polygon_with_holes([(0, 0), (4, 0), (4, 4), (0, 4)], [[(3, 1), (5, 1), (5, 2)]])
    with pytest.raises(ValueError, match="apart from hole 1"):
        pinn.polygon_with_holes(
            [(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2)], [(1.5, 1), (3, 1), (3, 3)]]
        )


# ---------------------------------------------------------- 3-D boxes, balls, cylinders
def test_box_3d(getkey):
    box = pinn.Box((0.0, -1.0, 0.0), (1.0, 1.0, 3.0))
    assert box.volume == 6.0 and box.boundary_measure == 2 * (2 + 3 + 6)
    x, n = (np.asarray(a) for a in box.sample_boundary(getkey(), 2000, "lhs"))
    lo, hi = np.array(box.lo), np.array(box.hi)
    on_lo, on_hi = np.abs(x - lo) <= 1e-12, np.abs(x - hi) <= 1e-12
    assert np.all(np.sum(on_lo | on_hi, axis=1) >= 1)
    np.testing.assert_allclose(n, on_hi.astype(float) - on_lo.astype(float), atol=1e-12)
    np.testing.assert_allclose(jax.vmap(jax.grad(box.signed_distance))(x), -n, atol=1e-12)
    # Faces x2 = const hold 2 * 2 of the 22 of surface.
    assert abs(np.mean(np.abs(n[:, 2]) == 1) - 4 / 22) < 0.03
    np.testing.assert_allclose(
        _vmap(box.signed_distance, [(0.5, 0.0, 1.5), (0.1, 0.5, 2.0), (2.0, 0.0, 1.0), (2.0, 2.0, 4.0)]),
        [0.5, 0.1, -1.0, -math.sqrt(3)],
        atol=1e-12,
    )


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_ball(dim, getkey):
    center = np.arange(dim) * 0.5
    ball = pinn.Ball(center, 2.0)
    x = np.asarray(ball.sample_interior(getkey(), 2000, "sobol"))
    r = np.linalg.norm(x - center, axis=1)
    assert np.all(r <= 2.0 * (1 + 1e-12))
    assert abs(np.mean(r < 1.0) - 0.5**dim) < 0.03  # uniform in volume
    xb, nb = (np.asarray(a) for a in ball.sample_boundary(getkey(), 1000, "uniform"))
    np.testing.assert_allclose(np.linalg.norm(xb - center, axis=1), 2.0, atol=1e-12)
    np.testing.assert_allclose(nb, (xb - center) / 2.0, atol=1e-12)
    np.testing.assert_allclose(jax.vmap(jax.grad(ball.signed_distance))(xb), -nb, atol=1e-12)
    # Uniform on the sphere: every coordinate's mean direction vanishes.
    assert np.all(np.abs(np.mean(nb, axis=0)) < 0.1)
    np.testing.assert_allclose(_vmap(ball.signed_distance, [center, center + 3.0 / math.sqrt(dim)]), [2.0, -1.0])
    assert ball.boundary_measure == pytest.approx(ball.volume * dim / 2.0)


@pytest.mark.parametrize("axis", [0, 2])
def test_cylinder(axis, getkey):
    cyl = pinn.Cylinder((1.0, -1.0), 0.5, 0.0, 2.0, axis=axis)
    others = [i for i in range(3) if i != axis]
    x, n = (np.asarray(a) for a in cyl.sample_boundary(getkey(), 3000, "sobol"))
    z, p = x[:, axis], x[:, others] - np.array([1.0, -1.0])
    rho = np.linalg.norm(p, axis=1)
    side = np.abs(rho - 0.5) <= 1e-12
    caps = (np.abs(z) <= 1e-12) | (np.abs(z - 2) <= 1e-12)
    assert np.all(side | caps) and np.all((z >= 0) & (z <= 2) & (rho <= 0.5 + 1e-12))
    expected = np.zeros_like(n)
    expected[:, others] = np.where(side[:, None], p / 0.5, 0)
    expected[:, axis] = np.where(side, 0, np.sign(z - 1))
    np.testing.assert_allclose(n, expected, atol=1e-12)
    edge = (np.abs(rho - 0.5) < 1e-6) & ((z < 1e-6) | (z > 2 - 1e-6))  # rims: no gradient there
    np.testing.assert_allclose(jax.vmap(jax.grad(cyl.signed_distance))(x)[~edge], -n[~edge], atol=1e-9)
    assert abs(np.mean(side) - 2 / 2.5) < 0.03  # lateral 2 pi R h of 2 pi R (h + R)
    xi = np.asarray(cyl.sample_interior(getkey(), 500))
    assert np.all(_vmap(cyl.contains, xi))
    q = np.zeros(3)
    q[others], q[axis] = [1.0, -1.0], 1.8
    q_out = q.copy()
    q_out[others[0]] += 1.5
    q_out[axis] = 2.3
    np.testing.assert_allclose(_vmap(cyl.signed_distance, [q, q_out]), [0.2, -math.hypot(1.0, 0.3)], atol=1e-12)


# --------------------------------------------------------------------------- meshes
def _square_mesh(n, drop_quadrant=False):
    """[-1, 1]^2 split into 2 n^2 triangles (the upper right quadrant left out for an L)."""
    s = np.linspace(-1, 1, n + 1)
    points = np.stack(np.meshgrid(s, s, indexing="ij"), -1).reshape(-1, 2)
    idx = np.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    cells = []
    for i in range(n):
        for j in range(n):
            if drop_quadrant and s[i] >= 0 and s[j] >= 0:
                continue
            a, b, c, d = idx[i, j], idx[i + 1, j], idx[i + 1, j + 1], idx[i, j + 1]
            cells += [(a, b, c), (a, c, d)]
    left = np.array([(idx[0, j], idx[0, j + 1]) for j in range(n)])
    return points, np.array(cells), left


def test_mesh_2d_from_gmsh_file(tmp_path, getkey):
    meshio = pytest.importorskip("meshio")
    points, cells, left = _square_mesh(4, drop_quadrant=True)
    mesh = meshio.Mesh(
        np.concatenate([points, np.zeros((len(points), 1))], axis=1),
        [("triangle", cells), ("line", left)],
        cell_data={"gmsh:physical": [np.zeros(len(cells), int), np.full(len(left), 7)]}
        | {"gmsh:geometrical": [np.zeros(len(cells), int), np.ones(len(left), int)]},
        field_data={"inlet": np.array([7, 1])},
    )
    path = tmp_path / "l_shape.msh"
    meshio.write(path, mesh, file_format="gmsh22", binary=False)
    domain = pinn.MeshDomain.from_file(path)
    l_shape = pinn.Polygon.l_shape()
    assert domain.dim == 2 and domain.tag_names == ("inlet",)
    assert domain.volume == pytest.approx(3.0) and domain.boundary_measure == pytest.approx(8.0)
    grid = np.stack(np.meshgrid(np.linspace(-1.3, 1.3, 14), np.linspace(-1.3, 1.3, 14)), -1).reshape(-1, 2)
    np.testing.assert_array_equal(_vmap(domain.contains, grid), _vmap(l_shape.contains, grid))
    np.testing.assert_allclose(_vmap(domain.signed_distance, grid), _vmap(l_shape.signed_distance, grid), atol=1e-12)
    x = _interior(domain, getkey(), 1000, "sobol")
    assert np.all(_vmap(l_shape.contains, x)) and abs(np.mean(np.asarray(x)[:, 0] < 0) - 2 / 3) < 0.04
    xb, nb = _boundary(domain, getkey(), 1000)
    np.testing.assert_allclose(_vmap(l_shape.signed_distance, xb), 0.0, atol=1e-12)
    far = np.min(np.linalg.norm(np.asarray(xb)[:, None] - np.asarray(l_shape.vertices)[None], axis=2), axis=1) > 0.02
    assert np.all(_vmap(l_shape.signed_distance, (xb + 0.01 * nb)[far]) < 0)
    assert np.all(_vmap(l_shape.signed_distance, (xb - 0.01 * nb)[far]) > 0)
    grads = np.asarray(jax.vmap(jax.grad(domain.signed_distance))(xb))
    np.testing.assert_allclose(grads[far], -np.asarray(nb)[far], atol=1e-9)
    inlet = domain.boundary_part("inlet")
    xi, ni = (np.asarray(a) for a in inlet.sample_boundary(getkey(), 200))
    np.testing.assert_allclose(xi[:, 0], -1.0, atol=1e-12)
    np.testing.assert_allclose(ni, np.tile([-1.0, 0.0], (200, 1)), atol=1e-12)
    np.testing.assert_allclose(jax.vmap(jax.grad(inlet.distance))(xi), -ni, atol=1e-9)
    np.testing.assert_allclose(_vmap(inlet.distance, [(-1.0, 0.3), (0.5, -0.5), (-0.5, 0.5)]), [0.0, 1.5, 0.5])
    with pytest.raises(ValueError, match="unknown boundary tag 'outlet'; the mesh's tags: 'inlet'"):
        domain.boundary_part("outlet")


def _cube_mesh(n):
    """[0, 1]^3 split into 6 n^3 tetrahedra (Kuhn's conforming subdivision)."""
    s = np.linspace(0, 1, n + 1)
    points = np.stack(np.meshgrid(s, s, s, indexing="ij"), -1).reshape(-1, 3)
    idx = np.arange((n + 1) ** 3).reshape(n + 1, n + 1, n + 1)
    cells = []
    for corner in np.ndindex(n, n, n):
        for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
            v, tet = np.array(corner), [idx[corner]]
            for axis in perm:
                v[axis] += 1
                tet.append(idx[tuple(v)])
            cells.append(tet)
    bottom = []
    for i in range(n):
        for j in range(n):
            a, b, c, d = idx[i, j, 0], idx[i + 1, j, 0], idx[i + 1, j + 1, 0], idx[i, j + 1, 0]
            bottom += [(a, b, c), (a, c, d)]  # the Kuhn split of every face cuts along this diagonal
    return points, np.array(cells), np.array(bottom)


def test_mesh_3d_cube(tmp_path, getkey):
    meshio = pytest.importorskip("meshio")
    points, cells, bottom = _cube_mesh(2)
    path = tmp_path / "cube.msh"
    meshio.write(
        path,
        meshio.Mesh(
            points,
            [("tetra", cells), ("triangle", bottom)],
            cell_data={"gmsh:physical": [np.zeros(len(cells), int), np.full(len(bottom), 3)]}
            | {"gmsh:geometrical": [np.zeros(len(cells), int), np.ones(len(bottom), int)]},
            field_data={"bottom": np.array([3, 2])},
        ),
        file_format="gmsh22",
        binary=False,
    )
    domain = pinn.MeshDomain.from_file(path)
    assert domain.dim == 3 and domain.volume == pytest.approx(1.0) and domain.boundary_measure == pytest.approx(6.0)
    q = [(0.5, 0.5, 0.2), (0.3, 0.9, 0.6), (1.2, 0.5, 0.5), (1.5, 1.5, 1.5)]
    np.testing.assert_array_equal(_vmap(domain.contains, q), [True, True, False, False])
    np.testing.assert_allclose(_vmap(domain.signed_distance, q), [0.2, 0.1, -0.2, -math.sqrt(0.75)], atol=1e-12)
    x = np.asarray(_interior(domain, getkey(), 1000))
    assert np.all((x >= 0) & (x <= 1)) and abs(np.mean(np.all(x < 0.5, axis=1)) - 1 / 8) < 0.03
    xb, nb = (np.asarray(a) for a in _boundary(domain, getkey(), 1000, "sobol"))
    on_lo, on_hi = np.abs(xb) <= 1e-12, np.abs(xb - 1) <= 1e-12
    assert np.all(np.any(on_lo | on_hi, axis=1))
    np.testing.assert_allclose(nb, on_hi.astype(float) - on_lo.astype(float), atol=1e-12)
    xp, npart = (np.asarray(a) for a in domain.boundary_part("bottom").sample_boundary(getkey(), 200))
    np.testing.assert_allclose(xp[:, 2], 0.0, atol=1e-12)
    np.testing.assert_allclose(npart, np.tile([0.0, 0.0, -1.0], (200, 1)), atol=1e-12)
    np.testing.assert_allclose(jax.vmap(jax.grad(domain.distance))(xp), -npart, atol=1e-9)
    sample = eqx.filter_jit(lambda d, k: d.sample_interior(k, 16))
    assert np.all(_vmap(domain.contains, sample(domain, getkey())))


def test_mesh_cell_sets_and_constructor_tags(getkey):
    meshio = pytest.importorskip("meshio")
    points, cells, bottom = _cube_mesh(1)
    lid = bottom.copy()
    lid_points = points[lid]
    lid = np.array([[int(np.flatnonzero(np.all(points == q + [0, 0, 1], axis=1))[0]) for q in f] for f in lid_points])
    mesh = meshio.Mesh(points, [("tetra", cells), ("triangle", np.concatenate([bottom, lid]))])
    mesh.cell_sets = {"lid": [None, np.array([2, 3])], "floor": [np.array([], int), np.array([0, 1])]}
    domain = pinn.MeshDomain.from_meshio(mesh)
    assert set(domain.tag_names) == {"lid", "floor"}
    for name, z, normal in (("lid", 1.0, 1.0), ("floor", 0.0, -1.0)):
        x, n = (np.asarray(a) for a in domain.boundary_part(name).sample_boundary(getkey(), 50))
        np.testing.assert_allclose(x[:, 2], z, atol=1e-12)
        np.testing.assert_allclose(n[:, 2], normal, atol=1e-12)
    same = pinn.MeshDomain(points, cells, {"lid": lid})
    np.testing.assert_allclose(same.boundary_part("lid").sample_boundary(getkey(), 20)[0][:, 2], 1.0, atol=1e-12)


def test_mesh_errors():
    points, cells, left = _square_mesh(2)
    with pytest.raises(ValueError, match=r"cells must be integers of shape \(c, 3\)"):
        pinn.MeshDomain(points, cells[:, :2])
    with pytest.raises(ValueError, match="tag 'wall'"):
        pinn.MeshDomain(points, cells, {"wall": np.array([[0, 4]])})  # a diagonal, not a boundary edge
    with pytest.raises(ValueError, match="no triangles or tetrahedra"):
        pinn.MeshDomain.from_meshio(pytest.importorskip("meshio").Mesh(points, [("line", left)]))
    with pytest.raises(TypeError, match="shape"):
        pinn.Union(pinn.MeshDomain(points, cells, {"left": left}).boundary_part("left"), pinn.Disk())
