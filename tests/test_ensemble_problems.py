"""The ensemble problems' building blocks against independent references (scipy, analytic)."""

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.integrate

import sciml.train
import sciml.uq as uq
from problems import diffusion_ensemble as de, lotka_volterra_ensemble as lve


class _TrueInteraction(eqx.Module):
    """The exact missing terms `(-b x y, c x y)`, standing in for a trained network."""

    scale: jnp.ndarray

    def __call__(self, u):
        xy = u[0] * u[1]
        return self.scale * jnp.stack([-lve.TRUE["b"] * xy, lve.TRUE["c"] * xy])


def _lv_data():
    return lve.make_data(np.random.default_rng(0), lve.Config())


def _exact_member(scale=1.0):
    return uq.EnsembleMember(lve.UDEMember(_TrueInteraction(jnp.asarray(scale)), jnp.zeros(2)))


def test_lv_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="lotka_volterra_ensemble"):
        lve.Config(t_forecast=2.0)
    with pytest.raises(ValueError, match="lotka_volterra_ensemble"):
        lve.Config(members=1)
    with pytest.raises(ValueError, match="bootstrap"):
        lve.Config(bootstrap="jackknife")


def test_lv_member_ode_matches_scipy_and_fits_exact_data():
    # With the true missing terms, the hybrid ODE is Lotka-Volterra: scipy's reference.
    data = _lv_data()
    setup = lve.UDESetup(lve.U0, tuple(data["sigma"]), 3.0, 1e-10, 1e-10, 4096)
    ts = jnp.linspace(0.0, 3.0, 31)
    sol = setup.solve(_exact_member(), ts)
    assert bool(sol.ok)
    np.testing.assert_allclose(np.asarray(sol.ys), lve.reference(np.asarray(ts)), rtol=1e-7, atol=1e-8)
    exact = {"t": ts, "y": jnp.asarray(lve.reference(np.asarray(ts))), "weights": jnp.full(31, 2.0)}
    assert float(setup(_exact_member(), exact, jr.key(0))) < 1e-10
    # The loss is the weighted Gaussian NLL: one observation off by one sigma in x.
    shifted = dict(exact, y=exact["y"].at[5, 0].add(data["sigma"][0]))
    expected = 2.0 * 0.5 / 31
    np.testing.assert_allclose(float(setup(_exact_member(), shifted, jr.key(0))), expected, rtol=1e-6)


def test_lv_forecast_reports_and_drops_a_failed_member():
    data = _lv_data()
    setup = lve.UDESetup(lve.U0, tuple(data["sigma"]), 3.0, 1e-6, 1e-6, 64)
    ensemble = lve.build_ensemble(lve.Config(members=2, prior_scale=0.0, anchored=False), data, jr.key(0))
    # Member 0 holds the true missing terms; member 1 the wrong sign, 50 times over: it blows up.
    stacked = eqx.filter_vmap(_exact_member)(jnp.asarray([1.0, -50.0]))
    ensemble = eqx.tree_at(lambda e: e.members, ensemble, stacked)
    sol = lve.forecast(ensemble, setup, jnp.linspace(0.0, 3.0, 31))
    assert np.asarray(sol.ok).tolist() == [True, False]
    assert list(sol.failures()) == [1]
    used = np.asarray(sol.ok)
    truth = lve.reference(np.linspace(0.0, 3.0, 31))
    band = lve.band(np.asarray(sol.ys), used, truth)
    np.testing.assert_allclose(band["mean"], truth, rtol=1e-4, atol=1e-5)  # the failed member is ignored
    np.testing.assert_allclose(band["std"], 0.0, atol=1e-12)


def test_lv_band_scores_match_the_definition():
    rng = np.random.default_rng(1)
    truth = np.ones((400, 2))
    members = 1.0 + 0.1 * rng.standard_normal((64, 400, 2))
    b = lve.band(members, np.ones(64, bool), truth)
    np.testing.assert_allclose(b["upper"] - b["lower"], 2 * 1.6448536269514722 * b["std"])
    mask = np.arange(400) < 200
    scores = lve.window_scores(truth, b, mask, np.array([1.0, 2.0]))
    inside = (truth[mask] >= b["lower"][mask]) & (truth[mask] <= b["upper"][mask])
    assert scores["coverage_90"] == pytest.approx(inside.mean())
    width = (b["upper"] - b["lower"])[mask] / np.array([1.0, 2.0])
    assert scores["width_90"] == pytest.approx(width.mean())
    assert 0.22 < scores["width_90"] < 0.27  # 3.29 * 0.1 * (1 + 1/2) / 2 = 0.247
    # A truth one member-std away is inside the 90% band (half-width 1.645 std).
    assert lve.window_scores(truth + 0.1, b, mask, np.ones(2))["coverage_90"] > 0.7


def test_lv_saved_ensemble_reloads_from_its_metadata(tmp_path):
    data = _lv_data()
    config = lve.Config(members=2)
    ensemble = lve.build_ensemble(config, data, jr.key(0))
    saved = lve.networks_only(ensemble)
    spec = lve.ensemble_spec(config, data)
    # `load` rebuilds the skeleton from the spec alone and checks every array against it.
    uq.save_ensemble(tmp_path / "model.eqx", saved, spec)
    loaded = uq.load_ensemble(tmp_path / "model.eqx")
    with pytest.raises(ValueError, match="sciml.uq.load_ensemble"):
        sciml.train.load(tmp_path / "model.eqx")
    u = jnp.asarray([0.5, 2.0])
    np.testing.assert_allclose(
        np.asarray(loaded(u)), np.asarray(eqx.filter_vmap(lambda m: m(u))(ensemble.members)), rtol=1e-6
    )


def test_diffusion_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="diffusion_ensemble"):
        de.Config(amplitude_test=0.5)
    with pytest.raises(ValueError, match="diffusion_ensemble"):
        de.Config(batch_size=10_000)
    with pytest.raises(ValueError, match="diffusion_ensemble: mc_dropout"):
        de.Config(mc_dropout=0.0)
    with pytest.raises(ValueError, match="diffusion_ensemble: mc_samples"):
        de.Config(mc_samples=1)


def test_diffusion_reference_matches_quadrature():
    # -(k u')' = 1, u(0) = u(1) = 0 has u(x) = int_0^x (C - s) / k(s) ds with C fixing u(1) = 0.
    config = de.Config(n=127)
    log_k, _ = de.log_coefficients(np.random.default_rng(0), 2, config, 1.0)
    u = de.solutions(log_k)
    x = np.linspace(0.0, 1.0, config.n + 2)
    fine = np.linspace(0.0, 1.0, 20001)
    for lk, ui in zip(log_k, u):
        k = np.exp(np.interp(fine, x, lk))
        inv = scipy.integrate.cumulative_trapezoid(1 / k, fine, initial=0)
        s_over_k = scipy.integrate.cumulative_trapezoid(fine / k, fine, initial=0)
        c = s_over_k[-1] / inv[-1]
        exact = np.interp(x, fine, c * inv - s_over_k)
        assert np.linalg.norm(ui - exact) / np.linalg.norm(exact) < 2e-3
    # Constant k: the three-point scheme is exact for the quadratic x (1 - x) / 2.
    x = np.linspace(0.0, 1.0, 10)
    np.testing.assert_allclose(de.solutions(np.zeros((1, 10)))[0], x * (1 - x) / 2, atol=1e-12)


def test_diffusion_per_sample_scores():
    rng = np.random.default_rng(0)
    truth = 10.0 + rng.standard_normal((5, 30))
    members = truth[None] + rng.standard_normal((200, 5, 30)) * np.arange(1, 6)[None, :, None]
    s = de.per_sample_scores(members, truth)
    mean = members.mean(axis=0)
    np.testing.assert_allclose(s["error"], np.linalg.norm(mean - truth, axis=1) / np.linalg.norm(truth, axis=1))
    std = members.std(axis=0, ddof=1)
    np.testing.assert_allclose(s["predicted_std"], np.linalg.norm(std, axis=1) / np.linalg.norm(mean, axis=1))
    assert np.all(np.diff(s["predicted_std"]) > 0)  # the spread grows with the sample index


def check_diffusion_quick_run(record, out):
    """MC dropout is scored like the ensemble; called on the `--quick` run of `tests/test_problems.py`."""
    metrics = record["metrics"]
    # Every accuracy and uncertainty metric of the ensemble has its MC-dropout twin.
    shared = [k for k in metrics if not k.startswith("mc_dropout_") and k not in ("members", "parameters")]
    assert "spearman_std_error" in shared and "calibration_error" in shared
    for name in shared:
        assert f"mc_dropout_{name}" in metrics, name
    for name, value in metrics.items():
        if name.startswith("mc_dropout_"):
            assert value is not None and np.isfinite(value), (name, value)
    assert metrics["mc_dropout_samples"] == de.QUICK["mc_samples"]
    assert metrics["mc_dropout_parameters"] == metrics["parameters"]
    assert metrics["mc_dropout_mean_predicted_std"] > 0  # the masks give a spread
    # The saved MC-dropout predictions reproduce its metrics.
    with np.load(out / "predictions.npz") as p:
        truth, mean, std = p["u_true"], p["mc_dropout_mean"], p["mc_dropout_std"]
        error = np.linalg.norm(mean - truth, axis=1) / np.linalg.norm(truth, axis=1)
        np.testing.assert_allclose(p["mc_dropout_error"], error, rtol=1e-10)
        np.testing.assert_allclose(
            p["mc_dropout_predicted_std"], np.linalg.norm(std, axis=1) / np.linalg.norm(mean, axis=1), rtol=1e-10
        )
    assert metrics["mc_dropout_test_rel_l2"] == pytest.approx(error.mean())
    inner = slice(1, -1)
    half = 1.6448536269514722 * std[:, inner]
    inside = np.abs(truth[:, inner] - mean[:, inner]) <= half
    assert metrics["mc_dropout_coverage_90"] == pytest.approx(inside.mean(), abs=1e-3)
    assert "training_mc_dropout.png" in record["outputs"] and "error_vs_std.png" in record["outputs"]
