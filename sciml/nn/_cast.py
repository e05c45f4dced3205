"""Casting a model or state to another floating-point precision."""

import equinox as eqx
import jax.tree_util as jtu
from jax.typing import DTypeLike
from jaxtyping import PyTree


def cast(tree: PyTree, dtype: DTypeLike) -> PyTree:
    """Casts every floating-point array of a pytree (a model, a state) to `dtype`.

    **Arguments:**

    - `tree`: any pytree.
    - `dtype`: e.g. `jnp.float32` for single-precision training.

    **Returns:**

    The same pytree with its inexact arrays cast.
    """
    return jtu.tree_map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, tree)
