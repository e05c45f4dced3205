"""Tests for sciml.pinn: derivatives, domains, conditions, hard constraints,
adaptive sampling and weighting, inverse problems, optimizer stages and resume.

Networks are tiny (width <= 8) and trainings a few hundred steps, so the file runs in
about a minute on a 2-core CPU; each training test can fail (thresholds are a factor of
a few from what the code reaches).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np
import optax
import pytest
from helpers import tree_equal_bytes

import sciml.nn as nn
from sciml import pinn
from sciml.nn import Positive
from sciml.pinn import RESULTS


METHODS = [pinn.Forward(), pinn.Reverse(), pinn.ForwardOverReverse(), pinn.Taylor()]
METHOD_IDS = ["forward", "reverse", "forward_over_reverse", "taylor"]


def _f(x):
    return jnp.sin(2 * x[0]) * jnp.exp(0.5 * x[1]) + x[0] ** 3 * x[1]


def _f_vector(x):
    return jnp.stack([_f(x), x[0] * x[1] ** 2])


# ---------------------------------------------------------------- derivatives
@pytest.mark.parametrize("method", METHODS, ids=METHOD_IDS)
def test_derivatives_match_analytic(method):
    x = jnp.array([0.3, -0.7])
    x0, x1 = 0.3, -0.7
    s, c, e = math.sin(2 * x0), math.cos(2 * x0), math.exp(0.5 * x1)
    expected = {
        (): s * e + x0**3 * x1,
        (0,): 2 * c * e + 3 * x0**2 * x1,
        (1,): 0.5 * s * e + x0**3,
        (0, 0): -4 * s * e + 6 * x0 * x1,
        (1, 1): 0.25 * s * e,
        (0, 1): c * e + 3 * x0**2,
        (1, 0): c * e + 3 * x0**2,
        (1, 1, 1): 0.125 * s * e,
        (0, 0, 1): -2 * s * e + 6 * x0,
        (0, 0, 0): -8 * c * e + 6 * x1,
    }
    for index, value in expected.items():
        np.testing.assert_allclose(pinn.derivative(_f, x, index, method=method), value, rtol=1e-12, atol=1e-12)
    many = pinn.derivatives(_f, x, list(expected), method=method)
    np.testing.assert_allclose(jnp.stack(many), jnp.asarray(list(expected.values())), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pinn.grad(_f, x, method=method), [expected[(0,)], expected[(1,)]], rtol=1e-12)
    hess = [[expected[(0, 0)], expected[(0, 1)]], [expected[(0, 1)], expected[(1, 1)]]]
    np.testing.assert_allclose(pinn.hessian(_f, x, method=method), hess, rtol=1e-12)
    np.testing.assert_allclose(pinn.laplacian(_f, x, method=method), expected[(0, 0)] + expected[(1, 1)], rtol=1e-12)
    np.testing.assert_allclose(pinn.laplacian(_f, x, axes=[1], method=method), expected[(1, 1)], rtol=1e-12)
    # Vector-valued trial functions: derivatives per component.
    assert pinn.grad(_f_vector, x, method=method).shape == (2, 2)
    np.testing.assert_allclose(
        pinn.derivative(_f_vector, x, (1, 1), method=method), [expected[(1, 1)], 2 * x0], rtol=1e-12
    )
    # A trial function carries its method to helpers that are not given one.
    u = pinn.TrialFunction(_f, method)
    np.testing.assert_allclose(pinn.derivative(u, x, (0, 1)), expected[(0, 1)], rtol=1e-12)


def test_methods_agree_on_a_fourier_feature_network(getkey):
    # The trial functions PINNs use: an MLP with random Fourier features (Allen-Cahn style).
    net = nn.MLP(2, 2, 8, 2, fourier_features=4, fourier_sigma=2.0, key=getkey())
    x = jnp.array([0.2, -0.4])
    reference = [pinn.derivative(net, x, i, method=pinn.Reverse()) for i in [(1,), (1, 1), (0, 1), (0, 0, 0)]]
    for method in METHODS:
        values = pinn.derivatives(net, x, [(1,), (1, 1), (0, 1), (0, 0, 0)], method=method)
        for value, ref in zip(values, reference):
            np.testing.assert_allclose(value, ref, rtol=1e-10, atol=1e-10)


def test_condition_residuals_vanish_for_exact_functions(getkey):
    def u(x):  # satisfies all the conditions below by construction
        return jnp.sin(2 * jnp.pi * x[2]) * jnp.exp(-x[0]) + x[1] ** 2

    def outward(x):  # the outward normal of the face of the unit square through x
        s = x[1:]
        return jnp.concatenate([jnp.zeros(1), jnp.where(s == 0, -1.0, jnp.where(s == 1, 1.0, 0.0))])

    domain = pinn.SpaceTime(pinn.Box((0.0, 0.0), (1.0, 1.0)), 0.0, 1.0)
    conditions = [
        pinn.Dirichlet(u),
        pinn.Neumann(lambda x: jnp.dot(jax.grad(u)(x), outward(x))),
        pinn.Periodic(2, derivatives=2),
        pinn.Initial(u),
        pinn.Initial(lambda x: -jnp.sin(2 * jnp.pi * x[2]), order=1, name="velocity"),
    ]
    for c in conditions:
        points = c.sample(domain, getkey(), 64, "sobol", jnp.float64)
        r = jax.vmap(lambda p: c.residual(u, p, pinn.Forward()))(points)
        np.testing.assert_allclose(r, 0.0, atol=1e-10, err_msg=c.name)

    # And a function that violates them does not pass.
    def v(x):
        return u(x) + x[2] * (1 + x[0])

    for c in conditions[2:4]:
        points = c.sample(domain, getkey(), 64, "sobol", jnp.float64)
        assert float(jnp.max(jnp.abs(jax.vmap(lambda p: c.residual(v, p, None))(points)))) > 1e-2, c.name


def test_derivative_bad_inputs():
    x = jnp.array([0.3, -0.7])
    with pytest.raises(ValueError, match="coordinate 2"):
        pinn.derivative(_f, x, (2,))
    # A batch instead of a point: the annotation rejects it under the test suite's type
    # checker, the explicit check (naming the fix) everywhere else.
    with pytest.raises((ValueError, TypeError), match="one point|Float"):
        pinn.grad(_f, jnp.zeros((3, 2)))


# ------------------------------------------------------------------- domains
@pytest.mark.parametrize("sampler", ["uniform", "lhs", "sobol"])
def test_non_box_sampling_stays_inside(sampler, getkey):
    l_shape = pinn.Polygon.l_shape()
    disk = pinn.Disk((0.5, -0.2), 1.5)
    for domain in (l_shape, disk, pinn.SpaceTime(l_shape, 0.0, 1.0)):
        x = domain.sample_interior(getkey(), 500, sampler)
        assert x.shape == (500, domain.dim)
        assert bool(jnp.all(jax.vmap(domain.contains)(x)))
        assert len(np.unique(np.asarray(x), axis=0)) == 500
    x = l_shape.sample_interior(getkey(), 2000, sampler)
    assert not bool(jnp.any((x[:, 0] > 0) & (x[:, 1] > 0))), "points in the removed quadrant"
    # Uniform in area: the left half x0 < 0 holds 2/3 of the L-shape.
    assert abs(float(jnp.mean(x[:, 0] < 0)) - 2 / 3) < 0.04
    r = jnp.linalg.norm(disk.sample_interior(getkey(), 2000, sampler) - jnp.array([[0.5, -0.2]]), axis=1)
    assert abs(float(jnp.mean(r < 1.5 / math.sqrt(2))) - 0.5) < 0.04


def test_boundary_samples_and_normals(getkey):
    for domain in (pinn.Polygon.l_shape(), pinn.Disk((0.0, 1.0), 2.0)):
        x, n = domain.sample_boundary(getkey(), 400, "sobol")
        np.testing.assert_allclose(jnp.linalg.norm(n, axis=1), 1.0, atol=1e-12)
        if isinstance(domain, pinn.Polygon):
            np.testing.assert_allclose(jax.vmap(domain.signed_distance)(x), 0.0, atol=1e-12)
            # Away from corners, stepping along the normal leaves the domain.
            far = jnp.min(jnp.linalg.norm(x[:, None, :] - jnp.asarray(domain.vertices)[None], axis=2), axis=1) > 0.05
            assert bool(jnp.all(jax.vmap(domain.signed_distance)(x + 0.01 * n)[far] < 0))
            assert bool(jnp.all(jax.vmap(domain.signed_distance)(x - 0.01 * n)[far] > 0))
        assert bool(jnp.all(jax.vmap(domain.contains)(x)))
    box = pinn.Box((0.0, 0.0), (1.0, 3.0))
    x, n = box.sample_boundary(getkey(), 4000, "lhs")
    on_face = jnp.isclose(x, jnp.array([[0.0, 0.0]])) | jnp.isclose(x, jnp.array([[1.0, 3.0]]))
    assert bool(jnp.all(jnp.any(on_face, axis=1)))
    # Faces x0 = const are 3x longer than faces x1 = const.
    assert abs(float(jnp.mean(jnp.abs(n[:, 0]) == 1)) - 0.75) < 0.03
    assert bool(jnp.all(jnp.sum(n * (x - jnp.array([[0.5, 1.5]])), axis=1) > 0)), "normals point outward"


def test_samplers(getkey):
    key = getkey()
    lhs = np.asarray(pinn.unit_cube(key, 64, 3, "lhs"))
    for j in range(3):
        assert sorted(np.floor(lhs[:, j] * 64).astype(int)) == list(range(64)), "one point per stratum"
    sobol = pinn.unit_cube(key, 64, 2, "sobol")
    assert bool(jnp.all((sobol >= 0) & (sobol < 1)))
    np.testing.assert_array_equal(sobol, pinn.unit_cube(key, 64, 2, "sobol"))
    assert not np.allclose(sobol, pinn.unit_cube(getkey(), 64, 2, "sobol"))


def test_bad_inputs_name_the_problem(getkey):
    box = pinn.Box((0.0, 0.0), (1.0, 1.0))
    with pytest.raises(ValueError, match=r"Box is 2-dimensional.*\(3,\)"):
        box.contains(jnp.zeros(3))
    with pytest.raises(ValueError, match="unknown sampler 'halton'"):
        pinn.unit_cube(getkey(), 8, 2, "halton")
    with pytest.raises(ValueError, match="lo < hi"):
        pinn.Box((0.0, 1.0), (1.0, 1.0))

    def residual(u, x, args):
        return pinn.laplacian(u, x) + 1.0

    with pytest.raises(ValueError, match="Observations: the points have 3 coordinates but the Box is 2-dimensional"):
        pinn.PDEProblem(residual, box, [pinn.Observations(np.zeros((5, 3)), np.zeros(5))])
    with pytest.raises(ValueError, match="periodic conditions need a box"):
        pinn.PDEProblem(residual, pinn.Disk(), [pinn.Periodic(1)])
    with pytest.raises(ValueError, match="Initial: initial conditions need a SpaceTime"):
        pinn.PDEProblem(residual, box, [pinn.Initial(0.0)])
    with pytest.raises(ValueError, match="named 'dirichlet'"):
        pinn.PDEProblem(residual, box, [pinn.Dirichlet(0.0), pinn.Dirichlet(1.0)])
    problem = pinn.PDEProblem(residual, box, [pinn.Dirichlet(0.0)])
    with pytest.raises(ValueError, match="PINNLoss: unknown sampler 'grid'"):
        pinn.make_loss(problem, {"residual": 8, "dirichlet": 8}, sampler="grid", key=getkey())
    with pytest.raises(ValueError, match=r"missing \['dirichlet'\]"):
        pinn.make_loss(problem, {"residual": 8}, key=getkey())
    loss, state = pinn.make_loss(problem, {"residual": 8, "dirichlet": 8}, key=getkey())
    wrong = pinn.PINN(nn.MLP(3, "scalar", 4, 1, key=getkey()))
    with pytest.raises(
        ValueError, match=r"PINNLoss: the model cannot be evaluated at a point of the Box, which has shape \(2,\)"
    ):
        loss(wrong, state, None, getkey())
    model = pinn.PINN(nn.MLP(2, "scalar", 4, 1, key=getkey()))
    # A dict is not a stage: train says so (or, under the test suite's runtime type checks,
    # the checker does, naming the `stages` parameter).
    with pytest.raises(TypeError, match="stage"):
        pinn.train(model, loss, state, [{"name": "adam", "steps": 1}], key=getkey())
    with pytest.raises(ValueError, match="at least one stage"):
        pinn.train(model, loss, state, [], key=getkey())


# --------------------------------------------------------- hard constraints
def test_hard_constraints_hold_exactly_on_the_boundary(getkey):
    def lift(x):  # boundary data of a space-time problem, compatible with h at t = 0
        return 0.5 * x[0] * x[1]

    def initial(x):
        return -jnp.sin(jnp.pi * x[1])

    domain = pinn.SpaceTime(pinn.Interval(-1.0, 1.0), 0.0, 2.0)
    conditions = [pinn.Initial(initial, hard=True), pinn.Dirichlet(lift, hard=True)]
    model = pinn.PINN(nn.MLP(2, "scalar", 8, 2, key=getkey()), constraint=pinn.HardConstraint(domain, conditions))
    # Compiled once per model: run eagerly, the distance functions' derivatives dispatch
    # thousands of small operations.
    evaluate = eqx.filter_jit(lambda m, x: jax.vmap(m)(x))
    xb, _ = domain.sample_boundary(getkey(), 64, "uniform")
    np.testing.assert_allclose(evaluate(model, xb), jax.vmap(lift)(xb), atol=1e-12)
    x0 = domain.sample_initial(getkey(), 64, "uniform")
    np.testing.assert_allclose(evaluate(model, x0), jax.vmap(initial)(x0), atol=1e-12)
    xi = domain.sample_interior(getkey(), 64, "uniform")
    assert float(jnp.max(jnp.abs(evaluate(model, xi) - jax.vmap(initial)(xi)))) > 1e-3, "the network must matter inside"
    # Every derivative strategy goes through the transform (Taylor mode needs jet rules
    # for every operation in it).
    by_method = eqx.filter_jit(lambda m, x: [pinn.derivatives(m, x, [(0,), (1, 1)], method=k) for k in METHODS])
    reference = pinn.derivatives(model, xi[0], [(0,), (1, 1)], method=pinn.Reverse())
    for value in by_method(model, xi[0]):
        np.testing.assert_allclose(value, reference, rtol=1e-10)

    def g(x):
        return x[0] ** 2 - x[1]

    reverse_first = [pinn.Reverse()] + [m for m in METHODS if not isinstance(m, pinn.Reverse)]
    laplacians = eqx.filter_jit(lambda m, x: [pinn.laplacian(m, x, method=k) for k in reverse_first])
    for domain in (pinn.Disk((0.5, -0.2), 1.5), pinn.Polygon.l_shape(), pinn.Box((0.0, 0.0), (1.0, 2.0))):
        constraint = pinn.HardConstraint(domain, [pinn.Dirichlet(g, hard=True)])
        model = pinn.PINN(nn.MLP(2, "scalar", 8, 1, key=getkey()), constraint=constraint)
        xb, _ = domain.sample_boundary(getkey(), 64, "sobol")
        np.testing.assert_allclose(evaluate(model, xb), jax.vmap(g)(xb), atol=1e-12)
        xi = domain.sample_interior(getkey(), 64, "sobol")
        assert bool(jnp.all(jax.vmap(domain.distance)(xi) > 0))
        # Reverse mode is the reference and one of the four, so a wrong rule in it would
        # still show as a mismatch with the other three.
        reference, *others = laplacians(model, xi[0])
        for value in others:
            np.testing.assert_allclose(value, reference, rtol=1e-10)

    box = pinn.Box((0.0, 0.0), (1.0, 2.0))
    constraint = pinn.HardConstraint(box, [pinn.Periodic(1, hard=True)])
    assert constraint.network_in_size == 3
    model = pinn.PINN(nn.MLP(3, "scalar", 8, 1, key=getkey()), constraint=constraint)
    lo = jnp.array([0.3, 0.0])
    hi = jnp.array([0.3, 2.0])
    for index in [(), (1,), (1, 1), (0, 1)]:
        np.testing.assert_allclose(pinn.derivative(model, lo, index), pinn.derivative(model, hi, index), atol=1e-12)
    with pytest.raises(ValueError, match="Neumann"):
        pinn.Neumann(0.0, hard=True)


# ---------------------------------------------------------- adaptive sampling
def test_rad_concentrates_points_where_the_residual_is_large(getkey):
    def bump(u, x, args):  # a residual with a sharp peak at x = 0.7, whatever u is
        return 0.0 * u(x) + jnp.exp(-(((x[0] - 0.7) / 0.05) ** 2))

    problem = pinn.PDEProblem(bump, pinn.Interval(0.0, 1.0))
    model = pinn.PINN(nn.MLP(1, "scalar", 4, 1, key=getkey()))

    def near_peak(resampling, key):
        loss, state = pinn.make_loss(problem, {"residual": 400}, resampling=resampling, key=getkey())
        x = loss.points(loss.resample(model, state, key))["residual"]["x"][:, 0]
        return float(jnp.mean(jnp.abs(x - 0.7) < 0.1))

    assert near_peak(pinn.Resample(), getkey()) < 0.3  # 0.2 expected
    assert near_peak(pinn.RAD(k=2.0, c=0.0, pool=8), getkey()) > 0.9
    # c = 1 keeps a uniform share: half the density is uniform, so about 0.5 + 0.5 * 0.2.
    assert 0.45 < near_peak(pinn.RAD(k=1.0, c=1.0, pool=8), getkey()) < 0.8
    p = pinn.RAD(k=1.0, c=1.0).probabilities(jnp.array([0.0, 1.0, 3.0]))
    np.testing.assert_allclose(p, jnp.array([1.0, 1 / (4 / 3) + 1, 3 / (4 / 3) + 1]) / 6.0, rtol=1e-12)

    # Inside training, the loss redraws every `every` steps (never at step 0).
    loss, state = pinn.make_loss(problem, {"residual": 64}, resampling=pinn.RAD(every=2), key=getkey())
    seen = [loss.points(state)["residual"]["x"]]
    step = eqx.filter_jit(lambda m, s, k: loss(m, s, None, k))
    for i in range(3):
        _, state = step(model, state, jr.fold_in(getkey(), i))
        seen.append(loss.points(state)["residual"]["x"])
    assert np.array_equal(seen[0], seen[1]) and np.array_equal(seen[1], seen[2])
    assert not np.array_equal(seen[2], seen[3])


# -------------------------------------------------------- adaptive weighting
def test_grad_norm_weights_ratio_formula():
    grads = [{"w": jnp.array([3.0, 4.0])}, {"w": jnp.array([0.0, 1.0])}, {"w": jnp.array([0.5, 0.0])}]
    ones = jnp.ones(3)
    norm = pinn.GradNormWeighting(momentum=0.0)
    target = norm.target(ones, grads)
    np.testing.assert_allclose(target, [6.5 / 5, 6.5 / 1, 6.5 / 0.5], rtol=1e-12)
    # Balanced: every weighted gradient has the norm sum_j |g_j| = 6.5.
    np.testing.assert_allclose(target * jnp.array([5.0, 1.0, 0.5]), 6.5, rtol=1e-12)
    max_mean = pinn.GradNormWeighting(kind="max_mean").target(ones, grads)
    np.testing.assert_allclose(max_mean, [1.0, 4.0 / 0.5, 4.0 / 0.25], rtol=1e-12)
    moving = pinn.GradNormWeighting(momentum=0.9).update(ones, grads)
    np.testing.assert_allclose(moving, 0.9 + 0.1 * target, rtol=1e-12)
    zero = [grads[0], {"w": jnp.zeros(2)}, grads[2]]
    assert float(norm.target(jnp.array([1.0, 7.0, 1.0]), zero)[1]) == 7.0, "a vanishing gradient keeps its weight"


def test_grad_norm_weighting_balances_the_loss_terms(getkey):
    def poisson(u, x, args):
        return pinn.laplacian(u, x) + 1.0

    problem = pinn.PDEProblem(poisson, pinn.Interval(0.0, 1.0), [pinn.Dirichlet(0.5)])
    loss, state = pinn.make_loss(
        problem,
        {"residual": 32, "dirichlet": 8},
        weighting=pinn.GradNormWeighting(every=1, momentum=0.0),
        weights={"dirichlet": 10.0},
        key=getkey(),
    )
    model = pinn.PINN(nn.MLP(1, "scalar", 8, 1, key=getkey()))
    assert float(loss.weights(state)["dirichlet"]) == 10.0
    _, state = loss(model, state, None, getkey())
    weights = jnp.stack(list(loss.weights(state).values()))
    params, static = eqx.partition(model, eqx.is_inexact_array)
    norms = []
    for name in problem.terms:
        g = jax.grad(lambda p: loss.terms(eqx.combine(p, static), state)[name])(params)
        norms.append(jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(g))))
    weighted = weights * jnp.stack(norms)
    np.testing.assert_allclose(weighted[0], weighted[1], rtol=1e-8)
    assert float(jnp.abs(weights[1] - 10.0)) > 1e-3


# ----------------------------------------------------- training and resume
def _poisson_problem():
    # u'' = -pi^2 sin(pi x) on [0, 1], u = 0 at both ends: u = sin(pi x).
    def residual(u, x, args):
        return pinn.derivative(u, x, (0, 0)) + jnp.pi**2 * jnp.sin(jnp.pi * x[0])

    domain = pinn.Interval(0.0, 1.0)
    return pinn.PDEProblem(residual, domain, [pinn.Dirichlet(0.0)])


def test_lbfgs_and_least_squares_stages_lower_the_loss(getkey):
    problem = _poisson_problem()
    loss, state = pinn.make_loss(problem, {"residual": 48, "dirichlet": 8}, key=getkey())
    model = pinn.PINN(nn.MLP(1, "scalar", 8, 1, key=getkey()))
    stages = [
        pinn.Adam(150, learning_rate=1e-2),
        pinn.LBFGS(40),
        pinn.LevenbergMarquardt(20, chunk=10),
        pinn.GaussNewton(3, linear_solver=lx.QR()),
    ]
    sol = pinn.train(model, loss, state, stages, key=getkey(), quiet=True)
    assert [s.name for s in sol.stages] == ["adam", "lbfgs", "lm", "gauss_newton"]
    assert [s.iterations for s in sol.stages][:2] == [150, 40]
    assert all(0 < s.iterations <= stage.steps for s, stage in zip(sol.stages, stages))
    assert all(bool(s.result == RESULTS.successful) and s.time_s > 0 for s in sol.stages)
    losses = [s.loss for s in sol.stages]
    assert losses[1] < 0.5 * losses[0], losses
    assert losses[2] < 0.5 * losses[1], losses
    assert losses[3] <= 1.01 * losses[2], losses
    x = jnp.linspace(0, 1, 101)[:, None]
    error = jnp.max(jnp.abs(jax.vmap(sol.model)(x) - jnp.sin(jnp.pi * x[:, 0])))
    assert float(error) < 1e-2


class _Killed(Exception):
    pass


def test_resume_across_stages_is_exact(getkey, tmp_path):
    problem = _poisson_problem()
    key_points, key_model, key_train = getkey(), getkey(), getkey()

    def setup():
        loss, state = pinn.make_loss(
            problem, {"residual": 32, "dirichlet": 4}, resampling=pinn.RAD(every=20), key=key_points
        )
        model = pinn.PINN(nn.MLP(1, "scalar", 6, 1, key=key_model))
        return model, loss, state

    stages = [
        pinn.Adam(60, learning_rate=1e-2),
        pinn.LBFGS(10),
        pinn.LevenbergMarquardt(6, chunk=2, resample=True),
    ]
    full = pinn.train(*setup(), stages, key=key_train, checkpoint_dir=tmp_path / "full", quiet=True)

    def kill(step, record):
        if "model" in record and step >= 2:  # inside the least-squares stage, after a chunk
            raise _Killed

    with pytest.raises(_Killed):
        pinn.train(*setup(), stages, key=key_train, checkpoint_dir=tmp_path / "run", quiet=True, callback=kill)
    resumed = pinn.train(*setup(), stages, key=key_train, checkpoint_dir=tmp_path / "run", resume=True, quiet=True)
    assert tree_equal_bytes(resumed.model, full.model)
    assert [s.iterations for s in resumed.stages] == [s.iterations for s in full.stages]


def test_stages_check_their_own_arguments():
    for make, message in [
        (lambda: pinn.Adam(0), "Adam: steps must be an int >= 1, got 0"),
        (lambda: pinn.Adam(5, learning_rate=-1.0), "Adam: learning_rate must be a finite number > 0"),
        (lambda: pinn.Adam(5, schedule="linear"), "Adam: unknown schedule 'linear'"),
        (lambda: pinn.Adam(5, b2=1.0), r"Adam: b2 must be in \[0, 1\)"),
        (lambda: pinn.LBFGS(5, memory_size=0), "LBFGS: memory_size must be an int >= 1"),
        (lambda: pinn.LevenbergMarquardt(5, chunk=0), "LevenbergMarquardt: chunk must be an int >= 1"),
        (lambda: pinn.GaussNewton(5, rtol=float("nan")), "GaussNewton: rtol must be a finite number >= 0"),
        (lambda: pinn.GaussNewton(5, points=0), "GaussNewton: points must be an int >= 1 or None"),
        (lambda: pinn.LevenbergMarquardt(5, linear_solver=lx.LU()), "LevenbergMarquardt: linear_solver LU.*square"),
        (lambda: pinn.OptaxStage(optax.adam(1e-3), 5, on_nonfinite="ignore"), "OptaxStage: on_nonfinite"),
    ]:
        with pytest.raises(ValueError, match=message):
            make()


def test_stage_from_config_builds_the_objects():
    assert pinn.stage_from_config({"name": "adam", "steps": 5, "learning_rate": 1e-2}) == pinn.Adam(
        5, learning_rate=1e-2
    )
    assert pinn.stage_from_config({"name": "lbfgs", "steps": 7, "memory_size": 20, "adaptive": True}) == pinn.LBFGS(
        7, memory_size=20, adaptive=True
    )
    lm = pinn.stage_from_config({"name": "lm", "steps": 4, "points": 64, "resample": True})
    assert lm == pinn.LevenbergMarquardt(4, linear_solver=lx.Cholesky(), points=64, resample=True)
    gn = pinn.stage_from_config({"name": "gauss_newton", "steps": 3, "linear_solver": "cg", "cg_steps": 30})
    assert gn == pinn.GaussNewton(3, linear_solver=lx.Normal(lx.CG(rtol=1e-10, atol=1e-12, max_steps=30)))
    assert pinn.stage_from_config({"name": "lm", "steps": 3, "linear_solver": "qr"}).linear_solver == lx.QR()
    sgd = pinn.stage_from_config({"name": "sgd", "steps": 3, "learning_rate": 0.1, "resample": True})
    assert isinstance(sgd, pinn.OptaxStage) and (sgd.name, sgd.steps, sgd.resample) == ("sgd", 3, True)
    with pytest.raises(ValueError, match=r"unknown name 'adm' \(did you mean 'adam'\?\)"):
        pinn.stage_from_config({"name": "adm", "steps": 3})
    with pytest.raises(ValueError, match=r"stage config \(lm\): unknown key\(s\) \['chunks'\] \(did you mean 'chunk'"):
        pinn.stage_from_config({"name": "lm", "steps": 3, "chunks": 2})
    with pytest.raises(ValueError, match="unknown linear_solver 'lu'"):
        pinn.stage_from_config({"name": "lm", "steps": 3, "linear_solver": "lu"})
    with pytest.raises(ValueError, match="cg_steps applies to linear_solver 'cg' only"):
        pinn.stage_from_config({"name": "lm", "steps": 3, "cg_steps": 10})
    with pytest.raises(ValueError, match="Adam: steps must be an int >= 1, got 0"):
        pinn.stage_from_config({"name": "adam", "steps": 0})


def test_optax_stage_runs_any_transformation(getkey, tmp_path):
    problem = _poisson_problem()
    loss, state = pinn.make_loss(problem, {"residual": 32, "dirichlet": 4}, key=getkey())
    model = pinn.PINN(nn.MLP(1, "scalar", 6, 1, key=getkey()))
    key = getkey()
    # optax.adam on the same constant rate as pinn.Adam: the same training to rounding.
    custom = pinn.OptaxStage(optax.adam(optax.constant_schedule(1e-2)), 40, name="custom")
    a = pinn.train(model, loss, state, [custom], key=key, checkpoint_dir=tmp_path, quiet=True)
    b = pinn.train(model, loss, state, [pinn.Adam(40, learning_rate=1e-2)], key=key, quiet=True)
    assert (tmp_path / "0-custom").is_dir()
    assert a.stages[0].name == "custom" and a.stages[0].iterations == 40
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-10)
    assert a.losses[-1] < 0.9 * a.losses[0]


def test_least_squares_stage_reports_a_nonfinite_iterate(getkey):
    problem = _poisson_problem()
    loss, state = pinn.make_loss(problem, {"residual": 16, "dirichlet": 4}, key=getkey())
    model = pinn.PINN(nn.MLP(1, "scalar", 4, 1, key=getkey()))
    bad = eqx.tree_at(lambda m: m.network.layers[-1].bias, model, jnp.full_like(model.network.layers[-1].bias, jnp.nan))
    out = pinn.LevenbergMarquardt(4, chunk=2).run(bad, loss, state, key=getkey(), quiet=True)
    assert not bool(out.result == RESULTS.successful)
    assert RESULTS[out.result]
    assert len(out.losses) == 0


def test_inverse_problem_recovers_a_coefficient(getkey):
    # k u'' + pi^2 sin(pi x) = 0, u(0) = u(1) = 0: u = sin(pi x) / k; 16 noisy sensors.
    k_true = 2.0

    def residual(u, x, args):
        return args["k"] * pinn.derivative(u, x, (0, 0)) + jnp.pi**2 * jnp.sin(jnp.pi * x[0])

    rng = np.random.default_rng(0)
    sensors = np.linspace(0.05, 0.95, 16)[:, None]
    observed = np.sin(np.pi * sensors[:, 0]) / k_true * (1 + 0.01 * rng.standard_normal(16))
    domain = pinn.Interval(0.0, 1.0)
    conditions = [pinn.Dirichlet(0.0, hard=True), pinn.Observations(sensors, observed)]
    problem = pinn.PDEProblem(residual, domain, conditions)
    model = pinn.PINN(
        nn.MLP(1, "scalar", 8, 1, key=getkey()),
        coefficients={"k": Positive(1.0)},
        constraint=pinn.HardConstraint(domain, conditions),
    )
    loss, state = pinn.make_loss(problem, {"residual": 64}, key=getkey())
    stages = [pinn.Adam(300, learning_rate=1e-2), pinn.LevenbergMarquardt(30)]
    sol = pinn.train(model, loss, state, stages, key=getkey(), quiet=True)
    k = float(sol.model.coefficient_values()["k"])
    assert abs(k - k_true) / k_true < 0.02, k


# ---------------------------------------------------------------- causal weighting
def test_causal_weighting_formula():
    causal = pinn.CausalWeighting(4, tol=2.0)
    tau = jnp.array([0.0, 0.1, 0.3, 0.6, 0.7, 1.0])
    squared = jnp.array([1.0, 3.0, 0.5, 0.2, 0.4, 0.1])
    np.testing.assert_array_equal(causal.slices(tau), [0, 0, 1, 2, 2, 3])
    losses, counts = causal.slice_losses(squared, tau)
    np.testing.assert_allclose(losses, [2.0, 0.5, 0.3, 0.1])
    np.testing.assert_allclose(counts, [2, 1, 2, 1])
    w = np.exp(-2.0 * np.array([0.0, 2.0, 2.5, 2.8]))
    np.testing.assert_allclose(causal.weights(losses), w, rtol=1e-12)
    np.testing.assert_allclose(causal(squared, tau), np.mean(w * [2.0, 0.5, 0.3, 0.1]), rtol=1e-12)
    np.testing.assert_allclose(jnp.sum(causal.point_factors(squared, tau) * squared), causal(squared, tau), rtol=1e-12)
    # The weights carry no gradient: d/dL of the term is w_k / M.
    grad = jax.grad(lambda s: causal(s, tau))(squared)
    np.testing.assert_allclose(grad, (w / (4 * np.array([2, 1, 2, 1])))[[0, 0, 1, 2, 2, 3]], rtol=1e-12)
    with pytest.raises(ValueError, match="CausalWeighting"):
        pinn.CausalWeighting(0)
    with pytest.raises(ValueError, match="CausalWeighting"):
        pinn.CausalWeighting(4, tol=0)


def test_causal_loss_residuals_and_freeze(getkey):
    def heat(u, x, args):
        _, u_t, u_xx = pinn.derivatives(u, x, [(), (0,), (1, 1)])
        return u_t - 0.1 * u_xx

    domain = pinn.SpaceTime(pinn.Interval(0.0, 1.0), 0.0, 2.0)
    problem = pinn.PDEProblem(
        heat, domain, [pinn.Initial(lambda p: jnp.sin(math.pi * p[1]), hard=True), pinn.Dirichlet(0.0)]
    )
    model = pinn.PINN(
        nn.MLP(2, "scalar", width=8, depth=2, key=getkey()), constraint=pinn.HardConstraint(domain, problem.conditions)
    )
    causal = pinn.CausalWeighting(5, tol=3.0)
    loss, state = pinn.make_loss(problem, {"residual": 64, "dirichlet": 16}, causal=causal, key=getkey())
    value, _ = loss(model, state, None, key=getkey())
    # The least-squares form reproduces the causal loss.
    np.testing.assert_allclose(jnp.sum(loss.residuals(model, state) ** 2), value, rtol=1e-12)
    points = loss.points(state)["residual"]["x"]
    r = jax.vmap(lambda p: heat(pinn.TrialFunction(model, pinn.Forward()), p, None))(points)
    terms = loss.terms(model, state)
    np.testing.assert_allclose(terms["residual"], causal(r**2, points[:, 0] / 2.0), rtol=1e-12)
    assert float(terms["residual"]) < float(jnp.mean(r**2))
    frozen = loss.freeze()
    assert frozen.causal is None and loss.causal == causal
    np.testing.assert_allclose(frozen.terms(model, state)["residual"], jnp.mean(r**2), rtol=1e-12)
    with pytest.raises(ValueError, match="SpaceTime"):
        pinn.make_loss(pinn.PDEProblem(heat, pinn.Box([0, 0], [1, 1])), {"residual": 8}, causal=causal, key=getkey())
