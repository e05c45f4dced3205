"""`Layout`: what a data file holds, checked from shapes and dtypes alone."""

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from ._errors import DataError


TRAJECTORY_KEYS = ("fields", "times", "parameters")
PAIR_KEYS = ("inputs", "outputs", "parameters")
KEYS = ("fields", "times", "inputs", "outputs", "parameters")

_SHAPES = {
    "fields": "[n_samples, n_times, *grid, channels]",
    "times": "[n_times] or [n_samples, n_times]",
    "inputs": "[n_samples, *grid, in_channels]",
    "outputs": "[n_samples, *grid, out_channels]",
    "parameters": "[n_samples, n_parameters]",
}


@dataclasses.dataclass(frozen=True)
class Layout:
    """The layout of a validated dataset (see the `sciml.data` module docstring).

    **Attributes:**

    - `kind`: `"trajectories"` (a `fields` array with a time axis) or `"pairs"`
        (`inputs` and `outputs`).
    - `num_samples`: trajectories or input/output pairs.
    - `grid`: the spatial grid, 1 to 3 axes.
    - `in_channels`: the channels of `fields` (trajectories) or of `inputs` (pairs).
    - `out_channels`: the channels of `outputs`; for trajectories the same as
        `in_channels`; None for pairs without `outputs` (data to predict on).
    - `num_times`: the snapshots per trajectory; None for pairs.
    - `num_parameters`: the columns of `parameters`; 0 when there are none.
    - `has_times`: whether the file has a `times` array.
    """

    kind: Literal["trajectories", "pairs"]
    num_samples: int
    grid: tuple[int, ...]
    in_channels: int
    out_channels: int | None
    num_times: int | None
    num_parameters: int
    has_times: bool

    @property
    def num_spatial_dims(self) -> int:
        """The number of grid axes."""
        return len(self.grid)

    def describe(self) -> str:
        """One line, e.g. `trajectories: 40 samples x 11 times on grid (32,), 1 channel(s)`."""
        grid = f"grid {self.grid}"
        if self.kind == "trajectories":
            text = (
                f"trajectories: {self.num_samples} samples x {self.num_times} times on {grid}, "
                f"{self.in_channels} channel(s)"
            )
        else:
            out = "no outputs" if self.out_channels is None else f"{self.out_channels} output channel(s)"
            text = f"pairs: {self.num_samples} samples on {grid}, {self.in_channels} input channel(s), {out}"
        if self.num_parameters:
            text += f", {self.num_parameters} parameter(s)"
        return text


def _rank_error(source: str, name: str, shape: tuple[int, ...], expected: str) -> DataError:
    return DataError(
        f"{source}: '{name}' has shape {shape} (rank {len(shape)}); expected {_SHAPES[name]} with {expected}"
    )


def check_layout(
    specs: Mapping[str, tuple[tuple[int, ...], Any]], *, source: str, require_targets: bool = True
) -> Layout:
    """Checks the keys, dtypes, ranks and lengths of a dataset from metadata only.

    Reads no values, so an HDF5 file larger than memory is checked instantly; values
    (NaN/Inf, increasing times) are checked separately.

    **Arguments:**

    - `specs`: `{key: (shape, dtype)}` for every array of the file.
    - `source`: the file name (or `"arrays"`) used in error messages.
    - `require_targets`: whether a pairs dataset must have `outputs` (training) or
        may lack them (prediction).

    **Returns:**

    The [`Layout`][].

    **Raises:**

    [`DataError`][] naming the offending key, its shape or dtype, and what was expected.
    """
    names = list(specs)
    unknown = [k for k in names if k not in KEYS]
    if unknown:
        raise DataError(
            f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; accepted keys: {', '.join(KEYS)} "
            "(write named arrays, e.g. np.savez(path, fields=...), and see the sciml.data docstring)"
        )
    for name, (shape, dtype) in specs.items():
        dtype = np.dtype(dtype)
        if dtype.kind == "O":
            raise DataError(
                f"{source}: '{name}' holds Python objects (dtype object), which cannot be read without pickle; "
                "store numeric arrays"
            )
        if dtype.kind != "f":
            raise DataError(
                f"{source}: '{name}' has dtype {dtype}; expected a floating-point dtype (float32 or float64). "
                "Nothing is converted implicitly: convert it with .astype(np.float32) when writing the file"
            )
        if math.prod(shape) == 0:
            raise DataError(f"{source}: '{name}' has shape {shape} and holds no values")

    if "fields" in specs and "inputs" in specs:
        raise DataError(f"{source}: holds both 'fields' (trajectories) and 'inputs' (pairs); a file holds one layout")
    if "fields" in specs:
        stray = [k for k in ("inputs", "outputs") if k in specs]
        if stray:
            raise DataError(
                f"{source}: {stray[0]!r} belongs to the pairs layout, but the file holds 'fields' trajectories"
            )
        return _trajectories(specs, source)
    if "inputs" in specs:
        if "times" in specs:
            raise DataError(f"{source}: 'times' belongs to 'fields' trajectories, not to the pairs layout")
        if require_targets and "outputs" not in specs:
            raise DataError(f"{source}: missing key 'outputs' {_SHAPES['outputs']} to go with 'inputs'")
        return _pairs(specs, source)
    missing = "'outputs' has no 'inputs'" if "outputs" in specs else "no 'fields' or 'inputs'"
    raise DataError(
        f"{source}: missing key ({missing}); expected 'fields' {_SHAPES['fields']} (trajectories) or "
        f"'inputs' and 'outputs' {_SHAPES['inputs']} (pairs); the file has keys {names}"
    )


def _check_lengths(specs, source: str, n: int, reference: str) -> None:
    for name, (shape, _) in specs.items():
        if name == "times" and len(shape) == 1:
            continue
        if shape[0] != n:
            raise DataError(f"{source}: '{name}' has {shape[0]} samples along its first axis but '{reference}' has {n}")


def _check_parameters(specs, source: str) -> int:
    if "parameters" not in specs:
        return 0
    shape = specs["parameters"][0]
    if len(shape) != 2:
        raise _rank_error(source, "parameters", shape, "rank 2 (write one parameter as shape [n_samples, 1])")
    return shape[1]


def _trajectories(specs, source: str) -> Layout:
    shape = specs["fields"][0]
    if not 4 <= len(shape) <= 6:
        raise _rank_error(source, "fields", shape, "rank 4 to 6 (1 to 3 grid axes)")
    n, num_times = shape[0], shape[1]
    if num_times < 2:
        raise DataError(f"{source}: 'fields' has {num_times} time(s) per trajectory; at least 2 are needed")
    if "times" in specs:
        tshape = specs["times"][0]
        if len(tshape) not in (1, 2) or tshape[-1] != num_times:
            raise DataError(
                f"{source}: 'times' has shape {tshape}; expected [{num_times}] or [{n}, {num_times}] "
                f"to match 'fields' {shape}"
            )
    _check_lengths(specs, source, n, "fields")
    return Layout(
        kind="trajectories",
        num_samples=n,
        grid=tuple(shape[2:-1]),
        in_channels=shape[-1],
        out_channels=shape[-1],
        num_times=num_times,
        num_parameters=_check_parameters(specs, source),
        has_times="times" in specs,
    )


def _pairs(specs, source: str) -> Layout:
    shape = specs["inputs"][0]
    if not 3 <= len(shape) <= 5:
        raise _rank_error(source, "inputs", shape, "rank 3 to 5 (1 to 3 grid axes)")
    out_channels = None
    if "outputs" in specs:
        oshape = specs["outputs"][0]
        if len(oshape) != len(shape) or oshape[1:-1] != shape[1:-1]:
            raise DataError(
                f"{source}: 'outputs' has shape {oshape} but 'inputs' has {shape}; both must be "
                f"[n_samples, *grid, channels] on the same grid {tuple(shape[1:-1])}"
            )
        out_channels = oshape[-1]
    _check_lengths(specs, source, shape[0], "inputs")
    return Layout(
        kind="pairs",
        num_samples=shape[0],
        grid=tuple(shape[1:-1]),
        in_channels=shape[-1],
        out_channels=out_channels,
        num_times=None,
        num_parameters=_check_parameters(specs, source),
        has_times=False,
    )
