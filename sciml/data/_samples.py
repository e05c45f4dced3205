"""`Samples`: numbered training samples (pairs or trajectory windows) of a dataset."""

from typing import Any

import numpy as np
from jaxtyping import Int

from ._dataset import SimulationData
from ._errors import DataError
from ._windows import window_positions, windows_per_trajectory


class Samples:
    """Numbers the training samples of a dataset and reads any of them by id.

    For pairs, sample `i` is input/output pair `i`. For trajectories, a sample is a
    window of `window` snapshots with the `horizon` snapshots that follow as target;
    window ids run trajectory by trajectory, so [`Samples.ids`][] of a set of
    trajectories (a split) yields only windows inside those trajectories. Reads are
    the same for in-memory and lazy data: `read(ids)` gives a dict of NumPy arrays.

    The dict holds `"inputs"` (`[k, *grid, c_in]` for pairs, `[k, window, *grid, c]`
    for trajectories), `"targets"` (`[k, *grid, c_out]`, or `[k, horizon, *grid, c]`;
    absent for pairs without outputs) and `"parameters"` (`[k, n_parameters]`, when the
    data has them), in the file's dtypes.
    """

    def __init__(self, data: SimulationData, *, window: int | None = None, horizon: int = 1, stride: int = 1):
        """**Arguments:**

        - `data`: the dataset.
        - `window`: input snapshots per sample (trajectories only; default 1).
        - `horizon`: target snapshots per sample (trajectories only).
        - `stride`: time steps between consecutive windows (trajectories only).

        **Raises:**

        [`DataError`][] for a window on pairs data, or sizes that do not fit the
        trajectories.
        """
        layout = data.layout
        if layout.kind == "pairs":
            if window is not None or horizon != 1 or stride != 1:
                raise DataError(
                    f"{data.source}: window, horizon and stride apply to 'fields' trajectories, not to pairs"
                )
            self.per_sample = 1
        else:
            window = 1 if window is None else window
            self.per_sample = windows_per_trajectory(layout.num_times, window, horizon, stride)
        self.data = data
        self.window = window
        self.horizon = horizon
        self.stride = stride

    def __len__(self) -> int:
        return self.data.layout.num_samples * self.per_sample

    def ids(self, members: Int[np.ndarray, " k"]) -> Int[np.ndarray, " m"]:
        """The ids of all samples of the given trajectories (or pairs), in order.

        **Arguments:**

        - `members`: indices of trajectories (or pairs), e.g. one split.

        **Returns:**

        The sample ids, `per_sample` consecutive ids per member.
        """
        members = np.asarray(members, dtype=np.int64)
        return (members[:, None] * self.per_sample + np.arange(self.per_sample)).reshape(-1)

    def owner(self, ids: Int[np.ndarray, " k"]) -> Int[np.ndarray, " k"]:
        """The trajectory (or pair) each sample id comes from."""
        return np.asarray(ids) // self.per_sample

    def shapes(self, count: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """`{name: (shape, dtype)}` of `read` on `count` ids, without reading."""
        layout, data = self.data.layout, self.data
        rest = (*layout.grid, layout.in_channels)
        if layout.kind == "pairs":
            out = {"inputs": ((count, *rest), data["inputs"].dtype)}
            if "outputs" in data:
                out["targets"] = ((count, *layout.grid, layout.out_channels), data["outputs"].dtype)
        else:
            dtype = data["fields"].dtype
            out = {"inputs": ((count, self.window, *rest), dtype), "targets": ((count, self.horizon, *rest), dtype)}
        if "parameters" in data:
            out["parameters"] = ((count, layout.num_parameters), data["parameters"].dtype)
        return out

    def read(self, ids: Int[np.ndarray, " k"]) -> dict[str, np.ndarray]:
        """Reads the samples `ids` (any order) into memory.

        **Arguments:**

        - `ids`: sample ids in `[0, len(self))`.

        **Returns:**

        `{"inputs": ..., "targets": ..., "parameters": ...}` as described above.
        """
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise IndexError(f"sample ids must lie in [0, {len(self)}), got {ids.min()}..{ids.max()}")
        data = self.data
        owners = self.owner(ids)
        out: dict[str, np.ndarray] = {}
        if data.layout.kind == "pairs":
            out["inputs"] = data.read("inputs", owners)
            if "outputs" in data:
                out["targets"] = data.read("outputs", owners)
        else:
            span = self._read_windows(ids)
            out["inputs"], out["targets"] = span[:, : self.window], span[:, self.window :]
        if "parameters" in data:
            out["parameters"] = data.read("parameters", owners)
        return out

    def _read_windows(self, ids: np.ndarray) -> np.ndarray:
        fields: Any = self.data["fields"]
        traj, start = window_positions(ids, fields.shape[1], self.window, self.horizon, self.stride)
        span = self.window + self.horizon
        offsets = start[:, None] + np.arange(span)
        if isinstance(fields, np.ndarray):
            return fields[traj[:, None], offsets]
        # Lazy: one contiguous read per trajectory, covering all its windows in the batch.
        out = np.empty((len(ids), span, *fields.shape[2:]), fields.dtype)
        for j in np.unique(traj):
            rows = np.flatnonzero(traj == j)
            lo, hi = int(start[rows].min()), int(start[rows].max()) + span
            block = fields[int(j), lo:hi]
            out[rows] = block[offsets[rows] - lo]
        return out
