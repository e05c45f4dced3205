"""Scores of probabilistic predictions: NLL, CRPS, coverage, sharpness, calibration error."""

import functools
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.special as jss
from jaxtyping import Array, ArrayLike, Float

from ._predictive import Predictive


_SQRT_PI = 1.7724538509055159


def _normal_pdf(z):
    return jnp.exp(-0.5 * z**2) / jnp.sqrt(2 * jnp.pi)


def _normal_cdf(z):
    return 0.5 * jss.erfc(-z / jnp.sqrt(2.0))


def _same_shape(name: str, *arrays) -> None:
    shapes = {jnp.shape(a) for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"{name}: the arrays must have one shape, got {[jnp.shape(a) for a in arrays]}")


def _members_shape(name: str, y, members) -> None:
    if jnp.shape(members)[1:] != jnp.shape(y):
        raise ValueError(f"{name}: member arrays need shape (members, *{jnp.shape(y)}), got {jnp.shape(members)}")


def gaussian_nll(
    y: Float[ArrayLike, " *shape"], mean: Float[ArrayLike, " *shape"], std: Float[ArrayLike, " *shape"]
) -> Float[Array, ""]:
    """Mean Gaussian negative log-likelihood, `0.5 log(2 pi sigma^2) + (y - mu)^2 / (2 sigma^2)`.

    The proper scoring rule behind deep-ensemble training (Lakshminarayanan et al.
    2017); lower is better, and it punishes overconfidence without bound.

    **Arguments:**

    - `y`: the observations.
    - `mean`, `std`: the predictive mean and standard deviation per observation.

    **Returns:**

    The average over all entries.

    **Raises:**

    `ValueError` when the shapes differ.
    """
    _same_shape("gaussian_nll", y, mean, std)
    return _gaussian_nll(jnp.asarray(y), jnp.asarray(mean), jnp.asarray(std))


# The metrics are mostly called outside `jit` (problems, notebooks); compiled as a whole
# they cost one small compilation per shape instead of one per primitive.
@jax.jit
def _gaussian_nll(y, mean, std):
    return jnp.mean(0.5 * jnp.log(2 * jnp.pi * std**2) + (y - mean) ** 2 / (2 * std**2))


def crps_gaussian(
    y: Float[ArrayLike, " *shape"], mean: Float[ArrayLike, " *shape"], std: Float[ArrayLike, " *shape"]
) -> Float[Array, ""]:
    """Mean continuous ranked probability score of Gaussian predictions, in closed form.

    `CRPS(F, y) = integral (F(x) - 1{y <= x})^2 dx`; for `F = N(mu, sigma^2)` and
    `z = (y - mu) / sigma` it is `sigma (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi))`
    (Gneiting & Raftery 2007, eq. 21). It has the units of `y`, reduces to the absolute
    error for `sigma -> 0`, and is lower for better forecasts.

    ??? cite

        [Strictly Proper Scoring Rules, Prediction, and Estimation](https://doi.org/10.1198/016214506000001437),
        Gneiting & Raftery, JASA 102(477), 2007.

    **Arguments:**

    - `y`: the observations.
    - `mean`, `std`: the predictive mean and (positive) standard deviation.

    **Returns:**

    The average over all entries.

    **Raises:**

    `ValueError` when the shapes differ.
    """
    _same_shape("crps_gaussian", y, mean, std)
    return _crps_gaussian(jnp.asarray(y), jnp.asarray(mean), jnp.asarray(std))


@jax.jit
def _crps_gaussian(y, mean, std):
    z = (y - mean) / std
    return jnp.mean(std * (z * (2 * _normal_cdf(z) - 1) + 2 * _normal_pdf(z) - 1 / _SQRT_PI))


def _abs_moment(m, var):
    # E|X| for X ~ N(m, var); |m| for var = 0, without dividing by zero.
    s = jnp.sqrt(var)
    positive = s > 0
    safe = jnp.where(positive, s, 1.0)
    value = 2 * safe * _normal_pdf(m / safe) + m * (2 * _normal_cdf(m / safe) - 1)
    return jnp.where(positive, value, jnp.abs(m))


def crps_mixture(
    y: Float[ArrayLike, " *shape"],
    means: Float[ArrayLike, " members *shape"],
    stds: Float[ArrayLike, " members *shape"],
    weights: Float[ArrayLike, " members"] | None = None,
) -> Float[Array, ""]:
    """Mean CRPS of a Gaussian mixture (an ensemble's predictive), in closed form.

    With `A(m, s^2) = E|X|` for `X ~ N(m, s^2)`, the CRPS of `sum_k w_k N(mu_k, s_k^2)`
    is `sum_k w_k A(y - mu_k, s_k^2) - 1/2 sum_kl w_k w_l A(mu_k - mu_l, s_k^2 + s_l^2)`
    (Grimit et al. 2006), the kernel form `E|X - y| - E|X - X'| / 2`. Zero standard
    deviations give point masses, i.e. the CRPS of an equally weighted ensemble of point
    forecasts.

    ??? cite

        [The continuous ranked probability score for circular variables and its application
        to mesoscale forecast ensemble verification](https://doi.org/10.1256/qj.05.235),
        Grimit, Gneiting, Berrocal & Johnson, QJRMS 132, 2006.

    **Arguments:**

    - `y`: the observations.
    - `means`, `stds`: the component means and standard deviations, member axis first.
    - `weights`: the mixture weights (normalised here); default uniform.

    **Returns:**

    The average over all entries.

    **Raises:**

    `ValueError` when the shapes do not match.
    """
    _members_shape("crps_mixture", y, means)
    _same_shape("crps_mixture", means, stds)
    return _crps_mixture(jnp.asarray(y), jnp.asarray(means), jnp.asarray(stds), weights)


@jax.jit
def _crps_mixture(y, means, stds, weights):
    p = Predictive(means, stds**2, weights)
    y = jnp.asarray(y, p.means.dtype)
    w = jnp.reshape(p.weights, p.weights.shape + (1,) * (p.means.ndim - 1))
    first = jnp.sum(w * _abs_moment(y[None] - p.means, p.variances), axis=0)
    dm = p.means[:, None] - p.means[None, :]
    dv = p.variances[:, None] + p.variances[None, :]
    ww = w[:, None] * w[None, :]
    second = jnp.sum(ww * _abs_moment(dm, dv), axis=(0, 1))
    return jnp.mean(first - 0.5 * second)


def crps_samples(y: Float[ArrayLike, " *shape"], samples: Float[ArrayLike, " samples *shape"]) -> Float[Array, ""]:
    """Mean CRPS of an empirical distribution of samples, `E|X - y| - E|X - X'| / 2`.

    The pairwise term is computed from the sorted samples in `O(m log m)`:
    `sum_ij |x_i - x_j| = 2 sum_i (2 i - m - 1) x_(i)` (Gneiting & Raftery 2007).

    **Arguments:**

    - `y`: the observations.
    - `samples`: `m` samples per observation, sample axis first.

    **Returns:**

    The average over all entries.

    **Raises:**

    `ValueError` when the shapes do not match.
    """
    _members_shape("crps_samples", y, samples)
    return _crps_samples(jnp.asarray(y), jnp.asarray(samples))


@jax.jit
def _crps_samples(y, samples):
    x = jnp.sort(samples, axis=0)
    y = jnp.asarray(y, x.dtype)
    m = x.shape[0]
    first = jnp.mean(jnp.abs(x - y[None]), axis=0)
    rank = jnp.reshape(2 * jnp.arange(1, m + 1) - m - 1, (m,) + (1,) * (x.ndim - 1)).astype(x.dtype)
    pairwise = 2 * jnp.sum(rank * x, axis=0) / m**2
    return jnp.mean(first - 0.5 * pairwise)


def coverage(
    y: Float[ArrayLike, " *shape"], lower: Float[ArrayLike, " *shape"], upper: Float[ArrayLike, " *shape"]
) -> Float[Array, ""]:
    """The fraction of observations inside their prediction interval `[lower, upper]`.

    For a calibrated central interval of level `p` it is `p` up to sampling noise.

    **Arguments:**

    - `y`: the observations.
    - `lower`, `upper`: the interval bounds per observation.

    **Returns:**

    The empirical coverage in `[0, 1]`.

    **Raises:**

    `ValueError` when the shapes differ.
    """
    _same_shape("coverage", y, lower, upper)
    y = jnp.asarray(y)
    inside = (y >= jnp.asarray(lower)) & (y <= jnp.asarray(upper))
    return jnp.mean(inside.astype(y.dtype))


def interval_width(lower: Float[ArrayLike, " *shape"], upper: Float[ArrayLike, " *shape"]) -> Float[Array, ""]:
    """The mean width of prediction intervals (sharpness: smaller is better at equal coverage).

    **Arguments:**

    - `lower`, `upper`: the interval bounds.

    **Returns:**

    The mean of `upper - lower`.

    **Raises:**

    `ValueError` when the shapes differ.
    """
    _same_shape("interval_width", lower, upper)
    return jnp.mean(jnp.asarray(upper) - jnp.asarray(lower))


def calibration_curve(
    pit: Float[ArrayLike, " *shape"], levels: Float[ArrayLike, " levels"], *, kind: str = "central"
) -> Float[Array, " levels"]:
    """Observed against nominal probability, from probability-integral-transform values.

    The PIT value of an observation is its predictive CDF, `u = F(y)`
    ([`sciml.uq.Predictive.cdf`][]); for calibrated forecasts it is uniform. The
    *central* interval of level `p` holds `y` exactly when `|u - 1/2| <= p / 2`, so the
    observed coverage at every level follows from the PIT values alone, without
    solving for interval bounds. `kind="quantile"` gives instead the fraction with
    `u <= p`, the one-sided curve of Kuleshov et al. (2018), which also reveals a biased
    (shifted) predictive that central intervals can miss.

    ??? cite

        [Accurate Uncertainties for Deep Learning Using Calibrated Regression](https://arxiv.org/abs/1807.00263),
        Kuleshov, Fenner & Ermon, ICML 2018.

    **Arguments:**

    - `pit`: the PIT values `F(y)` of the observations.
    - `levels`: nominal probabilities in `[0, 1]`.
    - `kind`: `"central"` (coverage of central intervals) or `"quantile"`.

    **Returns:**

    The observed frequency per level.

    **Raises:**

    `ValueError` for an unknown kind.
    """
    if kind not in ("central", "quantile"):
        raise ValueError(f"calibration kind must be 'central' or 'quantile', got {kind!r}")
    return _calibration_curve(jnp.asarray(pit), jnp.asarray(levels), kind)


@functools.partial(jax.jit, static_argnums=2)
def _calibration_curve(pit, levels, kind):
    u = jnp.reshape(pit, (-1,))
    p = jnp.asarray(levels, u.dtype)
    if kind == "central":
        hit = jnp.abs(u[None, :] - 0.5) <= p[:, None] / 2
    else:
        hit = u[None, :] <= p[:, None]
    return jnp.mean(hit.astype(u.dtype), axis=1)


def calibration_error(
    pit: Float[ArrayLike, " *shape"],
    levels: Float[ArrayLike, " levels"] | None = None,
    *,
    kind: str = "central",
) -> Float[Array, ""]:
    """Expected calibration error of a regression: mean |observed - nominal| over levels.

    The regression analogue of the classification ECE (Kuleshov et al. 2018): the
    average distance of the [`calibration_curve`][] from the diagonal. Zero for a
    perfectly calibrated predictive; about `0.5 * |miscalibration|` of a global scale
    error; it says nothing about sharpness, so report it with [`interval_width`][].

    **Arguments:**

    - `pit`: the PIT values `F(y)` of the observations.
    - `levels`: the nominal levels; default `0.05, 0.10, ..., 0.95`.
    - `kind`: `"central"` or `"quantile"`, as in [`calibration_curve`][].

    **Returns:**

    The mean absolute calibration gap.
    """
    if levels is None:
        levels = jnp.linspace(0.05, 0.95, 19)
    levels = jnp.asarray(levels, jnp.asarray(pit).dtype)
    return jnp.mean(jnp.abs(calibration_curve(pit, levels, kind=kind) - levels))


def predictive_metrics(
    y: Float[ArrayLike, " *shape"], predictive: Predictive, *, levels: Sequence[float] = (0.5, 0.9, 0.95)
) -> dict[str, Float[Array, ""]]:
    """Every score of a predictive mixture against observations, in one dict.

    **Arguments:**

    - `y`: the observations, shaped like `predictive.mean`.
    - `predictive`: a [`sciml.uq.Predictive`][] (ensemble or MC dropout).
    - `levels`: the central-interval levels whose coverage and width are reported.

    **Returns:**

    `nll` (the mixture's negative log-density, mean over entries), `gaussian_nll` (of
    the moment-matched Gaussian `N(mean, std^2)`, the figure most papers report),
    `crps` (of the mixture), `rmse` (of the mean), `calibration_error` (central,
    levels 0.05 to 0.95), and per level `p` (as a percentage) `coverage_p` and `width_p`.

    **Raises:**

    `ValueError` when `y` does not have the predictive's shape.
    """
    y = jnp.asarray(y, predictive.means.dtype)
    if y.shape != predictive.means.shape[1:]:
        raise ValueError(f"observations of shape {y.shape} do not match the predictive's {predictive.means.shape[1:]}")
    return _all_scores(y, predictive, tuple(float(level) for level in levels))


@eqx.filter_jit
def _all_scores(y, predictive: Predictive, levels: tuple[float, ...]) -> dict[str, Array]:
    # One compiled program: evaluated op by op, the bisection loops and the pairwise
    # CRPS terms would each compile on their own.
    out = {
        "nll": -jnp.mean(predictive.log_prob(y)),
        "gaussian_nll": gaussian_nll(y, predictive.mean, predictive.std),
        "crps": crps_mixture(y, predictive.means, jnp.sqrt(predictive.variances), predictive.weights),
        "rmse": jnp.sqrt(jnp.mean((y - predictive.mean) ** 2)),
        "calibration_error": calibration_error(predictive.cdf(y)),
    }
    for level in levels:
        lower, upper = predictive.interval(level)
        name = f"{100 * level:g}"
        out[f"coverage_{name}"] = coverage(y, lower, upper)
        out[f"width_{name}"] = interval_width(lower, upper)
    return out
