"""The registry of studies run by `sciml run PROBLEM`.

Each problem is a module of this package implementing the protocol checked by
`sciml.study.check_problem`: a module docstring (equations, reference, default budget
and its accuracy, names in `predictions.npz`), a frozen dataclass `Config`, a dict
`QUICK`, a one-line `DESCRIPTION`, `run(config, ctx)` and `main(argv=None)`.

To add a problem, write `problems/<name>.py` and add one line to `_PROBLEMS`. Modules
are imported only when used, so a slow or broken import in one problem never affects
the others.
"""

import importlib
import types


_PROBLEMS: dict[str, str] = {
    "allen_cahn_pinn": "problems.allen_cahn_pinn",
    "burgers_closure": "problems.burgers_closure",
    "burgers_pinn": "problems.burgers_pinn",
    "darcy_surrogate": "problems.darcy_surrogate",
    "diffusion_ensemble": "problems.diffusion_ensemble",
    "ensemble_regression": "problems.ensemble_regression",
    "field_regimes": "problems.field_regimes",
    "heat_inverse": "problems.heat_inverse",
    "lorenz_latent_ode": "problems.lorenz_latent_ode",
    "lotka_volterra_ensemble": "problems.lotka_volterra_ensemble",
    "lotka_volterra_ude": "problems.lotka_volterra_ude",
    "pendulum_hnn": "problems.pendulum_hnn",
    "poisson_pinn": "problems.poisson_pinn",
    "robertson_inverse": "problems.robertson_inverse",
}


def available() -> tuple[str, ...]:
    """The registered problem names, sorted."""
    return tuple(sorted(_PROBLEMS))


def load(name: str) -> types.ModuleType:
    """Imports and returns the module of problem `name`.

    **Raises:**

    `ValueError` naming the available problems when `name` is not registered.
    """
    if name not in _PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; available: {', '.join(available())}")
    return importlib.import_module(_PROBLEMS[name])
