"""Probabilistic metrics and the mixture predictive against closed forms and scipy."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.integrate
import scipy.special
import scipy.stats

import sciml.uq as uq


_CASES = [(0.3, 0.0, 1.0), (-1.7, 0.5, 0.4), (2.5, -1.0, 2.0), (0.0, 0.0, 0.05)]


def _crps_by_quadrature(cdf, y, lo, hi):
    """`integral (F(x) - 1{y <= x})^2 dx`, split at `y` where the integrand jumps."""
    left, _ = scipy.integrate.quad(lambda x: cdf(x) ** 2, lo, y, limit=200, epsabs=1e-12)
    right, _ = scipy.integrate.quad(lambda x: (cdf(x) - 1) ** 2, y, hi, limit=200, epsabs=1e-12)
    return left + right


def test_gaussian_nll_matches_scipy():
    y, mean, std = (np.array(v) for v in zip(*_CASES))
    expected = -scipy.stats.norm.logpdf(y, mean, std).mean()
    np.testing.assert_allclose(uq.gaussian_nll(y, mean, std), expected, rtol=1e-12)


@pytest.mark.parametrize("y, mean, std", _CASES)
def test_crps_gaussian_matches_quadrature(y, mean, std):
    cdf = lambda x: scipy.stats.norm.cdf(x, mean, std)
    expected = _crps_by_quadrature(cdf, y, mean - 30 * std, mean + 30 * std)
    value = uq.crps_gaussian(jnp.array([y]), jnp.array([mean]), jnp.array([std]))
    np.testing.assert_allclose(value, expected, rtol=1e-7, atol=1e-10)


def test_crps_gaussian_tends_to_absolute_error():
    np.testing.assert_allclose(uq.crps_gaussian(jnp.array([1.3]), jnp.array([0.2]), jnp.array([1e-9])), 1.1, rtol=1e-6)


def test_crps_mixture_matches_quadrature():
    means = np.array([-1.0, 0.2, 1.5])
    stds = np.array([0.3, 0.8, 0.5])
    weights = np.array([0.2, 0.5, 0.3])
    for y in (-2.0, 0.1, 1.4, 4.0):
        cdf = lambda x: float(np.sum(weights * scipy.stats.norm.cdf(x, means, stds)))
        expected = _crps_by_quadrature(cdf, y, -15.0, 15.0)
        value = uq.crps_mixture(jnp.array(y), jnp.asarray(means), jnp.asarray(stds), jnp.asarray(weights))
        np.testing.assert_allclose(value, expected, rtol=1e-7)


def test_crps_mixture_special_cases(getkey):
    y = jr.normal(getkey(), (50,))
    mean = jr.normal(getkey(), (50,))
    std = jnp.exp(jr.normal(getkey(), (50,)))
    # One component is a Gaussian.
    np.testing.assert_allclose(uq.crps_mixture(y, mean[None], std[None]), uq.crps_gaussian(y, mean, std), rtol=1e-12)
    # Point masses are an empirical distribution.
    samples = jr.normal(getkey(), (7, 50))
    np.testing.assert_allclose(
        uq.crps_mixture(y, samples, jnp.zeros_like(samples)), uq.crps_samples(y, samples), rtol=1e-12
    )
    # A zero-weight component is ignored even when it is NaN.
    means = jnp.stack([mean, jnp.full_like(mean, jnp.nan)])
    stds = jnp.stack([std, std])
    np.testing.assert_allclose(
        uq.crps_mixture(y, means, stds, jnp.array([1.0, 0.0])), uq.crps_gaussian(y, mean, std), rtol=1e-12
    )


def test_crps_samples_matches_pairwise_and_quadrature(getkey):
    samples = jr.normal(getkey(), (9, 4))
    y = jr.normal(getkey(), (4,))
    x, t = np.asarray(samples), np.asarray(y)
    pairwise = np.abs(x - t).mean(0) - 0.5 * np.abs(x[:, None] - x[None, :]).mean((0, 1))
    np.testing.assert_allclose(uq.crps_samples(y, samples), pairwise.mean(), rtol=1e-12)
    for j in range(4):
        cdf = lambda s: float(np.mean(x[:, j] <= s))
        points = sorted({*x[:, j].tolist(), float(t[j])})
        # The empirical CDF is piecewise constant: integrate exactly on each piece.
        total = 0.0
        for a, b in zip(points[:-1], points[1:]):
            mid = 0.5 * (a + b)
            total += (cdf(mid) - float(t[j] <= mid)) ** 2 * (b - a)
        np.testing.assert_allclose(uq.crps_samples(y[j : j + 1], samples[:, j : j + 1]), total, rtol=1e-10)


def test_coverage_and_width_of_exact_gaussian(getkey):
    n = 40_000
    y = jr.normal(getkey(), (n,))
    mean, std = jnp.zeros(n), jnp.ones(n)
    for level in (0.5, 0.9, 0.95):
        z = scipy.stats.norm.ppf(0.5 + level / 2)
        lower, upper = mean - z * std, mean + z * std
        se = np.sqrt(level * (1 - level) / n)
        assert abs(float(uq.coverage(y, lower, upper)) - level) < 4 * se
        np.testing.assert_allclose(uq.interval_width(lower, upper), 2 * z, rtol=1e-12)
    # Too narrow intervals (std halved) must be caught.
    assert float(uq.coverage(y, mean - 0.5 * 1.645 * std, mean + 0.5 * 1.645 * std)) < 0.65


def test_calibration_curve_and_error(getkey):
    n = 40_000
    y = jr.normal(getkey(), (n,))
    levels = jnp.linspace(0.05, 0.95, 19)
    calibrated = scipy.stats.norm.cdf(np.asarray(y))
    np.testing.assert_allclose(uq.calibration_curve(calibrated, levels), levels, atol=0.01)
    assert float(uq.calibration_error(calibrated)) < 0.006
    # An overconfident predictive (std 0.5 for unit noise) lies below the diagonal.
    overconfident = scipy.stats.norm.cdf(np.asarray(y), 0, 0.5)
    curve = uq.calibration_curve(overconfident, levels)
    assert np.all(np.asarray(curve) < np.asarray(levels) + 1e-12)
    assert float(uq.calibration_error(overconfident)) > 0.1
    # A shifted predictive: the one-sided curve sees the bias at the median.
    shifted = scipy.stats.norm.cdf(np.asarray(y), 1.0, 1.0)
    assert (
        abs(float(uq.calibration_curve(shifted, jnp.array([0.5]), kind="quantile")[0]) - scipy.stats.norm.cdf(1.0))
        < 0.01
    )
    with pytest.raises(ValueError, match="central"):
        uq.calibration_curve(calibrated, levels, kind="two-sided")


def test_metric_shape_errors():
    # TypeError: the jaxtyping annotations catch it first when runtime checking is on.
    with pytest.raises((ValueError, TypeError), match="one shape|gaussian_nll"):
        uq.gaussian_nll(jnp.zeros(3), jnp.zeros(3), jnp.ones(4))
    with pytest.raises((ValueError, TypeError), match="members|crps_mixture"):
        uq.crps_mixture(jnp.zeros(3), jnp.zeros((2, 4)), jnp.ones((2, 4)))


def _mixture():
    means = jnp.array([[-1.0, 0.0], [0.5, 2.0], [2.0, 1.0]])
    variances = jnp.array([[0.25, 1.0], [0.5, 0.1], [1.0, 0.3]])
    weights = jnp.array([0.5, 0.3, 0.2])
    return uq.Predictive(means, variances, weights), means, variances, weights


def test_predictive_moments_follow_total_variance():
    p, means, variances, weights = _mixture()
    w = np.asarray(weights)[:, None]
    mean = (w * means).sum(0)
    epistemic = (w * (means - mean[None]) ** 2).sum(0)
    aleatoric = (w * variances).sum(0)
    np.testing.assert_allclose(p.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(p.epistemic_variance, epistemic, rtol=1e-12)
    np.testing.assert_allclose(p.aleatoric_variance, aleatoric, rtol=1e-12)
    np.testing.assert_allclose(p.std**2, epistemic + aleatoric, rtol=1e-12)
    # Against the mixture's own variance, by quadrature.
    for j in range(2):
        pdf = lambda x: float(np.sum(weights * scipy.stats.norm.pdf(x, means[:, j], np.sqrt(variances[:, j]))))
        m2, _ = scipy.integrate.quad(lambda x: (x - float(mean[j])) ** 2 * pdf(x), -20, 20)
        np.testing.assert_allclose(float(p.variance[j]), m2, rtol=1e-8)


def test_predictive_cdf_density_and_quantiles():
    p, means, variances, weights = _mixture()
    y = jnp.array([0.3, 1.1])
    cdf = (np.asarray(weights)[:, None] * scipy.stats.norm.cdf(y, means, np.sqrt(variances))).sum(0)
    np.testing.assert_allclose(p.cdf(y), cdf, rtol=1e-12)
    logpdf = scipy.special.logsumexp(
        scipy.stats.norm.logpdf(y, means, np.sqrt(variances)), axis=0, b=np.asarray(weights)[:, None]
    )
    np.testing.assert_allclose(p.log_prob(y), logpdf, rtol=1e-12)
    levels = jnp.array([0.01, 0.05, 0.5, 0.9, 0.999])
    q = p.quantile(levels)
    assert q.shape == (5, 2)
    np.testing.assert_allclose(
        jnp.stack([p.cdf(row) for row in q]), jnp.broadcast_to(levels[:, None], (5, 2)), atol=1e-12
    )
    lower, upper = p.interval(0.9)
    np.testing.assert_allclose(p.cdf(upper) - p.cdf(lower), 0.9, atol=1e-12)


def test_single_gaussian_quantiles_match_scipy():
    p = uq.Predictive(jnp.array([[0.7]]), jnp.array([[2.25]]))
    levels = jnp.array([0.025, 0.25, 0.5, 0.975])
    np.testing.assert_allclose(p.quantile(levels)[:, 0], scipy.stats.norm.ppf(levels, 0.7, 1.5), rtol=1e-10)


def test_point_mass_quantile_is_generalised_inverse():
    p = uq.Predictive(jnp.array([3.0, 0.0, 2.0, 1.0])[:, None])
    np.testing.assert_allclose(p.quantile(jnp.array([0.1, 0.5, 0.51, 1.0]))[:, 0], [0.0, 1.0, 2.0, 3.0], atol=1e-9)


def test_zero_weight_members_are_ignored():
    means = jnp.array([[1.0], [jnp.nan]])
    p = uq.Predictive(means, jnp.array([[0.5], [jnp.nan]]), jnp.array([1.0, 0.0]))
    single = uq.Predictive(means[:1], jnp.array([[0.5]]))
    for name in ("mean", "std", "epistemic_std"):
        np.testing.assert_allclose(getattr(p, name), getattr(single, name))
    np.testing.assert_allclose(p.quantile(0.8), single.quantile(0.8), rtol=1e-12)
    np.testing.assert_allclose(p.log_prob(jnp.array([0.3])), single.log_prob(jnp.array([0.3])), rtol=1e-12)


def test_predictive_shape_errors():
    with pytest.raises((ValueError, TypeError), match="variances|Predictive"):
        uq.Predictive(jnp.zeros((2, 3)), jnp.ones((2, 4)))
    with pytest.raises((ValueError, TypeError), match="one per member|Predictive"):
        uq.Predictive(jnp.zeros((2, 3)), weights=jnp.ones(3))


def test_predictive_metrics_agree_with_the_parts(getkey):
    p, *_ = _mixture()
    y = jnp.array([0.3, 1.1])
    scores = uq.predictive_metrics(y, p)
    np.testing.assert_allclose(scores["nll"], -jnp.mean(p.log_prob(y)), rtol=1e-12)
    np.testing.assert_allclose(scores["gaussian_nll"], uq.gaussian_nll(y, p.mean, p.std), rtol=1e-12)
    np.testing.assert_allclose(
        scores["crps"], uq.crps_mixture(y, p.means, jnp.sqrt(p.variances), p.weights), rtol=1e-12
    )
    lower, upper = p.interval(0.9)
    np.testing.assert_allclose(scores["width_90"], uq.interval_width(lower, upper), rtol=1e-12)
    assert set(scores) >= {
        "coverage_50",
        "coverage_90",
        "coverage_95",
        "width_50",
        "width_95",
        "rmse",
        "calibration_error",
    }
    with pytest.raises(ValueError, match="observations"):
        uq.predictive_metrics(jnp.zeros(3), p)


def test_plot_calibration_writes_png(tmp_path, getkey):
    y = np.asarray(jr.normal(getkey(), (500,)))
    fig = uq.plot_calibration({"calibrated": scipy.stats.norm.cdf(y), "overconfident": scipy.stats.norm.cdf(y, 0, 0.5)})
    path = tmp_path / "calibration.png"
    fig.savefig(path, format="png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    p = uq.Predictive(jr.normal(getkey(), (3, 20)), jnp.ones((3, 20)))
    x = jnp.linspace(0, 1, 20)
    uq.plot_bands(x, p, x_train=x, y_train=x, truth=x).savefig(tmp_path / "bands.png", format="png")
    assert (tmp_path / "bands.png").stat().st_size > 0
