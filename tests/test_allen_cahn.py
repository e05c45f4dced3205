"""The Allen-Cahn PINN problem: its spectral reference, the periodic embedding, config checks, a `--quick` run."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sciml.nn
from problems import allen_cahn_pinn as ac
from sciml import pinn
from sciml.train import count_parameters


def test_spectral_rhs_matches_analytic_derivatives():
    modes = 64
    x = -1.0 + 2.0 * np.arange(modes) / modes
    u = np.sin(np.pi * x) + 0.3 * np.cos(3 * np.pi * x) + 0.1
    u_xx = -(np.pi**2) * np.sin(np.pi * x) - 0.3 * 9 * np.pi**2 * np.cos(3 * np.pi * x)
    expected = ac.EPSILON * u_xx + ac.GAMMA * (u - u**3)
    got = ac.spectral_rhs(jnp.asarray(u), jnp.asarray(ac.wavenumbers(modes)))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_reference_is_converged_and_bounded():
    times = np.array([0.0, 0.5, 1.0])
    x1, t, u1 = ac.reference(1024, 1e-10, times)
    x2, _, u2 = ac.reference(2048, 1e-10, times)
    np.testing.assert_array_equal(x1, x2[::2])
    np.testing.assert_allclose(u1[0], x1**2 * np.cos(np.pi * x1), atol=1e-15)
    # Sharp interfaces: spectral convergence sets in at this resolution (measured 3e-4 max).
    assert np.max(np.abs(u1 - u2[:, ::2])) < 1e-3
    assert np.linalg.norm(u1 - u2[:, ::2]) / np.linalg.norm(u2[:, ::2]) < 1e-5
    # The reaction drives u towards the stable states +-1 without overshoot.
    assert np.max(np.abs(u2)) <= 1 + 1e-9
    assert np.min(u2[-1]) < -0.99 and np.max(u2[-1]) > 0.99
    # The initial condition is even, and the equation preserves that symmetry.
    np.testing.assert_allclose(u2[-1, 1:], u2[-1, 1:][::-1], atol=1e-8)


def test_evaluation_grid_is_the_published_one():
    x, t = ac.evaluation_grid()
    assert x.shape == (512,) and t.shape == (201,)
    assert x[0] == -1 and x[-1] == pytest.approx(1 - 2 / 512) and t[-1] == 1 and t[1] == pytest.approx(0.005)


def test_trial_function_is_periodic_and_exact_at_t0(getkey):
    problem = ac.make_problem()
    constraint = pinn.HardConstraint(problem.domain, problem.conditions)
    assert constraint.network_in_size == 3
    network = sciml.nn.build("mlp", key=getkey(), in_size=3, out_size="scalar", width=8, depth=2)
    model = pinn.PINN(network, constraint=constraint)
    # The initial data are periodic in value only (u0' = -+2 at x = +-1); what the network
    # adds, u - u0 = t N, is periodic with every derivative.
    index = [(), (1,), (1, 1), (1, 1, 1), (0,), (0, 1)]
    correction = lambda p: model(p) - ac.initial_condition(p[1])  # noqa: E731
    left = pinn.derivatives(correction, jnp.array([0.37, -1.0]), index)
    right = pinn.derivatives(correction, jnp.array([0.37, 1.0]), index)
    for a, b in zip(left, right):
        assert float(a) == pytest.approx(float(b), abs=1e-12)
    assert float(model(jnp.array([0.37, -1.0]))) == pytest.approx(float(model(jnp.array([0.37, 1.0]))), abs=1e-12)
    assert abs(float(left[1])) > 1e-3  # the check is not vacuous
    x = jnp.linspace(-1, 1, 7)
    u0 = jax.vmap(model)(jnp.stack([jnp.zeros_like(x), x], axis=1))
    np.testing.assert_allclose(u0, x**2 * np.cos(np.pi * x), atol=1e-15)


def test_residual_vanishes_on_the_spatially_uniform_solution():
    # u(t) = 1 / sqrt(1 + (1/u0^2 - 1) e^(-2 gamma t)) solves u' = gamma (u - u^3).
    def u(p):
        return 1 / jnp.sqrt(1 + (1 / 0.25 - 1) * jnp.exp(-2 * ac.GAMMA * p[0]))

    args = {"epsilon": ac.EPSILON, "gamma": ac.GAMMA}
    for point in ([0.1, 0.3], [0.7, -0.9]):
        assert float(ac.allen_cahn_residual(u, jnp.array(point), args)) == pytest.approx(0, abs=1e-12)


def test_time_windows_continue_the_previous_solution(getkey):
    edges = ac.window_edges(2)
    np.testing.assert_allclose(edges, [0.0, 0.5, 1.0])
    first, *_ = ac.setup(ac.Config(width=8, depth=2), getkey(), 0.0, 0.5)
    second, *_ = ac.setup(ac.Config(width=8, depth=2), getkey(), 0.5, 1.0, ac._window_initial(first, 0.5))
    x = jnp.linspace(-1, 1, 9)
    at = lambda m, t: jax.vmap(m)(jnp.stack([jnp.full_like(x, t), x], axis=1))  # noqa: E731
    # The second window starts exactly where the first ends, and differs from it later.
    np.testing.assert_allclose(at(second, 0.5), at(first, 0.5), atol=1e-14)
    assert np.max(np.abs(at(second, 0.8) - at(first, 0.8))) > 1e-3
    np.testing.assert_allclose(at(first, 0.0), x**2 * np.cos(np.pi * x), atol=1e-15)
    # Each grid time is predicted by the model of its window.
    t = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    u = ac.predict_windows([first, second], edges, np.asarray(x), t)
    np.testing.assert_allclose(u[:2], ac.predict(first, np.asarray(x), t[:2]), atol=1e-14)
    np.testing.assert_allclose(u[2:], ac.predict(second, np.asarray(x), t[2:]), atol=1e-14)


def test_late_windows_get_their_own_adam_budget():
    config = ac.Config(steps=100, late_from=0.8, late_steps=300)
    assert [ac.stages(config, t0)[0].steps for t0 in (0.0, 0.6, 0.8, 0.9)] == [100, 100, 300, 300]
    assert [s.name for s in ac.stages(config, 0.9)] == ["adam", "lbfgs", "lm", "lm"]


def test_late_windows_get_their_own_causal_tolerance_and_width(getkey):
    config = ac.Config(width=8, depth=2, causal_tol=10.0, late_from=0.8, late_causal_tol=1.0, late_width=12)
    early, early_loss, _, early_net = ac.setup(config, getkey(), 0.6, 0.8)
    late, late_loss, _, late_net = ac.setup(config, getkey(), 0.8, 0.9)
    assert (early_loss.causal.tol, late_loss.causal.tol) == (10.0, 1.0)
    assert (early_net["width"], late_net["width"]) == (8, 12)
    # 3 inputs (t, cos, sin), two hidden layers, a scalar output.
    assert count_parameters(early)["trainable"] == 3 * 8 + 8 + 8 * 8 + 8 + 8 + 1
    assert count_parameters(late)["trainable"] == 3 * 12 + 12 + 12 * 12 + 12 + 12 + 1


def test_window_residual_of_the_frozen_initial_data(getkey):
    # A zero network leaves u(t, x) = u0(x), whose residual -eps u0'' + 5 u0^3 - 5 u0 is known
    # in closed form; its mean square over x is computed here by the trapezoidal rule.
    jax.config.update("jax_enable_x64", True)
    model, *_ = ac.setup(ac.Config(width=8, depth=2), getkey(), 0.0, 0.2)
    model = jax.tree_util.tree_map(lambda a: jnp.zeros_like(a) if eqx.is_inexact_array(a) else a, model)
    x = np.linspace(-1, 1, 20001)
    u0 = x**2 * np.cos(np.pi * x)
    u0_xx = 2 * np.cos(np.pi * x) - 4 * np.pi * x * np.sin(np.pi * x) - np.pi**2 * x**2 * np.cos(np.pi * x)
    exact = np.trapezoid((-ac.EPSILON * u0_xx + ac.GAMMA * (u0**3 - u0)) ** 2, x) / 2
    estimate = ac.window_residual(model, 0.0, 0.2, None, 20000, getkey())
    assert estimate == pytest.approx(exact, rel=0.03)


@pytest.mark.parametrize(
    "field, value",
    [
        ("width", 0),
        ("modes", 1000),
        ("modes", 256),
        ("causal_tol", 0.0),
        ("dtype", "float16"),
        ("lbfgs_steps", -1),
        ("reference_rtol", 0.1),
        ("windows", -1),
        ("edges", (0.0, 0.5)),
        ("late_from", 1.5),
        ("late_steps", 0),
        ("late_width", -1),
        ("late_causal_tol", 0.0),
    ],
)
def test_bad_config_raises(field, value):
    with pytest.raises(ValueError, match="allen_cahn_pinn"):
        ac.Config(**{field: value})


def check_allen_cahn_quick_run(record, out):
    """Shapes, exact initial row, recomputed error, outputs; called on the `--quick` run of `tests/test_problems.py`."""
    metrics = record["metrics"]
    with np.load(out / "predictions.npz") as p:
        assert p["u"].shape == (201, 512) and p["u_exact"].shape == (201, 512)
        error = np.linalg.norm(p["u"] - p["u_exact"]) / np.linalg.norm(p["u_exact"])
        np.testing.assert_allclose(p["u"][0], p["x"] ** 2 * np.cos(np.pi * p["x"]), atol=1e-12)
    assert metrics["relative_l2"] == pytest.approx(error)
    assert sorted(f for f in record["outputs"] if f.endswith(".png")) == ["slices.png", "solution.png", "training.png"]
    assert len(metrics["window_residuals"]) == len(ac.QUICK["edges"]) - 1
    assert all(np.isfinite(metrics["window_residuals"]))
