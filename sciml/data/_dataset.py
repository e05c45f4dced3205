"""`SimulationData`: validated named arrays, held in memory or read lazily from HDF5."""

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from jaxtyping import Int

from ._errors import DataError
from ._layout import check_layout, Layout
from ._values import check_finite, check_times, DEFAULT_CHUNK_BYTES


@dataclasses.dataclass(frozen=True, eq=False)
class SimulationData:
    """A validated dataset in the `sciml.data` layout.

    Made by [`load`][] (from a file) or [`from_arrays`][] (from arrays in memory).
    In-memory data holds NumPy arrays; lazy data (an HDF5 file larger than the
    loader's `max_bytes`) holds open `h5py.Dataset`s and reads samples only when asked,
    through [`SimulationData.read`][]. Close lazy data with `close()` or a `with` block.

    **Attributes:**

    - `layout`: the [`Layout`][] (kind, sizes, grid, channels).
    - `arrays`: `{key: array}`, NumPy arrays or `h5py.Dataset`s, in the file's dtypes.
    - `source`: the file name (or `"arrays"`), used in messages.
    - `lazy`: whether the arrays are read from the file on demand.
    """

    layout: Layout
    arrays: Mapping[str, Any]
    source: str
    lazy: bool = False
    handle: Any = dataclasses.field(default=None, repr=False)

    def __contains__(self, name: str) -> bool:
        return name in self.arrays

    def __getitem__(self, name: str) -> Any:
        if name not in self.arrays:
            raise KeyError(f"{self.source} has no {name!r}; it has {sorted(self.arrays)}")
        return self.arrays[name]

    @property
    def nbytes(self) -> int:
        """The total size of the arrays in bytes."""
        return sum(int(np.prod(a.shape)) * np.dtype(a.dtype).itemsize for a in self.arrays.values())

    def read(self, name: str, ids: Int[np.ndarray, " k"]) -> np.ndarray:
        """The samples `ids` (any order, repeats allowed) of array `name`, in memory.

        **Arguments:**

        - `name`: the key, e.g. `"inputs"`.
        - `ids`: sample indices along the first axis.

        **Returns:**

        A NumPy array of shape `(len(ids), *array.shape[1:])` in the file's dtype.
        """
        array = self[name]
        ids = np.asarray(ids)
        if ids.size and (ids.min() < 0 or ids.max() >= array.shape[0]):
            raise IndexError(f"{self.source}: sample ids must lie in [0, {array.shape[0]}) for {name!r}")
        if isinstance(array, np.ndarray):
            return array[ids]
        # HDF5 point selections need increasing, unique indices: read those once, then
        # put them back in the requested order.
        unique, inverse = np.unique(ids, return_inverse=True)
        return array[unique][inverse] if unique.size else np.empty((0, *array.shape[1:]), array.dtype)

    def close(self) -> None:
        """Close the HDF5 file of lazy data (a no-op for in-memory data)."""
        if self.handle is not None:
            self.handle.close()

    def __enter__(self) -> "SimulationData":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def validate(
    arrays: Mapping[str, Any],
    *,
    source: str,
    require_targets: bool = True,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Layout:
    """Checks the layout and the values of named arrays (NumPy or `h5py.Dataset`).

    **Returns:**

    The [`Layout`][].

    **Raises:**

    [`DataError`][] for any violation of the layout, NaN/Inf or non-increasing times.
    """
    layout = check_layout(
        {k: (tuple(a.shape), a.dtype) for k, a in arrays.items()}, source=source, require_targets=require_targets
    )
    for name, array in arrays.items():
        check_finite(name, array, source=source, chunk_bytes=chunk_bytes)
    if "times" in arrays:
        check_times(np.asarray(arrays["times"]), source=source)
    return layout


def from_arrays(arrays: Mapping[str, Any], *, require_targets: bool = True, source: str = "arrays") -> SimulationData:
    """Validates named arrays already in memory, exactly as [`load`][] validates a file.

    **Arguments:**

    - `arrays`: `{key: array}` in the layout of the `sciml.data` docstring (NumPy or
        JAX arrays; their dtypes are kept).
    - `require_targets`: whether a pairs dataset must have `outputs`.
    - `source`: how to name the data in error messages.

    **Returns:**

    An in-memory [`SimulationData`][].

    **Raises:**

    [`DataError`][] for an object array or any violation of the layout or values.
    """
    host = {}
    for name, value in arrays.items():
        try:
            array = np.asarray(value)
        except ValueError as e:  # ragged nested lists
            raise DataError(f"{source}: {name!r} is not a rectangular array: {e}") from None
        if array.dtype.kind == "O":
            raise DataError(f"{source}: {name!r} holds Python objects (dtype object); store numeric arrays")
        host[name] = array
    layout = validate(host, source=source, require_targets=require_targets)
    return SimulationData(layout=layout, arrays=host, source=source)
