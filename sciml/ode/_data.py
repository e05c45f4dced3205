"""Trajectory datasets: per-trajectory time grids padded to one shape, with masks."""

from collections.abc import Mapping, Sequence

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Real


def _as_list(ts: ArrayLike | Sequence[ArrayLike], name: str) -> list[np.ndarray]:
    if isinstance(ts, (list, tuple)):
        return [np.asarray(t, dtype=float) for t in ts]
    arr = np.asarray(ts, dtype=float)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have a trajectory axis, got a scalar")
    return list(arr)


def trajectory_data(
    ts: Real[ArrayLike, "..."] | Sequence[Real[ArrayLike, " _"]],
    ys: Real[ArrayLike, "..."] | Sequence[Real[ArrayLike, " _ ..."]],
    *,
    y0: Real[ArrayLike, " batch ..."] | None = None,
) -> dict[str, Array]:
    """Build a training set of trajectories observed on their own time grids.

    Shorter grids are padded to the longest: the times by repeating their last time
    (diffrax accepts repeated save times, and the solve then still ends at the last real
    observation, so padding costs no integration), the observations by repeating their
    last value, and `mask` marks the real entries. Every loss of `sciml.ode` reads
    this format, and `sciml.train.fit` batches it along the leading axis.

    **Arguments:**

    - `ts`: the observation times: one grid shared by all trajectories, shape `(n,)`;
        one per trajectory, shape `(batch, n)`; or a list of grids of different lengths.
    - `ys`: the observations: shape `(batch, n, *state)`, or a list of arrays of shape
        `(n_i, *state)`.
    - `y0`: the initial states at each grid's first time, shape `(batch, *state)`, when
        they are known exactly; by default a loss starts from the first observation.

    **Returns:**

    A dict of arrays: `ts` `(batch, n)`, `ys` `(batch, n, *state)`, `mask` `(batch, n)`
    (bool) and, if given, `y0` `(batch, *state)`.

    **Raises:**

    `ValueError` naming the trajectory when times and observations differ in number,
    times are not strictly increasing, a value is NaN or Inf, state shapes differ, or
    a trajectory is empty.
    """
    y_list = _as_list(ys, "ys")
    if not y_list:
        raise ValueError("trajectory_data: no trajectories given")
    t_arr = None if isinstance(ts, (list, tuple)) else np.asarray(ts, dtype=float)
    if t_arr is not None and t_arr.ndim == 1:
        t_list = [t_arr] * len(y_list)
    else:
        t_list = _as_list(ts, "ts")
    if len(t_list) != len(y_list):
        raise ValueError(f"trajectory_data: {len(t_list)} time grids but {len(y_list)} observed trajectories")
    state = None
    for i, (t, y) in enumerate(zip(t_list, y_list)):
        if t.ndim != 1:
            raise ValueError(f"trajectory_data: trajectory {i}: times must be a vector, got shape {t.shape}")
        if y.ndim < 1 or y.shape[0] != t.shape[0]:
            raise ValueError(
                f"trajectory_data: trajectory {i}: {t.shape[0]} times but observations of shape {y.shape} "
                f"(expected {t.shape[0]} along the first axis)"
            )
        if t.shape[0] == 0:
            raise ValueError(f"trajectory_data: trajectory {i} is empty")
        if state is None:
            state = y.shape[1:]
        elif y.shape[1:] != state:
            raise ValueError(
                f"trajectory_data: trajectory {i} has states of shape {y.shape[1:]}, trajectory 0 has {state}"
            )
        if not np.all(np.isfinite(t)):
            raise ValueError(f"trajectory_data: trajectory {i}: the times hold NaN or Inf")
        bad = ~np.isfinite(y.reshape(y.shape[0], -1)).all(axis=1)
        if bad.any():
            j = int(np.argmax(bad))
            raise ValueError(
                f"trajectory_data: trajectory {i}: the observations hold NaN or Inf at {int(bad.sum())} "
                f"time(s), first at index {j} (t = {t[j]:.6g}); drop those times instead"
            )
        step = np.diff(t)
        if np.any(step <= 0):
            j = int(np.argmax(step <= 0))
            raise ValueError(
                f"trajectory_data: trajectory {i}: times must be strictly increasing, but t[{j}] = {t[j]:.6g} "
                f"and t[{j + 1}] = {t[j + 1]:.6g}"
            )
    n = max(t.shape[0] for t in t_list)
    b = len(t_list)
    dtype = jnp.result_type(float)
    t_pad = np.empty((b, n))
    y_pad = np.empty((b, n, *state))
    mask = np.zeros((b, n), dtype=bool)
    for i, (t, y) in enumerate(zip(t_list, y_list)):
        k = t.shape[0]
        t_pad[i, :k], t_pad[i, k:] = t, t[-1]
        y_pad[i, :k], y_pad[i, k:] = y, y[-1]
        mask[i, :k] = True
    out = {"ts": jnp.asarray(t_pad, dtype), "ys": jnp.asarray(y_pad, dtype), "mask": jnp.asarray(mask)}
    if y0 is not None:
        y0 = np.asarray(y0, dtype=float)
        if y0.shape != (b, *state):
            raise ValueError(f"trajectory_data: y0 must have shape {(b, *state)}, got {y0.shape}")
        if not np.all(np.isfinite(y0)):
            raise ValueError("trajectory_data: y0 holds NaN or Inf")
        out["y0"] = jnp.asarray(y0, dtype)
    return out


def clip_horizon(data: Mapping[str, Array], horizon: float) -> dict[str, Array]:
    """Keep only the observations within `horizon` of each trajectory's first time.

    The result has the shapes of `data` (only `ts` and `mask` change), so a training
    step compiled for one horizon serves every horizon: a curriculum that grows the
    horizon does not recompile. Times beyond the horizon are replaced by the last kept
    time, so the solve stops at the horizon instead of integrating the whole grid.

    **Arguments:**

    - `data`: a dataset from [`sciml.ode.trajectory_data`][].
    - `horizon`: the time span to keep (> 0); `inf` keeps everything.

    **Returns:**

    A new dataset dict.

    **Raises:**

    `ValueError` for a non-positive horizon or a dataset without `ts`.
    """
    if not horizon > 0:
        raise ValueError(f"clip_horizon: the horizon must be > 0, got {horizon!r}")
    if "ts" not in data or "ys" not in data:
        raise ValueError(f"clip_horizon: the dataset needs 'ts' and 'ys', got keys {sorted(data)}")
    ts = np.asarray(data["ts"], dtype=float)
    mask = np.ones(ts.shape, bool) if "mask" not in data else np.asarray(data["mask"], dtype=bool)
    elapsed = ts - ts[:, :1]
    # A small tolerance keeps an observation at exactly the horizon despite rounding.
    keep = mask & (elapsed <= horizon + 1e-9 * np.maximum(np.abs(elapsed[:, -1:]), 1.0))
    last = np.max(np.where(keep, ts, -np.inf), axis=1, keepdims=True)
    out = dict(data)
    out["ts"] = jnp.asarray(np.where(keep, ts, last), dtype=jnp.asarray(data["ts"]).dtype)
    out["mask"] = jnp.asarray(keep)
    return out
