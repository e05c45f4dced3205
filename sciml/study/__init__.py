"""The study harness: run a problem module end to end and write its outputs."""

from .._config import (
    accepted_keys as accepted_keys,
    build_config as build_config,
    ConfigError as ConfigError,
    parse_overrides as parse_overrides,
)
from ._context import RunContext as RunContext
from ._fit_command import fit_surrogate as fit_surrogate
from ._main import compilation_cache_dir as compilation_cache_dir, main as main, replot as replot
from ._plots import (
    plot_history as plot_history,
    plot_space_time as plot_space_time,
    plot_time_slices as plot_time_slices,
)
from ._precision import precision as precision
from ._predict import predict_batched as predict_batched
from ._registry import load_problem as load_problem, problem_names as problem_names
from ._results import (
    collect_runs as collect_runs,
    format_value as format_value,
    GENERATED_END as GENERATED_END,
    GENERATED_START as GENERATED_START,
    render_results as render_results,
    render_summary as render_summary,
    replace_generated as replace_generated,
)
from ._run import check_problem as check_problem, run_problem as run_problem
