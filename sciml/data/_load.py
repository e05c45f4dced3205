"""`load` and `save`: `.npz` and HDF5 files in the `sciml.data` layout, never with pickle."""

import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._misc import atomic_write
from ._dataset import from_arrays, SimulationData, validate
from ._errors import DataError
from ._values import DEFAULT_CHUNK_BYTES


_NPZ = (".npz",)
_HDF5 = (".h5", ".hdf5")


def default_max_bytes() -> int:
    """A quarter of the machine's physical memory: the default in-memory limit."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):  # not every platform reports it
        return 2 * 2**30


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _NPZ + _HDF5:
        raise DataError(f"{path.name}: unsupported file type {path.suffix!r}; expected .npz, .h5 or .hdf5")
    return suffix


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip member, or an empty zip archive
_NPY_MAGIC = b"\x93NUMPY"


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    # The first bytes decide what the file is before NumPy sees it: np.load would treat
    # anything else as pickled data and advise loading it unsafely, which we never do.
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise DataError(f"{path.name}: the file is empty (0 bytes); write it again with np.savez(path, fields=...)")
    if head.startswith(_NPY_MAGIC):
        raise DataError(
            f"{path.name}: holds a single array saved with np.save (a .npy file named .npz); write named arrays "
            "with np.savez(path, fields=...) or np.savez(path, inputs=..., outputs=...)"
        )
    if not head.startswith(_ZIP_MAGIC):
        raise DataError(
            f"{path.name}: not a .npz file (a .npz is a zip archive of arrays; this one starts with {head[:4]!r}); "
            "write it with np.savez(path, fields=...)"
        )
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise DataError(f"{path.name}: not a readable .npz file, truncated or damaged ({e}); write it again") from None
    arrays = {}
    with archive:
        for name in archive.files:
            arrays[name] = _read_member(archive, name, path)
    return arrays


def _read_member(archive: Any, name: str, path: Path) -> np.ndarray:
    try:
        return archive[name]
    except zipfile.BadZipFile as e:
        raise DataError(f"{path.name}: the array {name!r} is damaged ({e}); write the file again") from None
    except ValueError as e:
        if "allow_pickle" in str(e):
            # numpy refuses object arrays without pickle; say which key it was.
            raise DataError(
                f"{path.name}: {name!r} holds Python objects, which sciml never unpickles; store numeric arrays"
            ) from None
        raise DataError(f"{path.name}: the array {name!r} has a corrupt header ({e}); write the file again") from None
    except Exception as e:  # a damaged member fails in many ways (EOF, zlib, header syntax)
        raise DataError(
            f"{path.name}: the array {name!r} cannot be read ({type(e).__name__}: {e}); write the file again"
        ) from None


def _open_hdf5(path: Path) -> tuple[Any, dict[str, Any]]:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as e:
        raise DataError(f"{path.name}: not a readable HDF5 file ({e})") from None
    datasets = {}
    for name, item in handle.items():
        if not isinstance(item, h5py.Dataset):
            handle.close()
            raise DataError(f"{path.name}: {name!r} is an HDF5 group; sciml.data expects datasets at the top level")
        if item.dtype.kind == "O" or item.dtype.kind in "SUV":
            handle.close()
            raise DataError(
                f"{path.name}: {name!r} has dtype {item.dtype} (strings, objects or compound records); "
                "store floating-point arrays"
            )
        datasets[name] = item
    return handle, datasets


def load(
    path: str | os.PathLike,
    *,
    max_bytes: int | None = None,
    require_targets: bool = True,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> SimulationData:
    """Loads and validates a `.npz` or HDF5 file in the `sciml.data` layout.

    The keys, dtypes, ranks and lengths are checked first, from metadata, then every
    value is checked for NaN/Inf and `times` for strict increase. Nothing is dropped
    or converted: a violation raises. `.npz` files are read with
    `allow_pickle=False`. An HDF5 file whose arrays together exceed `max_bytes` stays
    on disk and is read lazily (its values are still checked, in one streaming pass of
    `chunk_bytes` at a time); read batches from it with [`Samples`][] and
    [`BatchStream`][].

    **Arguments:**

    - `path`: a `.npz`, `.h5` or `.hdf5` file.
    - `max_bytes`: the in-memory limit; default a quarter of the physical memory.
        `0` forces lazy reading of an HDF5 file.
    - `require_targets`: whether a pairs file must have `outputs` (False for files
        to predict on).
    - `chunk_bytes`: the most bytes read at once while checking lazy data.

    **Returns:**

    A [`SimulationData`][]; lazy when read from a large HDF5 file.

    **Raises:**

    `FileNotFoundError` for a missing file; [`DataError`][] for an unsupported or
    unreadable file, an object array, a `.npz` larger than `max_bytes` (it cannot be
    read lazily), or any violation of the layout and values.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give a data file (.npz, .h5 or .hdf5) in the sciml.data layout")
    if not path.is_file():
        raise FileNotFoundError(f"no data file {path}")
    suffix = _suffix(path)
    limit = default_max_bytes() if max_bytes is None else max_bytes
    if suffix in _NPZ:
        size = path.stat().st_size
        if size > limit:
            raise DataError(
                f"{path.name}: {size} bytes exceed the in-memory limit of {limit} bytes, and a .npz file "
                "cannot be read lazily; store it as HDF5 (.h5), see sciml.data.save"
            )
        return from_arrays(_read_npz(path), require_targets=require_targets, source=path.name)

    handle, datasets = _open_hdf5(path)
    try:
        nbytes = sum(d.size * d.dtype.itemsize for d in datasets.values())
        lazy = nbytes > limit
        arrays = datasets if lazy else {name: d[()] for name, d in datasets.items()}
        layout = validate(arrays, source=path.name, require_targets=require_targets, chunk_bytes=chunk_bytes)
    except BaseException:
        handle.close()
        raise
    if not lazy:
        handle.close()
    return SimulationData(layout=layout, arrays=arrays, source=path.name, lazy=lazy, handle=handle if lazy else None)


def save(path: str | os.PathLike, arrays: Mapping[str, Any]) -> Path:
    """Validates arrays and writes them as a `.npz` or HDF5 file in the layout.

    Validation comes first, so a file that `save` writes always loads. The write is
    atomic (a temporary file renamed into place). HDF5 datasets are stored contiguous
    and uncompressed, which keeps random reads of single samples cheap for lazy
    loading.

    **Arguments:**

    - `path`: the file to write; its suffix (`.npz`, `.h5`, `.hdf5`) picks the format.
    - `arrays`: `{key: array}` in the layout of the `sciml.data` docstring.

    **Returns:**

    The path written.

    **Raises:**

    [`DataError`][] for an unsupported suffix or arrays that do not follow the layout.
    """
    path = Path(path)
    suffix = _suffix(path)
    data = from_arrays(arrays, require_targets=False)
    if suffix in _NPZ:
        atomic_write(path, lambda f: np.savez(f, **data.arrays))
        return path

    import h5py

    # h5py wants a path it can reopen, not a stream: write a temporary sibling and
    # rename it, so a crash never leaves a truncated file under the real name.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as h5:
            for name, array in data.arrays.items():
                h5.create_dataset(name, data=array)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
