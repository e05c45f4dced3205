"""`EnsembleLoss`: every member's own loss in one vmap, plus anchoring toward its initial draw."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from ._ensemble import Ensemble
from ._member import EnsembleMember


def _is_none(x: Any) -> bool:
    return x is None


def _anchor_penalty(model: PyTree, anchor: PyTree, variances: PyTree) -> Float[Array, ""]:
    """`sum_i (theta_i - theta_anc,i)^2 / sigma_i^2` over one member's anchored arrays.

    **Arguments:**

    - `model`: the member's model (unstacked).
    - `anchor`: its initial parameters, with `None` where an array is not anchored.
    - `variances`: the prior variance per anchored array (a scalar each).

    **Returns:**

    The scalar penalty; arrays with zero prior variance (constant initialisations)
    contribute nothing.
    """
    # Flatten with None as a leaf: `anchor` marks the untrained positions with None,
    # and the model may hold None fields of its own; both then align leaf by leaf.
    model_leaves = jtu.tree_leaves(model, is_leaf=_is_none)
    anchor_leaves = jtu.tree_leaves(anchor, is_leaf=_is_none)
    variance_leaves = jtu.tree_leaves(variances, is_leaf=_is_none)
    if not len(model_leaves) == len(anchor_leaves) == len(variance_leaves):
        raise ValueError("the anchors do not match the members' structure; build them with the ensemble")
    total = 0.0  # weakly typed: the sum takes the parameters' dtype
    for theta, a, v in zip(model_leaves, anchor_leaves, variance_leaves):
        if a is None:
            continue
        a, v = jax.lax.stop_gradient(a), jax.lax.stop_gradient(v)
        precision = jnp.where(v > 0, 1 / jnp.where(v > 0, v, 1), 0)
        total = total + precision * jnp.sum((theta - a) ** 2)
    return jnp.asarray(total)


class EnsembleLoss(eqx.Module):
    """The training loss of an [`sciml.uq.Ensemble`][]: the sum of independent member losses.

    `loss(ensemble, batch, key)` vmaps `member_loss(member, batch, key)` over the member
    axis and sums. A sum (not a mean) makes each member's gradient exactly the
    gradient of its own loss, so with a member-wise optimizer
    ([`sciml.uq.member_optimizer`][]) no information passes between members: a member
    follows the same trajectory alone as inside the ensemble. The value `sciml.train.fit`
    logs is therefore K times a typical member loss.

    Per-member data weights: when the batch is a dict with an entry `"weights"` of shape
    `(batch, num_members)` (e.g. [`sciml.uq.bootstrap_weights`][] stored with the
    data), member `k` receives the same dict with `"weights"` replaced by column `k`.
    The member loss decides what a weight means (the built-in
    [`sciml.uq.gaussian_nll_loss`][] and [`sciml.uq.squared_error_loss`][] weight
    per-sample terms).

    Anchoring (Pearce et al. 2020): for an ensemble built with `anchored=True`, each
    member's loss gains `anchor_weight / (2 N) * sum_i (theta_i - theta_anc,i)^2 /
    sigma_i^2`, the negative log of the Gaussian initialisation prior centred at the
    member's own draw, divided by the data size `N`. With a per-sample-mean Gaussian NLL
    as member loss, `anchor_weight = 1` is the exact MAP objective, and minimising it
    from K random anchors draws approximate posterior samples ("randomised MAP
    sampling"); for a mean squared error use `anchor_weight = 2 sigma_noise^2`.

    ??? cite

        [Uncertainty in Neural Networks: Approximately Bayesian Ensembling](https://arxiv.org/abs/1810.05546),
        Pearce, Leibfried, Brintrup, Zaki & Neely, AISTATS 2020, eq. (8).
    """

    member_loss: Callable[..., Any]
    data_size: int | None = eqx.field(static=True)
    anchor_weight: float = eqx.field(static=True)

    def __init__(self, member_loss: Callable[..., Any], *, data_size: int | None = None, anchor_weight: float = 1.0):
        """**Arguments:**

        - `member_loss`: `member_loss(member, batch, key) -> scalar`, the loss of one
            [`sciml.uq.EnsembleMember`][] (the `sciml.train.fit` signature).
        - `data_size`: the number of training samples `N`; required for anchored
            ensembles.
        - `anchor_weight`: the factor of the anchoring term.

        **Raises:**

        `ValueError` for a non-positive `data_size` or a negative `anchor_weight`.
        """
        if data_size is not None and (isinstance(data_size, bool) or int(data_size) != data_size or data_size < 1):
            raise ValueError(f"data_size must be a positive integer, got {data_size!r}")
        if not anchor_weight >= 0:
            raise ValueError(f"anchor_weight must be >= 0, got {anchor_weight!r}")
        self.member_loss = member_loss
        self.data_size = None if data_size is None else int(data_size)
        self.anchor_weight = float(anchor_weight)

    def per_member(self, ensemble: Ensemble, batch: PyTree, key: PRNGKeyArray) -> Float[Array, " members"]:
        """Every member's loss (anchoring included), member axis first.

        **Arguments:**

        - `ensemble`: the ensemble.
        - `batch`: the batch, shared by all members except a `"weights"` entry.
        - `key`: the step's key; member `k` gets `fold_in(key, id_k)`.

        **Returns:**

        The member losses, shape `(num_members,)`.

        **Raises:**

        `ValueError` at trace time for weights of the wrong shape, a member loss that is
        not a scalar, or an anchored ensemble without `data_size`.
        """
        k = ensemble.num_members
        weights = None
        if isinstance(batch, dict) and "weights" in batch:
            weights = batch["weights"]
            if jnp.ndim(weights) != 2 or jnp.shape(weights)[1] != k:
                raise ValueError(
                    f"per-member weights need shape (batch, {k}) (one column per member), got {jnp.shape(weights)}"
                )
            batch = {name: value for name, value in batch.items() if name != "weights"}
        anchored = ensemble.anchors is not None
        if anchored and self.data_size is None:
            raise ValueError(
                "an anchored ensemble needs EnsembleLoss(..., data_size=N), the number of training samples"
            )
        keys = jax.vmap(jr.fold_in, in_axes=(None, 0))(key, ensemble.ids)

        def one(member: EnsembleMember, anchor, variances, member_key, w, shared):
            member_batch = shared if w is None else {**shared, "weights": w}
            value = jnp.asarray(self.member_loss(member, member_batch, member_key))
            if value.shape != ():
                raise ValueError(f"the member loss must return a scalar, got shape {value.shape}")
            if anchored:
                penalty = _anchor_penalty(member.model, anchor, variances)
                value = value + self.anchor_weight / (2 * self.data_size) * penalty
            return value

        in_axes = (eqx.if_array(0), eqx.if_array(0), eqx.if_array(0), 0, None if weights is None else 1, None)
        return eqx.filter_vmap(one, in_axes=in_axes)(
            ensemble.members, ensemble.anchors, ensemble.anchor_variances, keys, weights, batch
        )

    def __call__(self, ensemble: Ensemble, batch: PyTree, key: PRNGKeyArray) -> Float[Array, ""]:
        """The sum of [`per_member`][] losses: the scalar `sciml.train.fit` minimises."""
        return jnp.sum(self.per_member(ensemble, batch, key))
