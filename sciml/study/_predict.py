"""`predict_batched`: a model applied to many inputs in compiled, fixed-size chunks."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree, Shaped


@eqx.filter_jit
def _apply(model, x):
    return jax.vmap(model)(x)


def predict_batched(model: PyTree, x: Shaped[Array, "n ..."], batch_size: int | None = None) -> PyTree:
    """A one-sample model applied to every row of `x`, jitted and vmapped.

    With `batch_size`, the rows go through in chunks of that size, the last one padded
    (with copies of the last row, whose outputs are dropped), so a single program is
    compiled whatever `n` is and memory stays bounded by one chunk. Without, all rows go
    in one call. A model in inference mode (dropout off) is the caller's choice:
    pass `eqx.nn.inference_mode(model)`.

    **Arguments:**

    - `model`: a callable pytree taking one input row, e.g. an `eqx.Module` or a PINN.
    - `x`: the inputs, one per row.
    - `batch_size`: rows per compiled call; `None` for all at once.

    **Returns:**

    The outputs stacked along a new leading axis of length `n` (a pytree if the model
    returns one).

    **Raises:**

    `ValueError` for a `batch_size` below 1.
    """
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"predict_batched: batch_size must be at least 1 (or None for all rows), got {batch_size}")
    n = x.shape[0]
    if batch_size is None or batch_size >= n:
        return _apply(model, x)
    pad = -n % batch_size
    padded = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)]) if pad else x
    chunks = [_apply(model, padded[i : i + batch_size]) for i in range(0, n + pad, batch_size)]
    return jax.tree_util.tree_map(lambda *parts: jnp.concatenate(parts)[:n], *chunks)
