"""The Robertson inverse problem: its equations, its reference, the explicit-solver failure and a tiny fit."""

import time

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from problems import robertson_inverse as rob
from sciml.ode import ODESolveError


K = (0.04, 3e7, 1e4)


def _analytic(y, k1, k2, k3):
    y1, y2, y3 = y
    return np.array([-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2**2 - k3 * y2 * y3, k2 * y2**2])


def _analytic_jacobian(y, k1, k2, k3):
    y1, y2, y3 = y
    return np.array([[-k1, k3 * y3, k3 * y2], [k1, -2 * k2 * y2 - k3 * y3, -k3 * y2], [0.0, 2 * k2 * y2, 0.0]])


def _states():
    rng = np.random.default_rng(0)
    return np.stack([rng.uniform(0, 1, 5), rng.uniform(0, 4e-5, 5), rng.uniform(0, 1, 5)], axis=1)


def test_vector_field_is_the_robertson_rhs():
    rates = (0.07, 2e7, 3e3)
    field = rob.make_model(rates, rob.Config()).vector_field
    states = _states()
    t = jnp.zeros(())
    out = jax.jit(jax.vmap(lambda y: field(t, y, None)))(jnp.asarray(states))
    jac = jax.jit(jax.vmap(jax.jacfwd(lambda y: field(t, y, None))))(jnp.asarray(states))
    for y, f, j in zip(states, out, jac):
        np.testing.assert_allclose(f, _analytic(y, *rates), rtol=1e-12, atol=1e-18)
        np.testing.assert_allclose(j, _analytic_jacobian(y, *rates), rtol=1e-12, atol=1e-12)
    assert rob.rates_of(rob.make_model(rates, rob.Config())) == pytest.approx(rates, rel=1e-12)


def test_saved_rate_law_reproduces_the_equations():
    network, _ = rob.rate_law_network(K)
    states = _states()
    rates = np.exp(np.asarray(jax.vmap(network)(jnp.log(jnp.asarray(states)))))
    for y, r in zip(states, rates):
        np.testing.assert_allclose(np.asarray(rob.STOICHIOMETRY) @ r, _analytic(y, *K), rtol=1e-10, atol=1e-18)


def test_reference_matches_published_values():
    # The reference solution at t = 40 of the stiff-solver literature (Hairer and
    # Wanner, "Solving Ordinary Differential Equations II").
    y = rob.reference(np.array([0.0, 1e-3, 40.0]), K)
    np.testing.assert_allclose(y[-1], [0.7158270687193403, 0.9185534764557338e-05, 0.2841637457458950], rtol=1e-9)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-12)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="robertson_inverse: start_signs"):
        rob.Config(start_signs="+*-")
    with pytest.raises(ValueError, match="robertson_inverse: noise"):
        rob.Config(noise=0.0)


def test_explicit_solver_fails_fast_with_a_clear_message():
    config = rob.Config(explicit_max_steps=300)
    t = np.concatenate([[0.0], np.logspace(-5, 5, 11)])
    start = time.perf_counter()
    with pytest.raises(ODESolveError) as info:
        rob.make_model(K, config, diffrax.Tsit5(), 300, name="Robertson (explicit Tsit5)").solve(t, np.asarray(rob.Y0))
    assert time.perf_counter() - start < 30
    message = str(info.value)
    assert "Robertson (explicit Tsit5)" in message
    assert "maximum number of solver steps" in message
    assert "100000" in message  # the time span


def test_levenberg_marquardt_recovers_rates_from_a_2x_start():
    config = rob.Config(steps=25, refine=1, n_obs=11, rtol=1e-5, atol=1e-11)
    t = np.concatenate([[0.0], np.logspace(-4, 5, config.n_obs)])
    index = np.arange(1, config.n_obs + 1)
    y_obs = rob.reference(t, K)[index]
    model = rob.make_model((K[0] / 2, K[1] * 2, K[2] / 2), config)
    fitted, _, _, residuals = rob.fit_rates(model, t, index, y_obs, 0.01, config)
    np.testing.assert_allclose(rob.rates_of(fitted), K, rtol=1e-3)
    assert np.sqrt(np.mean(residuals**2)) < 0.05
