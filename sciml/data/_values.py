"""Value checks on load: NaN/Inf anywhere, and strictly increasing times."""

import math
from typing import Any

import numpy as np

from ._errors import DataError


DEFAULT_CHUNK_BYTES = 64 * 2**20


def rows_per_chunk(shape: tuple[int, ...], itemsize: int, chunk_bytes: int) -> int:
    """How many leading-axis rows fit in `chunk_bytes` (at least one)."""
    row = math.prod(shape[1:]) * itemsize
    return max(1, chunk_bytes // max(row, 1))


def check_finite(name: str, array: Any, *, source: str, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> None:
    """Raises when `array` holds NaN or Inf, naming the first bad index and the count.

    The array is read in chunks of whole samples, so an HDF5 dataset larger than
    memory is checked in one streaming pass.

    **Arguments:**

    - `name`: the array's key, for the message.
    - `array`: a NumPy array or an `h5py.Dataset` (anything sliceable along axis 0).
    - `source`: the file name, for the message.
    - `chunk_bytes`: the most bytes read at once.

    **Raises:**

    [`DataError`][] naming the key, the first non-finite value's full index (whose first
    entry is the sample) and the number of non-finite values.
    """
    shape = tuple(array.shape)
    step = rows_per_chunk(shape, np.dtype(array.dtype).itemsize, chunk_bytes)
    first, kind, count = None, None, 0
    for start in range(0, shape[0], step):
        chunk = np.asarray(array[start : start + step])
        bad = ~np.isfinite(chunk)
        n_bad = int(np.count_nonzero(bad))
        if n_bad and first is None:
            local = np.unravel_index(int(np.argmax(bad)), chunk.shape)
            first = (start + int(local[0]), *(int(i) for i in local[1:]))
            kind = "NaN" if np.isnan(chunk[local]) else "Inf"
        count += n_bad
    if first is not None:
        where = f"sample {first[0]}" + (f", time {first[1]}" if name == "fields" else "")
        raise DataError(
            f"{source}: '{name}' holds {count} non-finite value(s) (NaN or Inf); the first is {kind} at index "
            f"{first} ({where}). Nothing is dropped: fix or remove that sample"
        )


def check_times(times: np.ndarray, *, source: str) -> None:
    """Raises unless every row of `times` is strictly increasing.

    **Raises:**

    [`DataError`][] naming the first offending sample and time index.
    """
    rows = np.atleast_2d(times)
    steps = np.diff(rows, axis=-1)
    bad = ~(steps > 0)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        where = f"index {j + 1}" if times.ndim == 1 else f"index ({i}, {j + 1})"
        raise DataError(
            f"{source}: 'times' must increase strictly along each trajectory; at {where} it goes "
            f"from {rows[i, j]!r} to {rows[i, j + 1]!r}"
        )
