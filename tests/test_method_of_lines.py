"""sciml.pde: stencils, spectral Burgers vs Cole-Hopf, gradients through the solve, errors."""

import math

import diffrax
import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

import sciml.nn
from problems.burgers_closure import burgers_flux_divergence, ViscousBurgers
from sciml.ode import ODEModel, trajectory_data, TrajectoryLoss
from sciml.pde import (
    fd_derivative,
    MethodOfLines,
    PeriodicGrid,
    spectral_derivative,
    spectral_downsample,
)
from sciml.testing import check_grad


def _observed_order(order: int, accuracy: int) -> float:
    errors = []
    for n in (16, 32):
        x = PeriodicGrid(n).points
        u = jnp.asarray(np.sin(2 * x) + np.cos(x))
        exact = [2 * np.cos(2 * x) - np.sin(x), -4 * np.sin(2 * x) - np.cos(x)][order - 1]
        errors.append(np.abs(fd_derivative(u, 2 * math.pi / n, order=order, accuracy=accuracy) - exact).max())
    return math.log2(errors[0] / errors[1])


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("accuracy", [2, 4, 6])
def test_fd_stencils_converge_at_their_order(order, accuracy):
    assert abs(_observed_order(order, accuracy) - accuracy) < 0.15


def test_spectral_derivative_is_exact_on_resolved_modes():
    x = PeriodicGrid(16, 4.0).points
    u = jnp.asarray(np.sin(2 * np.pi * 3 * x / 4.0))
    w = 2 * np.pi * 3 / 4.0
    np.testing.assert_allclose(spectral_derivative(u, 4.0), w * np.cos(w * x), atol=1e-12)
    np.testing.assert_allclose(spectral_derivative(u, 4.0, order=2), -(w**2) * u, atol=1e-11)


def test_burgers_flux_conserves_mass_and_energy_and_is_second_order():
    x = PeriodicGrid(32).points
    u = jnp.asarray(np.sin(x) + 0.5 * np.cos(3 * x) + 0.2)
    tendency = burgers_flux_divergence(u, 2 * math.pi / 32)
    assert abs(float(jnp.sum(tendency))) < 1e-12
    assert abs(float(jnp.sum(u * tendency))) < 1e-12
    errors = []
    for n in (32, 64):
        x = PeriodicGrid(n).points
        exact = -np.sin(x) * np.cos(x)
        errors.append(np.abs(burgers_flux_divergence(jnp.asarray(np.sin(x)), 2 * math.pi / n) - exact).max())
    assert abs(math.log2(errors[0] / errors[1]) - 2) < 0.15


def test_spectral_downsample_keeps_resolved_modes_and_drops_the_rest():
    fine = PeriodicGrid(64).points
    coarse = PeriodicGrid(16).points
    u = np.cos(3 * fine) + 0.7 * np.sin(5 * fine) + 0.3 * np.sin(8 * fine) + 0.2 * np.cos(20 * fine)
    expected = np.cos(3 * coarse) + 0.7 * np.sin(5 * coarse)
    np.testing.assert_allclose(spectral_downsample(jnp.asarray(u[None]), 16)[0], expected, atol=1e-12)
    # The Gaussian filter damps mode k by exp(-k^2 Delta^2 / 24).
    gain = np.exp(-np.array([9.0, 25.0]) * 0.5**2 / 24)
    expected = gain[0] * np.cos(3 * coarse) + 0.7 * gain[1] * np.sin(5 * coarse)
    np.testing.assert_allclose(spectral_downsample(jnp.asarray(u), 16, filter_width=0.5), expected, atol=1e-12)


def _cole_hopf(x, t, nu):
    # u = -2 nu phi_x / phi with phi a solution of the heat equation phi_t = nu phi_xx.
    a, k = np.array([0.5, 0.3]), np.array([1.0, 2.0])
    decay = a[:, None] * np.exp(-nu * k[:, None] ** 2 * t)
    phi = 1 + np.sum(decay * np.cos(k[:, None] * x), axis=0)
    phi_x = -np.sum(k[:, None] * decay * np.sin(k[:, None] * x), axis=0)
    return -2 * nu * phi_x / phi


def test_spectral_burgers_matches_cole_hopf():
    nu, grid = 0.1, PeriodicGrid(64)
    ts = np.linspace(0.0, 1.0, 3)
    model = ODEModel(
        ViscousBurgers(grid, nu, discretisation="spectral"),
        diffrax.Tsit5(),
        diffrax.PIDController(rtol=1e-10, atol=1e-10),
    )
    ys = model(ts, _cole_hopf(grid.points, 0.0, nu))
    exact = np.stack([_cole_hopf(grid.points, t, nu) for t in ts])
    np.testing.assert_allclose(ys, exact, atol=1e-7)
    # The second-order finite-difference solver is visibly less accurate on this grid.
    fd = ODEModel(ViscousBurgers(grid, nu), diffrax.Tsit5(), diffrax.PIDController(rtol=1e-10, atol=1e-10))
    assert np.abs(fd(ts, exact[0]) - exact).max() > 1e-5


def _closure_model(getkey, n=8):
    net = sciml.nn.FieldResNet(1, 1, 1, width=3, depth=1, kernel_size=3, activation="tanh", key=getkey())
    field = MethodOfLines(ViscousBurgers(PeriodicGrid(n), jnp.array(0.1)), net)
    return ODEModel(field, diffrax.Heun(), diffrax.ConstantStepSize(), dt0=0.05)


def test_gradient_through_the_solve_matches_finite_differences(getkey):
    model = _closure_model(getkey)
    x = PeriodicGrid(8).points
    ts = np.linspace(0.0, 0.2, 3)
    ys = np.stack([np.sin(x - t) * np.exp(-0.1 * t) for t in ts])[None]
    data = trajectory_data(ts, ys)
    loss = TrajectoryLoss()
    params, static = eqx.partition(model, eqx.is_inexact_array)
    check_grad(lambda p: loss(eqx.combine(p, static), data), params, rtol=1e-5, atol=1e-9, directions=6)


def test_network_alone_and_plain_solver(getkey):
    net = sciml.nn.FNO(1, 1, 1, modes=3, width=4, depth=1, projection_width=4, key=getkey())
    field = MethodOfLines(None, net, n=8)
    assert field(jnp.array(0.0), jnp.ones(8), None).shape == (8,)
    plain = MethodOfLines(ViscousBurgers(PeriodicGrid(8), 0.1), None)
    u = jnp.asarray(np.sin(PeriodicGrid(8).points))
    t = jnp.array(0.0)
    np.testing.assert_array_equal(plain(t, u, None), ViscousBurgers(PeriodicGrid(8), 0.1)(t, u, None))


def test_bad_inputs_raise(getkey):
    grid = PeriodicGrid(8)
    with pytest.raises(ValueError, match="PeriodicGrid: n"):
        PeriodicGrid(2)
    with pytest.raises(ValueError, match="PeriodicGrid: length"):
        PeriodicGrid(8, -1.0)
    with pytest.raises(ValueError, match="fd_derivative: order"):
        fd_derivative(jnp.ones(8), 0.1, order=3)
    with pytest.raises(ValueError, match="spectral_downsample"):
        spectral_downsample(jnp.ones(12), 5)
    with pytest.raises(ValueError, match="ViscousBurgers: nu"):
        ViscousBurgers(grid, -0.1)
    with pytest.raises(ValueError, match="ViscousBurgers: discretisation"):
        ViscousBurgers(grid, 0.1, discretisation="fv")
    with pytest.raises(ValueError, match="8 points"):
        ViscousBurgers(grid, 0.1)(jnp.array(0.0), jnp.ones(6), None)
    with pytest.raises(ValueError, match="neither"):
        MethodOfLines(None, None)
    with pytest.raises(ValueError, match="give n"):
        MethodOfLines(None, sciml.nn.FieldResNet(1, 1, 1, width=2, depth=1, key=getkey()))
    with pytest.raises(ValueError, match="disagrees|but the known"):
        MethodOfLines(ViscousBurgers(grid, 0.1), None, n=16)
    stateful = sciml.nn.FieldResNet(1, 1, 1, width=2, depth=1, batch_norm=True, key=getkey())
    with pytest.raises(ValueError, match="holds state"):
        MethodOfLines(ViscousBurgers(grid, 0.1), stateful)
    wrong = sciml.nn.FieldResNet(1, 1, 2, width=2, depth=1, key=getkey())
    with pytest.raises(ValueError, match=r"map a \[1, 8\] field"):
        MethodOfLines(ViscousBurgers(grid, 0.1), wrong)(jnp.array(0.0), jnp.ones(8), None)
