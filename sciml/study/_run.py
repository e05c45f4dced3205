"""`run_problem`: build a problem's config, run it, check and record its outputs."""

import dataclasses
import shutil
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._config import build_config, config_to_dict, ConfigError, parse_overrides
from .._misc import to_jsonable, versions, write_json
from . import _folder
from ._context import RunContext
from ._registry import check_common_settings


_PROBLEM_ATTRIBUTES = ("Config", "QUICK", "DESCRIPTION", "run")


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
    """Runs one problem end to end and writes its outputs and `metrics.json` into `out`.

    The configuration is `Config()` updated, in order, by `QUICK` (with `quick`), by
    `steps` and by the `key=value` `overrides`. Everything the user gave is checked before
    `out` is touched. The run then holds a lock on `out` (a second run into the same folder
    is refused), works in `out / "partial"` and, only once it has finished, moves its files
    into `out`, replacing a previous finished run's; an interrupted or failed run leaves
    `out` as it was, plus `out / "partial"` for `--resume`. A `metrics.json` in `out`
    therefore always belongs to the finished run whose other files lie beside it.

    **Arguments:**

    - `module`: the problem module (see [`check_problem`][]).
    - `name`: its registry name.
    - `out`: the output folder, created if missing.
    - `seed`: seeds all randomness of the run, data generation included.
    - `steps`: overrides `Config.steps`.
    - `quick`: apply the `QUICK` overrides (the smoke-test budget).
    - `quiet`: suppress progress output.
    - `resume`: continue from the checkpoints of an interrupted (or finished) run in `out`;
        refused, changing nothing, when they were written with other settings or are corrupt.
    - `overrides`: `key=value` strings parsed against the `Config` field types.

    **Returns:**

    The record written to `metrics.json`: `problem`, `seed`, `steps`, `wall_time_s`,
    `quick`, `config`, `metrics`, `versions`, `outputs`.

    **Raises:**

    `ConfigError` for unknown keys, bad values, an unusable `out`, a folder another run
    holds, or checkpoints that do not match or are corrupt (all before any work is done);
    `RuntimeError` when the problem did not write its required outputs; whatever the
    problem's training raises (e.g. `sciml.train.NonFiniteError`).
    """
    check_problem(module)
    updates: list[dict[str, Any]] = [dict(module.QUICK)] if quick else []
    if steps is not None:
        if "steps" not in {f.name for f in dataclasses.fields(module.Config)}:
            raise ConfigError(f"problem {name} has no 'steps' setting, so --steps does not apply")
        updates.append({"steps": steps})
    updates.append(parse_overrides(module.Config, overrides))
    config = build_config(module.Config, *updates)
    check_common_settings(config)
    # The run's fingerprint: every setting that changes the result (the config includes the
    # step budget and every hyperparameter), checked by --resume.
    record = {"problem": name, "seed": seed, "quick": quick, "config": config_to_dict(config)}

    out = Path(out)
    _folder.check_out(out)
    with _folder.locked(out):
        source = _folder.resume_source(out) if resume else None
        if source is not None:
            _folder.check_resumable(source, record)
        _folder.clean_temporaries(out)
        staging = out / _folder.STAGING
        ctx = RunContext(out=staging, seed=seed, quiet=quiet, resume=resume, quick=quick, problem=name)
        if resume and source is None:
            ctx.log(f"no checkpoint in {out}; starting from the beginning")
        if source is None or source.parent != staging:
            # A new run (or one resumed from a finished run's checkpoints) starts a fresh staging
            # area; an interrupted run's staging is discarded only when not resuming it.
            if staging.exists():
                ctx.log(f"discarding the interrupted run in {staging} (--resume continues it instead)")
                shutil.rmtree(staging)
            staging.mkdir()
            if source is not None:
                shutil.copytree(source, ctx.checkpoint_dir)
        write_json(ctx.checkpoint_dir / _folder.RUN_RECORD, record)

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
        write_json(staging / "metrics.json", result)
        _folder.commit(staging, out, _folder.previous_outputs(out))
    return result
