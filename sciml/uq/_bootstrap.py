"""Per-member data weights: the bootstrap and its smooth (Bayesian) variant."""

import functools

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray


_KINDS = ("multinomial", "poisson", "bayesian")


def bootstrap_weights(
    key: PRNGKeyArray, num_samples: int, num_members: int, *, kind: str = "bayesian"
) -> Float[Array, " samples members"]:
    """Random per-sample weights, one independent column per ensemble member.

    Training member `k` on the data weighted by column `k` makes it fit a resampled
    dataset, so the spread of the members reflects the sampling variability of the
    data as well as that of the initialisation. Store the result as `"weights"` in a
    dict dataset; [`sciml.uq.EnsembleLoss`][] hands each member its column.

    - `"multinomial"`: Efron's bootstrap, the counts of `N` draws with replacement
        (about 37% of the samples get weight zero).
    - `"poisson"`: independent `Poisson(1)` counts, the large-`N` limit of the
        multinomial (Oza & Russell 2001), independent across samples.
    - `"bayesian"`: Rubin's Bayesian bootstrap, `N` times a flat Dirichlet draw
        (normalised `Exp(1)` variables): every sample keeps a positive weight, which
        suits neural networks better than dropping a third of a small dataset.

    Every column sums to `N` (exactly for multinomial and Bayesian, in expectation for
    Poisson), so a weighted mean loss keeps the scale of the unweighted one.

    ??? cite

        [The Bayesian Bootstrap](https://doi.org/10.1214/aos/1176345338), Rubin, The Annals of
        Statistics 9(1), 1981.

    **Arguments:**

    - `key`: the PRNG key.
    - `num_samples`: the dataset size `N`.
    - `num_members`: the ensemble size `K`.
    - `kind`: `"bayesian"` (default), `"multinomial"` or `"poisson"`.

    **Returns:**

    The weights, shape `(N, K)`, sample axis first (like every dataset array).

    **Raises:**

    `ValueError` for an unknown kind or non-positive sizes.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown bootstrap kind {kind!r}; accepted: {', '.join(_KINDS)}")
    if num_samples < 1 or num_members < 1:
        raise ValueError(f"bootstrap_weights needs positive sizes, got {num_samples} samples, {num_members} members")
    return _draw(key, num_samples, num_members, kind)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _draw(key, num_samples, num_members, kind):
    dtype = jnp.zeros(()).dtype
    shape = (num_samples, num_members)
    if kind == "multinomial":
        draws = jr.randint(key, shape, 0, num_samples)
        counts = jnp.zeros(shape, dtype).at[draws, jnp.arange(num_members)[None, :]].add(1.0)
        return counts
    if kind == "poisson":
        return jr.poisson(key, 1.0, shape).astype(dtype)
    gamma = jr.exponential(key, shape, dtype)
    return num_samples * gamma / jnp.sum(gamma, axis=0, keepdims=True)
