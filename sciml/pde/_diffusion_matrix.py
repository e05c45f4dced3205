"""The diffusion operator's matrix assembled on the host, for sparse direct solvers."""

from collections.abc import Sequence

import numpy as np
import scipy.sparse
from jaxtyping import ArrayLike, Float

from ._diffusion import DiffusionOperator


def _face_coefficient_np(k: np.ndarray, axis: int, mean: str) -> np.ndarray:
    k = k[tuple(slice(None) if a == axis else slice(1, -1) for a in range(k.ndim))]
    n = k.shape[axis]
    lo, hi = np.take(k, np.arange(n - 1), axis=axis), np.take(k, np.arange(1, n), axis=axis)
    if mean == "harmonic":
        return 2 * lo * hi / (lo + hi)
    return (lo + hi) / 2


def diffusion_matrix(
    k: Float[ArrayLike, " *full"],
    length: float | Sequence[float] = 1.0,
    mean: str = "harmonic",
) -> scipy.sparse.csr_array:
    """The matrix of [`sciml.pde.DiffusionOperator`][] as a float64 `scipy.sparse` array.

    The same stencil as `DiffusionOperator(k, length, mean).mv`, assembled on the host
    in NumPy for sparse direct solvers (`scipy.sparse.linalg.splu`/`spsolve`): on 2D
    grids of a few thousand to tens of thousands of unknowns a fill-reducing sparse LU
    is faster than Krylov iterations, whose count grows like `1 / h`. Unknowns are the
    interior nodes in C (row-major) order, so `A @ u.ravel()` is `mv(u).ravel()`.

    **Arguments:**

    - `k`: the positive coefficient at all nodes, boundary included (as for
        `DiffusionOperator`).
    - `length`: the box side length(s).
    - `mean`: `"harmonic"` (default) or `"arithmetic"` face coefficients.

    **Returns:**

    A symmetric positive definite `scipy.sparse.csr_array` of size `prod(n_i)`.

    **Raises:**

    A `ValueError` for the arguments `DiffusionOperator` refuses.
    """
    k = np.asarray(k, np.float64)
    operator = DiffusionOperator(k, length, mean)
    shape = operator.interior_shape
    index = np.arange(int(np.prod(shape))).reshape(shape)
    diagonal = np.zeros(shape)
    rows, cols, values = [], [], []
    for axis, h in enumerate(operator.spacing):
        kf = _face_coefficient_np(k, axis, mean) / h**2
        n = kf.shape[axis]
        diagonal += np.take(kf, np.arange(n - 1), axis=axis) + np.take(kf, np.arange(1, n), axis=axis)
        # Faces between two interior nodes couple them; boundary faces only feed the diagonal.
        coupling = -np.take(kf, np.arange(1, n - 1), axis=axis).ravel()
        lo = np.take(index, np.arange(n - 2), axis=axis).ravel()
        hi = np.take(index, np.arange(1, n - 1), axis=axis).ravel()
        rows += [lo, hi]
        cols += [hi, lo]
        values += [coupling, coupling]
    rows.append(index.ravel())
    cols.append(index.ravel())
    values.append(diagonal.ravel())
    size = index.size
    return scipy.sparse.csr_array(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size)
    )
