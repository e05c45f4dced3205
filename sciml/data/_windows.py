"""Input windows and target horizons cut from trajectories, never across two of them."""

import numpy as np
from jaxtyping import Int, Shaped

from ._errors import DataError


def windows_per_trajectory(num_times: int, window: int, horizon: int = 1, stride: int = 1) -> int:
    """How many (window, horizon) pairs fit in one trajectory of `num_times` snapshots.

    **Raises:**

    [`DataError`][] for non-positive sizes or a trajectory shorter than `window + horizon`.
    """
    for name, value in (("window", window), ("horizon", horizon), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise DataError(f"{name} must be a positive integer, got {value!r}")
    if num_times < window + horizon:
        raise DataError(f"trajectories of {num_times} times are too short for window {window} + horizon {horizon}")
    return (num_times - window - horizon) // stride + 1


def window_positions(
    ids: Int[np.ndarray, " k"], num_times: int, window: int, horizon: int = 1, stride: int = 1
) -> tuple[Int[np.ndarray, " k"], Int[np.ndarray, " k"]]:
    """The (trajectory, first time) of window ids numbered trajectory by trajectory.

    Window `i` of trajectory `j` has id `j * windows_per_trajectory(...) + i` and starts
    at time `i * stride`, so a window id determines its trajectory and never spans two.
    """
    per = windows_per_trajectory(num_times, window, horizon, stride)
    ids = np.asarray(ids)
    return ids // per, (ids % per) * stride


def make_windows(
    fields: Shaped[np.ndarray, " n t *rest"], *, window: int, horizon: int = 1, stride: int = 1
) -> tuple[Shaped[np.ndarray, " m w *rest"], Shaped[np.ndarray, " m h *rest"], Int[np.ndarray, " m 2"]]:
    """Cuts every trajectory into (input window, target horizon) pairs, in memory.

    For autoregressive and rollout training: the input is `window` consecutive
    snapshots, the target the `horizon` snapshots that follow. Windows are cut inside
    each trajectory only, so no pair mixes the end of one trajectory with the start of
    the next. Split the trajectories first ([`split_indices`][]) and window each split.

    **Arguments:**

    - `fields`: trajectories `[n_samples, n_times, *grid, channels]` (any trailing axes).
    - `window`: snapshots per input.
    - `horizon`: snapshots per target.
    - `stride`: time steps between consecutive windows' starts.

    **Returns:**

    `(inputs, targets, index)`: `inputs` `[m, window, ...]`, `targets`
    `[m, horizon, ...]` and `index` `[m, 2]` holding each window's trajectory and first
    time, with `m = n_samples * windows_per_trajectory(n_times, window, horizon, stride)`.

    **Raises:**

    [`DataError`][] for non-positive sizes or trajectories that are too short.
    """
    n, num_times = fields.shape[:2]
    per = windows_per_trajectory(num_times, window, horizon, stride)
    starts = np.arange(per) * stride
    times = starts[:, None] + np.arange(window + horizon)
    cut = fields[:, times]  # [n, per, window + horizon, ...]
    cut = cut.reshape(n * per, window + horizon, *fields.shape[2:])
    index = np.stack([np.repeat(np.arange(n), per), np.tile(starts, n)], axis=1)
    return cut[:, :window], cut[:, window:], index
