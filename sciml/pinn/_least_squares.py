"""A checkpointed Gauss-Newton / Levenberg-Marquardt stage on the residual vector, through optimistix."""

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import equinox as eqx
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import optimistix as optx
from tqdm.auto import tqdm

from ..train import read_checkpoint, trainable, write_checkpoint
from ._gauss_newton import _Flat, LINEAR_SOLVERS, make_solver, objective, ResidualSystem
from ._loss import PINNLoss
from ._model import PINN
from ._problem import RESIDUAL


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


def least_squares_stage(
    model: PINN,
    loss: PINNLoss,
    state: eqx.nn.State,
    *,
    steps: int,
    solver: Literal["lm", "gauss_newton"] = "lm",
    linear_solver: str = "cholesky",
    chunk: int = 10,
    rtol: float | int = 1e-12,
    atol: float | int = 1e-14,
    cg_steps: int = 200,
    points: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    quiet: bool = False,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
) -> tuple[PINN, dict[str, Any]]:
    """Minimise `|v(theta)|^2` over the trainable parameters, `v` = [`PINNLoss.residuals`][].

    Levenberg-Marquardt (optimistix's Gauss-Newton loop with its classical trust region
    on the damped step) or Gauss-Newton (the undamped step with an Armijo backtracking
    line search, which the raw step of an over-parametrised network needs), run in chunks of
    `chunk` iterations with a checkpoint after each, so a killed run resumes at the last
    chunk boundary and ends where an uninterrupted one ends (each chunk restarts the
    trust radius, deterministically).

    Linear algebra: `"cholesky"` (default) forms the Jacobian once per accepted step, one
    vmapped reverse pass over the points, and solves the damped normal equations
    `(J^T J + mu I) dy = -J^T r` by Cholesky for every trust-region trial; `"qr"` is
    optimistix's damped (or plain) Newton descent with `lineax.QR` (more stable,
    several times slower); `"cg"` is matrix-free (`lineax.Normal(lineax.CG)`), for networks whose `P x P`
    Gram matrix does not fit. A dense Jacobian is `m x P` for `m` residuals and `P`
    parameters: keep the network small (a few thousand parameters) or subsample the
    points with `points`.

    ??? cite

        Levenberg, Q. Appl. Math. 2 (1944); Marquardt, SIAM J. Appl. Math. 11 (1963);
        Nocedal and Wright, *Numerical Optimization*, 2nd ed., chapter 10.

    **Arguments:**

    - `model`, `loss`, `state`: the model, its loss and the loss state (fixed points and
        weights during the stage).
    - `steps`: the maximum number of solver iterations.
    - `solver`: `"lm"` or `"gauss_newton"`.
    - `linear_solver`: `"cholesky"` (normal equations), `"qr"` or `"cg"` (matrix-free).
    - `chunk`: iterations between checkpoints (and loss records).
    - `rtol`, `atol`: optimistix's Cauchy termination tolerances.
    - `cg_steps`: the CG iteration cap of `linear_solver="cg"`.
    - `points`: use only the first `points` collocation points (None: all).
    - `checkpoint_dir`, `resume`, `quiet`: as in [`sciml.train.fit`][].
    - `callback`: `callback(iterations, record)` after every chunk and its checkpoint,
        as in `fit`; the record holds `step`, `loss`, `time_s` and the current `model`
        (e.g. to track an error against a reference).

    **Returns:**

    `(model, info)`, with `info` holding `steps` (iterations run), `losses` (after each
    chunk), `iterations` (the iteration count at each of those), `result` (optimistix's
    message, empty on convergence), `converged` and `time_s`.

    **Raises:**

    `ValueError` for an unknown solver, linear solver or a bad count; for a checkpoint of
    another run.
    """
    if solver not in ("lm", "gauss_newton"):
        raise ValueError(f"least_squares_stage: unknown solver {solver!r}; accepted: 'lm', 'gauss_newton'")
    if linear_solver not in LINEAR_SOLVERS:
        raise ValueError(
            f"least_squares_stage: unknown linear_solver {linear_solver!r}; accepted: {', '.join(LINEAR_SOLVERS)}"
        )
    for name, value in (("steps", steps), ("chunk", chunk), ("cg_steps", cg_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"least_squares_stage: {name} must be a positive int, got {value!r}")
    state = subset_points(loss, state, points)
    params, static = eqx.partition(model, trainable(model))
    flat = _Flat(params)
    theta0 = flat.ravel(params)
    system = ResidualSystem(loss, state, static, flat)
    optimiser = make_solver(system, solver, linear_solver, float(rtol), float(atol), cg_steps)

    run_meta = {"steps": steps, "solver": solver, "linear_solver": linear_solver, "chunk": chunk, "points": points}
    done, losses, iterations, message, converged = 0, [], [], "", False
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir)
    if resume and ckpt is not None:
        loaded = read_checkpoint(ckpt, theta0)
        if loaded is not None:
            theta0, meta = loaded
            if meta["run"] != run_meta:
                raise ValueError(
                    f"the checkpoint in {ckpt} belongs to a different least-squares stage: {meta['run']} != {run_meta}"
                )
            done, losses, message, converged = meta["done"], meta["losses"], meta["result"], meta["converged"]
            iterations = meta["iterations"]
    bar = tqdm(total=steps, initial=done, desc=f"pinn {solver}", disable=quiet, leave=False, dynamic_ncols=True)
    t0 = time.perf_counter()
    try:
        while done < steps and not converged:
            n = min(chunk, steps - done)
            sol = optx.least_squares(system, optimiser, theta0, max_steps=n, throw=False)
            taken = int(sol.stats["num_steps"])
            result = sol.result
            converged = bool(result == optx.RESULTS.successful)
            if not bool(jnp.all(jnp.isfinite(sol.value))):
                message = "the least-squares iterate became non-finite; kept the last finite parameters"
                break
            theta0 = sol.value
            done += taken
            stopped = bool(result == optx.RESULTS.nonlinear_max_steps_reached)
            message = "" if converged or stopped else optx.RESULTS[result]
            losses.append(float(objective(system, theta0)))
            iterations.append(done)
            bar.update(done - bar.n)
            bar.set_postfix(loss=f"{losses[-1]:.3e}")
            if ckpt is not None:
                write_checkpoint(
                    ckpt,
                    done,
                    theta0,
                    {
                        "run": run_meta,
                        "done": done,
                        "losses": losses,
                        "iterations": iterations,
                        "result": message,
                        "converged": converged,
                    },
                )
            if callback is not None:
                record = {
                    "step": done,
                    "loss": losses[-1],
                    "time_s": time.perf_counter() - t0,
                    "model": system.model(theta0),
                }
                callback(done, record)
            if message or taken == 0:
                break
    finally:
        bar.close()
    info = {
        "steps": done,
        "losses": np.asarray(losses),
        "iterations": np.asarray(iterations, dtype=int),
        "result": message,
        "converged": converged,
        "time_s": time.perf_counter() - t0,
    }
    return system.model(theta0), info
