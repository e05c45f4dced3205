"""`precision`: run a block in float32 or float64 without flipping JAX's global setting."""

import contextlib
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np


_X64 = {"float32": False, "float64": True}


@contextlib.contextmanager
def precision(dtype: str | np.dtype | type) -> Iterator[np.dtype]:
    """A scope in which JAX's default floating-point type is `dtype`.

    `jax.config.update("jax_enable_x64", True)` inside a problem's `run` would leak into
    everything the process does afterwards (other problems, tests, a notebook); this scope
    restores the previous setting on exit, also when the block raises. It is
    `jax.enable_x64`, so it is local to the thread, and jitted functions compiled inside
    are cached apart from those compiled outside. Arrays made inside keep their dtype
    after the scope ends: cast what outlives the run (a saved model) back with
    `sciml.nn.cast(tree, ambient)`.

    **Arguments:**

    - `dtype`: `"float32"` or `"float64"` (or the NumPy / JAX type).

    **Returns:**

    A context manager yielding the ambient dtype: the default float type outside the scope.

    **Raises:**

    `ValueError` for any other dtype.

    ```python
    with sciml.study.precision("float64") as ambient:
        out = _run(config, ctx)
    ctx.save_model(sciml.nn.cast(out["network"], ambient), ...)
    ```
    """
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in _X64:
        raise ValueError(f"precision: dtype must be 'float32' or 'float64', got {dtype!r}")
    ambient = jnp.zeros(()).dtype
    with jax.enable_x64(_X64[name]):
        yield ambient
