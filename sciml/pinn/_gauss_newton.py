"""Gauss-Newton and Levenberg-Marquardt steps on a PINN's residual vector, for optimistix."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import lineax as lx
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float, PyTree

from ._loss import PINNLoss


class _Flat(eqx.Module):
    """Flattens a pytree of arrays to one vector and back, with only static metadata.

    `jax.flatten_util.ravel_pytree` returns a fresh closure each call, which would make
    every least-squares stage compile anew; this compares equal across stages.
    """

    treedef: Any = eqx.field(static=True)
    shapes: tuple[tuple[int, ...], ...] = eqx.field(static=True)

    def __init__(self, tree: PyTree):
        leaves, self.treedef = jtu.tree_flatten(tree)
        self.shapes = tuple(tuple(x.shape) for x in leaves)

    def ravel(self, tree: PyTree) -> Float[Array, " p"]:
        return jnp.concatenate([jnp.ravel(x) for x in jtu.tree_leaves(tree)])

    def unravel(self, theta: Float[Array, " p"]) -> PyTree:
        sizes = [int(np.prod(s)) for s in self.shapes]
        parts = jnp.split(theta, np.cumsum(sizes)[:-1])
        return jtu.tree_unflatten(self.treedef, [jnp.reshape(p, s) for p, s in zip(parts, self.shapes)])


class ResidualSystem(eqx.Module):
    """The residual vector `v(theta)` of a PINN loss over flat parameters, and its Jacobian.

    A module (its points and weights are array fields, not closure constants), so the
    compiled least-squares solve is reused from one stage to the next when only the
    points change.
    """

    loss: PINNLoss
    state: eqx.nn.State
    static: PyTree
    flat: _Flat

    def model(self, theta: Float[Array, " p"]) -> PyTree:
        return eqx.combine(self.flat.unravel(theta), self.static)

    def __call__(self, theta: Float[Array, " p"], args: Any = None) -> Float[Array, " m"]:
        return self.loss.residuals(self.model(theta), self.state)

    def jacobian(self, theta: Float[Array, " p"]) -> Float[Array, " m p"]:
        """`dv/dtheta`, row by row: each residual depends on one point, so the Jacobian is
        one reverse pass per point, vmapped over the points (instead of the `P` forward
        passes over all points that materialising a linearisation takes)."""
        points = self.loss.points(self.state)
        weights = self.loss.weights(self.state)
        rows = []
        for i, name in enumerate(weights):

            def at_point(th, p, i=i, name=name):
                one = {name: jtu.tree_map(lambda a: a[None], p)}
                return self.loss._term_residuals(self.model(th), one, i)[0]

            jac = jax.vmap(jax.jacrev(at_point), in_axes=(None, 0))(theta, points[name])
            scale = jnp.sqrt(weights[name] / jac.shape[0])
            rows.append(jnp.reshape(jac, (-1, theta.shape[0])) * scale)
        return jnp.concatenate(rows)


class _NormalState(eqx.Module):
    gram: Float[Array, " p p"]
    gradient: Float[Array, " p"]


class _NormalEquationsDescent(optx.AbstractDescent):
    """The Gauss-Newton step `(J^T J + mu I) dy = -J^T r` from a stored Gram matrix.

    `optx.DampedNewtonDescent` solves the damped least-squares system afresh at every
    trust-region trial, materialising `J` from `P` Jacobian-vector products each time.
    Here `J` is formed once per accepted point (one vmapped reverse pass over the
    points, see `ResidualSystem.jacobian`) and reduced to the `P x P` Gram matrix, so a trial costs
    one Cholesky factorisation: that is the whole speed-up of the least-squares stage;
    the search, acceptance and termination stay optimistix's.

    `damped=True` (Levenberg-Marquardt): `mu = 1 / step_size`, optimistix's convention
    for trust regions. `damped=False` (Gauss-Newton with a line search): the undamped
    step, scaled by the step size.
    """

    system: ResidualSystem
    damped: bool = eqx.field(static=True)

    def init(self, y, f_info_struct):
        p = y.shape[0]
        return _NormalState(jnp.zeros((p, p), y.dtype), jnp.zeros((p,), y.dtype))

    def query(self, y, f_info, state):
        jac = self.system.jacobian(y)
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


def make_solver(
    system: ResidualSystem,
    damped: bool,
    linear_solver: lx.AbstractLinearSolver,
    rtol: float,
    atol: float,
) -> optx.AbstractLeastSquaresSolver:
    """The optimistix least-squares solver of a stage: Levenberg-Marquardt if `damped`,
    else Gauss-Newton with a line search.

    `lx.Cholesky()` (or `lx.Normal(lx.Cholesky())`) selects the stored-Gram descent
    above; any other lineax solver solves the (damped) least-squares system itself
    (e.g. `lx.QR()`, or the matrix-free `lx.Normal(lx.CG(...))`).
    """
    if is_normal_cholesky(linear_solver):
        descent = _NormalEquationsDescent(system, damped)
    elif damped:
        descent = optx.DampedNewtonDescent(linear_solver=linear_solver)
    else:
        descent = optx.NewtonDescent(linear_solver=linear_solver)
    # The full Gauss-Newton step of an over-parametrised network can be huge: plain
    # Gauss-Newton gets an Armijo backtracking line search, Levenberg-Marquardt a trust region.
    search = optx.ClassicalTrustRegion() if damped else optx.BacktrackingArmijo()
    return _GaussNewtonFamily(rtol, atol, descent, search)


def is_normal_cholesky(linear_solver: lx.AbstractLinearSolver) -> bool:
    """Whether `linear_solver` asks for the normal equations solved by Cholesky."""
    if isinstance(linear_solver, lx.Normal):
        linear_solver = linear_solver.inner_solver
    return isinstance(linear_solver, lx.Cholesky)


@eqx.filter_jit
def objective(system: ResidualSystem, theta: Float[Array, " p"]) -> Float[Array, ""]:
    """`|v(theta)|^2`, the PINN loss at flat parameters."""
    return jnp.sum(system(theta) ** 2)
