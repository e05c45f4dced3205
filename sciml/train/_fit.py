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
from jaxtyping import Array, PRNGKeyArray, PyTree
from tqdm.auto import tqdm

from .._misc import atomic_write
from ._checkpoint import read_checkpoint, write_checkpoint
from ._data import check_data
from ._filters import trainable
from ._fingerprint import data_fingerprint, describe, first_difference, key_fingerprint, structure_lines
from ._metrics import evaluate
from ._options import _check_positive_int, Checkpointing, Execution, Logging, Validation
from ._result import FitResult, NonFiniteError
from ._step import BAD_PARTS, Carry, compiled_step, nonfinite_leaf, strong


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

    carry = Carry(
        params=params,
        opt_state=optimizer.init(params),
        state=state,
        step=jnp.array(0, jnp.int32),
        bad_step=jnp.array(-1, jnp.int32),
        bad_kind=jnp.array(0, jnp.int32),
        skipped=jnp.array(0, jnp.int32),
    )
    carry = strong(carry)
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
    carry_leaves, carry_def = jtu.tree_flatten(dynamic_carry)
    # Frozen arrays (fixed buffers, frozen sub-networks) are inputs of the step, not
    # constants baked into it: the compiled step stays small and reusable across runs.
    frozen, static_rest = eqx.partition(static, eqx.is_array)
    input_leaves, inputs_def = jtu.tree_flatten((frozen, data, key))
    halt = execution.on_nonfinite == "raise"
    step_fn = compiled_step(
        carry_def, inputs_def, static_carry, static_rest, loss, optimizer, batch_size, num_samples, halt, shardings
    )

    def current_carry() -> Carry:
        return eqx.combine(jtu.tree_unflatten(carry_def, carry_leaves), static_carry)

    def read_point(point) -> dict[str, Any]:
        # The values of a logging point; called once they have long been computed, so
        # this is a copy, not a wait (except at synchronising points).
        at, values, flags, t = point
        values, flags = jax.device_get((values, flags))
        values = [float(v) for v in values]
        bad, kind, skipped = (int(x) for x in flags)
        if bad >= 0 and halt:
            what = " and ".join(label for bit, label in BAD_PARTS if kind & bit) or "values"
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
            carry_leaves, value, flags = step_fn(carry_leaves, input_leaves)
            pending.append(value)
            step += 1
            do_val = val_every is not None and (step % val_every == 0 or step == steps)
            do_ckpt = checkpoint_every is not None and (step % checkpoint_every == 0 or step == steps)
            if step % log_every and step != steps and not do_val and not do_ckpt:
                continue
            point = (step, pending, flags, time.perf_counter() - t0)
            pending = []
            if queued is not None:
                emit(read_point(queued))
                queued = None
            if not (do_val or do_ckpt or step == steps):
                queued = point
                continue
            record = read_point(point)
            carry = current_carry()
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

    carry = current_carry()
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


def _save(directory: Path, step: int, carry: Carry, best: dict, run_meta: dict, history: list, losses: list) -> Path:
    best_params = best["params"] if best["params"] is not None else carry.params
    best_state = best["state"] if best["step"] is not None else carry.state
    # The step's guard keeps the carry finite; this is the last line of defence, so a
    # resumable checkpoint never holds a NaN or an Inf weight.
    bad = nonfinite_leaf((carry.params, carry.state, best_params, best_state), carry.opt_state)
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
