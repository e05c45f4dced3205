"""`fit`: the one filtered training loop that every sciml model goes through."""

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
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
from ._metrics import evaluate
from ._optim import make_optimizer, takes_extra_args


class NonFiniteError(FloatingPointError):
    """A loss or gradient became NaN or Inf during training."""


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What [`fit`][] returns.

    **Attributes:**

    - `model`: the trained model (the best one seen in validation if `keep_best`).
    - `state`: its `eqx.nn.State`, or None for a stateless model.
    - `opt_state`: the optimizer state at the last step.
    - `history`: one dict per logging or validation point (`step`, `loss`, validation
        metrics prefixed `val_`, `skipped`, `time_s`).
    - `losses`: the training loss at every step, as a NumPy array.
    - `step`: the number of steps taken (fewer than requested after early stopping).
    - `best_step`, `best_metric`: the best validation point, if validation ran.
    - `stopped_early`: whether early stopping ended the run.
    - `skipped_steps`: updates skipped for non-finite values (`on_nonfinite="skip"`).
    """

    model: PyTree
    state: PyTree | None
    opt_state: PyTree
    history: list[dict[str, Any]]
    losses: np.ndarray
    step: int
    best_step: int | None
    best_metric: float | None
    stopped_early: bool
    skipped_steps: int


class _Carry(eqx.Module):
    params: PyTree
    opt_state: PyTree
    state: PyTree
    step: Int[Array, ""]
    bad_step: Int[Array, ""]
    skipped: Int[Array, ""]


def _strong(tree: PyTree) -> PyTree:
    # A weakly typed scalar that comes back strongly typed from the first step would
    # change the step's input signature and compile it a second time.
    return jtu.tree_map(lambda x: jnp.asarray(x, dtype=x.dtype) if eqx.is_array(x) else x, tree)


def _all_finite(tree: PyTree) -> Bool[Array, ""]:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jtu.tree_leaves(eqx.filter(tree, eqx.is_inexact_array))]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


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

    finite = jnp.isfinite(value) & _all_finite(grads)
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


def _fingerprint(data: PyTree) -> str:
    h = hashlib.sha256()
    for path, leaf in jtu.tree_leaves_with_path(data):
        arr = np.asarray(leaf)
        h.update(f"{jtu.keystr(path)}:{arr.dtype}:{arr.shape}".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


def _key_fingerprint(key: PRNGKeyArray) -> list[int]:
    return np.asarray(jr.key_data(key)).reshape(-1).tolist()


def _check_positive_int(name: str, value: Any, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"'{name}' must be a positive integer, got {value!r}")


def fit(
    model: PyTree,
    loss: Callable[..., Any],
    data: PyTree | None,
    optimizer: optax.GradientTransformation | dict[str, Any],
    *,
    steps: int,
    key: PRNGKeyArray,
    batch_size: int | None = None,
    state: eqx.nn.State | None = None,
    filter_spec: PyTree | None = None,
    val_data: PyTree | None = None,
    val_every: int | None = None,
    val_batch_size: int | None = None,
    metrics: Callable[..., dict[str, Any]] | None = None,
    monitor: str | None = None,
    mode: str = "min",
    patience: int | None = None,
    keep_best: bool = False,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    on_nonfinite: str = "raise",
    log_every: int | None = None,
    log_path: str | os.PathLike | None = None,
    quiet: bool = False,
    mesh: jax.sharding.Mesh | None = None,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
    desc: str = "fit",
) -> FitResult:
    """Train any pytree model by minimising `loss`, with one compiled step.

    The step (batch selection, loss, gradient with `eqx.filter_value_and_grad`,
    optimizer update, non-finite guard) is one function, filtered into arrays and static
    parts once and compiled once per run; the Python loop around it only dispatches, and
    synchronises with the device at logging, validation and checkpoint points. Every
    random choice derives from `key` and the step number, so
    a run resumed from a checkpoint ends bit-identical to an uninterrupted one.

    **Arguments:**

    - `model`: the model (any pytree; its floating-point arrays are the parameters).
    - `loss`: `loss(model, batch, key) -> scalar`, or with `state` given
        `loss(model, state, batch, key) -> (scalar, state)` (BatchNorm models).
    - `data`: a pytree of arrays sharing the leading sample axis, or None for losses
        that make their own batch (the `batch` argument is then None).
    - `optimizer`: an optax transformation or a config for
        [`sciml.train.make_optimizer`][] (`{"name": "adam", "learning_rate": 1e-3}`).
    - `steps`: the number of optimizer steps.
    - `key`: the run's PRNG key (data order and loss keys).
    - `batch_size`: samples per step, drawn without replacement each epoch; default the
        whole dataset every step.
    - `state`: the model's `eqx.nn.State` for stateful models.
    - `filter_spec`: a boolean pytree of the trainable leaves (see
        [`sciml.train.trainable`][]); frozen leaves get no update and no optimizer state.
    - `val_data`, `val_every`, `val_batch_size`: validation data, its period in steps
        (default `max(steps // 20, 1)`) and chunk size.
    - `metrics`: `metrics(model, batch) -> {name: scalar}` (with `state`:
        `metrics(model, state, batch)`) evaluated on `val_data`; default the loss.
    - `monitor`, `mode`: the validation metric that decides the best model and early
        stopping, and whether lower or higher is better.
    - `patience`: stop after this many validations without improvement.
    - `keep_best`: return the best validated model instead of the last one.
    - `checkpoint_dir`, `checkpoint_every`: where and how often (default
        `max(steps // 10, 1)` steps) to write checkpoints; the history goes to
        `history.jsonl` there.
    - `resume`: continue from the checkpoint in `checkpoint_dir` if there is one.
    - `on_nonfinite`: `"raise"` stops with [`NonFiniteError`][] naming the first bad
        step, keeping the parameters from before it; `"skip"` drops bad updates.
    - `log_every`: how often to record the loss in the history (default
        `max(steps // 100, 1)`).
    - `log_path`: a JSON-lines file for the history (default `checkpoint_dir/history.jsonl`).
    - `quiet`: no progress bar.
    - `mesh`: a `jax.sharding.Mesh` with a `"batch"` axis for data-parallel training
        (see [`sciml.parallel.data_mesh`][]): batches are sharded, parameters replicated.
    - `callback`: `callback(step, record)` at every logging point.
    - `desc`: the progress bar's label.

    **Returns:**

    A [`FitResult`][].

    **Raises:**

    - `ValueError` for bad data (different lengths, NaN/Inf), a non-positive step count
        or batch size, an unknown optimizer, a checkpoint of another run.
    - [`NonFiniteError`][] when the loss or a gradient is NaN/Inf and
        `on_nonfinite="raise"`; the last checkpoint is then the last good one.
    """
    _check_positive_int("steps", steps, allow_none=False)
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("val_every", val_every)
    _check_positive_int("checkpoint_every", checkpoint_every)
    _check_positive_int("log_every", log_every)
    _check_positive_int("patience", patience)
    if on_nonfinite not in ("raise", "skip"):
        raise ValueError(f"on_nonfinite must be 'raise' or 'skip', got {on_nonfinite!r}")
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir to resume from")
    optimizer = make_optimizer(optimizer, steps=steps)

    num_samples = None if data is None else check_data(data, name="training data")
    if batch_size is not None:
        if data is None:
            raise ValueError("batch_size was given but there is no data to batch")
        if batch_size > num_samples:
            raise ValueError(f"batch_size {batch_size} exceeds the number of training samples {num_samples}")
    if val_data is not None:
        check_data(val_data, name="validation data")
    if (patience is not None or keep_best) and val_data is None:
        raise ValueError("early stopping and keep_best need val_data")

    if filter_spec is None:
        filter_spec = trainable(model)
    params, static = eqx.partition(model, filter_spec)
    if not jtu.tree_leaves(params):
        raise ValueError("the filter spec leaves no trainable parameters")

    shardings = None
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
        skipped=jnp.array(0, jnp.int32),
    )
    carry = _strong(carry)
    if shardings is not None:
        carry = eqx.filter_shard(carry, shardings[1])

    val_every = val_every or max(steps // 20, 1)
    log_every = log_every or max(steps // 100, 1)
    checkpoint_every = checkpoint_every or max(steps // 10, 1)
    if metrics is None and val_data is not None:
        metrics = _loss_metric(loss, stateful=state is not None)
        monitor = monitor or "loss"

    run_meta = {
        "steps": steps,
        "batch_size": batch_size,
        "key": _key_fingerprint(key),
        "data": None if data is None else _fingerprint(data),
    }
    history: list[dict[str, Any]] = []
    losses: list[float] = []
    best = {"metric": None, "step": None, "params": None, "state": None, "since": 0}
    ckpt_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    log_path = Path(log_path) if log_path is not None else (ckpt_dir / "history.jsonl" if ckpt_dir else None)

    if resume:
        loaded = read_checkpoint(ckpt_dir, (carry, carry.params, carry.state))
        if loaded is not None:
            (carry, best_params, best_state), meta = loaded
            for name in ("steps", "batch_size", "key", "data"):
                if meta["run"].get(name) != run_meta[name]:
                    raise ValueError(
                        f"the checkpoint in {ckpt_dir} belongs to a different run: its {name} is "
                        f"{meta['run'].get(name)!r}, this run's is {run_meta[name]!r}"
                    )
            history, losses = meta["history"], meta["losses"]
            best.update(meta["best"])
            if best["step"] is not None:
                best["params"], best["state"] = best_params, best_state
            if shardings is not None:
                carry = eqx.filter_shard(carry, shardings[1])
    start = int(carry.step)
    if log_path is not None:
        atomic_write(log_path, lambda f: f.write("".join(json.dumps(h) + "\n" for h in history).encode()))

    def save_checkpoint(step: int) -> None:
        if ckpt_dir is None:
            return
        best_params = best["params"] if best["params"] is not None else carry.params
        best_state = best["state"] if best["step"] is not None else carry.state
        meta_best = {k: best[k] for k in ("metric", "step", "since")}
        write_checkpoint(
            ckpt_dir,
            step,
            (carry, best_params, best_state),
            {"run": run_meta, "history": history, "losses": losses, "best": meta_best},
        )

    dynamic_carry, static_carry = eqx.partition(carry, eqx.is_array)
    # Frozen arrays (fixed buffers, frozen sub-networks) are inputs of the step, not
    # constants baked into it: the compiled step stays small and reusable across runs.
    frozen, static_rest = eqx.partition(static, eqx.is_array)
    step_fn = _compiled_step(
        static_carry, static_rest, loss, optimizer, batch_size, num_samples, on_nonfinite == "raise", shardings
    )
    pending: list[Array] = []
    stopped_early = False
    t0 = time.perf_counter()
    bar = tqdm(total=steps, initial=start, desc=desc, disable=quiet, dynamic_ncols=True, leave=False)
    try:
        step = start
        while step < steps:
            dynamic_carry, value = step_fn(dynamic_carry, frozen, data, key)
            pending.append(value)
            step += 1
            do_val = val_data is not None and (step % val_every == 0 or step == steps)
            do_ckpt = ckpt_dir is not None and (step % checkpoint_every == 0 or step == steps)
            if not (step % log_every == 0 or step == steps or do_val or do_ckpt):
                continue
            carry = eqx.combine(dynamic_carry, static_carry)
            # Synchronise with the device only here: one transfer for many steps.
            values = [float(v) for v in jax.device_get(pending)]
            pending.clear()
            bad, skipped = (int(x) for x in jax.device_get((carry.bad_step, carry.skipped)))
            if bad >= 0 and on_nonfinite == "raise":
                bar.close()
                where = f"; the last good checkpoint in {ckpt_dir} is kept" if ckpt_dir else ""
                raise NonFiniteError(
                    f"non-finite loss or gradient at step {bad} (loss {values[bad - step + len(values)]!r}); "
                    f"training stopped with the parameters from before that step{where}. "
                    "Lower the learning rate, clip gradients, or pass on_nonfinite='skip'."
                )
            losses.extend(values)
            record: dict[str, Any] = {
                "step": step,
                "loss": values[-1],
                "skipped": skipped,
                "time_s": round(time.perf_counter() - t0, 4),
            }
            if do_val:
                current = eqx.combine(carry.params, static)
                scores = evaluate(metrics, current, val_data, state=carry.state, batch_size=val_batch_size)
                record.update({f"val_{k}": v for k, v in scores.items()})
                name = monitor if monitor is not None else _default_monitor(scores)
                if name not in scores:
                    raise ValueError(f"monitor {name!r} is not among the metrics {sorted(scores)}")
                score = scores[name]
                improved = best["metric"] is None or (
                    score < best["metric"] if mode == "min" else score > best["metric"]
                )
                if improved:
                    best.update(metric=score, step=step, params=carry.params, state=carry.state, since=0)
                else:
                    best["since"] += 1
                if patience is not None and best["since"] >= patience:
                    stopped_early = True
            history.append(record)
            if log_path is not None:
                with open(log_path, "a") as f:
                    f.write(json.dumps(record) + "\n")
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{values[-1]:.3e}")
            if do_ckpt or stopped_early:
                save_checkpoint(step)
            if callback is not None:
                callback(step, record)
            if stopped_early:
                break
    finally:
        bar.close()

    carry = eqx.combine(dynamic_carry, static_carry)
    final_params, final_state = carry.params, carry.state
    if keep_best and best["params"] is not None:
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


def _default_monitor(scores: dict[str, float]) -> str:
    if len(scores) == 1:
        return next(iter(scores))
    if "loss" in scores:
        return "loss"
    raise ValueError(f"several validation metrics {sorted(scores)}: pass monitor= to choose one")


def _loss_metric(loss: Callable, *, stateful: bool) -> Callable:
    # Validation without explicit metrics reports the training loss on held-out data,
    # with a fixed key so that the number is comparable across evaluations.
    key = jr.key(0)
    if stateful:
        return lambda model, state, batch: {"loss": loss(model, state, batch, key)[0]}
    return lambda model, batch: {"loss": loss(model, batch, key)}
