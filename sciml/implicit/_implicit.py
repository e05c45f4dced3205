"""Implicit layers: `z*(x)` with `g(z*, x; theta) = 0`, differentiated by the implicit function theorem."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import lineax as lx
import optimistix as optx
from jaxtyping import Array, Bool, Float, Int, PyTree

from .._results import RESULTS


RootFinder = optx.AbstractRootFinder | optx.AbstractLeastSquaresSolver | optx.AbstractMinimiser


class ImplicitSolution(eqx.Module):
    """What [`sciml.implicit.ImplicitLayer.solve`][] and [`sciml.implicit.DEQ.solve`][] return.

    **Attributes:**

    - `value`: the solution `z*`.
    - `result`: a [`sciml.ode.RESULTS`][] code (optimistix's codes, with their
        messages; see [`sciml.ode.result_message`][]). Under `jax.vmap`, one code per
        sample.
    - `num_steps`: the number of iterations of the forward solve.
    """

    # Leading batch axes appear when `solve` runs under `jax.vmap`.
    value: Float[Array, "..."]
    result: RESULTS
    num_steps: Int[Array, " *batch"]

    @property
    def ok(self) -> Bool[Array, " *batch"]:
        """Whether the forward solve succeeded (per sample under `jax.vmap`)."""
        return self.result == RESULTS.successful


def _call(z: Array, args: PyTree) -> Array:
    fn, x = args
    return fn(z, x)


def _fixed_point_residual(z: Array, args: PyTree) -> Array:
    fn, x = args
    return fn(z, x) - z


def _forward(vjp_arg, z0, fixed_point, solver, linear_solver, max_steps, throw):
    del linear_solver
    # `fixed_point` gives the fixed-point map itself to optimistix, so that its
    # fixed-point solvers (FixedPointIteration) can be used as well as root finders.
    find = optx.fixed_point if fixed_point else optx.root_find
    sol = find(_call, solver, z0, vjp_arg, max_steps=max_steps, throw=False)
    value, result = sol.value, RESULTS.promote(sol.result)
    if throw:
        # Checked here, in the primal computation: the result code leaving the custom
        # VJP carries a (zero) tangent, which the error machinery cannot differentiate.
        value = result.error_if(value, result != RESULTS.successful)
    return value, result, jnp.asarray(sol.stats["num_steps"])


_implicit_solve = eqx.filter_custom_vjp(_forward)


@_implicit_solve.def_fwd
def _implicit_solve_fwd(perturbed, vjp_arg, z0, fixed_point, solver, linear_solver, max_steps, throw):
    del perturbed
    out = _forward(vjp_arg, z0, fixed_point, solver, linear_solver, max_steps, throw)
    return out, out[0]


@_implicit_solve.def_bwd
def _implicit_solve_bwd(z_star, grad_out, perturbed, vjp_arg, z0, fixed_point, solver, linear_solver, max_steps, throw):
    del perturbed, z0, solver, max_steps
    z_bar = grad_out[0]
    if z_bar is None:
        # Only the result code or step count was used: there is nothing to propagate.
        return jtu.tree_map(jnp.zeros_like, eqx.filter(vjp_arg, eqx.is_inexact_array))
    residual = _fixed_point_residual if fixed_point else _call
    # Implicit function theorem (Krantz & Parks 2002, *The Implicit Function Theorem*;
    # Bai, Kolter & Koltun 2019, *Deep Equilibrium Models*, theorem 1): g(z*(p), p) = 0 gives
    # dz*/dp = -(dg/dz)^-1 dg/dp, so p_bar = -(dg/dp)^T lambda with
    # (dg/dz)^T lambda = z_bar. Only g is differentiated, and only at z*: the backward
    # pass is one linear solve and one VJP whatever the forward solver did.
    jacobian = lx.JacobianLinearOperator(residual, z_star, vjp_arg)
    lam = lx.linear_solve(jacobian.transpose(), z_bar, linear_solver, throw=throw).value
    _, vjp = eqx.filter_vjp(lambda p: residual(z_star, p), vjp_arg)
    (p_bar,) = vjp(-lam)
    return p_bar


@eqx.filter_jit
def implicit_solve(
    fn: Callable[[Float[Array, " *z"], Float[Array, " *x"]], Float[Array, " *z"]],
    x: Float[Array, " *x"],
    z0: Float[Array, " *z"],
    *,
    fixed_point: bool,
    solver: RootFinder | optx.AbstractFixedPointSolver,
    linear_solver: lx.AbstractLinearSolver,
    max_steps: int,
    throw: bool,
    name: str = "implicit_solve",
) -> ImplicitSolution:
    """Solve `fn(z, x) = 0` (or `z = fn(z, x)`) with an implicit-function-theorem gradient.

    The engine of [`sciml.implicit.ImplicitLayer`][] and [`sciml.implicit.DEQ`][]. The
    forward pass runs an optimistix solver from `z0`; the reverse pass (a
    `jax.custom_vjp`) solves the adjoint system `(dg/dz)^T lambda = z_bar` at the
    solution with `linear_solver`, and returns `-(dg/d(fn, x))^T lambda`, never
    differentiating the forward iterations. Gradients flow to `x` and to every array in
    `fn` (a pytree such as an `eqx.Module`, or a closure: closed-over arrays are
    hoisted with `eqx.filter_closure_convert`). `z0` gets no gradient. Forward-mode
    differentiation is not supported. The solve is one `eqx.filter_jit` entry point, so
    eager calls with the same `fn` structure compile once.

    **Arguments:**

    - `fn`: the residual `g(z, x)` (`fixed_point=False`) or the map `f(z, x)`
        (`fixed_point=True`), returning an array of `z0`'s shape.
    - `x`: the input.
    - `z0`: the initial guess, also fixing the shape and dtype of `z`.
    - `fixed_point`: whether `fn` is a fixed-point map rather than a residual.
    - `solver`: an optimistix root finder (or least-squares solver / minimiser); with
        `fixed_point=True` also a fixed-point solver.
    - `linear_solver`: the lineax solver of the adjoint system.
    - `max_steps`: the forward solver's step limit.
    - `throw`: raise on failure (the forward solve, or the adjoint solve in the backward
        pass); with `throw=False`, inspect `result` instead.
    - `name`: the caller's name, for error messages.

    **Returns:**

    An [`sciml.implicit.ImplicitSolution`][].

    **Raises:**

    - `ValueError` at trace time when `fn` returns an array of another shape than `z0`.
    - `equinox.EquinoxRuntimeError` when `throw=True` and the forward solve fails.
    """
    out = jax.eval_shape(fn, z0, x)
    if not isinstance(out, jax.ShapeDtypeStruct) or out.shape != z0.shape:
        given = out.shape if isinstance(out, jax.ShapeDtypeStruct) else type(out).__name__
        raise ValueError(f"{name}: fn(z, x) must return an array of z's shape {z0.shape}, got {given}")
    z0 = jax.lax.stop_gradient(z0.astype(out.dtype))
    # Hoisting closed-over arrays into the pytree makes them visible to the custom VJP.
    fn = eqx.filter_closure_convert(fn, z0, x)
    value, result, num_steps = _implicit_solve((fn, x), z0, fixed_point, solver, linear_solver, max_steps, throw)
    return ImplicitSolution(value=value, result=result, num_steps=num_steps)


class ImplicitLayer(eqx.Module):
    """An implicit layer: the output `z*(x)` solves `g(z*, x; theta) = 0`, or `z* = f(z*, x; theta)`.

    The function `fn(z, x)` is any callable pytree returning an array of `z`'s shape,
    typically an `eqx.Module` holding a `sciml.nn` network (its arrays are `theta`): a
    residual `g` by default, or with `fixed_point=True` a map `f` whose fixed point is
    the output, the infinitely deep weight-tied network of Bai, Kolter & Koltun 2019
    (*Deep Equilibrium Models*; build one with [`sciml.implicit.DEQ`][]). The layer is
    called on one sample, batches with `jax.vmap`, and trains inside `sciml.train.fit`
    like any other model. The forward solve is an optimistix root find (Newton by
    default) or fixed-point iteration; the gradient with respect to `x` and `theta` is
    given by the implicit function theorem through one lineax solve of the adjoint
    system `(dg/dz)^T lambda = z_bar` at `z*`, so it is independent of how the forward
    solve got there and costs no memory per iteration (Amos & Kolter 2017, OptNet; Bai
    et al. 2019, theorem 1 and section 3.1).

    ```python
    class Residual(eqx.Module):
        a: Float[Array, " m m"]
        net: sciml.nn.MLP

        def __call__(self, z, x):
            return self.a @ z + jnp.tanh(z) - self.net(x)

    layer = ImplicitLayer(Residual(a, net), z_shape=(m,))
    z = jax.vmap(layer)(xs)
    ```
    """

    fn: Callable[..., Array]
    z_shape: tuple[int, ...] = eqx.field(static=True)
    solver: RootFinder | optx.AbstractFixedPointSolver
    linear_solver: lx.AbstractLinearSolver
    max_steps: int = eqx.field(static=True)
    throw: bool = eqx.field(static=True)
    fixed_point: bool = eqx.field(static=True)

    def __init__(
        self,
        fn: Callable[..., Array],
        z_shape: tuple[int, ...],
        *,
        fixed_point: bool = False,
        solver: RootFinder | optx.AbstractFixedPointSolver = optx.Newton(rtol=1e-6, atol=1e-6),
        linear_solver: lx.AbstractLinearSolver = lx.AutoLinearSolver(well_posed=True),
        max_steps: int = 256,
        throw: bool = True,
    ):
        """**Arguments:**

        - `fn`: the residual `g(z, x)` (or with `fixed_point=True` the map `f(z, x)`),
            returning an array of shape `z_shape`.
        - `z_shape`: the shape of `z` (`()` for a scalar).
        - `fixed_point`: whether `fn` is a fixed-point map rather than a residual.
        - `solver`: an optimistix root finder (or least-squares solver / minimiser),
            applied to `f(z, x) - z` for a fixed-point map, which also accepts an
            optimistix fixed-point solver (e.g. `optx.FixedPointIteration` for a
            contraction). The default Newton's method (with a dense Jacobian) suits
            small `z`; for large `z` use e.g. `optx.Newton(..., linear_solver=lx.GMRES(...))`.
        - `linear_solver`: the lineax solver of the adjoint system in the backward
            pass; the default LU suits small `z`, `lx.GMRES` is matrix-free.
        - `max_steps`: the forward solver's step limit.
        - `throw`: raise when the forward solve fails (the default); with
            `throw=False` use [`ImplicitLayer.solve`][] to read the result codes, e.g.
            under `jax.vmap`, where one raising sample would fail the whole batch.

        **Raises:**

        A `ValueError` for a bad `z_shape`, `max_steps` or negative solver tolerances, or a
        fixed-point solver given for a residual.
        """
        name = "DEQ" if fixed_point else "ImplicitLayer"
        if not fixed_point and isinstance(solver, optx.AbstractFixedPointSolver):
            raise ValueError(
                f"ImplicitLayer: {type(solver).__name__} finds fixed points, but fn is a residual; "
                "pass fixed_point=True (or use sciml.implicit.DEQ) if fn(z, x) is a map whose fixed point you want"
            )
        self.fn = fn
        self.z_shape = _check_layer_args(name, z_shape, max_steps, solver)
        self.solver = solver
        self.linear_solver = linear_solver
        self.max_steps = max_steps
        self.throw = throw
        self.fixed_point = fixed_point

    @property
    def name(self) -> str:
        """`"DEQ"` for a fixed-point layer, `"ImplicitLayer"` otherwise (used in messages)."""
        return "DEQ" if self.fixed_point else "ImplicitLayer"

    def solve(self, x: Float[Array, " *x"], z0: Float[Array, " *z"] | None = None) -> ImplicitSolution:
        """Solve for one sample and return the solution with its result code.

        **Arguments:**

        - `x`: one input.
        - `z0`: the initial guess (default zeros); it gets no gradient.

        **Returns:**

        An [`sciml.implicit.ImplicitSolution`][].

        **Raises:**

        A `ValueError` at trace time for a wrong shape of `z0` or of `fn`'s output; with
        `throw=True`, an `equinox.EquinoxRuntimeError` when the solve fails.
        """
        return implicit_solve(
            self.fn,
            x,
            _initial_guess(self.name, self.z_shape, x, z0),
            fixed_point=self.fixed_point,
            solver=self.solver,
            linear_solver=self.linear_solver,
            max_steps=self.max_steps,
            throw=self.throw,
            name=self.name,
        )

    def __call__(self, x: Float[Array, " *x"], z0: Float[Array, " *z"] | None = None) -> Float[Array, " *z"]:
        """**Arguments:**

        - `x`: one input.
        - `z0`: the initial guess (default zeros); it gets no gradient.

        **Returns:**

        The solution `z*` (with `throw=False`, whatever the solver reached).

        **Raises:**

        As [`ImplicitLayer.solve`][].
        """
        return self.solve(x, z0).value


def DEQ(
    fn: Callable[..., Array],
    z_shape: tuple[int, ...],
    *,
    solver: RootFinder | optx.AbstractFixedPointSolver = optx.Newton(rtol=1e-6, atol=1e-6),
    linear_solver: lx.AbstractLinearSolver = lx.AutoLinearSolver(well_posed=True),
    max_steps: int = 256,
    throw: bool = True,
) -> ImplicitLayer:
    """A deep equilibrium layer: the output `z*(x)` is a fixed point `z* = f(z*, x; theta)`.

    The map `f` is typically an `eqx.Module` holding a `sciml.nn` network, e.g.
    `f(z, x) = tanh(W z + net(x))` (Bai, Kolter & Koltun 2019). This is
    [`ImplicitLayer`][]`(fn, z_shape, fixed_point=True, ...)`; see it for the arguments.
    """
    return ImplicitLayer(
        fn, z_shape, fixed_point=True, solver=solver, linear_solver=linear_solver, max_steps=max_steps, throw=throw
    )


def _check_layer_args(name: str, z_shape: tuple[int, ...], max_steps: int, solver: object = None) -> tuple[int, ...]:
    # optimistix solvers accept negative tolerances without a word (lineax refuses them).
    for attr in ("rtol", "atol"):
        value = getattr(solver, attr, None)
        if isinstance(value, (int, float)) and not value >= 0:
            raise ValueError(f"{name} solver {attr} must be >= 0, got {value!r} (from {type(solver).__name__})")
    if isinstance(z_shape, int) or not all(isinstance(n, int) and n >= 1 for n in z_shape):
        raise ValueError(f"{name} z_shape must be a tuple of positive ints, got {z_shape!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"{name} max_steps must be a positive int, got {max_steps!r}")
    return tuple(z_shape)


def _initial_guess(name: str, z_shape: tuple[int, ...], x: Array, z0: Array | None) -> Array:
    dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.result_type(float)
    if z0 is None:
        return jnp.zeros(z_shape, dtype)
    if z0.shape != z_shape:
        raise ValueError(f"{name} z0 must have shape {z_shape}, got {z0.shape}")
    return z0
