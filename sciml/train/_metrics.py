"""Evaluation metrics and a batched evaluation step."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PyTree

from ._data import check_data


def mse(pred: Float[Array, "..."], target: Float[Array, "..."]) -> Float[Array, ""]:
    """Mean squared error over all entries."""
    _same_shape(pred, target)
    return jnp.mean((pred - target) ** 2)


def relative_l2(
    pred: Float[Array, "..."] | Float[np.ndarray, "..."],
    target: Float[Array, "..."] | Float[np.ndarray, "..."],
    *,
    axis: int | tuple[int, int] | None = None,
) -> Float[Array, "..."] | Float[np.ndarray, "..."]:
    """Relative L2 error `||pred - target|| / ||target||`.

    The standard accuracy figure of PINN and operator-learning papers (e.g. Raissi et al.
    2019, Li et al. 2021). By default over the whole array (one number); with `axis`, along
    those axes only, one value per remaining index: `axis=-1` gives per-sample errors of a
    batch of 1D fields, which the FNO papers then average.

    JAX arrays are reduced by JAX, in their dtype and inside `jit`. When both arguments are
    NumPy arrays (a result judged on the host after training), NumPy reduces them, so the
    figure keeps the arrays' precision (float64) whatever JAX's `jax_enable_x64` setting.

    **Arguments:**

    - `pred`, `target`: arrays of the same shape.
    - `axis`: `None` (all entries), an axis, or two axes (the Frobenius norm over them).

    **Returns:**

    A scalar, or an array of the remaining axes; a NumPy array for NumPy arguments.

    **Raises:**

    `ValueError` when the shapes differ.
    """
    _same_shape(pred, target)
    if isinstance(pred, np.ndarray) and isinstance(target, np.ndarray):
        return np.asarray(np.linalg.norm(pred - target, axis=axis) / np.linalg.norm(target, axis=axis))
    if axis is None:
        return jnp.linalg.norm((pred - target).ravel()) / jnp.linalg.norm(target.ravel())
    return jnp.linalg.norm(pred - target, axis=axis) / jnp.linalg.norm(target, axis=axis)


def accuracy(logits: Float[Array, " *batch classes"], labels: Int[Array, " *batch"]) -> Float[Array, ""]:
    """Fraction of samples whose largest logit is the label."""
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"accuracy: logits of shape {logits.shape} do not match labels of shape {labels.shape}")
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def _same_shape(pred, target) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {pred.shape} does not match target shape {target.shape}")


def evaluate(
    metrics: Callable[..., dict[str, Float[Array, ""]]],
    model: PyTree,
    data: PyTree,
    *,
    state: PyTree | None = None,
    batch_size: int | None = None,
) -> dict[str, float]:
    """Evaluate metrics of a model over a dataset, in inference mode.

    **Arguments:**

    - `metrics`: `metrics(model, batch) -> {name: scalar}`, or
        `metrics(model, state, batch)` when `state` is given.
    - `model`: the model; dropout and BatchNorm are switched to inference.
    - `data`: a pytree of arrays with a common leading sample axis.
    - `state`: the model's `eqx.nn.State`, if it has one.
    - `batch_size`: evaluate in chunks of this size and average the values weighted by
        chunk size (exact for means such as MSE and accuracy); default all at once.

    **Returns:**

    A dict of Python floats.
    """
    n = check_data(data, name="evaluation data")
    model = eqx.nn.inference_mode(model)
    size = n if batch_size is None else min(batch_size, n)
    totals: dict[str, float] = {}
    for start in range(0, n, size):
        batch = jax.tree_util.tree_map(lambda a: a[start : start + size], data)
        values = _eval_batch(metrics, model, state, batch)
        m = len(jax.tree_util.tree_leaves(batch)[0])
        for k, v in values.items():
            totals[k] = totals.get(k, 0.0) + float(v) * m
    return {k: v / n for k, v in totals.items()}


@eqx.filter_jit
def _eval_batch(metrics, model, state, batch):
    if state is None:
        out = metrics(model, batch)
    else:
        out = metrics(model, state, batch)
    if not isinstance(out, dict):
        raise TypeError(f"metrics must return a dict of scalars, got {type(out).__name__}")
    return {k: jnp.asarray(v) for k, v in out.items()}
