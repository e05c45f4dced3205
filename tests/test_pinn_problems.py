"""The Poisson and inverse-heat PINN problems: their references, data, configs and a `--quick` run of each."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.sparse

import sciml.nn
from problems import heat_inverse, poisson_pinn
from sciml import pinn


# ------------------------------------------------------------------ Poisson
def test_poisson_source_is_minus_laplacian_of_the_exact_solution():
    points = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (64, 2)))
    laplacian = jax.jit(jax.vmap(lambda p: pinn.laplacian(poisson_pinn.exact_solution, p)))(points)
    np.testing.assert_allclose(jax.jit(jax.vmap(poisson_pinn.source))(points), -laplacian, rtol=1e-12, atol=1e-11)
    # An independent second check: a fourth-order central difference of the NumPy values.
    h, p = 1e-3, np.array([-0.37, 0.21])
    stencil = np.array([p + s * h * e for e in np.eye(2) for s in (2, 1, 0, -1, -2)])
    u = np.asarray(jax.vmap(poisson_pinn.exact_solution)(jnp.asarray(stencil))).reshape(2, 5)
    fd = np.sum(u @ np.array([-1, 16, -30, 16, -1])) / (12 * h**2)
    assert float(poisson_pinn.source(jnp.asarray(p))) == pytest.approx(-fd, abs=1e-6)


def test_poisson_boundary_data_and_hard_constraint():
    theta = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    boundary = jnp.asarray(np.stack([np.cos(theta), np.sin(theta)], axis=1))
    exact = jax.vmap(poisson_pinn.exact_solution)(boundary)
    np.testing.assert_allclose(exact, jax.vmap(poisson_pinn.boundary_value)(boundary), atol=1e-14)
    # Any network gives the boundary data exactly through the transform.
    problem = poisson_pinn.make_problem()
    network = sciml.nn.cast(sciml.nn.MLP(2, "scalar", 8, 2, key=jax.random.key(1)), jnp.float64)
    model = pinn.PINN(network, constraint=pinn.HardConstraint(problem.domain, problem.conditions))
    np.testing.assert_allclose(jax.jit(jax.vmap(model))(boundary), exact, atol=1e-12)


def test_poisson_evaluation_set():
    x, y, inside = poisson_pinn.evaluation_grid()
    assert inside.shape == (201, 201) and x[0] == -1 and x[-1] == 1
    # The grid's cells tile the disk: the count is its area over the cell area, nearly.
    assert inside.sum() == pytest.approx(np.pi / 0.01**2, rel=2e-3)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    assert np.all(xx[inside] ** 2 + yy[inside] ** 2 < 1) and not inside[100, 0] and inside[100, 1]


# --------------------------------------------------------------------- heat
def test_heat_reference_satisfies_the_pde_and_conditions():
    t, x, h = 0.37, 0.29, 1e-4
    u = heat_inverse.exact_solution
    u_t = (u(t + h, x) - u(t - h, x)) / (2 * h)
    u_xx = (u(t, x + h) - 2 * u(t, x) + u(t, x - h)) / h**2
    assert u_t == pytest.approx(heat_inverse.K_TRUE * u_xx, rel=1e-6)
    xs = np.linspace(0, 1, 11)
    np.testing.assert_allclose(u(0.0, xs), np.sin(np.pi * xs) + 0.5 * np.sin(3 * np.pi * xs), atol=1e-15)
    np.testing.assert_allclose(u(np.linspace(0, 1, 5), 0.0), 0, atol=1e-15)
    np.testing.assert_allclose(u(np.linspace(0, 1, 5), 1.0), 0, atol=1e-15)


def test_heat_reference_matches_a_scipy_method_of_lines_solve():
    # Second-order finite differences in x (n interior nodes), stiff BDF in t.
    n = 199
    xs = np.linspace(0, 1, n + 2)
    dx = xs[1] - xs[0]
    k = heat_inverse.K_TRUE

    laplacian = k * scipy.sparse.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(n, n), format="csc") / dx**2
    sol = scipy.integrate.solve_ivp(
        lambda _, v: laplacian @ v,
        (0, 1),
        heat_inverse.exact_solution(0.0, xs[1:-1]),
        method="BDF",
        jac=laplacian,
        t_eval=[0.25, 1.0],
        rtol=1e-10,
        atol=1e-12,
    )
    exact = heat_inverse.exact_solution(sol.t[:, None], xs[None, 1:-1])
    # The O(dx^2) truncation error of the 3-point Laplacian.
    np.testing.assert_allclose(sol.y.T, exact, atol=2e-4)


def test_heat_sensor_data_and_oracle():
    sensors, readings, clean, sigma = heat_inverse.sensor_data(np.random.default_rng(0), np.random.default_rng(1), 0.01)
    assert sensors.shape == (50, 2) and readings.shape == clean.shape == (50,)
    assert np.all((sensors[:, 0] > 0) & (sensors[:, 0] <= 1) & (sensors[:, 1] >= 0) & (sensors[:, 1] <= 1))
    np.testing.assert_allclose(clean, heat_inverse.exact_solution(sensors[:, 0], sensors[:, 1]))
    assert sigma == pytest.approx(0.01 * np.std(clean))
    assert 0.5 * sigma < np.std(readings - clean) < 1.5 * sigma
    # Noise-free readings: the oracle recovers k to the solver's precision.
    k, std = heat_inverse.oracle_fit(sensors, clean, 0.3)
    assert k == pytest.approx(heat_inverse.K_TRUE, rel=1e-9) and std < 1e-9
    k, std = heat_inverse.oracle_fit(sensors, readings, 0.3)
    assert abs(k - heat_inverse.K_TRUE) < 4 * std and 0 < std < 1e-3


# ------------------------------------------------------------------ configs
@pytest.mark.parametrize(
    "module, bad",
    [
        (poisson_pinn, {"width": 0}),
        (poisson_pinn, {"lm_steps": -1}),
        (poisson_pinn, {"learning_rate": 0.0}),
        (heat_inverse, {"k_init": 0.0}),
        (heat_inverse, {"noise": -0.01}),
        (heat_inverse, {"data_weight": math.nan}),
        (heat_inverse, {"lbfgs_steps": -5}),
    ],
)
def test_bad_config_raises(module, bad):
    name = module.__name__.split(".")[-1]
    with pytest.raises(ValueError, match=name):
        dataclasses.replace(module.Config(), **bad)


# -------------------------------------------------------------- quick runs
def _check_quick_run(module, record, out):
    metrics = record["metrics"]
    with np.load(out / "predictions.npz") as p:
        if module is poisson_pinn:
            inside = p["inside"]
            error = np.linalg.norm((p["u"] - p["u_exact"])[inside]) / np.linalg.norm(p["u_exact"][inside])
        else:
            error = np.linalg.norm(p["u"] - p["u_exact"]) / np.linalg.norm(p["u_exact"])
            # The hard constraint makes the initial row and the boundary columns exact.
            np.testing.assert_allclose(p["u"][0], p["u_exact"][0], atol=1e-12)
            np.testing.assert_allclose(p["u"][:, [0, -1]], 0, atol=1e-12)
            assert p["k_trace"][0] == pytest.approx(heat_inverse.Config().k_init)
            assert p["k_trace"][-1] == pytest.approx(metrics["k"])
            assert np.all(np.diff(p["k_iterations"]) > 0)
    assert metrics["relative_l2"] == pytest.approx(error)
    assert any(f.endswith(".png") for f in record["outputs"])


def check_poisson_quick_run(record, out):
    """The reported error is the one recomputed from `predictions.npz`; called on the `--quick` run of
    `tests/test_problems.py`."""
    _check_quick_run(poisson_pinn, record, out)


def check_heat_inverse_quick_run(record, out):
    """Exact initial row and boundary columns, the k trace; called on the `--quick` run of `tests/test_problems.py`."""
    _check_quick_run(heat_inverse, record, out)
