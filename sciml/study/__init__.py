"""The study harness: run a problem module end to end and write its outputs."""

from .._config import (
    accepted_keys as accepted_keys,
    build_config as build_config,
    ConfigError as ConfigError,
    parse_overrides as parse_overrides,
)
from ._context import RunContext as RunContext
from ._fit_command import fit_surrogate as fit_surrogate
from ._plots import (
    plot_history as plot_history,
    plot_space_time as plot_space_time,
    plot_time_slices as plot_time_slices,
)
from ._run import check_problem as check_problem, run_problem as run_problem
