"""Gauss-Newton and Levenberg-Marquardt stages on the residual vector, through optimistix."""

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import equinox as eqx
import jax.numpy as jnp
import jax.tree_util as jtu
import lineax as lx
import numpy as np
import optimistix as optx
from jaxtyping import PRNGKeyArray
from tqdm.auto import tqdm

from .._results import RESULTS
from ..train import read_checkpoint, trainable, write_checkpoint
from ._gauss_newton import _Flat, make_solver, objective, ResidualSystem
from ._loss import PINNLoss
from ._model import PINN
from ._problem import RESIDUAL
from ._stage import AbstractStage, check_count, check_flag, check_number, StageOutput


# Solvers of square systems only: the Jacobian of the residuals is `m x P`.
_SQUARE_ONLY = (lx.CG, lx.LU, lx.GMRES, lx.BiCGStab, lx.Triangular, lx.Tridiagonal, lx.Diagonal)


def subset_points(loss: PINNLoss, state: eqx.nn.State, n: int | None) -> eqx.nn.State:
    """A copy of `state` keeping only the first `n` collocation points of the PDE residual.

    **Arguments:**

    - `loss`: the loss the state belongs to.
    - `state`: its state.
    - `n`: how many points to keep (None or more than there are: all).

    **Returns:**

    The state with fewer residual points (a Sobol set's prefix stays well spread).
    """
    current = loss.points(state)
    if n is None or n >= current[RESIDUAL]["x"].shape[0]:
        return state
    full = jtu.tree_leaves(state)
    values = {
        "step": loss.step(state),
        "points": {**current, RESIDUAL: {**current[RESIDUAL], "x": current[RESIDUAL]["x"][:n]}},
        "weights": jnp.stack(list(loss.weights(state).values())),
    }
    leaves = jtu.tree_leaves(values)
    if len(leaves) != len(full):
        raise ValueError("subset_points: the state holds more than this loss's entry")
    return jtu.tree_unflatten(jtu.tree_structure(state), leaves)


class AbstractLeastSquaresStage(AbstractStage):
    """Minimise `|v(theta)|^2` over the trainable parameters, `v` = [`PINNLoss.residuals`][].

    The stage runs on [`PINNLoss.freeze`][] (fixed points and weights), in chunks of
    `chunk` iterations with a checkpoint after each, so a killed run resumes at the last
    chunk boundary and ends where an uninterrupted one ends (each chunk restarts the
    trust radius or line search, deterministically).

    Linear algebra (`linear_solver`, a lineax solver): `lx.Cholesky()` (default) forms
    the Jacobian once per accepted step, one vmapped reverse pass over the points, and
    solves the (damped) normal equations `(J^T J + mu I) dy = -J^T r` by Cholesky for
    every trial; any other lineax solver of least-squares systems is handed to
    optimistix's (damped) Newton descent: `lx.QR()` (more stable, several times
    slower), or the matrix-free `lx.Normal(lx.CG(rtol, atol, max_steps))` for networks
    whose `P x P` Gram matrix does not fit. A dense Jacobian is `m x P` for `m`
    residuals and `P` parameters: keep the network small (a few thousand parameters) or
    subsample the points with `points`.

    Fields besides those of [`sciml.pinn.AbstractStage`][]: `linear_solver`, `chunk`
    (iterations between checkpoints and loss records), `rtol`, `atol` (optimistix's
    Cauchy termination tolerances), `points` (use only the first `points` collocation
    points; None: all). `run` calls `callback(iterations, record)` after every chunk and
    its checkpoint; the record holds `step`, `loss`, `time_s` and the current `model`.
    """

    linear_solver: eqx.AbstractVar[lx.AbstractLinearSolver]
    chunk: eqx.AbstractVar[int]
    rtol: eqx.AbstractVar[float | int]
    atol: eqx.AbstractVar[float | int]
    points: eqx.AbstractVar[int | None]
    damped: eqx.AbstractClassVar[bool]

    def __check_init__(self):
        stage = type(self).__name__
        check_count(stage, "steps", self.steps)
        if not isinstance(self.linear_solver, lx.AbstractLinearSolver):
            raise ValueError(
                f"{stage}: linear_solver must be a lineax solver such as lx.Cholesky() or lx.QR(), "
                f"got {self.linear_solver!r}"
            )
        if isinstance(self.linear_solver, _SQUARE_ONLY):
            raise ValueError(
                f"{stage}: linear_solver {self.linear_solver!r} solves square systems only, but the Jacobian is "
                "m x P; use lx.Cholesky() (normal equations), lx.QR(), or wrap it as lx.Normal(...)"
            )
        check_count(stage, "chunk", self.chunk)
        check_number(stage, "rtol", self.rtol, strict=False)
        check_number(stage, "atol", self.atol, strict=False)
        check_count(stage, "points", self.points, optional=True)
        check_flag(stage, "resample", self.resample)

    def run(
        self,
        model: PINN,
        loss: PINNLoss,
        state: eqx.nn.State,
        *,
        key: PRNGKeyArray | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        resume: bool = False,
        quiet: bool = False,
        log_every: int | None = None,
        callback: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> StageOutput:
        """Runs the solver in checkpointed chunks (see [`sciml.pinn.AbstractStage.run`][];
        `key` and `log_every` are unused: the stage is deterministic and records every chunk).

        **Raises:**

        `ValueError` for a checkpoint of another stage.
        """
        del key, log_every
        loss = loss.freeze()
        # The subset serves this stage only: the next one gets all the points back.
        full_state, state = state, subset_points(loss, state, self.points)
        params, static = eqx.partition(model, trainable(model))
        flat = _Flat(params)
        theta0 = flat.ravel(params)
        system = ResidualSystem(loss, state, static, flat)
        optimiser = make_solver(system, self.damped, self.linear_solver, float(self.rtol), float(self.atol))

        run_meta = {
            "steps": self.steps,
            "solver": self.name,
            "linear_solver": repr(self.linear_solver),
            "chunk": self.chunk,
            "points": self.points,
        }
        done, losses, iterations, code, converged = 0, [], [], "successful", False
        ckpt = None if checkpoint_dir is None else Path(checkpoint_dir)
        if resume and ckpt is not None:
            loaded = read_checkpoint(ckpt, theta0)
            if loaded is not None:
                theta0, meta = loaded
                if meta["run"] != run_meta:
                    raise ValueError(
                        f"the checkpoint in {ckpt} belongs to a different least-squares stage: "
                        f"{meta['run']} != {run_meta}"
                    )
                done, losses, iterations = meta["done"], meta["losses"], meta["iterations"]
                code, converged = meta["result"], meta["converged"]
        bar = tqdm(
            total=self.steps, initial=done, desc=f"pinn {self.name}", disable=quiet, leave=False, dynamic_ncols=True
        )
        t0 = time.perf_counter()
        try:
            # A stage that stopped on a failure stays stopped when resumed.
            while done < self.steps and not converged and code == "successful":
                n = min(self.chunk, self.steps - done)
                sol = optx.least_squares(system, optimiser, theta0, max_steps=n, throw=False)
                taken = int(sol.stats["num_steps"])
                converged = bool(sol.result == optx.RESULTS.successful)
                if not bool(jnp.all(jnp.isfinite(sol.value))):
                    # The last finite parameters are kept.
                    code = "nonfinite"
                    break
                theta0 = sol.value
                done += taken
                stopped = bool(sol.result == optx.RESULTS.nonlinear_max_steps_reached)
                code = "successful" if converged or stopped else _result_name(sol.result)
                losses.append(float(objective(system, theta0)))
                iterations.append(done)
                bar.update(done - bar.n)
                bar.set_postfix(loss=f"{losses[-1]:.3e}")
                if ckpt is not None:
                    meta = {
                        "run": run_meta,
                        "done": done,
                        "losses": losses,
                        "iterations": iterations,
                        "result": code,
                        "converged": converged,
                    }
                    write_checkpoint(ckpt, done, theta0, meta)
                if callback is not None:
                    record = {
                        "step": done,
                        "loss": losses[-1],
                        "time_s": time.perf_counter() - t0,
                        "model": system.model(theta0),
                    }
                    callback(done, record)
                if taken == 0:
                    break
        finally:
            bar.close()
        return StageOutput(
            model=system.model(theta0),
            state=full_state,
            losses=np.asarray(losses),
            iterations=np.asarray(iterations, dtype=int),
            result=getattr(RESULTS, code),
        )


def _result_name(result: optx.RESULTS) -> str:
    # A checkpoint stores the code's name: RESULTS extends optimistix's, so names carry over.
    for name in optx.RESULTS._name_to_item:
        if bool(result == getattr(optx.RESULTS, name)):
            return name
    raise AssertionError(f"unknown optimistix result {result!r}")


class LevenbergMarquardt(AbstractLeastSquaresStage):
    """Levenberg-Marquardt: optimistix's Gauss-Newton loop with its classical trust
    region on the damped step `(J^T J + mu I) dy = -J^T r`, `mu = 1 / radius`.

    See [`sciml.pinn.AbstractLeastSquaresStage`][] for the chunks, checkpoints and linear
    algebra.

    ??? cite

        Levenberg, Q. Appl. Math. 2 (1944); Marquardt, SIAM J. Appl. Math. 11 (1963);
        Nocedal and Wright, *Numerical Optimization*, 2nd ed., chapter 10.

    **Arguments:**

    - `steps`: the maximum number of iterations.
    - `linear_solver`: a lineax solver (default `lx.Cholesky()`: the normal equations).
    - `chunk`: iterations between checkpoints (and loss records).
    - `rtol`, `atol`: optimistix's Cauchy termination tolerances.
    - `points`: use only the first `points` collocation points (None: all).
    - `resample`: redraw the points before the stage.

    **Raises:**

    `ValueError` naming the argument with a bad value.
    """

    name: ClassVar[str] = "lm"
    damped: ClassVar[bool] = True
    steps: int
    linear_solver: lx.AbstractLinearSolver = lx.Cholesky()
    chunk: int = 10
    rtol: float | int = 1e-12
    atol: float | int = 1e-14
    points: int | None = None
    resample: bool = False


class GaussNewton(AbstractLeastSquaresStage):
    """Gauss-Newton: the undamped step `J^T J dy = -J^T r` with optimistix's Armijo
    backtracking line search, which the raw step of an over-parametrised network needs.

    See [`sciml.pinn.AbstractLeastSquaresStage`][] for the chunks, checkpoints and linear
    algebra (with `lx.Cholesky()` a relative jitter keeps the singular Gram matrix
    factorisable).

    ??? cite

        Nocedal and Wright, *Numerical Optimization*, 2nd ed., section 10.3.

    **Arguments:**

    - `steps`: the maximum number of iterations.
    - `linear_solver`: a lineax solver (default `lx.Cholesky()`: the normal equations).
    - `chunk`: iterations between checkpoints (and loss records).
    - `rtol`, `atol`: optimistix's Cauchy termination tolerances.
    - `points`: use only the first `points` collocation points (None: all).
    - `resample`: redraw the points before the stage.

    **Raises:**

    `ValueError` naming the argument with a bad value.
    """

    name: ClassVar[str] = "gauss_newton"
    damped: ClassVar[bool] = False
    steps: int
    linear_solver: lx.AbstractLinearSolver = lx.Cholesky()
    chunk: int = 10
    rtol: float | int = 1e-12
    atol: float | int = 1e-14
    points: int | None = None
    resample: bool = False
