"""`fit`: the one filtered training loop that every sciml model goes through."""

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree
from tqdm.auto import tqdm

from .._misc import atomic_write
from ._checkpoint import read_checkpoint, write_checkpoint
from ._data import batch_indices, check_data, take
from ._filters import trainable
from ._fingerprint import data_fingerprint, describe, first_difference, key_fingerprint, structure_lines
from ._metrics import evaluate
from ._optim import takes_extra_args
from ._options import _check_positive_int, Checkpointing, Execution, Logging, Validation
from ._result import FitResult, NonFiniteError


class _Carry(eqx.Module):
    params: PyTree
    opt_state: PyTree
    state: PyTree
    step: Int[Array, ""]
    bad_step: Int[Array, ""]
    bad_kind: Int[Array, ""]
    skipped: Int[Array, ""]


# Bits of `bad_kind`: which part of the first bad step was not finite.
_BAD_PARTS = ((1, "loss"), (2, "gradients"), (4, "updated parameters, optimizer state or model state"))


def _strong(tree: PyTree) -> PyTree:
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


def _nonfinite_leaf(params: PyTree, opt_state: PyTree) -> str | None:
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
    carry: _Carry,
    static: PyTree,
    data: PyTree,
    key: PRNGKeyArray,
    loss: Callable,
    optimizer: optax.GradientTransformation,
    batch_size: int | None,
    num_samples: int | None,
    halt_on_bad: bool,
    shardings: tuple | None,
) -> tuple[_Carry, Float[Array, ""]]:
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
    kind = sum(jnp.where(ok, 0, bit) for ok, (bit, _) in zip(parts, _BAD_PARTS))
    first_bad = (carry.bad_step < 0) & ~finite
    ok = finite & (carry.bad_step < 0) if halt_on_bad else finite
    # A select per leaf, fused by XLA into the update's own loops: on XLA:CPU a
    # `lax.cond` over the whole tuple copies its operands and cost 0.1-0.3 ms a step,
    # more than the whole step of a small model.
    params, opt_state, new_state = _select(
        ok, (params, opt_state, new_state), (carry.params, carry.opt_state, carry.state if stateful else None)
    )
    new = _Carry(
        params=params,
        opt_state=opt_state,
        state=new_state,
        step=carry.step + 1,
        bad_step=jnp.where(first_bad, carry.step, carry.bad_step),
        bad_kind=jnp.where(first_bad, kind, carry.bad_kind).astype(carry.bad_kind.dtype),
        skipped=carry.skipped + (~finite).astype(carry.skipped.dtype),
    )
    new = _strong(new)
    if shardings is not None:
        new = eqx.filter_shard(new, shardings[1])
    return new, value


_STEP_CACHE: dict[Any, Callable] = {}
_STEP_CACHE_SIZE = 32


def _compiled_step(
    static_carry: PyTree,
    static: PyTree,
    loss: Callable,
    optimizer: optax.GradientTransformation,
    batch_size: int | None,
    num_samples: int | None,
    halt_on_bad: bool,
    shardings: tuple | None,
) -> Callable:
    """The training step as a `jax.jit` function of array leaves only.

    Equinox's filtering (arrays traced, everything else static) is done here, once per
    run, instead of by `eqx.filter_jit` at every call: the per-step dispatch is then
    JAX's C++ fast path, which matters for the small models of scientific ML, whose
    steps take well under a millisecond. Runs with the same static parts (same loss
    function, optimizer object and model structure) share one compiled step.
    """

    def step(dynamic_carry, frozen, data, key):
        carry = eqx.combine(dynamic_carry, static_carry)
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
        return eqx.filter(new, eqx.is_array), value

    cache_key = (static_carry, static, loss, optimizer, batch_size, num_samples, halt_on_bad, shardings)
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


def _run_description(params, static, optimizer, loss, data, key, steps, batch_size, validation) -> dict:
    """Everything a resumed run must share with the checkpoint's run, as readable lines or hashes."""
    filter_lines, model_lines = structure_lines(params, static)
    val = None
    if validation is not None:
        settings = {k: getattr(validation, k) for k in ("every", "monitor", "mode", "patience", "keep_best")}
        val = (
            describe(settings) + [f"data={data_fingerprint(validation.data)}"] + describe(validation.metrics, "metrics")
        )
    return {
        "steps": steps,
        "batch_size": batch_size,
        "key": key_fingerprint(key),
        "data": None if data is None else data_fingerprint(data),
        "optimizer": describe(optimizer),
        # The filter spec first: freezing a leaf also moves it into the model's fixed part.
        "filter_spec": filter_lines,
        "model": model_lines,
        "loss": describe(loss),
        "validation": val,
    }


def _check_same_run(directory: Path, old: dict, new: dict) -> None:
    for name, value in new.items():
        before = old.get(name)
        if before == value:
            continue
        if isinstance(value, list) and value and isinstance(value[0], str) and isinstance(before, list):
            what = f"its {name} differs {first_difference(before, value)}"
        else:
            what = f"its {name} is {before!r}, this run's is {value!r}"
        raise ValueError(
            f"the checkpoint in {directory} belongs to a different run: {what}. Resume with the checkpoint's "
            "settings, or start over in a fresh folder (without resume)."
        )


def fit(
    model: PyTree,
    loss: Callable[..., Any],
    data: PyTree | None,
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    key: PRNGKeyArray,
    batch_size: int | None = None,
    state: eqx.nn.State | None = None,
    filter_spec: PyTree | None = None,
    validation: Validation | None = None,
    checkpointing: Checkpointing | None = None,
    logging: Logging = Logging(),
    execution: Execution = Execution(),
) -> FitResult:
    """Train any pytree model by minimising `loss`, with one compiled step.

    The step (batch selection, loss, gradient with `eqx.filter_value_and_grad`,
    optimizer update, non-finite guard) is one function, filtered into arrays and static
    parts once and compiled once per run; the Python loop around it only dispatches, and
    reads results back one logging interval late, so the device never waits for the
    host's bookkeeping. It synchronises at validation and checkpoint points and at the
    end. Every random choice derives from `key` and the step number, so a run resumed
    from a checkpoint ends bit-identical to an uninterrupted one.

    **Arguments:**

    - `model`: the model (any pytree; its floating-point arrays are the parameters).
    - `loss`: `loss(model, batch, key) -> scalar`, or with `state` given
        `loss(model, state, batch, key) -> (scalar, state)` (BatchNorm models).
    - `data`: a pytree of arrays sharing the leading sample axis, or None for losses
        that make their own batch (the `batch` argument is then None).
    - `optimizer`: an optax transformation; [`sciml.train.make_optimizer`][] builds one
        from a JSON-style config.
    - `steps`: the number of optimizer steps.
    - `key`: the run's PRNG key (data order and loss keys).
    - `batch_size`: samples per step, drawn without replacement each epoch; default the
        whole dataset every step.
    - `state`: the model's `eqx.nn.State` for stateful models.
    - `filter_spec`: a boolean pytree of the trainable leaves (see
        [`sciml.train.trainable`][]); frozen leaves get no update and no optimizer state.
    - `validation`: a [`sciml.train.Validation`][]: held-out data, metrics, best model,
        early stopping; default none.
    - `checkpointing`: a [`sciml.train.Checkpointing`][]: where and how often to write
        checkpoints, and whether to resume; default none.
    - `logging`: a [`sciml.train.Logging`][]: history period and file, progress bar, callback.
    - `execution`: an [`sciml.train.Execution`][]: the non-finite guard's policy and a
        data-parallel mesh.

    **Returns:**

    A [`sciml.train.FitResult`][].

    **Raises:**

    - `TypeError` for an optimizer that is not an optax transformation (a config dict
        goes through `make_optimizer` first) or an option of the wrong type.
    - `ValueError` for bad data (different lengths, NaN/Inf), a non-positive step count
        or batch size, or a checkpoint of another run (naming what differs).
    - [`sciml.train.NonFiniteError`][] when a step is not finite and
        `on_nonfinite="raise"`; it names the step and the last good checkpoint.
    """
    _check_positive_int("fit", "steps", steps, allow_none=False)
    _check_positive_int("fit", "batch_size", batch_size)
    if isinstance(optimizer, Mapping):
        raise TypeError(
            "fit takes an optax GradientTransformation, got a config mapping: build the optimizer with "
            f"sciml.train.make_optimizer({dict(optimizer)!r}, steps={steps})"
        )
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"fit: 'optimizer' must be an optax GradientTransformation, got {type(optimizer).__name__}")
    for name, value, cls in (
        ("validation", validation, Validation),
        ("checkpointing", checkpointing, Checkpointing),
        ("logging", logging, Logging),
        ("execution", execution, Execution),
    ):
        if not (isinstance(value, cls) or (value is None and name in ("validation", "checkpointing"))):
            raise TypeError(f"fit: '{name}' must be a sciml.train.{cls.__name__}, got {type(value).__name__}")

    num_samples = None if data is None else check_data(data, name="training data")
    if batch_size is not None:
        if data is None:
            raise ValueError("batch_size was given but there is no data to batch")
        if batch_size > num_samples:
            raise ValueError(f"batch_size {batch_size} exceeds the number of training samples {num_samples}")
    if validation is not None:
        check_data(validation.data, name="validation data")

    if filter_spec is None:
        filter_spec = trainable(model)
    params, static = eqx.partition(model, filter_spec)
    if not jtu.tree_leaves(params):
        raise ValueError("the filter spec leaves no trainable parameters")

    shardings = None
    mesh = execution.mesh
    if mesh is not None:
        from ..parallel import data_shardings

        batch_sharding, replicated = data_shardings(mesh)
        n_dev = mesh.shape["batch"]
        per_step = batch_size if batch_size is not None else num_samples
        if per_step is not None and per_step % n_dev:
            raise ValueError(
                f"data-parallel training over {n_dev} devices needs a batch size divisible by {n_dev}, got {per_step}"
            )
        shardings = (batch_sharding, replicated)
        data = (
            None
            if data is None
            else eqx.filter_shard(jtu.tree_map(jnp.asarray, data), batch_sharding if batch_size is None else replicated)
        )
    elif data is not None:
        data = jtu.tree_map(jnp.asarray, data)

    carry = _Carry(
        params=params,
        opt_state=optimizer.init(params),
        state=state,
        step=jnp.array(0, jnp.int32),
        bad_step=jnp.array(-1, jnp.int32),
        bad_kind=jnp.array(0, jnp.int32),
        skipped=jnp.array(0, jnp.int32),
    )
    carry = _strong(carry)
    if shardings is not None:
        carry = eqx.filter_shard(carry, shardings[1])

    val_every = log_every = checkpoint_every = None
    metrics = monitor = None
    if validation is not None:
        val_every = validation.every or max(steps // 20, 1)
        metrics, monitor = validation.metrics, validation.monitor
        if metrics is None:
            metrics = _loss_metric(loss, stateful=state is not None)
            monitor = monitor or "loss"
    log_every = logging.every or max(steps // 100, 1)
    ckpt_dir = None if checkpointing is None else checkpointing.directory
    if checkpointing is not None:
        checkpoint_every = checkpointing.every or max(steps // 10, 1)
    log_path = logging.path if logging.path is not None else (ckpt_dir / "history.jsonl" if ckpt_dir else None)

    history: list[dict[str, Any]] = []
    losses: list[float] = []
    best = {"metric": None, "step": None, "params": None, "state": None, "since": 0}
    run_meta = None
    last_good = None
    if ckpt_dir is not None:
        # Only a checkpointed run needs its fingerprint; hashing the data costs time.
        run_meta = _run_description(params, static, optimizer, loss, data, key, steps, batch_size, validation)
    if checkpointing is not None and checkpointing.resume:
        check = lambda meta: _check_same_run(ckpt_dir, meta.get("run") or {}, run_meta)
        loaded = read_checkpoint(ckpt_dir, (carry, carry.params, carry.state), check=check)
        if loaded is not None:
            (carry, best_params, best_state), meta = loaded
            history, losses = meta["history"], meta["losses"]
            best.update(meta["best"])
            if best["step"] is not None:
                best["params"], best["state"] = best_params, best_state
            last_good = ckpt_dir / meta["file"]
            if shardings is not None:
                carry = eqx.filter_shard(carry, shardings[1])
    start = int(carry.step)
    if log_path is not None:
        atomic_write(log_path, lambda f: f.write("".join(json.dumps(h) + "\n" for h in history).encode()))

    dynamic_carry, static_carry = eqx.partition(carry, eqx.is_array)
    # Frozen arrays (fixed buffers, frozen sub-networks) are inputs of the step, not
    # constants baked into it: the compiled step stays small and reusable across runs.
    frozen, static_rest = eqx.partition(static, eqx.is_array)
    halt = execution.on_nonfinite == "raise"
    step_fn = _compiled_step(static_carry, static_rest, loss, optimizer, batch_size, num_samples, halt, shardings)

    def read_point(point) -> dict[str, Any]:
        # The values of a logging point; called once they have long been computed, so
        # this is a copy, not a wait (except at synchronising points).
        at, values, flags, t = point
        values = [float(v) for v in jax.device_get(values)]
        bad, kind, skipped = (int(x) for x in jax.device_get(flags))
        if bad >= 0 and halt:
            what = " and ".join(label for bit, label in _BAD_PARTS if kind & bit) or "values"
            where = (
                f"the last good checkpoint is {last_good}"
                if last_good is not None
                else ("no checkpoint was written before it" if ckpt_dir is not None else "no checkpointing was set")
            )
            raise NonFiniteError(
                f"non-finite {what} at step {bad} (loss {values[bad - at + len(values)]!r}); training stopped "
                f"with the parameters from before that step; {where}. Lower the learning rate, clip gradients "
                "(make_optimizer's 'clip_norm' or optax.clip_by_global_norm), or use "
                "Execution(on_nonfinite='skip')."
            )
        losses.extend(values)
        return {"step": at, "loss": values[-1], "skipped": skipped, "time_s": round(t, 4)}

    def emit(record: dict[str, Any], save: bool = False) -> None:
        nonlocal last_good
        history.append(record)
        if log_path is not None:
            with open(log_path, "a") as f:
                f.write(json.dumps(record) + "\n")
        bar.update(record["step"] - bar.n)
        bar.set_postfix(loss=f"{record['loss']:.3e}")
        if save:
            last_good = _save(ckpt_dir, record["step"], carry, best, run_meta, history, losses)
        if logging.callback is not None:
            logging.callback(record["step"], record)

    pending: list[Array] = []
    queued = None  # the previous logging point, read one interval late
    stopped_early = False
    t0 = time.perf_counter()
    bar = tqdm(total=steps, initial=start, desc=logging.desc, disable=logging.quiet, dynamic_ncols=True, leave=False)
    try:
        step = start
        while step < steps:
            dynamic_carry, value = step_fn(dynamic_carry, frozen, data, key)
            pending.append(value)
            step += 1
            do_val = val_every is not None and (step % val_every == 0 or step == steps)
            do_ckpt = checkpoint_every is not None and (step % checkpoint_every == 0 or step == steps)
            if step % log_every and step != steps and not do_val and not do_ckpt:
                continue
            flags = (dynamic_carry.bad_step, dynamic_carry.bad_kind, dynamic_carry.skipped)
            point = (step, pending, flags, time.perf_counter() - t0)
            pending = []
            if queued is not None:
                emit(read_point(queued))
                queued = None
            if not (do_val or do_ckpt or step == steps):
                queued = point
                continue
            record = read_point(point)
            carry = eqx.combine(dynamic_carry, static_carry)
            if do_val:
                current = eqx.combine(carry.params, static)
                scores = evaluate(
                    metrics, current, validation.data, state=carry.state, batch_size=validation.batch_size
                )
                record.update({f"val_{k}": v for k, v in scores.items()})
                name = monitor if monitor is not None else _default_monitor(scores)
                if name not in scores:
                    raise ValueError(f"Validation: monitor {name!r} is not among the metrics {sorted(scores)}")
                score = scores[name]
                improved = best["metric"] is None or (
                    score < best["metric"] if validation.mode == "min" else score > best["metric"]
                )
                if improved:
                    best.update(metric=score, step=step, params=carry.params, state=carry.state, since=0)
                else:
                    best["since"] += 1
                if validation.patience is not None and best["since"] >= validation.patience:
                    stopped_early = True
            emit(record, save=ckpt_dir is not None and (do_ckpt or stopped_early))
            if stopped_early:
                break
    finally:
        bar.close()

    carry = eqx.combine(dynamic_carry, static_carry)
    final_params, final_state = carry.params, carry.state
    if validation is not None and validation.keep_best and best["params"] is not None:
        final_params, final_state = best["params"], best["state"]
    return FitResult(
        model=eqx.combine(final_params, static),
        state=final_state,
        opt_state=carry.opt_state,
        history=history,
        losses=np.asarray(losses),
        step=int(carry.step),
        best_step=best["step"],
        best_metric=best["metric"],
        stopped_early=stopped_early,
        skipped_steps=int(carry.skipped),
    )


def _save(directory: Path, step: int, carry: _Carry, best: dict, run_meta: dict, history: list, losses: list) -> Path:
    best_params = best["params"] if best["params"] is not None else carry.params
    best_state = best["state"] if best["step"] is not None else carry.state
    # The step's guard keeps the carry finite; this is the last line of defence, so a
    # resumable checkpoint never holds a NaN or an Inf weight.
    bad = _nonfinite_leaf((carry.params, carry.state, best_params, best_state), carry.opt_state)
    if bad is not None:
        raise NonFiniteError(
            f"refusing to write checkpoint {step} to {directory}: its {bad} is not finite; the previous "
            "checkpoint is kept. Lower the learning rate or clip gradients."
        )
    meta_best = {k: best[k] for k in ("metric", "step", "since")}
    return write_checkpoint(
        directory,
        step,
        (carry, best_params, best_state),
        {"run": run_meta, "history": history, "losses": losses, "best": meta_best},
    )


def _default_monitor(scores: dict[str, float]) -> str:
    if len(scores) == 1:
        return next(iter(scores))
    if "loss" in scores:
        return "loss"
    raise ValueError(f"several validation metrics {sorted(scores)}: pass Validation(monitor=...) to choose one")


def _loss_metric(loss: Callable, *, stateful: bool) -> Callable:
    # Validation without explicit metrics reports the training loss on held-out data,
    # with a fixed key so that the number is comparable across evaluations.
    key = jr.key(0)
    if stateful:
        return lambda model, state, batch: {"loss": loss(model, state, batch, key)[0]}
    return lambda model, batch: {"loss": loss(model, batch, key)}
