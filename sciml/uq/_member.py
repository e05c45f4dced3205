"""`EnsembleMember`: one trainable model, an optional fixed random prior and a Gaussian head."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
from jaxtyping import Array, Float, PRNGKeyArray, PyTree


def _frozen(tree: PyTree) -> PyTree:
    # The prior is a constant of the model, not a parameter: even if a user trains the
    # whole pytree by mistake, its gradient is exactly zero.
    return jtu.tree_map(lambda x: jax.lax.stop_gradient(x) if eqx.is_inexact_array(x) else x, tree)


class EnsembleMember(eqx.Module):
    """One member of an ensemble: `model(x) + prior_scale * prior(x)`, optionally heteroscedastic.

    A plain member is just its `model`. Two options turn it into what the Bayesian
    deep-ensemble literature trains:

    - A *randomised prior function* (Osband et al. 2018): a second, randomly initialised
        network `prior` that is never trained (its parameters are excluded by
        [`sciml.uq.Ensemble.filter_spec`][] and wrapped in `stop_gradient`) and whose
        output, times `prior_scale`, is added to the mean. Each member then fits the
        data *relative to its own random function*, so members disagree wherever the
        data do not pin them down, even far from the training inputs where weight
        initialisations alone would let them agree.
    - A *heteroscedastic Gaussian head* (Nix & Weigend 1994, Lakshminarayanan et al.
        2017): the model's output has a leading axis of even size `2 m`; its first half
        is the mean and its second half `r` gives the variance `softplus(r) +
        min_variance`. Train it with a Gaussian negative log-likelihood
        ([`sciml.uq.gaussian_nll_loss`][]).

    The member is called like its model (any positional arguments, e.g. `member(x)` for
    a regressor or PINN trial function and `member(t, y, args)` for a vector field) and
    returns the mean, so it can stand in for the model in a diffrax solve or a PINN
    residual.

    ??? cite

        [Randomized Prior Functions for Deep Reinforcement Learning](https://arxiv.org/abs/1806.03335),
        Osband, Aslanides & Cassirer, NeurIPS 2018.

        [Simple and Scalable Predictive Uncertainty Estimation using Deep Ensembles](https://arxiv.org/abs/1612.01474),
        Lakshminarayanan, Pritzel & Blundell, NeurIPS 2017.
    """

    model: PyTree
    prior: PyTree | None
    prior_scale: float = eqx.field(static=True)
    heteroscedastic: bool = eqx.field(static=True)
    min_variance: float = eqx.field(static=True)

    def __init__(
        self,
        model: PyTree,
        prior: PyTree | None = None,
        prior_scale: float = 1.0,
        *,
        heteroscedastic: bool = False,
        min_variance: float = 1e-6,
    ):
        """**Arguments:**

        - `model`: the trainable model, a callable pytree.
        - `prior`: an optional fixed random network with the output shape of the mean.
        - `prior_scale`: the factor `beta` of the prior's output (Osband et al. 2018).
        - `heteroscedastic`: whether the model's output holds a mean and a variance.
        - `min_variance`: the variance floor of the heteroscedastic head, which keeps the
            Gaussian likelihood bounded.

        **Raises:**

        `ValueError` for a negative `prior_scale` or a non-positive `min_variance`.
        """
        self.model = model
        self.prior = prior
        self.prior_scale = float(prior_scale)
        self.heteroscedastic = bool(heteroscedastic)
        self.min_variance = float(min_variance)

    def __check_init__(self):
        if not self.prior_scale >= 0:
            raise ValueError(f"prior_scale must be >= 0, got {self.prior_scale}")
        if not self.min_variance > 0:
            raise ValueError(f"min_variance must be > 0, got {self.min_variance}")

    def distribution(
        self, *args: Any, key: PRNGKeyArray | None = None
    ) -> tuple[Float[Array, " *out"], Float[Array, " *out"]]:
        """The member's predictive Gaussian at one input: mean and aleatoric variance.

        **Arguments:**

        - `*args`: the model's positional arguments (one sample).
        - `key`: passed to the model as `key=` when given (dropout in training mode).

        **Returns:**

        `(mean, variance)`; the variance is zero for a member without a heteroscedastic
        head.

        **Raises:**

        `ValueError` at trace time when a heteroscedastic model's output has no leading
        axis of even size, or when the prior's output shape differs from the mean's.
        """
        out = self.model(*args) if key is None else self.model(*args, key=key)
        if self.heteroscedastic:
            if out.ndim == 0 or out.shape[0] % 2:
                raise ValueError(
                    "a heteroscedastic member needs a model output with a leading axis of even size "
                    f"(mean and variance halves), got shape {out.shape}"
                )
            half = out.shape[0] // 2
            mean, raw = out[:half], out[half:]
            variance = jax.nn.softplus(raw) + self.min_variance
        else:
            mean, variance = out, jnp.zeros_like(out)
        if self.prior is not None:
            prior_out = _frozen(self.prior)(*args)
            if prior_out.shape != mean.shape:
                raise ValueError(f"the prior's output shape {prior_out.shape} differs from the mean's {mean.shape}")
            mean = mean + self.prior_scale * prior_out
        return mean, variance

    def __call__(self, *args: Any, key: PRNGKeyArray | None = None) -> Float[Array, " *out"]:
        """The member's mean output at one input (see [`distribution`][])."""
        return self.distribution(*args, key=key)[0]
