"""Training losses `loss(model, batch, key)` for ODE models, for `sciml.train.fit`."""

import math
from collections.abc import Mapping
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._model import ODEModel


def _unpack(batch: Mapping[str, Array], who: str) -> tuple[Array, Array, Array, Array | None]:
    """Trace-time checks of a trajectory batch (shapes are static, so this costs nothing per step)."""
    if not isinstance(batch, Mapping) or "ts" not in batch or "ys" not in batch:
        keys = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
        raise ValueError(
            f"{who}: the batch must be a dict with 'ts' (batch, n), 'ys' (batch, n, *state) and optionally "
            f"'mask' and 'y0' (see sciml.ode.trajectory_data), got {keys}"
        )
    ts, ys = jnp.asarray(batch["ts"]), jnp.asarray(batch["ys"])
    if ts.ndim != 2:
        raise ValueError(f"{who}: batch['ts'] must have shape (batch, n), got {ts.shape}")
    if ys.shape[:2] != ts.shape:
        raise ValueError(
            f"{who}: batch['ys'] of shape {ys.shape} does not match batch['ts'] of shape {ts.shape}: "
            "expected (batch, n, *state) with the same batch and number of times"
        )
    mask = batch.get("mask")
    if mask is None:
        mask = jnp.ones(ts.shape, bool)
    else:
        mask = jnp.asarray(mask)
        if mask.shape != ts.shape or mask.dtype != jnp.bool_:
            raise ValueError(
                f"{who}: batch['mask'] must be boolean of shape {ts.shape}, got {mask.dtype}{list(mask.shape)}"
            )
    y0 = batch.get("y0")
    if y0 is not None:
        y0 = jnp.asarray(y0)
        if y0.shape != (ys.shape[0], *ys.shape[2:]):
            raise ValueError(f"{who}: batch['y0'] must have shape {(ys.shape[0], *ys.shape[2:])}, got {y0.shape}")
    return ts, ys, mask, y0


def _expand(x: Array, ndim: int) -> Array:
    # Explicit trailing axes: the project runs with rank promotion set to raise.
    return jnp.reshape(x, x.shape + (1,) * (ndim - x.ndim))


def _squared_error(pred: Array, obs: Array, weight: Array, scale: "_Scale | None") -> Array:
    diff = pred - obs
    if scale is not None:
        diff = diff / scale.broadcast_to(diff.ndim, diff.dtype)
    # `where`, not a product: a failed member's prediction is inf, and 0 * inf is nan.
    return jnp.where(_expand(weight, diff.ndim), diff**2, 0.0)


OnFailure = Literal["raise", "inf", "drop"]


def _check_on_failure(on_failure: str, who: str) -> str:
    if on_failure not in ("raise", "inf", "drop"):
        raise ValueError(f"{who}: on_failure must be 'raise', 'inf' or 'drop', got {on_failure!r}")
    return on_failure


def _on_failure(value: Array, ok: Array, on_failure: OnFailure) -> Array:
    if on_failure != "inf":
        return value
    return jnp.where(jnp.all(ok), value, jnp.inf)


class _Scale(eqx.Module):
    """A fixed per-component error scale, kept as hashable Python numbers.

    `sciml.train.fit` reuses a compiled step for a loss that compares equal and hashes
    alike; an array field would make the loss unhashable and every `fit` call (each
    stage of a curriculum, each refit) would compile again.
    """

    values: tuple[float, ...] = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)

    def broadcast_to(self, ndim: int, dtype: jnp.dtype) -> Array:
        arr = jnp.asarray(self.values, dtype=dtype).reshape(self.shape)
        return jnp.reshape(arr, (1,) * (ndim - arr.ndim) + arr.shape)


def _check_scale(scale: ArrayLike | None, who: str) -> _Scale | None:
    if scale is None:
        return None
    if isinstance(scale, jax.core.Tracer):
        raise ValueError(f"{who}: scale must be a concrete array (it is a fixed setting, not a parameter)")
    host = np.asarray(scale, dtype=float)
    if not np.all(np.isfinite(host) & (host > 0)):
        raise ValueError(f"{who}: scale must be finite and > 0, got {host}")
    return _Scale(tuple(float(v) for v in host.ravel()), host.shape)


class TrajectoryLoss(eqx.Module):
    """Mean squared error of the predicted trajectories at the observed times.

    Each trajectory of the batch is integrated from its initial state (`batch["y0"]`,
    or its first observation) over its own time grid, and the squared errors are
    averaged over every real (unmasked) observation and state component:
    `sum_i sum_j mask_ij |(y(t_ij) - y_ij) / scale|^2 / (d * sum mask)`. The loss of a
    padded batch therefore equals the loss of the trajectories computed one by one
    and pooled.

    Usable directly as `sciml.train.fit(model, TrajectoryLoss(), data, ...)` with `data`
    from [`sciml.ode.trajectory_data`][].
    """

    scale: _Scale | None
    on_failure: OnFailure = eqx.field(static=True)

    def __init__(self, *, scale: Float[ArrayLike, " *state"] | None = None, on_failure: str = "raise"):
        """**Arguments:**

        - `scale`: a per-component scale dividing the errors (e.g. each state's standard
            deviation), so components of different magnitude weigh alike; default 1.
        - `on_failure`: what a failed solve (see [`sciml.ode.RESULTS`][]) does:
            `"raise"` stops with its message, naming the model; `"inf"` makes the loss
            infinite, which a line search (L-BFGS) treats as "step too long" and backs off
            from, and which `fit`'s non-finite guard reports or skips; `"drop"` leaves the
            failed trajectories out of the average (for batches with rare stiff members;
            their gradient may still be non-finite, which the guard then catches).

        **Raises:**

        `ValueError` for a non-positive scale or an unknown `on_failure`.
        """
        self.scale = _check_scale(scale, "TrajectoryLoss")
        self.on_failure = _check_on_failure(on_failure, "TrajectoryLoss")

    def __call__(
        self, model: ODEModel, batch: Mapping[str, Array], key: PRNGKeyArray | None = None
    ) -> Float[Array, ""]:
        """**Arguments:**

        - `model`: the [`sciml.ode.ODEModel`][].
        - `batch`: `{"ts", "ys"[, "mask", "y0"]}` with a leading trajectory axis.
        - `key`: unused (the loss is deterministic); accepted for `fit`.

        **Returns:**

        The scalar loss.

        **Raises:**

        `ValueError` (at trace time) for a malformed batch.
        """
        del key
        ts, ys, mask, y0 = _unpack(batch, "TrajectoryLoss")
        if y0 is None:
            y0 = ys[:, 0]
        sol = model.solve_batch(ts, y0, throw=self.on_failure == "raise")
        weight = mask & sol.ok[:, None] if self.on_failure == "drop" else mask
        total = jnp.sum(_squared_error(sol.ys, ys, weight, self.scale))
        count = jnp.sum(weight) * math.prod(ys.shape[2:])
        return _on_failure(total / jnp.maximum(count, 1), sol.ok, self.on_failure)


class MultipleShootingLoss(eqx.Module):
    """Trajectory MSE on short segments, each restarted from the data, plus continuity.

    Each trajectory's grid is cut into segments of `segment_length` intervals that
    overlap at their end points (the shooting nodes). Segment `s` is integrated from the
    observation at its first node, so no prediction is longer than one segment: errors
    cannot compound over a long or chaotic trajectory and the gradient stays informative
    where single shooting finds a rugged loss landscape. The loss is

    `data + continuity_weight * continuity`,

    where `data` averages the squared errors of every real observation exactly once (a
    segment's first point is its initial condition, fitted by construction), normalised
    as in [`sciml.ode.TrajectoryLoss`][], and `continuity` is the mean squared
    mismatch between each segment's predicted end and the state the next segment starts
    from. When the segments join up (zero continuity penalty) the loss therefore equals
    the single-shooting trajectory loss.

    Segments start from observations, so with noisy data the starting states carry the
    noise; a larger `segment_length` (or a final stage of `TrajectoryLoss`) averages it out.

    **References:** Bock and Plitt, "A multiple shooting algorithm for direct solution
    of optimal control problems", IFAC 1984; the data-initialised variant follows
    DiffEqFlux.jl's `multiple_shoot`.
    """

    segment_length: int = eqx.field(static=True)
    continuity_weight: float = eqx.field(static=True)
    scale: _Scale | None
    on_failure: OnFailure = eqx.field(static=True)

    def __init__(
        self,
        segment_length: int,
        *,
        continuity_weight: float = 1.0,
        scale: Float[ArrayLike, " *state"] | None = None,
        on_failure: str = "raise",
    ):
        """**Arguments:**

        - `segment_length`: the number of time intervals per segment (>= 1).
        - `continuity_weight`: the weight of the continuity penalty (>= 0).
        - `scale`, `on_failure`: as in [`sciml.ode.TrajectoryLoss`][] (a failure is
            per segment).

        **Raises:**

        `ValueError` for a non-positive segment length, a negative weight or scale, an
        unknown `on_failure`.
        """
        if isinstance(segment_length, bool) or not isinstance(segment_length, (int, np.integer)) or segment_length < 1:
            raise ValueError(f"MultipleShootingLoss: segment_length must be a positive integer, got {segment_length!r}")
        if not (isinstance(continuity_weight, (int, float)) and continuity_weight >= 0):
            raise ValueError(f"MultipleShootingLoss: continuity_weight must be >= 0, got {continuity_weight!r}")
        self.segment_length = int(segment_length)
        self.continuity_weight = float(continuity_weight)
        self.scale = _check_scale(scale, "MultipleShootingLoss")
        self.on_failure = _check_on_failure(on_failure, "MultipleShootingLoss")

    def _segments(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        k = self.segment_length
        count = max(math.ceil((n - 1) / k), 1)
        index = np.arange(count)[:, None] * k + np.arange(k + 1)[None, :]
        return np.minimum(index, n - 1), index <= n - 1

    def __call__(
        self, model: ODEModel, batch: Mapping[str, Array], key: PRNGKeyArray | None = None
    ) -> Float[Array, ""]:
        """As [`sciml.ode.TrajectoryLoss.__call__`][]."""
        del key
        ts, ys, mask, y0 = _unpack(batch, "MultipleShootingLoss")
        b, n = ts.shape
        state = ys.shape[2:]
        index, inside = self._segments(n)
        count, width = index.shape
        seg_ts, seg_ys = ts[:, index], ys[:, index]
        seg_mask = mask[:, index] & jnp.asarray(inside)[None]
        starts = seg_ys[:, :, 0]
        if y0 is not None:
            starts = starts.at[:, 0].set(y0)
        sol = model.solve_batch(
            jnp.reshape(seg_ts, (b * count, width)),
            jnp.reshape(starts, (b * count, *state)),
            throw=self.on_failure == "raise",
        )
        pred = jnp.reshape(sol.ys, (b, count, width, *state))
        ok = jnp.reshape(sol.ok, (b, count, 1))
        # Every observation once: drop each segment's first point (its initial state),
        # except the very first when the initial state is given separately.
        first = np.zeros((count, width), bool)
        first[:, 0] = True
        if y0 is not None:
            first[0, 0] = False
        weight = seg_mask & jnp.asarray(~first)[None]
        drop = self.on_failure == "drop"
        if drop:
            weight = weight & ok
        size = math.prod(state)
        data = jnp.sum(_squared_error(pred, seg_ys, weight, self.scale)) / jnp.maximum(jnp.sum(mask) * size, 1)
        if count == 1 or self.continuity_weight == 0:
            return _on_failure(data, sol.ok, self.on_failure)
        joined = seg_mask[:, :-1, -1] & seg_mask[:, 1:, 0]
        if drop:
            joined = joined & ok[:, :-1, 0] & ok[:, 1:, 0]
        gaps = _squared_error(pred[:, :-1, -1], starts[:, 1:], joined, self.scale)
        continuity = jnp.sum(gaps) / jnp.maximum(jnp.sum(joined) * size, 1)
        return _on_failure(data + self.continuity_weight * continuity, sol.ok, self.on_failure)
