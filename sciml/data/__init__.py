"""Simulation data for surrogates: the file layout, validated loading, splits, windows,
normalisation and lazy HDF5 batches.

## The file layout

A data file is a `.npz` (written by `numpy.savez`) or an HDF5 file (`.h5`, `.hdf5`)
holding named floating-point arrays at its top level. **Channels come last** in files,
the way simulation codes write them; `sciml.nn` models take one sample channels-first,
`[channels, *grid]`, and `sciml.surrogate` converts for you. `*grid` is 1, 2 or 3 axes
of a uniform grid, the same in every array of a file. A file holds one of two layouts.

**Trajectories** (time series: next-step and rollout surrogates)

| key          | shape                                   |                              |
|--------------|-----------------------------------------|------------------------------|
| `fields`     | `[n_samples, n_times, *grid, channels]` | required                     |
| `times`      | `[n_times]` or `[n_samples, n_times]`   | optional, strictly increasing |
| `parameters` | `[n_samples, n_parameters]`             | optional                     |

**Pairs** (field-to-field maps: initial condition -> solution at time T,
coefficient -> solution)

| key          | shape                               |                                      |
|--------------|-------------------------------------|--------------------------------------|
| `inputs`     | `[n_samples, *grid, in_channels]`   | required                             |
| `outputs`    | `[n_samples, *grid, out_channels]`  | required to train, optional to predict |
| `parameters` | `[n_samples, n_parameters]`         | optional                             |

A sample is one trajectory (or one input/output pair); `parameters` hold per-sample
scalars (a diffusivity, a Reynolds number) that surrogates receive as extra constant
input channels. One parameter is written `[n_samples, 1]`. Trajectories are assumed to
use one time step; `times` is recorded with the predictions.

`examples/data_format.py` writes both layouts for the heat equation; imitate it.

## What loading checks

[`load`][] (and [`from_arrays`][] for arrays in memory) raise a [`DataError`][] (a
`ValueError`) naming the file, the key and what was expected when: a key is missing or
unknown, both layouts are mixed, an array has the wrong rank, first-axis lengths
differ, grids differ, a dtype is not floating point (nothing is converted implicitly),
an array holds Python objects (`.npz` files are read with `allow_pickle=False`, and
sciml never unpickles), any value is NaN or Inf (the message gives the first bad index
and the count), or `times` does not increase; also for a directory, an empty,
truncated or damaged file (CRC, member header), a `.npy` or text file named `.npz`.
[`fit_normaliser`][] refuses values whose normalised form would overflow JAX's float
dtype. Nothing is dropped silently.

## Pipeline

- [`split_indices`][]: seeded train / validation / test split of whole samples, so no
  trajectory is seen in two splits.
- [`Samples`][]: numbers the training samples (pairs, or windows of `window` input
  snapshots and `horizon` target snapshots inside one trajectory) and reads any of
  them; [`make_windows`][] cuts windows from in-memory trajectories.
- [`fit_normaliser`][]: per-channel [`sciml.nn.Normaliser`][] fitted on the training
  split only, streamed; zero-variance channels are shifted, never divided by zero.
- Larger than memory: `load(path, max_bytes=...)` keeps an HDF5 file on disk;
  [`BatchStream`][] reads batches in the exact order `sciml.train.fit` would draw them
  from memory, ahead of time on a background thread, and [`fit_stream`][] trains on it
  through the same `fit`.
"""

from ._dataset import from_arrays as from_arrays, SimulationData as SimulationData
from ._errors import DataError as DataError
from ._fit_stream import fit_stream as fit_stream
from ._layout import Layout as Layout
from ._load import load as load, save as save
from ._normalise import fit_normaliser as fit_normaliser
from ._samples import Samples as Samples
from ._split import split_indices as split_indices
from ._stream import BatchStream as BatchStream
from ._windows import make_windows as make_windows, windows_per_trajectory as windows_per_trajectory
