"""`Predictive`: the mixture-of-Gaussians predictive distribution of an ensemble."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.special as jss
from jaxtyping import Array, ArrayLike, Float


def _expand(w: Float[Array, " members"], ndim: int) -> Float[Array, " members ..."]:
    return jnp.reshape(w, w.shape + (1,) * (ndim - 1))


def _normal_cdf(z: Float[Array, "..."]) -> Float[Array, "..."]:
    return 0.5 * jss.erfc(-z / jnp.sqrt(2.0))


class Predictive(eqx.Module):
    """A weighted mixture of Gaussians per output entry: the predictive of an ensemble.

    Member `k` predicts `N(means[k], variances[k])` independently at every output entry;
    the predictive is `sum_k weights[k] N(means[k], variances[k])`. Its variance splits
    by the law of total variance into an *epistemic* part, the spread of the member means
    (what more data would remove), and an *aleatoric* part, the mean of the member
    variances (the noise the heteroscedastic heads learned) (Lakshminarayanan et al.
    2017; Kendall & Gal 2017). Members with a zero variance are point masses, so an
    ensemble without Gaussian heads, or a set of MC-dropout samples, is the empirical
    distribution of its members.

    A member with weight zero (e.g. a failed ODE solve, dropped by its result code) is
    ignored even if its predictions are NaN, so members can be masked inside `jit`.

    ??? cite

        [Simple and Scalable Predictive Uncertainty Estimation using Deep Ensembles](https://arxiv.org/abs/1612.01474),
        Lakshminarayanan, Pritzel & Blundell, NeurIPS 2017.

        [What Uncertainties Do We Need in Bayesian Deep Learning for Computer Vision?](https://arxiv.org/abs/1703.04977),
        Kendall & Gal, NeurIPS 2017.
    """

    means: Float[Array, " members *shape"]
    variances: Float[Array, " members *shape"]
    weights: Float[Array, " members"]

    def __init__(
        self,
        means: Float[ArrayLike, " members *shape"],
        variances: Float[ArrayLike, " members *shape"] | None = None,
        weights: Float[ArrayLike, " members"] | None = None,
    ):
        """**Arguments:**

        - `means`: the member means, member axis first.
        - `variances`: the member (aleatoric) variances, same shape; default zero.
        - `weights`: non-negative mixture weights, normalised here; default uniform.

        **Raises:**

        `ValueError` when the shapes disagree or there is no member axis.
        """
        means = jnp.asarray(means)
        if means.ndim == 0:
            raise ValueError("Predictive needs a leading member axis on `means`, got a scalar")
        variances = jnp.zeros_like(means) if variances is None else jnp.asarray(variances, means.dtype)
        if variances.shape != means.shape:
            raise ValueError(f"variances of shape {variances.shape} do not match means of shape {means.shape}")
        k = means.shape[0]
        weights = jnp.full((k,), 1.0 / k, means.dtype) if weights is None else jnp.asarray(weights, means.dtype)
        if weights.shape != (k,):
            raise ValueError(f"weights must have shape ({k},) (one per member), got {weights.shape}")
        weights = weights / jnp.sum(weights)
        used = _expand(weights, means.ndim) > 0
        # Replace what dropped members predicted by a harmless N(0, 1), so a NaN there
        # cannot leak through `0 * NaN` into the mixture's moments or densities.
        self.means = jnp.where(used, means, 0.0)
        self.variances = jnp.where(used, variances, 1.0)
        self.weights = weights

    @property
    def num_members(self) -> int:
        """The number of mixture components (dropped ones included)."""
        return self.means.shape[0]

    def _w(self) -> Float[Array, " members ..."]:
        return _expand(self.weights, self.means.ndim)

    @property
    def mean(self) -> Float[Array, " *shape"]:
        """The predictive mean, `sum_k w_k mu_k`."""
        return jnp.sum(self._w() * self.means, axis=0)

    @property
    def epistemic_variance(self) -> Float[Array, " *shape"]:
        """The spread of the member means, `sum_k w_k (mu_k - mean)^2`."""
        return jnp.sum(self._w() * (self.means - self.mean[None]) ** 2, axis=0)

    @property
    def aleatoric_variance(self) -> Float[Array, " *shape"]:
        """The mean member variance, `sum_k w_k sigma_k^2`."""
        return jnp.sum(self._w() * self.variances, axis=0)

    @property
    def variance(self) -> Float[Array, " *shape"]:
        """The total predictive variance, epistemic plus aleatoric."""
        return self.epistemic_variance + self.aleatoric_variance

    @property
    def epistemic_std(self) -> Float[Array, " *shape"]:
        """The square root of [`epistemic_variance`][]."""
        return jnp.sqrt(self.epistemic_variance)

    @property
    def aleatoric_std(self) -> Float[Array, " *shape"]:
        """The square root of [`aleatoric_variance`][]."""
        return jnp.sqrt(self.aleatoric_variance)

    @property
    def std(self) -> Float[Array, " *shape"]:
        """The total predictive standard deviation."""
        return jnp.sqrt(self.variance)

    # The evaluation methods are compiled as a whole: called outside `jit` (problems,
    # notebooks), op-by-op dispatch would compile every primitive separately.
    @eqx.filter_jit
    def cdf(self, y: Float[ArrayLike, " *shape"]) -> Float[Array, " *shape"]:
        """The mixture's cumulative distribution function at `y` (the PIT value of `y`).

        **Arguments:**

        - `y`: one value per output entry.

        **Returns:**

        `P(Y <= y)` per entry.
        """
        y = jnp.asarray(y, self.means.dtype)
        std = jnp.sqrt(self.variances)
        positive = std > 0
        z = (y[None] - self.means) / jnp.where(positive, std, 1.0)
        per_member = jnp.where(positive, _normal_cdf(z), (y[None] >= self.means).astype(y.dtype))
        return jnp.sum(self._w() * per_member, axis=0)

    @eqx.filter_jit
    def log_prob(self, y: Float[ArrayLike, " *shape"]) -> Float[Array, " *shape"]:
        """The mixture's log-density at `y`, per entry (`-inf` for point masses off `y`).

        **Arguments:**

        - `y`: one value per output entry.

        **Returns:**

        `log sum_k w_k N(y; mu_k, sigma_k^2)` per entry.
        """
        y = jnp.asarray(y, self.means.dtype)
        positive = self.variances > 0
        var = jnp.where(positive, self.variances, 1.0)
        log_n = -0.5 * (jnp.log(2 * jnp.pi * var) + (y[None] - self.means) ** 2 / var)
        log_n = jnp.where(positive, log_n, jnp.where(y[None] == self.means, jnp.inf, -jnp.inf))
        log_w = jnp.log(self._w())
        return jax.nn.logsumexp(log_w + log_n, axis=0)

    @eqx.filter_jit
    def quantile(self, q: Float[ArrayLike, " *levels"]) -> Float[Array, "..."]:
        """Quantiles of the mixture, solved by bisection on its CDF for every entry at once.

        The mixture CDF has no closed-form inverse, but it is monotone and bracketed by
        the extreme members' `mu +- 12 sigma`, so a fixed number of bisection halvings
        (the mantissa length plus a margin) reaches machine precision; the loop has a
        static length, so it compiles once and vectorises over entries and levels. For
        point masses it returns the generalised inverse `inf {y : F(y) >= q}`.

        **Arguments:**

        - `q`: probability levels in `(0, 1)`, a scalar or an array of levels.

        **Returns:**

        The quantiles, with the levels' axes in front of the output shape.
        """
        q = jnp.asarray(q, self.means.dtype)
        std = jnp.sqrt(self.variances)
        used = self._w() > 0
        lo = jnp.min(jnp.where(used, self.means - 12 * std, jnp.inf), axis=0)
        hi = jnp.max(jnp.where(used, self.means + 12 * std, -jnp.inf), axis=0)
        margin = 1e-3 * (hi - lo) + 1e-12 * (1 + jnp.abs(lo) + jnp.abs(hi))
        lo, hi = lo - margin, hi + margin
        iterations = jnp.finfo(self.means.dtype).nmant + 12

        def solve(level):
            # Invariant: F(lo) < level <= F(hi).
            def body(_, bracket):
                a, b = bracket
                mid = 0.5 * (a + b)
                above = self.cdf(mid) >= level
                return jnp.where(above, a, mid), jnp.where(above, mid, b)

            _, b = jax.lax.fori_loop(0, iterations, body, (lo, hi))
            return b

        flat = jnp.reshape(q, (-1,))
        out = jax.vmap(solve)(flat)
        return jnp.reshape(out, q.shape + self.means.shape[1:])

    def interval(self, level: float | Float[ArrayLike, ""]) -> tuple[Float[Array, " *shape"], Float[Array, " *shape"]]:
        """The central prediction interval holding probability `level`.

        **Arguments:**

        - `level`: the nominal coverage in `(0, 1)`, e.g. `0.9`.

        **Returns:**

        `(lower, upper)`, the `(1 - level) / 2` and `(1 + level) / 2` quantiles.
        """
        level = jnp.asarray(level, self.means.dtype)
        bounds = self.quantile(jnp.stack([(1 - level) / 2, (1 + level) / 2]))
        return bounds[0], bounds[1]
