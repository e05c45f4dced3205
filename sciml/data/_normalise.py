"""`fit_normaliser`: per-channel statistics of a dataset's training split, streamed."""

import jax.numpy as jnp
import numpy as np
from jaxtyping import Int

from ..nn import Normaliser
from ._dataset import SimulationData
from ._errors import DataError
from ._values import DEFAULT_CHUNK_BYTES, rows_per_chunk


def fit_normaliser(
    data: SimulationData,
    name: str,
    ids: Int[np.ndarray, " k"] | None = None,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Normaliser:
    """Fits a per-channel [`sciml.nn.Normaliser`][] to the samples `ids` of one array.

    Arrays are channels-last in files, so the statistics are taken over every axis but
    the last, pooled over samples, times and grid points; pass the training split's
    indices so that no validation or test value leaks into them. The pass streams
    `chunk_bytes` at a time (lazy HDF5 data never has to fit in memory) and accumulates
    in float64 with Chan et al.'s pairwise update, so the result matches the one-shot
    `Normaliser.from_data` to round-off. A channel with zero variance gets unit scale
    from `Normaliser` itself: it is shifted, never divided by zero.

    **Arguments:**

    - `data`: the dataset.
    - `name`: the array, e.g. `"fields"`, `"inputs"`, `"outputs"` or `"parameters"`.
    - `ids`: the samples (first-axis indices) to use; default all.
    - `chunk_bytes`: the most bytes read at once.

    **Returns:**

    A `Normaliser` with statistics of shape `(channels,)`, for channels-first samples
    `[channels, *grid]` (or vectors `[n_parameters]`).

    **Raises:**

    `ValueError` when `ids` is empty; [`DataError`][] when the values are so large
    that normalising them overflows JAX's default float dtype.

    ??? cite

        Chan, Golub & LeVeque, "Updating formulae and a pairwise algorithm for
        computing sample variances", 1979.
    """
    array = data[name]
    ids = np.arange(array.shape[0]) if ids is None else np.asarray(ids)
    if ids.size == 0:
        raise ValueError(f"fit_normaliser({name!r}) needs at least one sample, got no ids")
    channels = array.shape[-1]
    step = rows_per_chunk(tuple(array.shape), np.dtype(array.dtype).itemsize, chunk_bytes)
    count, mean, m2 = 0, np.zeros(channels), np.zeros(channels)
    low, high = np.full(channels, np.inf), np.full(channels, -np.inf)
    # Values near the float64 maximum overflow here; the Inf/NaN is refused just below.
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, ids.size, step):
            chunk = data.read(name, ids[start : start + step]).reshape(-1, channels).astype(np.float64)
            n_b = chunk.shape[0]
            mean_b = chunk.mean(axis=0)
            m2_b = ((chunk - mean_b) ** 2).sum(axis=0)
            delta = mean_b - mean
            total = count + n_b
            mean = mean + delta * (n_b / total)
            m2 = m2 + m2_b + delta**2 * (count * n_b / total)
            count = total
            low, high = np.minimum(low, chunk.min(axis=0)), np.maximum(high, chunk.max(axis=0))
        std = np.sqrt(m2 / count)
    _check_representable(data.source, name, mean, std, low, high)
    return Normaliser(mean, std)


def _check_representable(source: str, name: str, *stats: np.ndarray) -> None:
    """Refuses data whose statistics or centred values overflow the training dtype.

    The statistics are exact in float64, but the model computes `(x - mean) / std` in
    JAX's default float dtype (float32 unless x64 is on): values near its maximum
    overflow to Inf there and would train on garbage without a word.
    """
    mean, std, low, high = stats
    dtype = jnp.zeros(()).dtype
    limit = float(np.finfo(dtype).max)
    hint = ", or train in float64 (JAX_ENABLE_X64=1)" if dtype.itemsize < 8 else ""
    with np.errstate(over="ignore"):
        extent = np.max(np.abs(np.stack([mean, std, low, high, high - mean, low - mean])), axis=0)
    for c in np.flatnonzero(~(extent <= limit)):
        raise DataError(
            f"{source}: '{name}' channel {c} spans [{low[c]:.3g}, {high[c]:.3g}] with mean {mean[c]:.3g}; its "
            f"normalised form (x - mean) / std overflows {dtype.name} (largest {limit:.3g}). Rescale the data "
            f"(other units){hint}"
        )
