"""The results tables: collect the `metrics.json` of finished runs and render them as Markdown.

`problems/RESULTS.md` and the README's table are written from these records, between the
markers [`GENERATED_START`][] and [`GENERATED_END`][], so neither can disagree with what the
runs wrote.
"""

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._config import config_to_dict


GENERATED_START = "<!-- generated -->"
GENERATED_END = "<!-- end generated -->"
_REQUIRED = ("problem", "seed", "steps", "wall_time_s", "metrics")


def collect_runs(roots: Iterable[str | Path], *, include_quick: bool = False) -> list[dict[str, Any]]:
    """Loads the `metrics.json` of every finished run under the given folders.

    A run folder holds `metrics.json` only once the run has finished, so an interrupted
    run is never counted. `--quick` runs (`"quick": true`) are skipped unless
    `include_quick`: their figures are smoke tests, not results.

    **Arguments:**

    - `roots`: run folders, or folders searched recursively for `metrics.json`.
    - `include_quick`: keep `--quick` runs too.

    **Returns:**

    The records, each with an added `"path"` (the file it came from), ordered by problem,
    seed and path.

    **Raises:**

    `FileNotFoundError` for a missing folder; `ValueError` naming the file when a record
    is not valid JSON or lacks one of `problem`, `seed`, `steps`, `wall_time_s`, `metrics`.
    """
    records = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"run folder {root} does not exist")
        files = [root] if root.is_file() else sorted(root.rglob("metrics.json"))
        for path in files:
            try:
                record = json.loads(path.read_text())
            except json.JSONDecodeError as error:
                raise ValueError(f"{path} is not valid JSON ({error}); rerun that problem or remove the file") from None
            missing = [k for k in _REQUIRED if k not in record] if isinstance(record, dict) else list(_REQUIRED)
            if missing:
                raise ValueError(f"{path} is not a run record: it lacks {', '.join(missing)}")
            if record.get("quick") and not include_quick:
                continue
            records.append({**record, "path": str(path)})
    return sorted(records, key=lambda r: (r["problem"], r["seed"], r["path"]))


def format_value(value: Any) -> str:
    """One metric as table text: 3 significant digits, lists joined by ` / `, dicts as `key value, ...`.

    `None` (what `metrics.json` holds for a non-finite value) reads `non-finite`.
    """
    if value is None:
        return "non-finite"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}" if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return " / ".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items())
    return str(value).replace("|", "\\|").replace("\n", " ")


def _settings(record: Mapping[str, Any], default_config: Any) -> str:
    """The configuration keys a run changed from the problem's default `Config()`."""
    defaults = config_to_dict(default_config)
    config = record.get("config", {})
    changed = [f"{k}={format_value(config[k])}" for k in sorted(config) if defaults.get(k) != config[k]]
    return ", ".join(changed) if changed else "default"


def _check_headline(problem: str, headline: Sequence[str], records: Sequence[Mapping[str, Any]]) -> None:
    unknown = [m for m in headline if not any(m in r["metrics"] for r in records)]
    if unknown:
        raise ValueError(
            f"{problem}: headline metric(s) {', '.join(unknown)} appear in none of its runs "
            f"({', '.join(sorted(records[0]['metrics']))}); fix the problem's HEADLINE"
        )


def _headline_for(
    problem: str, headlines: Mapping[str, Sequence[str]], runs: Sequence[Mapping[str, Any]]
) -> Sequence[str]:
    """The problem's declared headline, else every scalar metric its runs report, in record order."""
    if problem in headlines:
        return headlines[problem]
    names: dict[str, None] = {}
    for r in runs:
        names.update({k: None for k, v in r["metrics"].items() if v is None or isinstance(v, int | float | str)})
    return tuple(names)


def render_results(
    records: Sequence[Mapping[str, Any]],
    headlines: Mapping[str, Sequence[str]],
    *,
    defaults: Mapping[str, Any] | None = None,
) -> str:
    """One Markdown table per problem: a row per run, a column per headline metric.

    **Arguments:**

    - `records`: run records as [`collect_runs`][] returns them.
    - `headlines`: per problem, the names of the metrics to show; a problem without one
        shows every scalar metric of its runs.
    - `defaults`: per problem, its default configuration (the dataclass instance
        `Config()`); when given, a `settings` column lists what each run changed from it
        (`default` when nothing), so a shortened or altered budget is never mistaken for
        the default one.

    **Returns:**

    The Markdown text (a line saying no runs were found when `records` is empty).

    **Raises:**

    `ValueError` for a headline metric none of the problem's runs report.
    """
    if not records:
        return "No finished run records were given.\n"
    blocks = []
    for problem in sorted({r["problem"] for r in records}):
        runs = [r for r in records if r["problem"] == problem]
        headline = _headline_for(problem, headlines, runs)
        _check_headline(problem, headline, runs)
        problem_defaults = None if defaults is None else defaults.get(problem)
        header = ["seed", "steps", *(f"`{m}`" for m in headline), "wall time (s)", "sciml"]
        if problem_defaults is not None:
            header.insert(2, "settings")
        lines = [f"### {problem}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in runs:
            cells = [str(r["seed"]), format_value(r["steps"])]
            if problem_defaults is not None:
                cells.append(_settings(r, problem_defaults))
            cells += [format_value(r["metrics"][m]) if m in r["metrics"] else "—" for m in headline]
            cells += [f"{r['wall_time_s']:.0f}", str(r.get("versions", {}).get("sciml", "—"))]
            lines.append("| " + " | ".join(cells) + " |")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def render_summary(
    records: Sequence[Mapping[str, Any]],
    headlines: Mapping[str, Sequence[str]],
    descriptions: Mapping[str, str],
    *,
    defaults: Mapping[str, Any] | None = None,
) -> str:
    """The README's table: one row per problem, its description and headline metrics over seeds.

    Every problem of `descriptions` gets a row; a problem without records says so. Values of
    several runs are listed in seed order, `a / b / c (seeds 0, 1, 2)`. With `defaults` (as
    in [`render_results`][]) only runs at the default configuration are listed, and the
    others are counted, so a shortened budget never passes for the default one.

    **Raises:**

    `ValueError` as [`render_results`][].
    """
    lines = ["| problem | what it does | measured at the default budget |", "|---|---|---|"]
    for problem in sorted(descriptions):
        runs = [r for r in records if r["problem"] == problem]
        others = 0
        if defaults is not None and problem in defaults:
            kept = [r for r in runs if _settings(r, defaults[problem]) == "default"]
            runs, others = kept, len(runs) - len(kept)
        if runs:
            headline = _headline_for(problem, headlines, runs)
            _check_headline(problem, headline, runs)
            parts = [
                f"`{m}` " + " / ".join(format_value(r["metrics"][m]) if m in r["metrics"] else "—" for r in runs)
                for m in headline
            ]
            seeds = ", ".join(str(r["seed"]) for r in runs)
            measured = "; ".join(parts) + f" (seed{'s' if len(runs) > 1 else ''} {seeds})"
        else:
            measured = "no run recorded yet"
        if others:
            measured += f"; {others} run{'s' if others > 1 else ''} with other settings in RESULTS.md"
        description = descriptions[problem].replace("|", "\\|")
        lines.append(f"| `{problem}` | {description} | {measured} |")
    return "\n".join(lines) + "\n"


def replace_generated(text: str, generated: str, *, name: str = "the file") -> str:
    """Replaces what lies between [`GENERATED_START`][] and [`GENERATED_END`][] in `text`.

    **Raises:**

    `ValueError` naming `name` unless each marker occurs exactly once, start before end.
    """
    starts, ends = text.count(GENERATED_START), text.count(GENERATED_END)
    if starts != 1 or ends != 1 or text.index(GENERATED_START) > text.index(GENERATED_END):
        raise ValueError(
            f"{name} must contain {GENERATED_START!r} once, followed by {GENERATED_END!r} once "
            f"(found {starts} and {ends}); add the two lines where the generated tables belong"
        )
    head, rest = text.split(GENERATED_START)
    _, tail = rest.split(GENERATED_END)
    return f"{head}{GENERATED_START}\n{generated.rstrip()}\n{GENERATED_END}{tail}"
