"""`stage_from_config`: the JSON edge of the PINN schedule, names and numbers to stage objects."""

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

import lineax as lx

from ..train import make_optimizer
from ._least_squares import GaussNewton, LevenbergMarquardt
from ._optax_stages import Adam, LBFGS, OptaxStage
from ._stage import AbstractStage, check_count


_STAGES: dict[str, type[AbstractStage]] = {
    "adam": Adam,
    "lbfgs": LBFGS,
    "lm": LevenbergMarquardt,
    "gauss_newton": GaussNewton,
}
# Further optax optimizers, built by `sciml.train.make_optimizer` (which checks their keys).
_OPTAX_NAMES = ("adamw", "sgd")
_LINEAR_SOLVERS = ("cholesky", "qr", "cg")


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _linear_solver(name: Any, cg_steps: int) -> lx.AbstractLinearSolver:
    if name == "cholesky":
        return lx.Cholesky()
    if name == "qr":
        return lx.QR()
    if name == "cg":
        # Matrix-free: each CG iteration is one Jacobian-vector and one vector-Jacobian
        # product, so the Jacobian is never stored (for networks too large for P x P).
        return lx.Normal(lx.CG(rtol=1e-10, atol=1e-12, max_steps=cg_steps))
    raise ValueError(
        f"stage config: unknown linear_solver {name!r}{_did_you_mean(str(name), list(_LINEAR_SOLVERS))}; "
        f"accepted: {', '.join(_LINEAR_SOLVERS)}"
    )


def stage_from_config(config: Mapping[str, Any]) -> AbstractStage:
    """Builds one stage of [`sciml.pinn.train`][] from plain configuration (JSON, `--set`).

    The library takes stage objects; this is the one place where names become them.

    - `{"name": "adam", "steps": n, ...}`: [`sciml.pinn.Adam`][], the other keys its
        arguments; likewise `"lbfgs"` ([`sciml.pinn.LBFGS`][]), `"lm"`
        ([`sciml.pinn.LevenbergMarquardt`][]) and `"gauss_newton"`
        ([`sciml.pinn.GaussNewton`][]), whose `linear_solver` is `"cholesky"` (default),
        `"qr"` or `"cg"` (`lx.Normal(lx.CG(rtol=1e-10, atol=1e-12, max_steps=cg_steps))`,
        `cg_steps` default 200).
    - `{"name": "adamw" | "sgd", "steps": n, ...}`: a [`sciml.pinn.OptaxStage`][] with the
        optimizer [`sciml.train.make_optimizer`][] builds from the other keys, except
        `adaptive` and `resample`.

    **Arguments:**

    - `config`: the mapping.

    **Returns:**

    The stage object.

    **Raises:**

    `ValueError` naming an unknown stage name or key (with the accepted ones), and
    whatever the stage's constructor raises for a bad value.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"stage config must be a mapping like {{'name': 'adam', 'steps': 1000}}, got {config!r}")
    options = dict(config)
    name = options.pop("name", None)
    names = [*_STAGES, *_OPTAX_NAMES]
    if name not in names:
        raise ValueError(
            f"stage config: unknown name {name!r}{_did_you_mean(str(name), names)}; accepted: {', '.join(names)}"
        )
    if name in _OPTAX_NAMES:
        check_count(f"stage config ({name})", "steps", options.get("steps"))
        steps = options.pop("steps")
        flags = {k: options.pop(k) for k in ("adaptive", "resample") if k in options}
        optimizer = make_optimizer({"name": name, **options}, steps=steps)
        return OptaxStage(optimizer, steps, name=name, **flags)
    cls = _STAGES[name]
    accepted = [f.name for f in dataclasses.fields(cls) if f.init]
    if name in ("lm", "gauss_newton"):
        accepted.append("cg_steps")
        if "cg_steps" in options and options.get("linear_solver") != "cg":
            raise ValueError(f"stage config ({name}): cg_steps applies to linear_solver 'cg' only")
        cg_steps = options.pop("cg_steps", 200)
        check_count(f"stage config ({name})", "cg_steps", cg_steps)
        options["linear_solver"] = _linear_solver(options.get("linear_solver", "cholesky"), cg_steps)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        hint = _did_you_mean(unknown[0], accepted)
        raise ValueError(
            f"stage config ({name}): unknown key(s) {unknown}{hint}; accepted: name, {', '.join(sorted(accepted))}"
        )
    return cls(**options)
