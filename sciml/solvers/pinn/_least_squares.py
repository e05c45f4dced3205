"""A Gauss-Newton / Levenberg-Marquardt stage on the residual vector, through optimistix."""

import os
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import lineax as lx
import numpy as np
import optimistix as optx
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float
from tqdm.auto import tqdm

from ...train import read_checkpoint, trainable, write_checkpoint
from ._loss import PINNLoss
from ._model import PINN
from ._problem import RESIDUAL


LINEAR_SOLVERS = ("cholesky", "qr", "cg")


class _NormalState(eqx.Module):
    gram: Float[Array, "p p"]
    gradient: Float[Array, " p"]


class _NormalEquationsDescent(optx.AbstractDescent):
    """The Gauss-Newton step `(J^T J + mu I) dy = -J^T r` from a stored Gram matrix.

    `optx.DampedNewtonDescent` solves the damped least-squares system afresh at every
    trust-region trial, materialising `J` from `P` Jacobian-vector products each time.
    Here `J` is formed once per accepted point (one vmapped reverse pass over the
    points, see `_functions`) and reduced to the `P x P` Gram matrix, so a trial costs
    one Cholesky factorisation: that is the whole speed-up of the least-squares stage;
    the search, acceptance and termination stay optimistix's.

    `damped=True` (Levenberg-Marquardt): `mu = 1 / step_size`, optimistix's convention
    for trust regions. `damped=False` (Gauss-Newton with a line search): the undamped
    step, scaled by the step size.
    """

    jacobian: Callable = eqx.field(static=True)
    damped: bool = eqx.field(static=True)

    def init(self, y, f_info_struct):
        p = y.shape[0]
        return _NormalState(jnp.zeros((p, p), y.dtype), jnp.zeros((p,), y.dtype))

    def query(self, y, f_info, state):
        jac = self.jacobian(y)
        return _NormalState(jac.T @ jac, jac.T @ f_info.residual)

    def step(self, step_size, state):
        tiny = jnp.finfo(state.gram.dtype).eps
        scale = jnp.trace(state.gram) / state.gram.shape[0]
        if self.damped:
            safe = jnp.where(step_size > tiny, step_size, 1)
            damping = jnp.where(step_size > tiny, 1 / safe, 1 / tiny)
        else:
            damping = jnp.zeros((), state.gram.dtype)
        # A relative jitter keeps the factorisation defined when J^T J is singular (an
        # over-parametrised network always has a null space).
        eye = jnp.eye(state.gram.shape[0], dtype=state.gram.dtype)
        factor = jax.scipy.linalg.cho_factor(state.gram + (damping + tiny * scale) * eye)
        diff = -jax.scipy.linalg.cho_solve(factor, state.gradient)
        if not self.damped:
            diff = step_size * diff
        ok = jnp.all(jnp.isfinite(diff))
        return jnp.where(ok, diff, 0), optx.RESULTS.where(ok, optx.RESULTS.successful, optx.RESULTS.nonfinite)


class _GaussNewtonFamily(optx.AbstractGaussNewton):
    """optimistix's Gauss-Newton loop with a chosen descent and search."""

    rtol: float
    atol: float
    norm: Callable
    descent: optx.AbstractDescent
    search: optx.AbstractSearch
    verbose: Callable

    def __init__(self, rtol: float, atol: float, descent: optx.AbstractDescent, search: optx.AbstractSearch):
        self.rtol = rtol
        self.atol = atol
        self.norm = optx.max_norm
        self.descent = descent
        self.search = search
        self.verbose = _silent


def _silent(**kwargs: Any) -> None:
    del kwargs


def _lineax_solver(name: str, cg_steps: int) -> lx.AbstractLinearSolver:
    if name == "cholesky":
        return lx.Normal(lx.Cholesky())
    if name == "qr":
        return lx.QR()
    # Matrix-free: each CG iteration is one Jacobian-vector and one vector-Jacobian
    # product, so the Jacobian is never stored (for networks too large for P x P).
    return lx.Normal(lx.CG(rtol=1e-10, atol=1e-12, max_steps=cg_steps))


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


def _functions(loss: PINNLoss, state: eqx.nn.State, static, unravel) -> tuple[Callable, Callable]:
    """`v(theta, args)` for optimistix and its Jacobian `theta -> dv/dtheta`, row by row.

    Each residual depends on one point, so the whole Jacobian is one reverse pass per
    point, vmapped over the points: far cheaper than the `P` forward passes over every
    point that materialising a linearisation takes.
    """
    points = loss.points(state)
    weights = loss.weights(state)
    names = list(weights)

    def model_of(theta):
        return eqx.combine(unravel(theta), static)

    def jacobian(theta: Float[Array, " p"]) -> Float[Array, "m p"]:
        rows = []
        for i, name in enumerate(names):
            def at_point(th, p, i=i, name=name):
                one = {name: jtu.tree_map(lambda a: a[None], p)}
                return loss._term_residuals(model_of(th), one, i)[0]

            jac = jax.vmap(jax.jacrev(at_point), in_axes=(None, 0))(theta, points[name])
            scale = jnp.sqrt(weights[name] / jac.shape[0])
            rows.append(jnp.reshape(jac, (-1, theta.shape[0])) * scale)
        return jnp.concatenate(rows)

    def fn(theta: Float[Array, " p"], args: None) -> Float[Array, " m"]:
        return loss.residuals(model_of(theta), state)

    return fn, jacobian


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
    chunk), `result` (optimistix's message, empty on convergence) and `converged`.

    **Raises:**

    `ValueError` for an unknown solver, linear solver or a bad count; for a checkpoint of
    another run.
    """
    if solver not in ("lm", "gauss_newton"):
        raise ValueError(f"least_squares_stage: unknown solver {solver!r}; accepted: 'lm', 'gauss_newton'")
    if linear_solver not in LINEAR_SOLVERS:
        raise ValueError(f"least_squares_stage: unknown linear_solver {linear_solver!r}; accepted: {', '.join(LINEAR_SOLVERS)}")
    for name, value in (("steps", steps), ("chunk", chunk), ("cg_steps", cg_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"least_squares_stage: {name} must be a positive int, got {value!r}")
    state = subset_points(loss, state, points)
    params, static = eqx.partition(model, trainable(model))
    theta0, unravel = ravel_pytree(params)
    fn, jacobian = _functions(loss, state, static, unravel)
    damped = solver == "lm"
    if linear_solver == "cholesky":
        descent = _NormalEquationsDescent(jacobian, damped)
    elif damped:
        descent = optx.DampedNewtonDescent(linear_solver=_lineax_solver(linear_solver, cg_steps))
    else:
        descent = optx.NewtonDescent(linear_solver=_lineax_solver(linear_solver, cg_steps))
    # The full Gauss-Newton step of an over-parametrised network can be huge: plain
    # Gauss-Newton gets an Armijo backtracking line search, Levenberg-Marquardt a trust region.
    search = optx.ClassicalTrustRegion() if damped else optx.BacktrackingArmijo()
    optimiser = _GaussNewtonFamily(rtol, atol, descent, search)

    @eqx.filter_jit
    def objective(theta):
        return jnp.sum(fn(theta, None) ** 2)

    run_meta = {"steps": steps, "solver": solver, "linear_solver": linear_solver, "chunk": chunk, "points": points}
    done, losses, message, converged = 0, [], "", False
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
    bar = tqdm(total=steps, initial=done, desc=f"pinn {solver}", disable=quiet, leave=False, dynamic_ncols=True)
    t0 = time.perf_counter()
    try:
        while done < steps and not converged:
            n = min(chunk, steps - done)
            sol = optx.least_squares(fn, optimiser, theta0, max_steps=n, throw=False)
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
            losses.append(float(objective(theta0)))
            bar.update(done - bar.n)
            bar.set_postfix(loss=f"{losses[-1]:.3e}")
            if ckpt is not None:
                write_checkpoint(
                    ckpt, done, theta0,
                    {"run": run_meta, "done": done, "losses": losses, "result": message, "converged": converged},
                )
            if callback is not None:
                record = {"step": done, "loss": losses[-1], "time_s": time.perf_counter() - t0,
                          "model": eqx.combine(unravel(theta0), static)}
                callback(done, record)
            if message or taken == 0:
                break
    finally:
        bar.close()
    info = {
        "steps": done,
        "losses": np.asarray(losses),
        "result": message,
        "converged": converged,
        "time_s": time.perf_counter() - t0,
    }
    return eqx.combine(unravel(theta0), static), info
