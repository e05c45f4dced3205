"""Loss-term weighting: fixed, or balanced by gradient norms (learning-rate annealing)."""

import abc
from collections.abc import Sequence
from typing import Literal

import equinox as eqx
import jax.numpy as jnp
import jax.tree_util as jtu
from jaxtyping import Array, Float, PyTree


def _leaves(tree: PyTree) -> Float[Array, " p"]:
    leaves = [jnp.ravel(x) for x in jtu.tree_leaves(tree)]
    return jnp.concatenate(leaves) if leaves else jnp.zeros((0,))


class AbstractWeighting(eqx.Module):
    """How the weights `lambda_i` of the loss `sum_i lambda_i L_i` evolve during training.

    Every `every` steps the loss computes the gradient of each unweighted term with
    respect to the trainable parameters and calls `update`; the weights live in the
    loss state, so they are checkpointed and a resumed run continues with them.
    """

    every: eqx.AbstractVar[int | None]

    @abc.abstractmethod
    def update(self, weights: Float[Array, " terms"], grads: Sequence[PyTree]) -> Float[Array, " terms"]:
        """New weights from the current ones and the per-term gradients."""


class FixedWeighting(AbstractWeighting):
    """Constant weights (the initial ones given to the loss)."""

    every: None = eqx.field(static=True, default=None)

    def update(self, weights: Float[Array, " terms"], grads: Sequence[PyTree]) -> Float[Array, " terms"]:
        """Returns `weights` unchanged."""
        return weights


class GradNormWeighting(AbstractWeighting):
    """Learning-rate annealing: weights that balance the gradient magnitudes of the terms.

    Every `every` steps each unweighted term's gradient `g_i = grad_theta L_i` is
    computed and a target weight formed:

    - `kind="norm"` (Wang et al. 2023, eq. 3.2): `lambda_i^ = (sum_j ||g_j||) / ||g_i||`,
        so that every weighted gradient has the same norm, `sum_j ||g_j||`;
    - `kind="max_mean"` (Wang, Teng & Perdikaris 2021, eq. 40): the residual keeps weight
        1 and `lambda_i^ = max_k |g_residual,k| / mean_k |g_i,k|`;

    then `lambda <- momentum * lambda + (1 - momentum) * lambda^`. A term whose gradient
    vanishes keeps its weight.

    ??? cite

        S. Wang, Y. Teng and P. Perdikaris, "Understanding and mitigating gradient flow
        pathologies in physics-informed neural networks", SIAM J. Sci. Comput. 43
        (2021) A3055-A3081; S. Wang, S. Sankaran, H. Wang and P. Perdikaris, "An
        expert's guide to training physics-informed neural networks", arXiv:2308.08468
        (2023).
    """

    every: int = eqx.field(static=True)
    momentum: float = eqx.field(static=True)
    kind: Literal["norm", "max_mean"] = eqx.field(static=True)

    def __init__(self, every: int = 100, *, momentum: float | int = 0.9, kind: Literal["norm", "max_mean"] = "norm"):
        """**Arguments:**

        - `every`: the update period in steps (the gradients of every term cost one
            extra backward pass each, so not every step).
        - `momentum`: the weight of the old value in the moving average, in `[0, 1)`.
        - `kind`: `"norm"` or `"max_mean"`, the two published ratio formulas.

        **Raises:**

        `ValueError` for a non-positive period, a momentum outside `[0, 1)` or an
        unknown kind.
        """
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"GradNormWeighting: every must be a positive int, got {every!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"GradNormWeighting: momentum must be in [0, 1), got {momentum!r}")
        if kind not in ("norm", "max_mean"):
            raise ValueError(f"GradNormWeighting: unknown kind {kind!r}; accepted: 'norm', 'max_mean'")
        self.every = every
        self.momentum = float(momentum)
        self.kind = kind

    def target(self, weights: Float[Array, " terms"], grads: Sequence[PyTree]) -> Float[Array, " terms"]:
        """The balancing weights `lambda^` before averaging (term 0 is the PDE residual).

        **Arguments:**

        - `weights`: the current weights (kept for terms with a zero gradient).
        - `grads`: one gradient pytree per term, in the loss's term order.

        **Returns:**

        The target weights.
        """
        flat = [_leaves(g) for g in grads]
        tiny = jnp.finfo(weights.dtype).tiny
        if self.kind == "norm":
            norms = jnp.stack([jnp.sqrt(jnp.sum(g**2)) for g in flat]).astype(weights.dtype)
            target = jnp.sum(norms) / jnp.maximum(norms, tiny)
            return jnp.where(norms > 0, target, weights)
        peak = jnp.max(jnp.abs(flat[0])).astype(weights.dtype)
        means = jnp.stack([jnp.mean(jnp.abs(g)) for g in flat]).astype(weights.dtype)
        target = (peak / jnp.maximum(means, tiny)).at[0].set(1)
        return jnp.where(means > 0, target, weights)

    def update(self, weights: Float[Array, " terms"], grads: Sequence[PyTree]) -> Float[Array, " terms"]:
        """The moving average of the weights towards [`target`][].

        **Arguments:**

        - `weights`: the current weights.
        - `grads`: one gradient pytree per term.

        **Returns:**

        The new weights.
        """
        return self.momentum * weights + (1 - self.momentum) * self.target(weights, grads)
