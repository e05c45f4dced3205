"""Collocation-point strategies: fixed, periodically redrawn, or residual-based adaptive (RAD)."""

import abc
from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._domain import AbstractDomain


class AbstractResampling(eqx.Module):
    """When and how the collocation points of the PDE residual are redrawn.

    Every `every` steps (never at step 0) the loss calls `draw` for the residual points
    and redraws the points of every other resampled condition with the loss's sampler.
    The points live in the loss state, so they are checkpointed and a resumed run
    continues with exactly the same points.
    """

    every: eqx.AbstractVar[int | None]

    @abc.abstractmethod
    def draw(
        self,
        key: PRNGKeyArray,
        domain: AbstractDomain,
        n: int,
        sampler: str,
        residual_norm: Callable[[Float[Array, " m d"]], Float[Array, " m"]],
        dtype,
    ) -> Float[Array, " n d"]:
        """New residual points; `residual_norm` gives `|r|` of the current model at points."""


def _check_every(every, who: str) -> int:
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"{who}: every must be a positive int, got {every!r}")
    return every


class FixedPoints(AbstractResampling):
    """The points drawn when the loss was built, for the whole run (needed by L-BFGS and
    least-squares stages, whose objective must not change under them)."""

    every: None = eqx.field(static=True, default=None)

    def draw(self, key, domain, n, sampler, residual_norm, dtype):
        raise ValueError("FixedPoints never draws new points")


class Resample(AbstractResampling):
    """A fresh draw of every point set from the loss's sampler every `every` steps."""

    every: int = eqx.field(static=True)

    def __init__(self, every: int = 1):
        """**Arguments:**

        - `every`: the period in steps (1: new points every step, i.e. stochastic
            collocation).

        **Raises:**

        `ValueError` for a non-positive period.
        """
        self.every = _check_every(every, "Resample")

    def draw(self, key, domain, n, sampler, residual_norm, dtype):
        return domain.sample_interior(key, n, sampler, dtype)


class RAD(AbstractResampling):
    """Residual-based adaptive distribution: points drawn with probability
    `p(x) ~ |r(x)|^k / E|r|^k + c`.

    A pool of `pool * n` candidates is drawn with the loss's sampler, the residual of
    the current model evaluated on it, and `n` of them chosen without replacement with
    those probabilities. `k` sharpens the concentration on large residuals (shocks,
    fronts); `c > 0` keeps a uniform share so no region is abandoned. `k = 1, c = 1`
    is the recommended default of the paper; `c = 0` and large `k` approach RAR's
    greedy choice of the largest residuals.

    ??? cite

        C. Wu, M. Zhu, Q. Tan, Y. Kartha and L. Lu, "A comprehensive study of
        non-adaptive and residual-based adaptive sampling for physics-informed neural
        networks", CMAME 403 (2023) 115671, eq. (2).
    """

    every: int = eqx.field(static=True)
    k: float = eqx.field(static=True)
    c: float = eqx.field(static=True)
    pool: int = eqx.field(static=True)

    def __init__(self, every: int = 1000, *, k: float | int = 1.0, c: float | int = 1.0, pool: int = 4):
        """**Arguments:**

        - `every`: the period in steps.
        - `k`: the power of the residual, > 0.
        - `c`: the uniform share, >= 0.
        - `pool`: candidates per point kept, >= 2.

        **Raises:**

        `ValueError` for values outside those ranges.
        """
        self.every = _check_every(every, "RAD")
        if not k > 0 or not c >= 0:
            raise ValueError(f"RAD: needs k > 0 and c >= 0, got k={k!r}, c={c!r}")
        if isinstance(pool, bool) or not isinstance(pool, int) or pool < 2:
            raise ValueError(f"RAD: pool must be an int >= 2, got {pool!r}")
        self.k = float(k)
        self.c = float(c)
        self.pool = pool

    def probabilities(self, residual: Float[Array, " m"]) -> Float[Array, " m"]:
        """The sampling probabilities of candidates with residual magnitudes `residual`.

        **Arguments:**

        - `residual`: `|r|` at each candidate.

        **Returns:**

        Probabilities summing to one.
        """
        power = jnp.abs(residual) ** self.k
        density = power / jnp.maximum(jnp.mean(power), jnp.finfo(power.dtype).tiny) + self.c
        # Non-finite residuals (a diverging model) fall back to uniform sampling.
        density = jnp.where(jnp.isfinite(density), density, 1)
        return density / jnp.sum(density)

    def draw(self, key, domain, n, sampler, residual_norm, dtype):
        pool_key, choice_key = jr.split(key)
        candidates = domain.sample_interior(pool_key, self.pool * n, sampler, dtype)
        p = self.probabilities(residual_norm(candidates))
        chosen = jr.choice(choice_key, candidates.shape[0], (n,), replace=False, p=p)
        return candidates[chosen]
