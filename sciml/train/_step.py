"""The compiled training step of [`sciml.train.fit`][]: loss, gradient, update and guard in one function."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

from ._data import batch_indices, take
from ._optim import takes_extra_args


class Carry(eqx.Module):
    params: PyTree
    opt_state: PyTree
    state: PyTree
    step: Int[Array, ""]
    bad_step: Int[Array, ""]
    bad_kind: Int[Array, ""]
    skipped: Int[Array, ""]


# Bits of `bad_kind`: which part of the first bad step was not finite.
BAD_PARTS = ((1, "loss"), (2, "gradients"), (4, "updated parameters, optimizer state or model state"))


def strong(tree: PyTree) -> PyTree:
    # A weakly typed scalar that comes back strongly typed from the first step would
    # change the step's input signature and compile it a second time.
    return jtu.tree_map(lambda x: jnp.asarray(x, dtype=x.dtype) if eqx.is_array(x) else x, tree)


def _all_finite(tree: PyTree) -> Bool[Array, ""]:
    # One reduction per leaf, all fused by XLA into the loops that produce the leaves.
    leaves = [jnp.all(jnp.isfinite(x)) for x in jtu.tree_leaves(eqx.filter(tree, eqx.is_inexact_array))]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _no_nan(tree: PyTree) -> Bool[Array, ""]:
    leaves = [~jnp.any(jnp.isnan(x)) for x in jtu.tree_leaves(eqx.filter(tree, eqx.is_inexact_array))]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def nonfinite_leaf(params: PyTree, opt_state: PyTree) -> str | None:
    """The path of the first array that must not go into a checkpoint, or None (on the host)."""
    for label, tree, bad in (
        ("parameters/state", params, lambda a: not np.isfinite(a).all()),
        ("optimizer state", opt_state, lambda a: np.isnan(a).any()),
    ):
        for path, leaf in jtu.tree_leaves_with_path(eqx.filter(tree, eqx.is_inexact_array)):
            if bad(np.asarray(leaf)):
                return f"{label} {jtu.keystr(path)}"
    return None


def _select(pred, new: PyTree, old: PyTree) -> PyTree:
    return jtu.tree_map(lambda a, b: jnp.where(pred, a, b) if eqx.is_array(a) else a, new, old)


def _train_step(
    carry: Carry,
    static: PyTree,
    data: PyTree,
    key: PRNGKeyArray,
    loss: Callable,
    optimizer: optax.GradientTransformation,
    batch_size: int | None,
    num_samples: int | None,
    halt_on_bad: bool,
    shardings: tuple | None,
) -> tuple[Carry, Float[Array, ""]]:
    # One key fixes the data order of every epoch, the other gives each step its own.
    order_key, loss_key = jr.split(key)
    loss_key = jr.fold_in(loss_key, carry.step)
    if batch_size is None:
        batch = data
    else:
        batch = take(data, batch_indices(order_key, carry.step, num_samples, batch_size))
    if shardings is not None:
        batch = eqx.filter_shard(batch, shardings[0])
        carry = eqx.filter_shard(carry, shardings[1])
    stateful = carry.state is not None

    def loss_fn(params):
        model = eqx.combine(params, static)
        if stateful:
            value, new_state = loss(model, carry.state, batch, loss_key)
        else:
            value, new_state = loss(model, batch, loss_key), None
        value = jnp.asarray(value)
        if value.shape != () or not jnp.issubdtype(value.dtype, jnp.floating):
            raise ValueError(
                f"the loss must return a floating-point scalar, got dtype {value.dtype} and shape {value.shape}"
            )
        return value, new_state

    (value, new_state), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(carry.params)
    if takes_extra_args(optimizer):
        extra = dict(value=value, grad=grads, value_fn=lambda p: loss_fn(p)[0])
    else:
        extra = {}
    updates, opt_state = optimizer.update(grads, carry.opt_state, carry.params, **extra)
    params = eqx.apply_updates(carry.params, updates)

    # The new parameters and states are checked too: an overflowing update (SGD at a
    # huge rate) has finite gradients but writes Inf weights. Optimizer states may hold
    # Inf as a sentinel (optax's line search starts from an Inf value), so only NaN there.
    parts = (jnp.isfinite(value), _all_finite(grads), _all_finite((params, new_state)) & _no_nan(opt_state))
    finite = parts[0] & parts[1] & parts[2]
    kind = sum(jnp.where(ok, 0, bit) for ok, (bit, _) in zip(parts, BAD_PARTS))
    first_bad = (carry.bad_step < 0) & ~finite
    ok = finite & (carry.bad_step < 0) if halt_on_bad else finite
    # A select per leaf, fused by XLA into the update's own loops: on XLA:CPU a
    # `lax.cond` over the whole tuple copies its operands and cost 0.1-0.3 ms a step,
    # more than the whole step of a small model.
    params, opt_state, new_state = _select(
        ok, (params, opt_state, new_state), (carry.params, carry.opt_state, carry.state if stateful else None)
    )
    new = Carry(
        params=params,
        opt_state=opt_state,
        state=new_state,
        step=carry.step + 1,
        bad_step=jnp.where(first_bad, carry.step, carry.bad_step),
        bad_kind=jnp.where(first_bad, kind, carry.bad_kind).astype(carry.bad_kind.dtype),
        skipped=carry.skipped + (~finite).astype(carry.skipped.dtype),
    )
    new = strong(new)
    if shardings is not None:
        new = eqx.filter_shard(new, shardings[1])
    return new, value


_STEP_CACHE: dict[Any, Callable] = {}
_STEP_CACHE_SIZE = 32


def compiled_step(
    carry_def: jtu.PyTreeDef,
    inputs_def: jtu.PyTreeDef,
    static_carry: PyTree,
    static: PyTree,
    loss: Callable,
    optimizer: optax.GradientTransformation,
    batch_size: int | None,
    num_samples: int | None,
    halt_on_bad: bool,
    shardings: tuple | None,
) -> Callable:
    """The training step as a `jax.jit` function of two flat lists of arrays.

    Equinox's filtering (arrays traced, everything else static) and the flattening of
    the carry are done here, once per run, instead of by `eqx.filter_jit` at every call:
    the per-step dispatch is then JAX's C++ fast path on plain lists, with no Python
    flattening of Modules, which matters for the small models of scientific ML, whose
    steps take well under a millisecond. Runs with the same static parts (same loss
    function, optimizer object and model structure) share one compiled step.

    The step maps `(carry_leaves, input_leaves)` to `(carry_leaves, loss, flags)`, where
    `input_leaves` are those of `(frozen, data, key)` and `flags` holds the guard's
    `(bad_step, bad_kind, skipped)`, so a logging point reads one small array.
    """

    def step(carry_leaves, input_leaves):
        carry = eqx.combine(jtu.tree_unflatten(carry_def, carry_leaves), static_carry)
        frozen, data, key = jtu.tree_unflatten(inputs_def, input_leaves)
        new, value = _train_step(
            carry,
            eqx.combine(frozen, static),
            data,
            key,
            loss,
            optimizer,
            batch_size,
            num_samples,
            halt_on_bad,
            shardings,
        )
        flags = jnp.stack([new.bad_step, new.bad_kind, new.skipped])
        return jtu.tree_leaves(eqx.filter(new, eqx.is_array)), value, flags

    cache_key = (
        carry_def,
        inputs_def,
        static_carry,
        static,
        loss,
        optimizer,
        batch_size,
        num_samples,
        halt_on_bad,
        shardings,
    )
    try:
        hash(cache_key)
    except TypeError:
        return jax.jit(step)
    fn = _STEP_CACHE.pop(cache_key, None)
    if fn is None:
        fn = jax.jit(step)
    _STEP_CACHE[cache_key] = fn  # most recently used last
    while len(_STEP_CACHE) > _STEP_CACHE_SIZE:
        _STEP_CACHE.pop(next(iter(_STEP_CACHE)))
    return fn
