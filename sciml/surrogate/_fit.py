"""`fit_surrogate`: what `sciml fit DATA --model NAME` does, end to end."""

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .. import nn
from .._config import ConfigError
from .._misc import to_jsonable, versions, write_json
from ..data import BatchStream, fit_normaliser, fit_stream, load, Samples, SimulationData, split_indices
from ..nn import Normaliser
from ..study import RunContext
from ..train import Checkpointing, count_parameters, fit, Logging, make_optimizer, Validation
from ._config import config_dict, FitConfig, model_config, parse_fit_config, parse_model_overrides, split_overrides
from ._evaluate import error_metrics, loss, metrics, predict_pairs, predict_trajectories
from ._model import Surrogate
from ._plots import plot_error_map, plot_predictions, plot_rollout_error


_RUN_RECORD = "run.json"


def _file_fingerprint(path: Path) -> str:
    # Size plus the first and last MiB: cheap on files larger than memory, and enough
    # to tell a resumed run that its data file was replaced.
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with open(path, "rb") as f:
        h.update(f.read(2**20))
        f.seek(max(path.stat().st_size - 2**20, 0))
        h.update(f.read())
    return h.hexdigest()[:16]


def _concat(*norms: Normaliser) -> Normaliser:
    return Normaliser(jnp.concatenate([n.mean for n in norms]), jnp.concatenate([n.std for n in norms]))


def _normalisers(data: SimulationData, train: np.ndarray, window: int | None) -> tuple[Normaliser, Normaliser]:
    """Per-channel statistics of the training split: input (with parameters) and output."""
    params = [fit_normaliser(data, "parameters", train)] if "parameters" in data else []
    if window is None:
        return _concat(fit_normaliser(data, "inputs", train), *params), fit_normaliser(data, "outputs", train)
    fields = fit_normaliser(data, "fields", train)
    # Every snapshot of the window shares the field statistics, so a normalised
    # prediction can be fed back as the next normalised input.
    return _concat(*[fields] * window, *params), fields


def _check_resumable(ctx: RunContext, record: dict[str, Any]) -> None:
    path = ctx.checkpoint_dir / _RUN_RECORD
    if not path.exists():
        return
    previous = json.loads(path.read_text())
    differing = sorted(k for k in set(previous) | set(record) if previous.get(k) != record.get(k))
    if differing:
        raise ConfigError(
            f"--resume: the checkpoint in {ctx.checkpoint_dir} was written with different settings "
            f"({', '.join(differing)}); repeat the original command or run without --resume"
        )


def _plot_count(config: FitConfig, n: int) -> int:
    return min(config.plot_samples, n)


def fit_surrogate(
    data_path: str | Path,
    *,
    model: str,
    out: str | Path,
    seed: int = 0,
    steps: int | None = None,
    quiet: bool = False,
    resume: bool = False,
    overrides: Sequence[str] = (),
    callback: Callable[[int, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Fits a field-to-field surrogate to a data file and writes every output to `out`.

    Pairs files learn `outputs` from `inputs`; trajectory files learn the next snapshot
    from the previous `window` (with a rollout loss over `horizon` snapshots). The
    samples (trajectories) are split seeded into train / validation / test, the
    per-channel normalisation is fitted on the training split only, the arrays are
    converted to JAX's default float dtype (float32 unless x64 is on), and training runs
    through `sciml.train.fit` with validation, early stopping (`patience`), the best
    validated model kept, checkpoints and exact `resume`. An HDF5 file larger than
    `max_bytes` is trained on lazily through `sciml.data.fit_stream`, batch for batch
    the same as in memory.

    Writes: `model.eqx` (the network, `sciml.train.load`-able) and `model.json` (its
    architecture, config, the normalisation statistics, shapes and channels, under the
    key `surrogate`); `metrics.json` (test relative L2 and MSE, per channel, a naive
    baseline, and for trajectories the rollout error); `predictions.npz` (test inputs,
    targets and predictions, with `train_index` / `val_index` of the split); plots
    `predictions.png`, `error_map.png`, `training.png` (and `rollout_error.png`).

    **Arguments:**

    - `data_path`: the `.npz` / `.h5` file (layout: `sciml.data`).
    - `model`: `fno`, `resnet` (variant `field`), `mlp` or `transformer`.
    - `out`: the output folder.
    - `seed`: seeds the split, the initialisation and the batch order.
    - `steps`: overrides `FitConfig.steps`.
    - `quiet`: no progress output.
    - `resume`: continue from the checkpoint in `out/checkpoints`.
    - `overrides`: `key=value` strings: `FitConfig` fields, the rest model settings.
    - `callback`: passed to `sciml.train.fit` (`callback(step, record)`).

    **Returns:**

    The record written to `metrics.json`.

    **Raises:**

    `ConfigError` for bad settings or a checkpoint of another run; `sciml.data.DataError`
    for a file that does not follow the layout; `FileNotFoundError`.
    """
    data_path, out = Path(data_path), Path(out)
    train_pairs, model_pairs = split_overrides(overrides)
    config = parse_fit_config(train_pairs, steps)
    user_model = parse_model_overrides(model_pairs)
    data = load(data_path, max_bytes=config.max_bytes)
    try:
        return _fit(data, data_path, config, model, user_model, out, seed, quiet, resume, train_pairs, callback)
    finally:
        data.close()


def _fit(data, data_path, config, name, user_model, out, seed, quiet, resume, train_pairs, callback):
    layout = data.layout
    trajectories = layout.kind == "trajectories"
    if not trajectories and any(p.split("=", 1)[0].strip() in ("window", "horizon") for p in train_pairs):
        raise ConfigError(f"window and horizon apply to trajectory files ('fields'); {data_path.name} holds pairs")
    window = config.window if trajectories else None
    samples = Samples(data, window=window, horizon=config.horizon) if trajectories else Samples(data)
    in_channels = layout.in_channels * (window or 1) + layout.num_parameters
    out_channels = layout.out_channels
    adapter, net_config = model_config(name, layout, in_channels, out_channels, user_model)

    split_key, init_key, fit_key = jr.split(jr.key(seed), 3)
    fractions = (1 - config.val_fraction - config.test_fraction, config.val_fraction, config.test_fraction)
    train, val, test = split_indices(layout.num_samples, fractions, key=split_key)
    train_ids, val_ids = samples.ids(train), samples.ids(val)
    batch_size = min(config.batch_size, len(train_ids))

    ctx = RunContext(out=out, seed=seed, quiet=quiet, resume=resume, problem=f"fit:{data_path.name}")
    record = {
        "data": data_path.name,
        "data_fingerprint": _file_fingerprint(data_path),
        "model": name,
        "model_config": net_config,
        "config": config_dict(config),
        "seed": seed,
    }
    if resume:
        _check_resumable(ctx, to_jsonable(record))
    elif ctx.checkpoint_dir.exists():
        shutil.rmtree(ctx.checkpoint_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").unlink(missing_ok=True)
    write_json(ctx.checkpoint_dir / _RUN_RECORD, record)
    ctx.log(f"{data_path.name}: {layout.describe()}{' (lazy HDF5)' if data.lazy else ''}")
    ctx.log(f"split {len(train)}/{len(val)}/{len(test)} samples; {len(train_ids)} training samples; {name} -> {out}")

    input_norm, output_norm = _normalisers(data, train, window)
    network = nn.build(name, key=init_key, **net_config)
    surrogate = Surrogate(network, input_norm, output_norm, adapter, in_channels, out_channels, window)
    dtype = jnp.zeros(()).dtype

    optimizer = {
        "name": "adam",
        "learning_rate": config.learning_rate,
        "schedule": config.schedule,
        "warmup_steps": config.warmup_steps,
    }
    if config.clip_norm is not None:
        optimizer["clip_norm"] = config.clip_norm
    optimizer = make_optimizer(optimizer, steps=config.steps)
    has_val = len(val_ids) > 0
    if not has_val and config.patience is not None:
        raise ConfigError("patience (early stopping) needs validation samples: set val_fraction > 0")

    def host(ids):
        return {k: jnp.asarray(v, dtype) for k, v in samples.read(ids).items()}

    # A stream validates on ids it reads on demand; in memory the samples are read once.
    validation = None
    if has_val:
        validation = Validation(
            val_ids if data.lazy else host(val_ids),
            every=config.val_every,
            batch_size=batch_size,
            metrics=metrics,
            monitor="relative_l2",
            patience=config.patience,
            keep_best=True,
        )
    common = dict(
        steps=config.steps,
        validation=validation,
        checkpointing=Checkpointing(ctx.checkpoint_dir, every=config.checkpoint_every, resume=resume),
        logging=Logging(quiet=quiet, callback=callback, desc=f"fit {name}"),
    )
    start = time.perf_counter()
    if data.lazy:
        with BatchStream(samples, train_ids, batch_size, key=fit_key, prefetch=config.prefetch, dtype=dtype) as stream:
            result = fit_stream(surrogate, loss, stream, optimizer, **common)
    else:
        result = fit(surrogate, loss, host(train_ids), optimizer, key=fit_key, batch_size=batch_size, **common)
    train_time = time.perf_counter() - start
    surrogate = result.model

    scores, arrays = _evaluate(ctx, surrogate, data, test, config, trajectories)
    scores.update(
        best_step=result.best_step,
        steps_run=result.step,
        stopped_early=result.stopped_early,
        parameters=count_parameters(surrogate.network)["total"],
        train_time_s=train_time,
        final_loss=float(result.losses[-1]) if len(result.losses) else None,
    )
    # Which samples trained and validated the model, for anyone re-checking the split.
    ctx.write_predictions(**arrays, train_index=train, val_index=val)
    ctx.save_training_curves(result.losses, result.history)
    meta = {
        "kind": layout.kind,
        "adapter": adapter,
        "window": window,
        "horizon": config.horizon if trajectories else None,
        "grid": list(layout.grid),
        # Per sample (pairs) or per snapshot (trajectories), channels last as in the file.
        "input_shape": [*layout.grid, layout.in_channels],
        "output_shape": [*layout.grid, out_channels],
        "data_channels": layout.in_channels,
        "out_channels": out_channels,
        "num_parameters": layout.num_parameters,
        "model_in_channels": in_channels,
        "model_out_channels": out_channels,
        "model_input_shape": [in_channels, *layout.grid],
        "normalisation": {
            "input": {"mean": np.asarray(input_norm.mean).tolist(), "std": np.asarray(input_norm.std).tolist()},
            "output": {"mean": np.asarray(output_norm.mean).tolist(), "std": np.asarray(output_norm.std).tolist()},
        },
        "data": {"file": data_path.name, "layout": layout.describe(), "split": [len(train), len(val), len(test)]},
    }
    ctx.save_model(surrogate.network, architecture=name, config=net_config, surrogate=meta)
    metrics_record = {
        "problem": ctx.problem,
        "command": "fit",
        "data": data_path.name,
        "model": name,
        "seed": seed,
        "steps": config.steps,
        "wall_time_s": time.perf_counter() - start,
        "config": config_dict(config),
        "model_config": net_config,
        "split": {"train": len(train), "val": len(val), "test": len(test)},
        "batch_size": batch_size,
        "lazy": data.lazy,
        "metrics": scores,
        "versions": versions(),
    }
    metrics_record["outputs"] = sorted(set(ctx.written) | {"metrics.json"})
    write_json(out / "metrics.json", metrics_record)
    return to_jsonable(metrics_record)


def _evaluate(ctx, surrogate, data, test, config, trajectories) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Test-split metrics, the arrays of `predictions.npz`, and the plots."""
    k = _plot_count(config, len(test))
    labels = [f"test sample {i}" for i in test[:k]]
    if not trajectories:
        pred = predict_pairs(surrogate, data, test)
        truth = data.read("outputs", test)
        inputs = data.read("inputs", test)
        scores = error_metrics(pred, truth, "test_")
        if inputs.shape == truth.shape:
            # Identity (output = input) is the naive baseline of a smoothing-type map.
            scores["baseline_identity_relative_l2"] = error_metrics(inputs, truth)["relative_l2"]
        arrays = {"sample_index": test, "inputs": inputs, "targets": truth, "predictions": pred}
        if "parameters" in data:
            arrays["parameters"] = data.read("parameters", test)
        ctx.savefig(plot_predictions(truth[:k], pred[:k], title="test predictions", labels=labels), "predictions")
        ctx.savefig(plot_error_map(truth, pred, title="RMS error over the test split"), "error_map")
        return scores, arrays

    w = surrogate.window
    one_step, rollout = predict_trajectories(surrogate, data, test)
    fields = data.read("fields", test)
    truth = fields[:, w:]
    scores = error_metrics(one_step, truth, "test_")
    scores.update(error_metrics(rollout, truth, "test_rollout_"))
    # Persistence (the next snapshot equals the last one) is the naive baseline.
    scores["baseline_persistence_relative_l2"] = error_metrics(fields[:, w - 1 : -1], truth)["relative_l2"]
    times = np.asarray(data["times"]) if "times" in data else np.arange(fields.shape[1], dtype=float)
    times = times[test] if times.ndim == 2 else np.broadcast_to(times, fields.shape[:2])
    arrays = {"trajectory_index": test, "times": times, "fields": fields, "one_step": one_step, "rollout": rollout}
    if "parameters" in data:
        arrays["parameters"] = data.read("parameters", test)
    last = [f"{label}, last time" for label in labels]
    ctx.savefig(
        plot_predictions(truth[:k, -1], rollout[:k, -1], title="rollout at the last time", labels=last), "predictions"
    )
    ctx.savefig(
        plot_error_map(truth, one_step, title="RMS one-step error over test trajectories and times"), "error_map"
    )
    ctx.savefig(plot_rollout_error(one_step, rollout, truth, times=times[0, w:]), "rollout_error")
    return scores, arrays
