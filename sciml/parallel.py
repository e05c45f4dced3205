"""Meshes and shardings for data-parallel training with `jax.sharding`.

The mesh is always an argument, never a global, so the same training call runs on one
device, on all local devices, or across hosts after `jax.distributed.initialize()`.
"""

from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh named `"batch"` over the given devices (default: all of them).

    After `jax.distributed.initialize()` `jax.devices()` spans every host, so the same
    call builds a multi-host mesh.

    **Arguments:**

    - `devices`: the devices to use; default `jax.devices()`.

    **Returns:**

    A `jax.sharding.Mesh` with the single axis `"batch"`.
    """
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("data_mesh needs at least one device")
    return Mesh(np.asarray(devices), ("batch",))


def data_shardings(mesh: Mesh) -> tuple[NamedSharding, NamedSharding]:
    """The shardings of data-parallel training: batch split on `"batch"`, rest replicated.

    **Arguments:**

    - `mesh`: a mesh with an axis named `"batch"`.

    **Returns:**

    `(batch_sharding, replicated)`.

    **Raises:**

    `ValueError` when the mesh has no `"batch"` axis.
    """
    if "batch" not in mesh.axis_names:
        raise ValueError(f"a data-parallel mesh needs an axis named 'batch', got axes {mesh.axis_names}")
    return NamedSharding(mesh, PartitionSpec("batch")), NamedSharding(mesh, PartitionSpec())
