"""sciml.ode.HamiltonianVectorField: structure, conservation, gradients, errors; pendulum_hnn's references."""

import math

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import sciml.nn
from problems import pendulum_hnn
from sciml.ode import HamiltonianVectorField, ODEModel
from sciml.testing import check_grad


class _Quartic(eqx.Module):
    """H = |p|^2 / 2 + V(q), V = q0^2 q1 + cos(q0) + q1^4 / 4: two coupled degrees of freedom."""

    def __call__(self, y):
        q, p = y[:2], y[2:]
        return 0.5 * jnp.sum(p**2) + q[0] ** 2 * q[1] + jnp.cos(q[0]) + 0.25 * q[1] ** 4


class _Vector(eqx.Module):
    def __call__(self, y):
        return y


T0 = jnp.asarray(0.0)


def test_field_is_symplectic_gradient_of_analytic_h():
    field = HamiltonianVectorField(_Quartic())
    y = jnp.array([0.3, -0.7, 1.1, -0.4])
    q0, q1, p0, p1 = np.asarray(y)
    grad_v = np.array([2 * q0 * q1 - math.sin(q0), q0**2 + q1**3])
    expected = np.concatenate([[p0, p1], -grad_v])
    np.testing.assert_allclose(np.asarray(field(T0, y, None)), expected, rtol=1e-13, atol=1e-14)
    h = 0.5 * (p0**2 + p1**2) + q0**2 * q1 + math.cos(q0) + 0.25 * q1**4
    assert float(field.hamiltonian(y)) == pytest.approx(h, rel=1e-14)


def test_network_field_is_divergence_free_and_accepts_shape_one(getkey):
    key = getkey()
    scalar = sciml.nn.MLP(2, "scalar", width=8, depth=2, activation="tanh", key=key)
    one = sciml.nn.MLP(2, 1, width=8, depth=2, activation="tanh", key=key)
    y = jnp.array([0.4, -1.2])
    a, b = HamiltonianVectorField(scalar), HamiltonianVectorField(one)
    np.testing.assert_allclose(np.asarray(a(T0, y, None)), np.asarray(b(T0, y, None)), rtol=1e-14)
    # J grad H has a symmetric-times-antisymmetric Jacobian: zero trace, so the flow keeps volume.
    jac = eqx.filter_jit(jax.jacfwd(lambda x: a(T0, x, None)))(y)
    assert abs(float(jnp.trace(jac))) < 1e-12
    assert float(jnp.max(jnp.abs(jac))) > 1e-3


def test_pendulum_flow_matches_scipy_and_conserves_h():
    """The exact pendulum Hamiltonian integrated by diffrax against scipy's DOP853."""
    model = ODEModel(
        HamiltonianVectorField(pendulum_hnn.PendulumHamiltonian()),
        diffrax.Dopri8(),
        diffrax.PIDController(rtol=1e-11, atol=1e-11),
        max_steps=20_000,
    )
    y0 = np.array([1.2, 0.3])
    ts = np.linspace(0.0, 30.0, 61)
    ys = np.asarray(model(ts, y0))
    ref = solve_ivp(
        lambda t, y: [y[1], -math.sin(y[0])], (0.0, 30.0), y0, method="DOP853", rtol=1e-12, atol=1e-12, t_eval=ts
    ).y.T
    np.testing.assert_allclose(ys, ref, atol=1e-8)
    energies = pendulum_hnn.energy(ys)
    assert np.max(np.abs(energies - energies[0])) < 1e-9
    h = jax.vmap(model.vector_field.hamiltonian)(jnp.asarray(ys))
    np.testing.assert_allclose(np.asarray(h), energies, rtol=1e-14, atol=1e-14)


def test_gradient_through_solve_matches_finite_differences(getkey):
    """Training differentiates through grad H: check the second-order path end to end."""
    net = sciml.nn.MLP(2, "scalar", width=4, depth=1, activation="tanh", key=getkey())
    model = ODEModel(HamiltonianVectorField(net), diffrax.Tsit5(), diffrax.ConstantStepSize(), dt0=0.05)
    ts = jnp.linspace(0.0, 1.0, 5)
    y0 = jnp.array([0.5, -0.2])

    def loss(m):
        return jnp.sum(m(ts, y0) ** 2)

    check_grad(loss, model, rtol=1e-5, atol=1e-8)


def test_bad_input_errors(getkey):
    # (under the test suite's runtime type checking the annotation rejects it first)
    with pytest.raises(TypeError):
        HamiltonianVectorField(3.0)
    field = HamiltonianVectorField(_Quartic())
    with pytest.raises(ValueError, match="even length"):
        field(T0, jnp.ones(3), None)
    vector = HamiltonianVectorField(_Vector())
    with pytest.raises(ValueError, match="must return a scalar H"):
        vector(T0, jnp.ones(2), None)
    net = sciml.nn.MLP(2, "scalar", width=4, depth=1, key=getkey())
    with pytest.raises(ValueError, match="is not accepted by the vector field"):
        ODEModel(HamiltonianVectorField(net)).solve(jnp.linspace(0.0, 1.0, 3), jnp.ones((2, 2)))


def test_pendulum_period_and_config_validation():
    """`period` (elliptic integral) against the period measured on scipy's solution."""
    for e in (-0.9, -0.2, 0.6):
        q_max = math.acos(-e)
        # Released at rest from q_max, the pendulum is back at rest a half period later.
        sol = solve_ivp(
            lambda t, y: [y[1], -math.sin(y[0])],
            (0.0, 40.0),
            [q_max, 0.0],
            method="DOP853",
            rtol=1e-12,
            atol=1e-12,
            events=lambda t, y: y[1],
            dense_output=True,
        )
        half = sol.t_events[0][sol.t_events[0] > 1.0][0]
        assert float(pendulum_hnn.period(e)) == pytest.approx(2 * half, rel=1e-9)
    assert float(pendulum_hnn.period(-1 + 1e-10)) == pytest.approx(2 * math.pi, rel=1e-8)
    with pytest.raises(ValueError, match="pendulum_hnn: need -1 < energy_min"):
        pendulum_hnn.Config(energy_max=1.2)
    with pytest.raises(ValueError, match="pendulum_hnn: eval_solver"):
        pendulum_hnn.Config(eval_solver="euler")
