"""The `sciml` console script: `list`, `show`, `run`, `replot`, `fit`, `predict`.

Problems are found through the `sciml.problems` entry-point group and imported only to
run them: `sciml --help`, `sciml list` and `sciml show` read the problems' source files
(`DESCRIPTION` and the module docstring) without importing them or JAX.
"""

import argparse
import ast
import difflib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from ._config import positive_int


_GROUP = "sciml.problems"  # as sciml.study's registry


class _UsageError(Exception):
    """A command-line mistake, reported as one line on stderr with exit code 2."""


class _Parser(argparse.ArgumentParser):
    # argparse's default prints the whole usage block and calls sys.exit; one line is
    # easier to read in CI logs, and raising lets `main` return a code when called
    # in-process (tests, problem modules' own `main`).
    def error(self, message: str):
        raise _UsageError(f"{self.prog}: error: {message}")


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


_non_negative_int.__name__ = "non-negative integer"  # argparse names the type in its error


def _make_parser() -> _Parser:
    parser = _Parser(prog="sciml", description="Physics-informed scientific ML studies on JAX and Equinox.")
    try:
        version = importlib.metadata.version("sciml")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    parser.add_argument("--version", action="version", version=f"sciml {version}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("list", help="list the problems with one-line descriptions")
    show = commands.add_parser("show", help="print a problem's description (equations, reference, budget, outputs)")
    show.add_argument("problem", metavar="PROBLEM", help="a name from `sciml list`")
    # `sciml run` is parsed by sciml.study.main (shared with `python -m problems.NAME`); this
    # entry only documents it here.
    commands.add_parser(
        "run",
        help="run a problem end to end (`sciml run PROBLEM --help`: options, config keys, outputs)",
        add_help=False,
    )
    replot = commands.add_parser("replot", help="redraw the plots of a finished run from its files")
    replot.add_argument("out", metavar="DIR", type=Path, help="the --out folder of a finished `sciml run`")
    replot.add_argument("--quiet", action="store_true", help="do not list the plots written")
    replot.add_argument("--debug", action="store_true", help="show the Python traceback of an error")

    fit = commands.add_parser(
        "fit",
        help="fit a surrogate to a .npz / .h5 data file",
        description="Fit a field-to-field surrogate to a data file in the sciml.data layout and write "
        "model.eqx, model.json, metrics.json, predictions.npz and plots to --out.",
    )
    fit.add_argument(
        "data", metavar="DATA", type=Path, help="a .npz or .h5 file (layout: python -c 'help(\"sciml.data\")')"
    )
    fit.add_argument("--model", required=True, metavar="NAME", help="fno, resnet (variant field), mlp or transformer")
    fit.add_argument("--out", type=Path, required=True, help="output folder")
    fit.add_argument(
        "--seed", type=_non_negative_int, default=0, help="seed for split, initialisation and batches (default 0)"
    )
    fit.add_argument("--steps", type=positive_int, default=None, help="override the number of training steps")
    fit.add_argument("--quiet", action="store_true", help="no progress output")
    fit.add_argument("--no-cache", action="store_true", help="do not use JAX's persistent compilation cache")
    fit.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    fit.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    fit.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a training setting (steps, batch_size, learning_rate, window, ...) "
        "or a model setting (width, modes, ...)",
    )

    predict = commands.add_parser(
        "predict",
        help="predict with a fitted surrogate",
        description="Load the surrogate that `sciml fit` wrote to DIR and write its predictions for DATA.",
    )
    predict.add_argument("model_dir", metavar="DIR", type=Path, help="the --out folder of `sciml fit`")
    predict.add_argument(
        "data", metavar="DATA", type=Path, help="a data file with the layout, grid and channels trained on"
    )
    predict.add_argument("--out", type=Path, required=True, metavar="FILE", help="the .npz file to write")
    predict.add_argument(
        "--force", action="store_true", help="replace an existing --out file that sciml predict did not write"
    )
    predict.add_argument("--quiet", action="store_true", help="no summary output")
    predict.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    return parser


def _problems() -> dict[str, str]:
    """Problem name -> module name, from the entry points (nothing imported)."""
    return {ep.name: ep.value.split(":")[0] for ep in importlib.metadata.entry_points(group=_GROUP)}


def _check_name(name: str, where: str) -> str:
    problems = _problems()
    if name not in problems:
        close = difflib.get_close_matches(name, list(problems), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise _UsageError(f"{where}: error: unknown problem {name!r}{hint} (available: {', '.join(sorted(problems))})")
    return problems[name]


def _read_source(module_name: str) -> tuple[str, str]:
    """`(docstring, DESCRIPTION)` of a module, read from its source without importing it."""
    if module_name in sys.modules:  # already imported (or defined without a file): nothing to save
        module = sys.modules[module_name]
        return module.__doc__ or "", getattr(module, "DESCRIPTION", "")
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ImportError(f"no source file for module {module_name}")
    tree = ast.parse(Path(spec.origin).read_text(), filename=spec.origin)
    description = ""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "DESCRIPTION" for t in node.targets
        ):
            description = ast.literal_eval(node.value)
    return ast.get_docstring(tree) or "", description


def _list() -> int:
    problems = _problems()
    width = max(map(len, problems), default=0)
    for name in sorted(problems):
        try:
            description = _read_source(problems[name])[1] or "(no DESCRIPTION)"
        except Exception as e:  # one broken problem must not hide the others
            description = f"(cannot read: {type(e).__name__}: {e})"
        print(f"{name:<{width}}  {description}")
    return 0


def _show(name: str) -> int:
    module_name = _check_name(name, "sciml show")
    try:
        doc, description = _read_source(module_name)
    except Exception as e:
        raise _UsageError(f"sciml show: error: cannot read problem {name} ({module_name}): {e}") from None
    print(f"{name}: {description}\n\n{doc}\n\noptions, config keys and outputs: sciml run {name} --help")
    return 0


def _run(argv: list[str]) -> int:
    """`sciml run [options] PROBLEM [options]`: find PROBLEM, hand the rest to sciml.study.main."""
    with_value = {"--out", "--seed", "--steps", "--set"}
    position, i = None, 0
    while i < len(argv):
        if argv[i] in with_value:
            i += 2
            continue
        if not argv[i].startswith("-"):
            position = i
            break
        i += 1
    if position is None:
        if {"-h", "--help"} & set(argv):
            print(
                "usage: sciml run PROBLEM [--out DIR] [--seed N] [--steps N] [--quick] [--quiet] [--resume]\n"
                "                 [--set KEY=VALUE ...] [--no-cache] [--debug]\n\n"
                f"PROBLEM is one of: {', '.join(sorted(_problems()))}\n"
                "`sciml run PROBLEM --help` lists the options, the problem's config keys and its outputs."
            )
            return 0
        raise _UsageError("sciml run: error: the following arguments are required: PROBLEM (see `sciml list`)")
    name = argv[position]
    _check_name(name, "sciml run")
    from .study import main as run_main

    return run_main(name, argv[:position] + argv[position + 1 :], prog=f"sciml run {name}")


def _replot(args: argparse.Namespace) -> int:
    from .study import replot
    from .study._main import report_errors

    def go() -> int:
        written = replot(args.out, quiet=args.quiet)
        if not args.quiet:
            print(f"redrew {', '.join(p.name for p in written)} in {args.out}")
        return 0

    return report_errors(go, where=f"sciml replot {args.out}", debug=args.debug)


def _fit(args: argparse.Namespace) -> int:
    from .data import DataError
    from .study import ConfigError, fit_surrogate
    from .study._main import enable_compilation_cache, print_metrics, report_errors
    from .train import CheckpointError

    def go() -> int:
        enable_compilation_cache(args.no_cache)
        try:
            record = fit_surrogate(
                args.data,
                model=args.model,
                out=args.out,
                seed=args.seed,
                steps=args.steps,
                quiet=args.quiet,
                resume=args.resume,
                overrides=args.overrides,
            )
        except (DataError, FileNotFoundError, CheckpointError) as e:
            raise ConfigError(str(e)) from None
        print_metrics(record["metrics"])
        print(f"done in {record['wall_time_s']:.1f} s; outputs in {args.out}")
        return 0

    hint = f"; continue with the same command and --resume (outputs in {args.out})"
    return report_errors(go, where=f"sciml fit {args.data}", debug=args.debug, resume_hint=hint)


def _predict(args: argparse.Namespace) -> int:
    from .data import DataError
    from .study import ConfigError
    from .study._main import print_metrics, report_errors
    from .surrogate import predict_file

    def go() -> int:
        try:
            summary = predict_file(args.model_dir, args.data, args.out, force=args.force)
        except (DataError, FileNotFoundError, ValueError) as e:
            raise ConfigError(str(e)) from None
        if not args.quiet:
            print_metrics(summary["metrics"])
            print(f"wrote predictions for {summary['samples']} sample(s) to {summary['file']}")
        return 0

    return report_errors(go, where="sciml predict", debug=args.debug)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sciml` console script.

    **Arguments:**

    - `argv`: the arguments after the program name; default `sys.argv[1:]`.

    **Returns:**

    The exit code: 0 on success, 2 for a usage or input error (unknown problem, bad
    `--set`, an unusable `--out`, a refused `--resume`, a data file that does not follow
    the `sciml.data` layout), 1 for a run that failed, 130 when interrupted. No traceback
    is printed unless `--debug` is given.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv[:1] == ["run"]:
            return _run(argv[1:])
        args = _make_parser().parse_args(argv)
        if args.command == "list":
            return _list()
        if args.command == "show":
            return _show(args.problem)
        if args.command == "replot":
            return _replot(args)
        if args.command == "fit":
            return _fit(args)
        return _predict(args)
    except _UsageError as e:
        print(e, file=sys.stderr)
        return 2
    except SystemExit as e:  # --help and --version exit through argparse
        return e.code if isinstance(e.code, int) else 0
    except BrokenPipeError:
        # `sciml list | head`: the reader left; say nothing more, as Unix tools do.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
