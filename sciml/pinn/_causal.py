"""Causal weighting: the PDE residual of an evolution equation learnt in time order."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int


class CausalWeighting(eqx.Module):
    """Weights the PDE residual of a space-time problem so that later times count only
    once earlier ones are resolved.

    The time interval is cut into `chunks` equal slices; with `L_k` the mean squared
    residual of the collocation points in slice `k`, the residual term becomes

    $$ \\frac{1}{M} \\sum_{k=1}^{M} w_k L_k, \\qquad
       w_k = \\exp\\Big(-\\varepsilon \\sum_{j<k} L_j\\Big), $$

    with the weights `w_k` held constant under differentiation (`stop_gradient`). A
    network that has not yet fitted the early slices sees almost no gradient from the
    late ones, which stops it from converging to a solution of the PDE that violates
    the initial data's time order (the failure mode of plain PINNs on Allen-Cahn,
    Kuramoto-Sivashinsky and long-time transport); as the early residuals fall, the
    weights rise towards one and the loss becomes the plain mean residual. Use it on a
    [`sciml.pinn.SpaceTime`][] domain with points redrawn often (e.g.
    `Resample(every=1)`) so that every slice holds points.

    ??? cite

        S. Wang, S. Sankaran and P. Perdikaris, "Respecting causality for training
        physics-informed neural networks", CMAME 421 (2024) 116813, eqs. (3.4)-(3.6);
        arXiv:2203.07404 (2022).
    """

    chunks: int = eqx.field(static=True)
    tol: float = eqx.field(static=True)

    def __init__(self, chunks: int = 32, tol: float | int = 1.0):
        """**Arguments:**

        - `chunks`: the number `M` of time slices, >= 1 (1: the plain mean).
        - `tol`: the causality parameter `epsilon`, > 0 (larger: stricter order).

        **Raises:**

        `ValueError` for a non-positive number of slices or tolerance.
        """
        if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
            raise ValueError(f"CausalWeighting: chunks must be a positive int, got {chunks!r}")
        if isinstance(tol, bool) or not tol > 0:
            raise ValueError(f"CausalWeighting: tol must be > 0, got {tol!r}")
        self.chunks = chunks
        self.tol = float(tol)

    def slices(self, tau: Float[Array, " n"]) -> Int[Array, " n"]:
        """The slice index of each point from its scaled time `tau = (t - t0)/(t1 - t0)`.

        **Arguments:**

        - `tau`: scaled times in `[0, 1]`.

        **Returns:**

        Indices in `0..chunks-1` (`tau = 1` belongs to the last slice).
        """
        return jnp.clip(jnp.floor(tau * self.chunks).astype(jnp.int32), 0, self.chunks - 1)

    def slice_losses(
        self, squared: Float[Array, " n"], tau: Float[Array, " n"]
    ) -> tuple[Float[Array, " m"], Float[Array, " m"]]:
        """The mean squared residual `L_k` of each slice and the number of points in it.

        **Arguments:**

        - `squared`: the squared residual norm at each point.
        - `tau`: the points' scaled times.

        **Returns:**

        `(L, counts)`, both of shape `(chunks,)`; an empty slice has `L_k = 0`.
        """
        index = self.slices(tau)
        total = jax.ops.segment_sum(squared, index, num_segments=self.chunks)
        counts = jax.ops.segment_sum(jnp.ones_like(squared), index, num_segments=self.chunks)
        return total / jnp.maximum(counts, 1), counts

    def weights(self, slice_losses: Float[Array, " m"]) -> Float[Array, " m"]:
        """The causal weights `w_k = exp(-tol * sum_{j<k} L_j)`, without gradient.

        **Arguments:**

        - `slice_losses`: `L_k` for each slice, in time order.

        **Returns:**

        The weights, in `(0, 1]`, the first one exactly 1.
        """
        before = jnp.cumsum(slice_losses) - slice_losses
        return jax.lax.stop_gradient(jnp.exp(-self.tol * before))

    def point_factors(self, squared: Float[Array, " n"], tau: Float[Array, " n"]) -> Float[Array, " n"]:
        """Per-point factors `c_i` with `sum_i c_i |r_i|^2` equal to the causal residual term.

        Point `i` in slice `k` gets `w_k / (M n_k)`; the least-squares stages scale the
        residuals by `sqrt(c_i)`.

        **Arguments:**

        - `squared`: the squared residual norm at each point.
        - `tau`: the points' scaled times.

        **Returns:**

        The factors, without gradient.
        """
        losses, counts = self.slice_losses(squared, tau)
        per_slice = self.weights(losses) / (self.chunks * jnp.maximum(counts, 1))
        return jax.lax.stop_gradient(per_slice[self.slices(tau)])

    def __call__(self, squared: Float[Array, " n"], tau: Float[Array, " n"]) -> Float[Array, ""]:
        """The causal residual term `(1/M) sum_k w_k L_k`.

        **Arguments:**

        - `squared`: the squared residual norm at each point.
        - `tau`: the points' scaled times.

        **Returns:**

        The weighted mean.
        """
        losses, _ = self.slice_losses(squared, tau)
        return jnp.mean(self.weights(losses) * losses)
