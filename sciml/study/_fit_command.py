"""`fit_surrogate`: what `sciml fit DATA --model NAME` does, end to end, as a run with an output folder."""

import dataclasses
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._config import ConfigError
from .._misc import to_jsonable, versions, write_json
from ..data import load
from ..surrogate import (
    evaluate_test,
    FitConfig,
    parse_settings,
    plan_surrogate,
    plot_error_map,
    plot_predictions,
    plot_rollout_error,
    surrogate_metadata,
    train_surrogate,
)
from ..train import count_parameters
from ._context import RunContext


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


def _check_writable(out: Path) -> None:
    """Fails before any work when `out` cannot be created or written (read-only, under a file)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".sciml-write-check.", suffix=".tmp", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot write there ({e.strerror or e}); choose another folder") from None


def _check_resumable(ctx: RunContext, record: dict[str, Any]) -> None:
    path = ctx.checkpoint_dir / _RUN_RECORD
    if not path.exists():
        return
    try:
        previous = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"--resume: {path} cannot be read ({e}); rerun without --resume to start over") from None
    if not isinstance(previous, dict):
        raise ConfigError(f"--resume: {path} is not a run record; rerun without --resume to start over")
    differing = sorted(k for k in set(previous) | set(record) if previous.get(k) != record.get(k))
    if differing:
        raise ConfigError(
            f"--resume: the checkpoint in {ctx.checkpoint_dir} was written with different settings "
            f"({', '.join(differing)}); repeat the original command or run without --resume"
        )


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
    per-channel normalisation is fitted on the training split only, and training runs
    through `sciml.surrogate.train_surrogate` (validation, early stopping, the best
    validated model kept, checkpoints and exact `resume`; lazy HDF5 streamed). The
    settings, the data and the model are all checked before `out` is touched.

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
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the outputs")
    config, user_model, given = parse_settings(overrides, steps)
    data = load(data_path, max_bytes=config.max_bytes)
    try:
        if data.layout.kind != "trajectories" and given & {"window", "horizon"}:
            raise ConfigError(f"window and horizon apply to trajectory files ('fields'); {data_path.name} holds pairs")
        return _fit(data, data_path, config, model, user_model, out, seed, quiet, resume, callback)
    finally:
        data.close()


def _fit(data, data_path, config, name, user_model, out, seed, quiet, resume, callback):
    plan = plan_surrogate(data, name, config, user_model, seed=seed)
    _check_writable(out)
    layout = data.layout
    ctx = RunContext(out=out, seed=seed, quiet=quiet, resume=resume, problem=f"fit:{data_path.name}")
    record = {
        "data": data_path.name,
        "data_fingerprint": _file_fingerprint(data_path),
        "model": name,
        "model_config": plan.net_config,
        "config": dataclasses.asdict(config),
        "seed": seed,
    }
    run_record = ctx.checkpoint_dir / _RUN_RECORD
    if resume:
        _check_resumable(ctx, to_jsonable(record))
    else:
        # Only this writer's own files: anything else a user put there stays.
        for stale in [run_record, ctx.checkpoint_dir / "checkpoint.json", ctx.checkpoint_dir / "history.jsonl"]:
            stale.unlink(missing_ok=True)
        for stale in ctx.checkpoint_dir.glob("checkpoint-*.eqx"):
            stale.unlink()
    # A finished run's metrics.json stays until this run writes its own (replaced atomically).
    if not (resume and run_record.exists()):
        write_json(run_record, record)
    ctx.log(f"{data_path.name}: {layout.describe()}{' (lazy HDF5)' if data.lazy else ''}")
    ctx.log(
        f"split {len(plan.train)}/{len(plan.val)}/{len(plan.test)} samples; {len(plan.train_ids)} training samples; "
        f"{name} -> {out}"
    )

    start = time.perf_counter()
    result = train_surrogate(
        plan, data, config, checkpoint_dir=ctx.checkpoint_dir, resume=resume, quiet=quiet, callback=callback
    )
    train_time = time.perf_counter() - start
    surrogate = result.model

    scores, arrays = evaluate_test(surrogate, data, plan.test)
    _plot(ctx, arrays, config, plan.window)
    scores.update(
        best_step=result.best_step,
        steps_run=result.step,
        stopped_early=result.stopped_early,
        parameters=count_parameters(surrogate.network)["total"],
        train_time_s=train_time,
        final_loss=float(result.losses[-1]) if len(result.losses) else None,
    )
    # Which samples trained and validated the model, for anyone re-checking the split.
    ctx.write_predictions(**arrays, train_index=plan.train, val_index=plan.val)
    ctx.save_training_curves(result.losses, result.history)
    meta = surrogate_metadata(plan, data, data_path.name)
    ctx.save_model(surrogate.network, architecture=name, config=plan.net_config, surrogate=meta)
    metrics_record = {
        "problem": ctx.problem,
        "command": "fit",
        "data": data_path.name,
        "model": name,
        "seed": seed,
        "steps": config.steps,
        "wall_time_s": time.perf_counter() - start,
        "config": dataclasses.asdict(config),
        "model_config": plan.net_config,
        "split": {"train": len(plan.train), "val": len(plan.val), "test": len(plan.test)},
        "batch_size": plan.batch_size,
        "lazy": data.lazy,
        "metrics": scores,
        "versions": versions(),
    }
    metrics_record["outputs"] = sorted(set(ctx.written) | {"metrics.json"})
    write_json(out / "metrics.json", metrics_record)
    return to_jsonable(metrics_record)


def _plot(ctx: RunContext, arrays: dict[str, Any], config: FitConfig, window: int | None) -> None:
    """The test-split figures: predictions against the truth, the error map, the rollout error."""
    index = arrays["sample_index" if window is None else "trajectory_index"]
    k = min(config.plot_samples, len(index))
    labels = [f"test sample {i}" for i in index[:k]]
    if window is None:
        truth, pred = arrays["targets"], arrays["predictions"]
        ctx.savefig(plot_predictions(truth[:k], pred[:k], title="test predictions", labels=labels), "predictions")
        ctx.savefig(plot_error_map(truth, pred, title="RMS error over the test split"), "error_map")
        return
    truth, one_step, rollout = arrays["fields"][:, window:], arrays["one_step"], arrays["rollout"]
    last = [f"{label}, last time" for label in labels]
    ctx.savefig(
        plot_predictions(truth[:k, -1], rollout[:k, -1], title="rollout at the last time", labels=last), "predictions"
    )
    ctx.savefig(
        plot_error_map(truth, one_step, title="RMS one-step error over test trajectories and times"), "error_map"
    )
    ctx.savefig(plot_rollout_error(one_step, rollout, truth, times=arrays["times"][0, window:]), "rollout_error")
