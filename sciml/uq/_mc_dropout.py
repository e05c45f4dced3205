"""MC dropout: the cheap baseline, dropout kept on at prediction time."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import ArrayLike, Float, PRNGKeyArray, PyTree

from ._member import EnsembleMember
from ._predictive import Predictive


def mc_dropout_predict(
    model: PyTree, x: Float[ArrayLike, " batch *in"], key: PRNGKeyArray, n_samples: int
) -> Predictive:
    """The MC-dropout predictive: `n_samples` stochastic forward passes as a mixture.

    Gal & Ghahramani (2016) read a network trained with dropout as a variational
    approximation whose posterior samples are the dropout masks; sampling masks at
    prediction time gives a predictive distribution. Each pass here draws fresh masks
    for every input (as in training, one key per sample), and the passes form an
    equally weighted mixture in a [`sciml.uq.Predictive`][]: point masses for a plain
    model, Gaussians for an [`sciml.uq.EnsembleMember`][] with a heteroscedastic head
    (Kendall & Gal 2017), so the same metrics apply as to an ensemble.

    The model is switched to training mode (`eqx.nn.inference_mode(model, False)`), so
    dropout is active whatever mode it was saved in.

    ??? cite

        [Dropout as a Bayesian Approximation: Representing Model Uncertainty in Deep Learning](https://arxiv.org/abs/1506.02142),
        Gal & Ghahramani, ICML 2016.

    **Arguments:**

    - `model`: a model with dropout, called as `model(x, key=...)` on one sample (e.g.
        `sciml.nn.MLP(..., dropout=0.1)`), or an `EnsembleMember` wrapping one.
    - `x`: a batch of inputs, shape `(n, *in)`.
    - `key`: the PRNG key of the masks.
    - `n_samples`: the number of forward passes.

    **Returns:**

    A `Predictive` with `n_samples` components of shape `(n, *out)`.

    **Raises:**

    `ValueError` for a non-positive `n_samples`.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    return _sample(eqx.nn.inference_mode(model, False), jnp.asarray(x), key, n_samples)


@eqx.filter_jit
def _sample(model, x, key, n_samples):
    member = model if isinstance(model, EnsembleMember) else None

    def one_pass(pass_key):
        keys = jr.split(pass_key, x.shape[0])
        if member is not None:
            return jax.vmap(lambda xi, ki: member.distribution(xi, key=ki))(x, keys)
        mean = jax.vmap(lambda xi, ki: model(xi, key=ki))(x, keys)
        return mean, jnp.zeros_like(mean)

    means, variances = jax.vmap(one_pass)(jr.split(key, n_samples))
    return Predictive(means, variances)
