"""The `sciml` console script: `sciml list`, `sciml run PROBLEM`, `sciml fit DATA`, `sciml predict DIR DATA`."""

import argparse
import importlib.metadata
import sys
from collections.abc import Sequence
from pathlib import Path


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


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return value


_positive_int.__name__ = "positive integer"


def _make_parser() -> _Parser:
    parser = _Parser(prog="sciml", description="Physics-informed scientific ML studies on JAX and Equinox.")
    try:
        version = importlib.metadata.version("sciml")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    parser.add_argument("--version", action="version", version=f"sciml {version}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("list", help="list the problems with one-line descriptions")

    run = commands.add_parser(
        "run",
        help="run a problem end to end",
        description="Run a problem and write metrics.json, predictions.npz, model.eqx and plots to --out.",
    )
    run.add_argument("problem", metavar="PROBLEM", help="a name from `sciml list`")
    run.add_argument("--out", type=Path, default=None, help="output folder (default runs/PROBLEM)")
    run.add_argument("--seed", type=_non_negative_int, default=0, help="seed for data and training (default 0)")
    run.add_argument("--steps", type=_positive_int, default=None, help="override the number of training steps")
    run.add_argument("--quick", action="store_true", help="tiny smoke-test budget (accuracy not meaningful)")
    run.add_argument("--quiet", action="store_true", help="no progress output")
    run.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a Config field (repeatable); lists as 32,64 or [32,64]",
    )

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
    fit.add_argument("--steps", type=_positive_int, default=None, help="override the number of training steps")
    fit.add_argument("--quiet", action="store_true", help="no progress output")
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
    predict.add_argument("--quiet", action="store_true", help="no summary output")
    return parser


def _list() -> int:
    import problems

    names = problems.available()
    width = max(map(len, names), default=0)
    for name in names:
        try:
            description = problems.load(name).DESCRIPTION
        except Exception as e:  # one broken problem must not hide the others
            description = f"(cannot import: {type(e).__name__}: {e})"
        print(f"{name:<{width}}  {description}")
    return 0


def _run(args: argparse.Namespace) -> int:
    import problems

    from .study import ConfigError, run_problem

    try:
        module = problems.load(args.problem)
    except ValueError as e:
        raise _UsageError(f"sciml run: error: {e}") from None
    out = args.out if args.out is not None else Path("runs") / args.problem
    try:
        record = run_problem(
            module,
            name=args.problem,
            out=out,
            seed=args.seed,
            steps=args.steps,
            quick=args.quick,
            quiet=args.quiet,
            resume=args.resume,
            overrides=args.overrides,
        )
    except ConfigError as e:
        raise _UsageError(f"sciml run {args.problem}: error: {e}") from None
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; continue with: sciml run {args.problem} --out {out} --resume (and the same options)",
            file=sys.stderr,
        )
        return 130
    if not args.quiet:
        for key, value in record["metrics"].items():
            if isinstance(value, float):
                print(f"  {key} = {value:.6g}")
            elif isinstance(value, int):
                print(f"  {key} = {value}")
        print(f"done in {record['wall_time_s']:.1f} s; outputs in {out}")
    return 0


def _print_metrics(metrics: dict) -> None:
    for key, value in metrics.items():
        if isinstance(value, float):
            print(f"  {key} = {value:.6g}")
        elif isinstance(value, int) and not isinstance(value, bool):
            print(f"  {key} = {value}")


def _fit(args: argparse.Namespace) -> int:
    from .data import DataError
    from .study import ConfigError, fit_surrogate

    where = f"sciml fit {args.data}"
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
    except (ConfigError, DataError, FileNotFoundError) as e:
        raise _UsageError(f"{where}: error: {_one_line(e)}") from None
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with the same command and --resume (outputs in {args.out})", file=sys.stderr)
        return 130
    if not args.quiet:
        _print_metrics(record["metrics"])
        print(f"done in {record['wall_time_s']:.1f} s; outputs in {args.out}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .data import DataError
    from .surrogate import predict_file

    try:
        summary = predict_file(args.model_dir, args.data, args.out)
    except (DataError, FileNotFoundError, ValueError) as e:
        raise _UsageError(f"sciml predict: error: {_one_line(e)}") from None
    if not args.quiet:
        _print_metrics(summary["metrics"])
        print(f"wrote predictions for {summary['samples']} sample(s) to {summary['file']}")
    return 0


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `sciml` console script.

    **Arguments:**

    - `argv`: the arguments after the program name; default `sys.argv[1:]`.

    **Returns:**

    The exit code: 0 on success, 2 for a usage error (unknown problem, bad `--set`,
    a checkpoint that does not match, a data file that does not follow the
    `sciml.data` layout or does not match the fitted model), 130 when interrupted.
    """
    parser = _make_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
        if args.command == "list":
            return _list()
        if args.command == "fit":
            return _fit(args)
        if args.command == "predict":
            return _predict(args)
        return _run(args)
    except _UsageError as e:
        print(e, file=sys.stderr)
        return 2
    except SystemExit as e:  # --help and --version exit through argparse
        return e.code if isinstance(e.code, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
