"""`main`: the `sciml run PROBLEM` command line, shared by the `sciml` script and each problem's `main()`."""

import argparse
import json
import os
import sys
import traceback
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._config import ConfigError, positive_int
from ._registry import config_help, load_problem


class _Parser(argparse.ArgumentParser):
    # argparse's default prints the usage block and calls sys.exit; one line reads better
    # in CI logs, and raising lets `main` return a code when called in-process.
    def error(self, message: str):
        raise ConfigError(message)


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**63:  # jax.random.key takes a signed 64-bit integer
        raise ValueError(text)
    return value


_seed.__name__ = "seed (an integer in [0, 2**63))"  # argparse names the type in its error


def _out_folder(text: str) -> Path:
    if not text.strip():
        raise ValueError(text)
    return Path(text)


_out_folder.__name__ = "folder (a non-empty path)"


_OUTPUTS = """outputs (in --out, default runs/PROBLEM):
  metrics.json     problem, seed, steps, wall_time_s, config and the metrics below
  predictions.npz  evaluation inputs, predictions and references (names in `sciml show PROBLEM`)
  model.eqx        the trained model, with model.json: reload with sciml.train.load
  *.png            plots; `sciml replot OUT` redraws them where the problem supports it
  checkpoints/     training checkpoints; an interrupted run keeps its own in partial/ for --resume
"""


def _outputs_section(module: types.ModuleType) -> str:
    """The `**Outputs.**` paragraph of the problem's docstring, if any."""
    doc = module.__doc__ or ""
    start = doc.find("**Outputs.**")
    if start < 0:
        return ""
    paragraph = doc[start:].split("\n\n", 1)[0].replace("**Outputs.**", "").strip()
    return "\n".join(f"  {line.strip()}" for line in paragraph.splitlines())


def _epilog(module: types.ModuleType) -> str:
    rows = config_help(module.Config)
    quick = getattr(module, "QUICK", {})
    key_w = max((len(r[0]) for r in rows), default=0)
    type_w = max((len(r[1]) for r in rows), default=0)
    lines = ["config keys (--set KEY=VALUE; default, then the --quick value where it differs):"]
    for key, tp, default, meaning in rows:
        budget = f"{default}" + (f" (quick {quick[key]!r})" if key in quick else "")
        lines.append(f"  {key:<{key_w}}  {tp:<{type_w}}  {budget}" + (f"  -- {meaning}" if meaning else ""))
    section = _outputs_section(module)
    lines += ["", _OUTPUTS + (f"  in detail:\n{section}\n" if section else "")]
    return "\n".join(lines)


def _make_parser(prog: str, module: types.ModuleType | None) -> _Parser:
    parser = _Parser(
        prog=prog,
        description=(module.DESCRIPTION if module is not None else "Run a problem end to end.")
        + " Writes metrics.json, predictions.npz, model.eqx and plots to --out.",
        epilog=_epilog(module) if module is not None else _OUTPUTS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=_out_folder, default=None, help="output folder (default runs/PROBLEM)")
    parser.add_argument("--seed", type=_seed, default=0, help="seed for data and training (default 0)")
    parser.add_argument("--steps", type=positive_int, default=None, help="override the number of training steps")
    parser.add_argument("--quick", action="store_true", help="tiny smoke-test budget (accuracy not meaningful)")
    parser.add_argument("--quiet", action="store_true", help="no progress output; the final metrics still print")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a Config field (repeatable); lists as 32,64 or [32,64]",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="do not use JAX's persistent compilation cache (~/.cache/sciml/jax; also SCIML_NO_COMPILATION_CACHE=1)",
    )
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    return parser


def compilation_cache_dir() -> Path:
    """Where CLI runs keep JAX's persistent compilation cache: `$SCIML_CACHE_DIR/jax`, else
    `$XDG_CACHE_HOME/sciml/jax`, else `~/.cache/sciml/jax`."""
    if os.environ.get("SCIML_CACHE_DIR"):
        return Path(os.environ["SCIML_CACHE_DIR"]) / "jax"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sciml" / "jax"


def enable_compilation_cache(disabled: bool = False) -> None:
    """Turns on JAX's persistent compilation cache in [`compilation_cache_dir`][] unless `disabled`,
    `SCIML_NO_COMPILATION_CACHE` is set (not `0`), or the user chose a cache folder for JAX."""
    if disabled or os.environ.get("SCIML_NO_COMPILATION_CACHE", "") not in ("", "0"):
        return
    import jax

    if jax.config.jax_compilation_cache_dir:  # the user chose one (JAX_COMPILATION_CACHE_DIR)
        return
    jax.config.update("jax_compilation_cache_dir", str(compilation_cache_dir()))
    # JAX caches only compilations over 1 s by default; a study's many sub-second ones add up.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)


def print_metrics(metrics: dict[str, Any]) -> None:
    """Print the scalar metrics, one `  key = value` line each."""
    for key, value in metrics.items():
        if isinstance(value, float):
            print(f"  {key} = {value:.6g}")
        elif isinstance(value, int) and not isinstance(value, bool):
            print(f"  {key} = {value}")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def report_errors(call: Callable[[], int], *, where: str, debug: bool, resume_hint: str = "") -> int:
    """Runs `call` and turns an error into one line on stderr and an exit code.

    2 for a usage or input error (`ConfigError`, including every refusal made before a run
    starts), 1 for a run that failed (a diverging training, a full disk, a bug), 130 when
    interrupted. With `debug`, errors other than usage errors propagate with their traceback.
    """
    try:
        return call()
    except KeyboardInterrupt:
        print(f"\ninterrupted{resume_hint}", file=sys.stderr)
        return 130
    except ConfigError as e:
        if debug:
            traceback.print_exc()
        print(f"{where}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:
        if debug:
            raise
        what = f"could not write {e.filename}" if e.filename else "could not write its files"
        print(f"{where}: error: {what}: {e.strerror or _one_line(e)}; earlier outputs are unchanged", file=sys.stderr)
        return 1
    except Exception as e:
        if debug:
            raise
        name = type(e).__name__
        hint = " On the command line: --set learning_rate=<smaller>." if name == "NonFiniteError" else ""
        print(f"{where}: error: {name}: {_one_line(e)}{hint} (--debug shows the traceback)", file=sys.stderr)
        return 1


def main(problem: str | types.ModuleType, argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """`sciml run PROBLEM [options]`: run a problem from the command line.

    The `sciml` script and each problem's own `main()` (`python -m problems.NAME`) call
    this, so both accept the same options (`--help` lists them with the problem's config
    keys and outputs).

    **Arguments:**

    - `problem`: a registered problem name (`sciml list`) or a problem module.
    - `argv`: the options after the problem name; default `sys.argv[1:]`.
    - `prog`: the program name shown in messages; default `sciml run PROBLEM`.

    **Returns:**

    The exit code: 0 on success, 2 for a usage or input error (unknown problem or key,
    bad value, unusable `--out`, a folder locked by another run, a refused `--resume`),
    1 for a run that failed, 130 when interrupted. Nothing in `--out` changes on 2.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    name = problem if isinstance(problem, str) else problem.__name__.rsplit(".", 1)[-1]
    prog = prog or f"sciml run {name}"
    debug = "--debug" in argv
    state: dict[str, Any] = {}

    def go() -> int:
        module = load_problem(problem) if isinstance(problem, str) else problem
        try:
            args = _make_parser(prog, module).parse_args(argv)
        except SystemExit as e:  # --help
            return e.code if isinstance(e.code, int) else 0
        out = args.out if args.out is not None else Path("runs") / name
        state["out"] = out
        enable_compilation_cache(args.no_cache)
        from ._run import run_problem

        record = run_problem(
            module,
            name=name,
            out=out,
            seed=args.seed,
            steps=args.steps,
            quick=args.quick,
            quiet=args.quiet,
            resume=args.resume,
            overrides=args.overrides,
        )
        print(f"{name} (seed {args.seed}{', quick' if args.quick else ''}):")
        print_metrics(record["metrics"])
        print(f"done in {record['wall_time_s']:.1f} s; outputs in {out}")
        return 0

    hint = f"; continue with: {prog} --resume (and the same options)"
    return report_errors(go, where=prog, debug=debug, resume_hint=hint)


def replot(out: str | os.PathLike, *, quiet: bool = False) -> list[Path]:
    """Redraws the plots of a finished run in `out` from its files, through its problem's `replot(ctx)`.

    **Returns:**

    The paths of the plots written.

    **Raises:**

    `ConfigError` when `out` holds no finished run, or its problem cannot redraw its plots.
    """
    from ._context import RunContext

    out = Path(out)
    try:
        record = json.loads((out / "metrics.json").read_text())
        name, seed = record["problem"], record["seed"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{out} holds no finished run (no readable metrics.json with problem and seed)") from None
    module = load_problem(name)
    if not hasattr(module, "replot"):
        raise ConfigError(
            f"problem {name} cannot redraw its plots from its files (it has no replot hook); "
            f"rerun it with `sciml run {name}` to draw them"
        )
    from . import _folder

    ctx = RunContext(out=out, seed=seed, quiet=quiet, problem=name)
    with _folder.locked(out):  # no run may be replacing these files meanwhile
        for path in sorted(out.glob("*.npz")):
            try:
                with np.load(path) as arrays:
                    for key in arrays.files:
                        arrays[key]
            except Exception as e:  # zipfile, pickle and format errors alike: name the file
                raise ConfigError(f"cannot redraw the plots: {path} is corrupt ({type(e).__name__}: {e})") from None
        try:
            module.replot(ctx)
        except (OSError, KeyError, ValueError) as e:
            raise ConfigError(f"cannot redraw the plots of {out} from its files ({type(e).__name__}: {e})") from None
    return [out / n for n in ctx.written]
