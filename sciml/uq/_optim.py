"""`member_optimizer`: one optax optimizer per member, vmapped, so members never interact."""

import functools
from collections.abc import Mapping
from typing import Any

import jax
import optax
from jaxtyping import PyTree

from ..train import make_optimizer


@functools.lru_cache(maxsize=64)
def _vmapped(optimizer: optax.GradientTransformation) -> optax.GradientTransformation:
    # Cached per optimizer object, so repeated `fit` calls with the same configuration
    # reuse `fit`'s compiled step instead of compiling a new closure each time.
    def init(params: PyTree) -> PyTree:
        return jax.vmap(optimizer.init)(params)

    def update(updates: PyTree, state: PyTree, params: PyTree | None = None) -> tuple[PyTree, PyTree]:
        return jax.vmap(optimizer.update)(updates, state, params)

    return optax.GradientTransformation(init, update)


def _needs_extra_args(optimizer: optax.GradientTransformation) -> bool:
    """Whether `update` fails without `value`/`grad`/`value_fn` (a line search).

    optax marks nearly every chain as `GradientTransformationExtraArgs`, so the type
    says nothing; an abstract trial update on a one-element parameter does, at no cost.
    """
    probe = {"p": jax.ShapeDtypeStruct((1,), jax.numpy.float32)}

    def trial(params):
        return optimizer.update(params, optimizer.init(params), params)

    try:
        jax.eval_shape(trial, probe)
    except TypeError as e:
        if "value_fn" in str(e) or "value" in str(e):
            return True
        raise
    return False


def member_optimizer(
    optimizer: optax.GradientTransformation | Mapping[str, Any], *, steps: int | None = None
) -> optax.GradientTransformation:
    """Run an optimizer independently on every member of an ensemble.

    The gradient of an [`sciml.uq.EnsembleLoss`][] with respect to member `k` is the
    gradient of member `k`'s own loss, so an elementwise optimizer (SGD, Adam) applied
    to the whole ensemble already updates members independently. Transformations that
    reduce over all parameters do not: global-norm clipping would clip every member by
    the norm of the whole ensemble, and a line search would choose one step for all.
    This wrapper `jax.vmap`s `init` and `update` over the leading member axis (every
    trainable array of an ensemble has it), so each member gets its own optimizer
    state, its own clipping norm and its own schedule count: a member's trajectory is
    the one it would follow trained alone.

    **Arguments:**

    - `optimizer`: an optax transformation or a `sciml.train.make_optimizer` config.
    - `steps`: the run's length, for schedules given in a config.

    **Returns:**

    An `optax.GradientTransformation` for `sciml.train.fit(ensemble, ...)`.

    **Raises:**

    `ValueError` for an optimizer that needs the loss value or a line search
    (such as L-BFGS): its line search would
    evaluate the summed ensemble loss and couple the members. Train such members one at
    a time, or with Adam.
    """
    optimizer = make_optimizer(optimizer, steps=steps)
    if _needs_extra_args(optimizer):
        raise ValueError(
            "member_optimizer does not support optimizers that take the loss value or a line search "
            "(e.g. L-BFGS): a shared line search over the summed ensemble loss would couple the members. "
            "Use an elementwise optimizer such as Adam, or train members separately."
        )
    return _vmapped(optimizer)
