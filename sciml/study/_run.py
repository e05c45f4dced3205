"""`run_problem`: build a problem's config, run it, check and record its outputs."""

import dataclasses
import json
import shutil
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._config import build_config, config_to_dict, ConfigError, parse_overrides
from .._misc import to_jsonable, versions, write_json
from ._context import RunContext


_PROBLEM_ATTRIBUTES = ("Config", "QUICK", "DESCRIPTION", "run")
_RUN_RECORD = "run.json"


def check_problem(module: types.ModuleType) -> None:
    """Checks that a module implements the problem protocol.

    A problem module has a module docstring, a frozen dataclass `Config` whose defaults
    are the default budget, a dict `QUICK` of overrides for `--quick`, a one-line
    `DESCRIPTION`, `run(config, ctx) -> dict` and `main(argv=None)`.

    **Raises:**

    `TypeError` naming the first missing or malformed part.
    """
    name = module.__name__
    for attr in (*_PROBLEM_ATTRIBUTES, "main"):
        if not hasattr(module, attr):
            raise TypeError(f"problem module {name} has no {attr!r}")
    if not module.__doc__:
        raise TypeError(f"problem module {name} has no docstring stating its equations and budget")
    params = getattr(module.Config, "__dataclass_params__", None)
    if params is None or not params.frozen:
        raise TypeError(f"{name}.Config must be a frozen dataclass")
    if not isinstance(module.QUICK, dict):
        raise TypeError(f"{name}.QUICK must be a dict of Config overrides")
    if not isinstance(module.DESCRIPTION, str) or "\n" in module.DESCRIPTION:
        raise TypeError(f"{name}.DESCRIPTION must be a one-line string")


def _check_resumable(ctx: RunContext, record: dict[str, Any]) -> None:
    """Refuses to resume a checkpoint that a run with other settings wrote."""
    path = ctx.checkpoint_dir / _RUN_RECORD
    if not path.exists():
        return
    previous = json.loads(path.read_text())
    differing = sorted(k for k in set(previous) | set(record) if k != "config" and previous.get(k) != record.get(k))
    old_config, new_config = previous.get("config", {}), record["config"]
    differing += sorted(
        f"config.{k}" for k in set(old_config) | set(new_config) if old_config.get(k) != new_config.get(k)
    )
    if differing:
        raise ConfigError(
            f"--resume: the checkpoint in {ctx.checkpoint_dir} was written with different settings "
            f"({', '.join(differing)}); repeat the original options or run without --resume"
        )


def run_problem(
    module: types.ModuleType,
    *,
    name: str,
    out: Path,
    seed: int = 0,
    steps: int | None = None,
    quick: bool = False,
    quiet: bool = False,
    resume: bool = False,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Runs one problem end to end and writes `metrics.json`.

    The configuration is `Config()` updated, in order, by `QUICK` (with `quick`), by
    `steps` and by the `key=value` `overrides`. Without `resume` the checkpoint folder
    is cleared first, so a later `--resume` can never pick up a stale checkpoint from
    another run; with `resume` the harness refuses a checkpoint written with another
    problem, seed or configuration. `metrics.json` is removed at the start and written
    (atomically) only when the run completes, so its presence marks a finished run.

    **Arguments:**

    - `module`: the problem module (see [`check_problem`][]).
    - `name`: its registry name.
    - `out`: the output folder, created if missing.
    - `seed`: seeds all randomness of the run, data generation included.
    - `steps`: overrides `Config.steps`.
    - `quick`: apply the `QUICK` overrides (the smoke-test budget).
    - `quiet`: suppress progress output.
    - `resume`: continue from the checkpoint in `out / "checkpoints"`.
    - `overrides`: `key=value` strings parsed against the `Config` field types.

    **Returns:**

    The record written to `metrics.json`: `problem`, `seed`, `steps`, `wall_time_s`,
    `quick`, `config`, `metrics`, `versions`, `outputs`.

    **Raises:**

    `ConfigError` for unknown keys, bad values or a mismatching checkpoint (before any
    work is done); `RuntimeError` when the problem did not write its required outputs.
    """
    check_problem(module)
    updates: list[dict[str, Any]] = [dict(module.QUICK)] if quick else []
    if steps is not None:
        if "steps" not in {f.name for f in dataclasses.fields(module.Config)}:
            raise ConfigError(f"problem {name} has no 'steps' setting, so --steps does not apply")
        updates.append({"steps": steps})
    updates.append(parse_overrides(module.Config, overrides))
    config = build_config(module.Config, *updates)

    out = Path(out)
    ctx = RunContext(out=out, seed=seed, quiet=quiet, resume=resume, quick=quick, problem=name)
    record = {"problem": name, "seed": seed, "config": config_to_dict(config)}
    if resume:
        _check_resumable(ctx, record)
        if not (ctx.checkpoint_dir / "checkpoint.json").exists():
            ctx.log(f"no checkpoint in {ctx.checkpoint_dir}; starting from the beginning")
    elif ctx.checkpoint_dir.exists():
        shutil.rmtree(ctx.checkpoint_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").unlink(missing_ok=True)
    write_json(ctx.checkpoint_dir / _RUN_RECORD, record)

    ctx.log(f"{name}: seed {seed}{', quick' if quick else ''}{', resuming' if resume else ''} -> {out}")
    start = time.perf_counter()
    metrics = module.run(config, ctx)
    wall_time = time.perf_counter() - start
    if not isinstance(metrics, dict) or not all(isinstance(k, str) for k in metrics):
        raise TypeError(f"{name}.run must return a dict of named metrics, got {type(metrics).__name__}")

    missing = [f for f in ("predictions.npz", "model.eqx") if f not in ctx.written]
    if not any(f.endswith(".png") for f in ctx.written):
        missing.append("a *.png plot")
    if missing:
        raise RuntimeError(f"problem {name} did not write {', '.join(missing)} through its RunContext")

    result = {
        "problem": name,
        "seed": seed,
        "steps": getattr(config, "steps", None),
        "wall_time_s": wall_time,
        "quick": quick,
        "config": record["config"],
        "metrics": to_jsonable(metrics),
        "versions": versions(),
        "outputs": sorted(set(ctx.written)),
    }
    write_json(out / "metrics.json", result)
    return result
