"""Regenerate the results tables of `problems/RESULTS.md` and the README from finished runs.

    python -m problems.write_results RUN_DIR ... [--out problems/RESULTS.md] [--readme README.md]

Each `RUN_DIR` is a run folder (`sciml run PROBLEM --out RUN_DIR`) or a folder searched for
them. Only the text between `<!-- generated -->` and `<!-- end generated -->` is replaced;
the hand-written history below it stays. A problem's columns are its module's `HEADLINE` (else every scalar metric),
and a run whose configuration differs from the problem's defaults says how in `settings`.
This lives with the problems, not in `sciml.study`, because it reads the problem modules and
the library never imports a study.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sciml.study import collect_runs, load_problem, problem_names, render_results, render_summary, replace_generated


def write_results(
    run_dirs: Sequence[str | Path],
    out: str | Path = "problems/RESULTS.md",
    readme: str | Path | None = None,
    *,
    include_quick: bool = False,
) -> None:
    """Rewrites the generated sections of `out` (and of `readme`, when given) from the runs.

    **Raises:**

    `ValueError` for a run of an unregistered problem, a headline metric no run reports, or
    a file without the two markers; nothing is written then.
    """
    records = collect_runs(run_dirs, include_quick=include_quick)
    modules = {name: load_problem(name) for name in problem_names()}
    unknown = sorted({r["problem"] for r in records} - set(modules))
    if unknown:
        raise ValueError(f"runs of unregistered problems {unknown}; registered: {', '.join(modules)}")
    headlines = {name: m.HEADLINE for name, m in modules.items() if hasattr(m, "HEADLINE")}
    for name, headline in headlines.items():
        if not (isinstance(headline, tuple) and all(isinstance(h, str) for h in headline)):
            raise TypeError(f"problems.{name}.HEADLINE must be a tuple of metric names, got {headline!r}")
    defaults = {name: m.Config() for name, m in modules.items()}
    descriptions = {name: m.DESCRIPTION for name, m in modules.items()}

    updates = {Path(out): render_results(records, headlines, defaults=defaults)}
    if readme is not None:
        updates[Path(readme)] = render_summary(records, headlines, descriptions, defaults=defaults)
    # Render everything before writing anything, so an error leaves both files as they were.
    texts = {path: replace_generated(path.read_text(), table, name=str(path)) for path, table in updates.items()}
    for path, text in texts.items():
        path.write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m problems.write_results", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders, or folders searched for metrics.json")
    parser.add_argument("--out", default="problems/RESULTS.md", help="the results file (default %(default)s)")
    parser.add_argument("--readme", default=None, help="also rewrite this README's generated table")
    parser.add_argument("--include-quick", action="store_true", help="keep --quick runs (smoke tests only)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    write_results(args.runs, args.out, args.readme, include_quick=args.include_quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
