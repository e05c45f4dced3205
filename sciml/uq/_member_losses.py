"""Regression losses of one ensemble member, with optional per-sample weights."""

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from ._member import EnsembleMember


def _regression_terms(member: PyTree, batch: PyTree, key: PRNGKeyArray | None):
    if not isinstance(batch, dict) or "x" not in batch or "y" not in batch:
        raise ValueError("regression member losses need a batch dict with 'x' and 'y' (and optionally 'weights')")
    x, y = batch["x"], batch["y"]
    keys = jr.split(key, x.shape[0])
    if isinstance(member, EnsembleMember):
        mean, variance = jax.vmap(lambda xi, ki: member.distribution(xi, key=ki))(x, keys)
    else:
        mean = jax.vmap(lambda xi, ki: member(xi, key=ki))(x, keys)
        variance = None
    if mean.shape != y.shape:
        raise ValueError(f"the member predicts shape {mean.shape[1:]} per sample but targets have {y.shape[1:]}")
    return mean, variance, y, batch.get("weights")


def _weighted_mean(per_sample: Float[Array, " batch"], weights) -> Float[Array, ""]:
    # Sum of weighted terms over the batch size, not over the weights' sum: bootstrap
    # counts have mean one, and a ratio estimator would bias small batches.
    if weights is None:
        return jnp.mean(per_sample)
    return jnp.mean(weights * per_sample)


def gaussian_nll_loss(member: EnsembleMember, batch: dict[str, Array], key: PRNGKeyArray) -> Float[Array, ""]:
    """Gaussian negative log-likelihood of a heteroscedastic member, per-sample mean.

    `0.5 * (log(2 pi sigma^2) + (y - mu)^2 / sigma^2)` summed over output entries and
    averaged (optionally weighted) over the batch (Nix & Weigend 1994).

    **Arguments:**

    - `member`: an [`sciml.uq.EnsembleMember`][] with a heteroscedastic head.
    - `batch`: a dict with `"x"` (batch, *in), `"y"` (batch, *out) and optionally
        `"weights"` (batch,).
    - `key`: split into one key per sample (dropout).

    **Returns:**

    The scalar loss.

    **Raises:**

    `ValueError` at trace time for a member without a heteroscedastic head, a batch
    without `x`/`y` or mismatching shapes.
    """
    if not (isinstance(member, EnsembleMember) and member.heteroscedastic):
        raise ValueError("gaussian_nll_loss needs an EnsembleMember with heteroscedastic=True; use squared_error_loss")
    mean, variance, y, weights = _regression_terms(member, batch, key)
    terms = 0.5 * (jnp.log(2 * jnp.pi * variance) + (y - mean) ** 2 / variance)
    return _weighted_mean(jnp.reshape(terms, (terms.shape[0], -1)).sum(axis=1), weights)


def squared_error_loss(member: PyTree, batch: dict[str, Array], key: PRNGKeyArray) -> Float[Array, ""]:
    """Squared error of the (mean) prediction, summed over outputs, per-sample mean.

    **Arguments:**

    - `member`: an [`sciml.uq.EnsembleMember`][] or any model called as `model(x, key=...)`.
    - `batch`: a dict with `"x"`, `"y"` and optionally `"weights"` (batch,).
    - `key`: split into one key per sample (dropout).

    **Returns:**

    The scalar loss.

    **Raises:**

    `ValueError` at trace time for a batch without `x`/`y` or mismatching shapes.
    """
    mean, _, y, weights = _regression_terms(member, batch, key)
    terms = (y - mean) ** 2
    return _weighted_mean(jnp.reshape(terms, (terms.shape[0], -1)).sum(axis=1), weights)
