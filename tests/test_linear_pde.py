"""Differentiable diffusion solves: accuracy against analytic and scipy solutions, adjoint gradients."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg

from sciml.pde import diffusion_matrix, DiffusionOperator, solve_diffusion
from sciml.testing import check_grad


def _mean(a, b, mean):
    return 2 * a * b / (a + b) if mean == "harmonic" else (a + b) / 2


def _scipy_solve(k, f, boundary, lengths, mean):
    """The same finite-volume scheme, assembled node by node and solved by SuperLU."""
    k, f, g = (np.asarray(a, np.float64) for a in (k, f, boundary))
    shape = f.shape
    h = [L / (n + 1) for L, n in zip(lengths, shape)]
    index = {node: i for i, node in enumerate(itertools.product(*(range(1, n + 1) for n in shape)))}
    A = scipy.sparse.lil_matrix((len(index), len(index)))
    rhs = f.reshape(-1).copy()
    for node, row in index.items():
        for axis, step in itertools.product(range(len(shape)), (-1, 1)):
            other = list(node)
            other[axis] += step
            other = tuple(other)
            c = _mean(k[node], k[other], mean) / h[axis] ** 2
            A[row, row] += c
            if other in index:
                A[row, index[other]] -= c
            else:
                rhs[row] += c * g[other]
    return scipy.sparse.linalg.spsolve(A.tocsc(), rhs).reshape(shape)


def _random_problem(rng, shape):
    full = tuple(n + 2 for n in shape)
    k = np.exp(rng.normal(0.0, 0.5, full))
    f = rng.normal(size=shape)
    boundary = rng.normal(size=full)
    return jnp.asarray(k), jnp.asarray(f), jnp.asarray(boundary)


def test_poisson_1d_second_order():
    # -u'' = pi^2 sin(pi x) on (0, 1), u(0) = u(1) = 0: u = sin(pi x).
    errors = []
    for n in (15, 31, 63):
        x = np.linspace(0.0, 1.0, n + 2)[1:-1]
        u = solve_diffusion(jnp.ones(n + 2), jnp.asarray(np.pi**2 * np.sin(np.pi * x)))
        errors.append(np.max(np.abs(np.asarray(u) - np.sin(np.pi * x))))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert errors[0] < 4e-3
    np.testing.assert_allclose(ratios, 4.0, rtol=0.02)


def test_variable_coefficient_2d_second_order():
    # Manufactured solution on the box [0, 1] x [0, 0.5]: u = sin(pi x) cos(2 pi y) + x y,
    # k = 1 + x^2 + y / 2, f = -div(k grad u) = -(k lap u + grad k . grad u).
    def fields(x, y):
        s, c = np.sin(np.pi * x) * np.cos(2 * np.pi * y), np.pi * np.cos(np.pi * x) * np.cos(2 * np.pi * y)
        u = s + x * y
        k = 1 + x**2 + y / 2
        ux, uy = c + y, -2 * np.pi * np.sin(np.pi * x) * np.sin(2 * np.pi * y) + x
        f = 5 * np.pi**2 * k * s - 2 * x * ux - uy / 2
        return u, k, f

    errors = []
    for n in (7, 15, 31):
        x, y = np.meshgrid(np.linspace(0.0, 1.0, n + 2), np.linspace(0.0, 0.5, n + 2), indexing="ij")
        u_exact, k, f = fields(x, y)
        u = solve_diffusion(k, f[1:-1, 1:-1], length=(1.0, 0.5), boundary=u_exact)
        errors.append(float(np.max(np.abs(np.asarray(u) - u_exact[1:-1, 1:-1]))))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert errors[-1] < 1e-3
    np.testing.assert_allclose(ratios, 4.0, rtol=0.1)


@pytest.mark.parametrize(
    "solver, mean",
    [
        (None, "harmonic"),
        (None, "arithmetic"),
        (lx.CG(rtol=1e-12, atol=1e-12), "harmonic"),
        (lx.Cholesky(), "arithmetic"),
        (lx.LU(), "harmonic"),
    ],
)
def test_variable_coefficient_1d_matches_scipy(solver, mean):
    rng = np.random.default_rng(0)
    k, f, boundary = _random_problem(rng, (20,))
    u = solve_diffusion(k, f, length=2.0, boundary=boundary, mean=mean, solver=solver)
    expected = _scipy_solve(k, f, boundary, (2.0,), mean)
    np.testing.assert_allclose(u, expected, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("solver", [None, lx.Cholesky()])
def test_2d_matches_scipy(solver):
    rng = np.random.default_rng(1)
    k, f, boundary = _random_problem(rng, (9, 6))
    u = solve_diffusion(k, f, length=(1.5, 1.0), boundary=boundary, solver=solver)
    expected = _scipy_solve(k, f, boundary, (1.5, 1.0), "harmonic")
    assert u.shape == (9, 6)
    np.testing.assert_allclose(u, expected, rtol=1e-8, atol=1e-10)


def test_operator_is_the_symmetric_positive_definite_stencil():
    rng = np.random.default_rng(2)
    k, _, _ = _random_problem(rng, (4, 3))
    op = DiffusionOperator(k, length=(1.0, 2.0))
    A = np.asarray(jax.jit(lambda op: op.as_linear_operator().as_matrix())(op))
    np.testing.assert_allclose(A, A.T, rtol=1e-13, atol=0)
    assert np.linalg.eigvalsh(A).min() > 0
    np.testing.assert_allclose(np.diag(A), np.asarray(op.diagonal()).reshape(-1), rtol=1e-13)
    # Column j of A is A e_j; compare against the scipy assembly through A^-1.
    u = np.asarray(jax.random.normal(jax.random.key(0), (4, 3), jnp.float64))
    expected = _scipy_solve(k, (A @ u.reshape(-1)).reshape(4, 3), np.zeros(k.shape), (1.0, 2.0), "harmonic")
    np.testing.assert_allclose(expected, u, rtol=1e-10, atol=1e-12)
    k1 = jnp.asarray(np.exp(rng.normal(size=7)))
    tri = jax.jit(lambda op: op.as_linear_operator(tridiagonal=True).as_matrix())(DiffusionOperator(k1))
    full = jax.jit(lambda op: op.as_linear_operator().as_matrix())(DiffusionOperator(k1))
    np.testing.assert_allclose(tri, full, rtol=1e-13)


@pytest.mark.parametrize(
    "shape, solver",
    [((6,), None), ((6,), lx.CG(rtol=1e-12, atol=1e-12)), ((3, 4), None), ((3, 4), lx.Cholesky())],
)
def test_gradient_matches_finite_differences(shape, solver):
    rng = np.random.default_rng(3)
    k, f, boundary = _random_problem(rng, shape)
    target = jnp.asarray(rng.normal(size=shape))

    def loss(k, f, boundary):
        u = solve_diffusion(k, f, boundary=boundary, solver=solver)
        return jnp.sum((u - target) ** 2 * jnp.linspace(0.5, 1.5, u.size).reshape(u.shape))

    report = check_grad(loss, k, f, boundary, rtol=1e-5, atol=1e-8)
    assert report.max_rel_error < 1e-5


def test_gradient_through_a_learnable_coefficient_model():
    # k = exp(theta . features(x)): the field comes from parameters, as in inverse problems.
    n = 8
    x = jnp.linspace(0.0, 1.0, n + 2)
    features = jnp.stack([jnp.ones_like(x), x, x**2])

    def loss(theta):
        k = jnp.exp(theta @ features)
        return jnp.sum(solve_diffusion(k, jnp.ones(n)) ** 2)

    check_grad(loss, jnp.array([0.1, -0.3, 0.2]))


def _primitive_counts(jaxpr) -> dict[str, int]:
    counts: dict[str, int] = {}

    def walk(j):
        for eqn in j.eqns:
            counts[eqn.primitive.name] = counts.get(eqn.primitive.name, 0) + 1
            for param in eqn.params.values():
                for sub in param if isinstance(param, (tuple, list)) else (param,):
                    if isinstance(sub, jax.extend.core.ClosedJaxpr):
                        walk(sub.jaxpr)
                    elif isinstance(sub, jax.extend.core.Jaxpr):
                        walk(sub)

    walk(jaxpr.jaxpr)
    return counts


@pytest.mark.parametrize("shape, solver", [((10,), lx.CG(rtol=1e-10, atol=1e-10)), ((5, 4), None), ((10,), None)])
def test_backward_pass_is_one_adjoint_solve(shape, solver, monkeypatch):
    rng = np.random.default_rng(4)
    k, f, boundary = _random_problem(rng, shape)
    solve = lambda k, f: solve_diffusion(k, f, boundary=boundary, solver=solver)

    # Counting the calls to lineax.linear_solve as the backward pass is traced. (The
    # forward is traced twice by jax.custom_vjp, for the primal and for the rule, so it
    # is counted through its jaxpr below.)
    calls = []
    original = lx.linear_solve

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(lx, "linear_solve", counting)
    u, vjp = jax.vjp(solve, k, f)
    calls.clear()
    vjp(jnp.ones_like(u))
    assert len(calls) == 1
    monkeypatch.undo()

    # The backward jaxpr holds one (opaque) linear_solve primitive and no loop: the
    # solver's iterations are not differentiated or replayed.
    counts = _primitive_counts(jax.make_jaxpr(vjp)(jnp.ones_like(u)))
    assert counts.get("linear_solve", 0) == 1, counts
    assert counts.get("while", 0) == 0 and counts.get("scan", 0) == 0, counts
    forward = _primitive_counts(jax.make_jaxpr(solve)(k, f))
    assert forward.get("linear_solve", 0) == 1, forward


def test_vmap_and_throw_false():
    rng = np.random.default_rng(5)
    ks = jnp.stack([_random_problem(rng, (5, 5))[0] for _ in range(3)])
    fs = jnp.asarray(rng.normal(size=(3, 5, 5)))
    batched = jax.vmap(solve_diffusion)(ks, fs)
    for k, f, u in zip(ks, fs, batched):
        np.testing.assert_allclose(u, solve_diffusion(k, f), rtol=1e-12, atol=1e-14)
    # Too few CG steps: the member with f = 0 converges at once, the other one fails.
    short = lx.CG(rtol=1e-12, atol=1e-12, max_steps=2)
    fs = jnp.stack([jnp.zeros((5, 5)), jnp.ones((5, 5))])
    u = jax.vmap(lambda k, f: solve_diffusion(k, f, solver=short, throw=False))(ks[:2], fs)
    assert np.all(np.asarray(u[0]) == 0) and np.all(np.isnan(np.asarray(u[1])))
    with pytest.raises(eqx.EquinoxRuntimeError, match="maximum number of solver steps"):
        jax.vmap(lambda k, f: solve_diffusion(k, f, solver=short))(ks[:2], fs)


def test_errors():
    k, f = jnp.ones(8), jnp.ones(6)
    message = r"k must have shape \(8,\) \(f's shape plus the two boundary nodes per axis\), got \(7,\)"
    with pytest.raises(ValueError, match=message):
        solve_diffusion(jnp.ones(7), f)
    # The runtime type checking of the test suite sees the mismatch with k's shape first.
    with pytest.raises((ValueError, TypeError), match=r"boundary"):
        solve_diffusion(k, f, boundary=jnp.ones(6))
    with pytest.raises(ValueError, match="Tridiagonal solves 1D problems only"):
        solve_diffusion(jnp.ones((5, 5)), jnp.ones((3, 3)), solver=lx.Tridiagonal())
    with pytest.raises(ValueError, match="mean must be one of"):
        solve_diffusion(k, f, mean="geometric")
    with pytest.raises(ValueError, match="positive side length"):
        solve_diffusion(k, f, length=-1.0)
    bad = k.at[3].set(-0.5)
    with pytest.raises(ValueError, match="positive, finite coefficient k.*-0.5"):
        solve_diffusion(bad, f)
    with pytest.raises(eqx.EquinoxRuntimeError, match="positive, finite coefficient k"):
        eqx.filter_jit(solve_diffusion)(bad, f)
    with pytest.raises(eqx.EquinoxRuntimeError, match="positive, finite coefficient k"):
        jax.grad(lambda k: jnp.sum(solve_diffusion(k, f)))(bad)


@pytest.mark.parametrize(
    "shape, length, mean", [((7,), 2.0, "harmonic"), ((4, 3), (1.0, 2.0), "arithmetic"), ((3, 4, 2), 1.0, "harmonic")]
)
def test_diffusion_matrix_is_the_operator(shape, length, mean):
    rng = np.random.default_rng(6)
    k, f, _ = _random_problem(rng, shape)
    A = diffusion_matrix(k, length, mean)
    dense = np.asarray(jax.jit(lambda op: op.as_linear_operator().as_matrix())(DiffusionOperator(k, length, mean)))
    np.testing.assert_allclose(A.toarray(), dense, rtol=1e-13, atol=1e-10)
    u = scipy.sparse.linalg.spsolve(A.tocsc(), np.asarray(f).ravel()).reshape(shape)
    np.testing.assert_allclose(u, solve_diffusion(k, f, length=length, mean=mean), rtol=1e-8, atol=1e-11)
    with pytest.raises(ValueError, match="mean must be one of"):
        diffusion_matrix(k, length, "geometric")
