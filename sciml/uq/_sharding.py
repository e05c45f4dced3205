"""Ensemble parallelism: the member axis split across devices with `jax.sharding`."""

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.tree_util as jtu
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import PyTree


def member_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh named `"member"` over the given devices (default: all of them).

    **Arguments:**

    - `devices`: the devices; default `jax.devices()` (every host's after
        `jax.distributed.initialize()`).

    **Returns:**

    A `jax.sharding.Mesh` with the single axis `"member"`.

    **Raises:**

    `ValueError` for an empty device list.
    """
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("member_mesh needs at least one device")
    return Mesh(np.asarray(devices), ("member",))


def shard_members(tree: PyTree, mesh: Mesh, *, axis: str = "member") -> PyTree:
    """Split the leading (member) axis of every array of `tree` across a mesh axis.

    Every array of an [`sciml.uq.Ensemble`][] (and of its member-wise optimizer state)
    carries the member axis first, so one `PartitionSpec(axis)` places whole members on
    devices; members never communicate, so a vmapped step then runs on each device's
    members without collectives, and `jit` keeps the placement. Call it on the ensemble
    before `fit`/[`sciml.uq.fit_ensemble`][], and on evaluation results as needed.

    **Arguments:**

    - `tree`: an ensemble, or any pytree whose arrays share a leading member axis.
    - `mesh`: a mesh with an axis named `axis` (see [`member_mesh`][]).
    - `axis`: the mesh axis that splits the members.

    **Returns:**

    The same pytree with its arrays placed by `eqx.filter_shard`.

    **Raises:**

    `ValueError` when the mesh has no such axis, or an array's leading axis is not
    divisible by the axis size (naming the array).
    """
    if axis not in mesh.axis_names:
        raise ValueError(f"the mesh has no axis {axis!r}; its axes are {mesh.axis_names}")
    n = mesh.shape[axis]
    for path, leaf in jtu.tree_leaves_with_path(eqx.filter(tree, eqx.is_array)):
        shape = np.shape(leaf)
        if not shape or shape[0] % n:
            raise ValueError(
                f"cannot split {jtu.keystr(path) or 'the array'} of shape {shape} over {n} devices: "
                f"the leading (member) axis must be divisible by {n}"
            )
    return eqx.filter_shard(tree, NamedSharding(mesh, PartitionSpec(axis)))
