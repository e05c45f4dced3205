"""In-memory datasets: validation and key-driven shuffled batching."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Int, PRNGKeyArray, PyTree


def _leaf_name(path) -> str:
    name = jax.tree_util.keystr(path)
    return name or "data"


def check_data(data: PyTree, *, name: str = "data") -> int:
    """Validate an in-memory dataset and return its number of samples.

    A dataset is a pytree of arrays (a tuple `(x, y)`, a dict of fields) whose leading
    axes are the sample axis.

    **Arguments:**

    - `data`: the dataset.
    - `name`: how to call it in error messages.

    **Returns:**

    The common length of the leading axes.

    **Raises:**

    `ValueError` when there are no arrays, an array has no sample axis, lengths differ,
    or a floating-point array holds NaN or Inf (naming the array and the first bad
    sample).
    """
    leaves = jax.tree_util.tree_leaves_with_path(data)
    if not leaves:
        raise ValueError(f"{name} holds no arrays")
    lengths = {}
    for path, leaf in leaves:
        label = f"{name}{_leaf_name(path) if path else ''}"
        shape = np.shape(leaf)
        if len(shape) == 0:
            raise ValueError(f"{label} is a scalar: every array needs a leading sample axis")
        lengths[label] = shape[0]
        arr = np.asarray(leaf)
        if np.issubdtype(arr.dtype, np.inexact):
            bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(
                    f"{label} has non-finite values (NaN or Inf) in {int(bad.sum())} sample(s), first at index {i}"
                )
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}: {v}" for k, v in lengths.items())
        raise ValueError(f"{name} arrays have different lengths along the sample axis ({desc})")
    return next(iter(lengths.values()))


def batch_indices(
    key: PRNGKeyArray, step: Int[Array, ""] | int, num_samples: int, batch_size: int
) -> Int[Array, " batch_size"]:
    """The sample indices of batch number `step`, drawn without replacement per epoch.

    Each epoch is a fresh permutation derived from `key` and the epoch number only,
    so the data order is a pure function of `(key, step)`: a run resumed at any step
    sees exactly the batches an uninterrupted run would. A ragged last batch of an
    epoch is dropped, so every batch has the same shape and the step compiles once.

    **Arguments:**

    - `key`: the data-order key.
    - `step`: the global step number.
    - `num_samples`: the dataset length.
    - `batch_size`: samples per batch, at most `num_samples`.

    **Returns:**

    An integer array of `batch_size` indices.
    """
    per_epoch = num_samples // batch_size
    epoch, within = jnp.divmod(step, per_epoch)
    perm = jr.permutation(jr.fold_in(key, epoch), num_samples)
    return jax.lax.dynamic_slice_in_dim(perm, within * batch_size, batch_size)


def take(data: PyTree, idx: Int[Array, " n"]) -> PyTree:
    """Gather the samples `idx` from every array of a dataset."""
    return jax.tree_util.tree_map(lambda a: jnp.take(a, idx, axis=0), data)
