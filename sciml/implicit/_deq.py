"""Deep equilibrium layers: `z* = f(z*, x; theta)`, differentiated by the implicit function theorem."""

from collections.abc import Callable

import equinox as eqx
import lineax as lx
import optimistix as optx
from jaxtyping import Array, Float

from ._implicit import _check_layer_args, _initial_guess, implicit_solve, ImplicitSolution, RootFinder


class DEQ(eqx.Module):
    """A deep equilibrium layer: the output `z*(x)` is a fixed point `z* = f(z*, x; theta)`.

    The map `f` is any callable pytree `fn(z, x) -> z_next`, typically an `eqx.Module`
    holding a `sciml.nn` network, e.g. `f(z, x) = tanh(W z + net(x))`. This is the
    infinitely deep weight-tied network of Bai, Kolter & Koltun 2019 (*Deep Equilibrium
    Models*, NeurIPS): the forward pass finds the equilibrium with an optimistix solver
    (Newton on `z - f(z, x)` by default, or e.g. `optx.FixedPointIteration` for a
    contraction), and the gradient comes from the implicit function theorem (their
    theorem 1) through one lineax solve of `(I - df/dz)^T mu = z_bar` at `z*`: no iteration
    is differentiated or stored. Called on one sample, batched with `jax.vmap`, trained
    through `sciml.train.fit`.
    """

    fn: Callable[..., Array]
    z_shape: tuple[int, ...] = eqx.field(static=True)
    solver: RootFinder | optx.AbstractFixedPointSolver
    linear_solver: lx.AbstractLinearSolver
    max_steps: int = eqx.field(static=True)
    throw: bool = eqx.field(static=True)

    def __init__(
        self,
        fn: Callable[..., Array],
        z_shape: tuple[int, ...],
        *,
        solver: RootFinder | optx.AbstractFixedPointSolver = optx.Newton(rtol=1e-6, atol=1e-6),
        linear_solver: lx.AbstractLinearSolver = lx.AutoLinearSolver(well_posed=True),
        max_steps: int = 256,
        throw: bool = True,
    ):
        """**Arguments:**

        - `fn`: the map `f(z, x)`, returning an array of shape `z_shape`.
        - `z_shape`: the shape of `z` (`()` for a scalar).
        - `solver`: an optimistix fixed-point solver or root finder (applied to
            `f(z, x) - z`). The default Newton's method converges whether or not `f` is
            a contraction, with a dense Jacobian that suits small `z`.
        - `linear_solver`: the lineax solver of the adjoint system in the backward
            pass; the default LU suits small `z`, `lx.GMRES` is matrix-free.
        - `max_steps`: the forward solver's step limit.
        - `throw`: raise when the forward solve fails (the default); with
            `throw=False` use [`DEQ.solve`][] to read the result codes.

        **Raises:**

        A `ValueError` for a bad `z_shape` or `max_steps`, or negative solver tolerances.
        """
        self.fn = fn
        self.z_shape = _check_layer_args("DEQ", z_shape, max_steps, solver)
        self.solver = solver
        self.linear_solver = linear_solver
        self.max_steps = max_steps
        self.throw = throw

    def solve(self, x: Float[Array, " *x"], z0: Float[Array, " *z"] | None = None) -> ImplicitSolution:
        """Find the equilibrium for one sample and return it with its result code.

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
            _initial_guess("DEQ", self.z_shape, x, z0),
            fixed_point=True,
            solver=self.solver,
            linear_solver=self.linear_solver,
            max_steps=self.max_steps,
            throw=self.throw,
            name="DEQ",
        )

    def __call__(self, x: Float[Array, " *x"], z0: Float[Array, " *z"] | None = None) -> Float[Array, " *z"]:
        """**Arguments:**

        - `x`: one input.
        - `z0`: the initial guess (default zeros); it gets no gradient.

        **Returns:**

        The equilibrium `z*` (with `throw=False`, whatever the solver reached).

        **Raises:**

        As [`DEQ.solve`][].
        """
        return self.solve(x, z0).value
