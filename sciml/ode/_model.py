"""`ODEModel`: a trainable right-hand side plus its integration settings."""

from collections.abc import Callable
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PyTree, Real

from .._results import RESULTS
from ._solution import ODESolution


class ODESolveError(RuntimeError):
    """An ODE solve failed (`throw=True`); the message says which model and time span."""


def _is_traced(*trees: PyTree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jtu.tree_leaves(trees))


def _describe_span(ts: np.ndarray) -> str:
    ts = np.asarray(ts)
    if ts.ndim == 1:
        return f"t in [{ts[0]:.6g}, {ts[-1]:.6g}] ({ts.size} save times)"
    return f"t in [{ts[:, 0].min():.6g}, {ts[:, -1].max():.6g}] ({ts.shape[-1]} save times per trajectory)"


class ODEModel(eqx.Module):
    """`dy/dt = f(t, y, args)` with a trainable `f` and the settings that integrate it.

    The model is the problem (the vector field, whose floating-point arrays are the
    parameters that `sciml.train.fit` trains) together with the strategy objects of
    `diffrax.diffeqsolve`: solver, step-size controller and adjoint, each an object with
    a sensible default instance. Those hold no arrays, so training never touches them.

    `model(ts, y0)` returns the states at the save times `ts`, integrating from
    `ts[0]` to `ts[-1]`; `model.solve(ts, y0)` returns an [`sciml.ode.ODESolution`][]
    with result codes, and `model.solve_batch(ts, y0s)` vmaps over initial conditions
    (and over per-trajectory time grids).

    Choosing the strategies:

    - stiff systems: an implicit solver (`diffrax.Kvaerno5()`, `diffrax.Kvaerno3()`)
        with a `diffrax.PIDController`;
    - constant steps: `stepsize_controller=diffrax.ConstantStepSize()` and `dt0`;
    - memory: `diffrax.RecursiveCheckpointAdjoint()` (default) differentiates the
        discretised solve exactly, keeping about `log(max_steps)` checkpoints of the
        state and recomputing between them (`O(n log n)` time in the `n` steps taken);
        `diffrax.BacksolveAdjoint()` integrates the continuous adjoint backwards in
        constant memory, but its gradients are only approximate (they differ from the
        exact gradient of the computed solution by the solver's tolerance, and they can
        be badly wrong for chaotic or stiff systems, whose backward solve is unstable);
        `diffrax.ForwardMode()` for `jax.jvp` / `jax.jacfwd` (reverse mode is then
        unavailable).

    **Reference:** Kidger, "On neural differential equations", PhD thesis, 2021 (the
    design of diffrax and its adjoints).
    """

    vector_field: Any
    solver: diffrax.AbstractSolver
    stepsize_controller: diffrax.AbstractStepSizeController
    adjoint: diffrax.AbstractAdjoint
    dt0: float | None = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(
        self,
        vector_field: Callable[[Any, Any, Any], Any],
        solver: diffrax.AbstractSolver = diffrax.Tsit5(),
        stepsize_controller: diffrax.AbstractStepSizeController = diffrax.PIDController(rtol=1e-3, atol=1e-6),
        adjoint: diffrax.AbstractAdjoint = diffrax.RecursiveCheckpointAdjoint(),
        *,
        dt0: float | None = None,
        max_steps: int = 4096,
        name: str | None = None,
    ):
        """**Arguments:**

        - `vector_field`: `f(t, y, args) -> dy/dt`, a pytree (an `eqx.Module`: a
            [`sciml.ode.NeuralVectorField`][], [`sciml.ode.PhysicsVectorField`][],
            [`sciml.ode.HybridVectorField`][] or your own).
        - `solver`: a diffrax solver (default `diffrax.Tsit5()`).
        - `stepsize_controller`: default `diffrax.PIDController(rtol=1e-3, atol=1e-6)`.
        - `adjoint`: how to differentiate the solve (default
            `diffrax.RecursiveCheckpointAdjoint()`).
        - `dt0`: the initial (or constant) step; `None` lets an adaptive controller pick it.
        - `max_steps`: the most solver steps per solve (static: it sizes the buffers).
        - `name`: used in error messages; default derived from the vector field's type.

        **Raises:**

        `ValueError` for a constant step size without `dt0`, a non-positive `dt0` or
        `max_steps`, negative tolerances; `TypeError` for a vector field that is not callable.
        """
        if not callable(vector_field):
            raise TypeError(f"ODEModel: vector_field must be callable f(t, y, args), got {type(vector_field).__name__}")
        if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
            raise ValueError(f"ODEModel: max_steps must be a positive integer, got {max_steps!r}")
        if dt0 is not None and not (isinstance(dt0, (int, float)) and dt0 > 0):
            raise ValueError(f"ODEModel: dt0 must be a positive number or None, got {dt0!r}")
        if isinstance(stepsize_controller, diffrax.PIDController):
            # diffrax accepts negative tolerances, and the adaptive solve then misbehaves.
            for attr in ("rtol", "atol"):
                value = getattr(stepsize_controller, attr)
                if isinstance(value, (int, float)) and not value >= 0:
                    raise ValueError(f"ODEModel: stepsize_controller {attr} must be >= 0, got {value!r}")
        if dt0 is None and isinstance(stepsize_controller, diffrax.ConstantStepSize):
            raise ValueError("ODEModel: a constant step size (diffrax.ConstantStepSize) needs dt0")
        self.vector_field = vector_field
        self.solver = solver
        self.stepsize_controller = stepsize_controller
        self.adjoint = adjoint
        self.dt0 = None if dt0 is None else float(dt0)
        self.max_steps = int(max_steps)
        self.name = name if name is not None else f"ODEModel({type(vector_field).__name__})"

    def _raw_solve(self, ts: Float[Array, " n"], y0: Float[Array, " *state"], args: PyTree) -> ODESolution:
        # `throw=False` always: failures are reported through our own messages, which
        # name the model and the time span.
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(self.vector_field),
            self.solver,
            t0=ts[0],
            t1=ts[-1],
            dt0=self.dt0,
            y0=y0,
            args=args,
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=self.stepsize_controller,
            adjoint=self.adjoint,
            max_steps=self.max_steps,
            throw=False,
        )
        result = RESULTS.promote(sol.result)
        # A constant-step solve integrates straight through an overflow: report it.
        finite = jnp.all(jnp.isfinite(sol.ys))
        result = RESULTS.where((result == RESULTS.successful) & ~finite, RESULTS.nonfinite_state, result)
        return ODESolution(ts=sol.ts, ys=sol.ys, result=result, num_steps=sol.stats["num_steps"])

    def solve(
        self, ts: Real[ArrayLike, " n"], y0: Real[ArrayLike, " *state"], args: PyTree = None, *, throw: bool = True
    ) -> ODESolution:
        """Integrate one trajectory from `ts[0]` to `ts[-1]`, saving at `ts`.

        Inputs are checked eagerly (shapes always, values when they are concrete). Called
        outside a transformation the solve runs compiled and a failure raises
        [`sciml.ode.ODESolveError`][] with diffrax's message, the model's name and
        the time span; inside `jit`/`grad` a failure raises `equinox`'s runtime error with
        the same message (the span's values are then unknown when the message is built).

        **Arguments:**

        - `ts`: increasing save times, shape `(n,)` with `n >= 1` (repeats allowed only
            at the end, as padding).
        - `y0`: the initial state at `ts[0]`.
        - `args`: passed to the vector field.
        - `throw`: raise on failure; with `False` read `solution.result`.

        **Returns:**

        An [`sciml.ode.ODESolution`][].

        **Raises:**

        `ValueError` for bad inputs (naming them); `ODESolveError` for a failed solve
        when `throw=True`.
        """
        ts, y0 = _check_inputs(self, ts, y0, args, batched=False)
        if _is_traced(self, ts, y0, args):
            sol = self._raw_solve(ts, y0, args)
            return _error_if_failed(self, sol) if throw else sol
        sol = _solve_jit(self, ts, y0, args)
        if throw:
            _raise_if_failed(self, sol, ts)
        return sol

    def solve_batch(
        self,
        ts: Real[ArrayLike, " *batch n"],
        y0: Real[ArrayLike, " batch *state"],
        args: PyTree = None,
        *,
        throw: bool = True,
    ) -> ODESolution:
        """Integrate a batch of initial conditions by `vmap`, each on its own time grid.

        **Arguments:**

        - `ts`: save times shared by all trajectories, shape `(n,)`, or one grid per
            trajectory, shape `(batch, n)` (pad shorter grids by repeating their last
            time; see [`sciml.ode.trajectory_data`][]).
        - `y0`: the initial states, shape `(batch, *state)`.
        - `args`: passed unbatched to the vector field (vmap `solve` yourself for
            per-trajectory `args`).
        - `throw`: raise if any trajectory failed; with `False` each trajectory carries
            its own result code, so failed members can be dropped and reported
            ([`sciml.ode.ODESolution.failures`][]).

        **Returns:**

        An [`sciml.ode.ODESolution`][] with a leading batch axis on every field.

        **Raises:**

        As [`sciml.ode.ODEModel.solve`][]; the message lists the failed members.
        """
        ts, y0 = _check_inputs(self, ts, y0, args, batched=True)
        if _is_traced(self, ts, y0, args):
            sol = _batched_solve(self, ts, y0, args)
            return _error_if_failed(self, sol) if throw else sol
        sol = _solve_batch_jit(self, ts, y0, args)
        if throw:
            _raise_if_failed(self, sol, ts)
        return sol

    def __call__(
        self, ts: Real[ArrayLike, " n"], y0: Real[ArrayLike, " *state"], args: PyTree = None
    ) -> Float[Array, " n *state"]:
        """The states at the save times `ts` (see `solve`), raising on failure."""
        return self.solve(ts, y0, args).ys


def _batched_solve(model: ODEModel, ts: Array, y0: Array, args: PyTree) -> ODESolution:
    in_ts = 0 if ts.ndim == 2 else None
    return jax.vmap(model._raw_solve, in_axes=(in_ts, 0, None))(ts, y0, args)


@eqx.filter_jit
def _solve_jit(model: ODEModel, ts: Array, y0: Array, args: PyTree) -> ODESolution:
    return model._raw_solve(ts, y0, args)


@eqx.filter_jit
def _solve_batch_jit(model: ODEModel, ts: Array, y0: Array, args: PyTree) -> ODESolution:
    return _batched_solve(model, ts, y0, args)


def _messages(model: ODEModel) -> tuple[str, ...]:
    # Built at trace time, so only static facts can go in: the values of the time span
    # are unknown here (eager solves report them, see `_raise_if_failed`).
    where = (
        f"\n(sciml: the ODE model {model.name!r} failed while integrating from ts[0] to ts[-1]; call "
        "model.solve(ts, y0) outside jit with the same inputs to see the time span)"
    )
    return tuple(msg + where if msg else msg for msg in RESULTS._index_to_message)


def _error_if_failed(model: ODEModel, sol: ODESolution) -> ODESolution:
    code = sol.result._value
    return eqx.branched_error_if(sol, code != 0, code, _messages(model))


def _raise_if_failed(model: ODEModel, sol: ODESolution, ts: Array) -> None:
    failures = sol.failures()
    if not failures:
        return
    # The requested times: the solution's own are inf after a failure.
    ts = np.asarray(ts)
    batched = np.ndim(sol.num_steps) == 1
    if batched and ts.ndim == 1:
        ts = np.broadcast_to(ts, (sol.num_steps.shape[0], ts.shape[0]))
    saved = np.asarray(sol.ts)
    if batched and saved.ndim == 1:
        saved = np.broadcast_to(saved, ts.shape)
    lines, max_steps_hit = [], False
    for i, msg in list(failures.items())[:5]:
        where = f"trajectory {i}, " if batched else ""
        span = _describe_span(ts[i] if batched else ts)
        reached = _last_reached(saved[i] if batched else saved)
        lines.append(f"{where}{span}{reached}: {msg}")
        max_steps_hit |= int(np.ravel(sol.result._value)[i if batched else 0]) == int(RESULTS.max_steps_reached._value)
    more = f"\n... and {len(failures) - 5} more" if len(failures) > 5 else ""
    count = f"{len(failures)} of {ts.shape[0]} trajectories" if batched else "the solve"
    hint = ""
    if max_steps_hit:
        hint = f"\nThe solver ({type(model.solver).__name__}) used all max_steps={model.max_steps} steps."
        if not isinstance(model.solver, diffrax.AbstractImplicitSolver):
            # An explicit solver exhausting its steps is the signature of stiffness: its stable
            # step size is tiny however smooth the solution, so more steps rarely help.
            hint += (
                " With an explicit solver this usually means the system is stiff: use an implicit solver "
                "such as diffrax.Kvaerno5() with a diffrax.PIDController rather than a larger max_steps."
            )
    raise ODESolveError(
        f"ODE model {model.name!r}: {count} failed.\n"
        + "\n".join(lines)
        + more
        + hint
        + "\nPass throw=False to get per-trajectory result codes instead."
    )


def _last_reached(saved: np.ndarray) -> str:
    """`", last save time reached t = ..."` from the solution's save times (inf after a failure)."""
    finite = np.flatnonzero(np.isfinite(saved))
    if finite.size == 0:
        return ", no save time reached"
    return f", last save time reached t = {float(saved[finite[-1]]):.6g}"


def _check_inputs(model: ODEModel, ts: ArrayLike, y0: ArrayLike, args: PyTree, *, batched: bool) -> tuple[Array, Array]:
    """Shape checks (always) and value checks (when concrete), before any compilation."""
    who = f"ODE model {model.name!r}"
    if not _is_traced(ts):
        ts = np.asarray(ts)
    if not _is_traced(y0):
        y0 = np.asarray(y0)
    if not (jnp.issubdtype(ts.dtype, jnp.floating) or jnp.issubdtype(ts.dtype, jnp.integer)):
        raise ValueError(f"{who}: ts must be real numbers, got dtype {ts.dtype}")
    if batched:
        if ts.ndim not in (1, 2):
            raise ValueError(f"{who}: ts must have shape (n,) or (batch, n), got {ts.shape}")
        if y0.ndim < 1:
            raise ValueError(f"{who}: y0 for solve_batch needs a leading batch axis, got shape {y0.shape}")
        if ts.ndim == 2 and ts.shape[0] != y0.shape[0]:
            raise ValueError(
                f"{who}: {ts.shape[0]} time grids (ts of shape {ts.shape}) but {y0.shape[0]} initial states "
                f"(y0 of shape {y0.shape})"
            )
    elif ts.ndim != 1:
        raise ValueError(f"{who}: ts must be a vector of save times of shape (n,), got shape {ts.shape}")
    if ts.shape[-1] < 1:
        raise ValueError(f"{who}: ts holds no save times")
    dtype = jnp.result_type(float)
    if not _is_traced(ts):
        if not np.all(np.isfinite(ts)):
            raise ValueError(f"{who}: ts holds non-finite values")
        _check_increasing(who, ts)
        ts = jnp.asarray(ts, dtype=dtype)
    if not _is_traced(y0):
        if not np.all(np.isfinite(y0)):
            raise ValueError(f"{who}: y0 holds non-finite values (NaN or Inf): {y0}")
        y0 = jnp.asarray(y0, dtype=dtype)
    sample = y0[0] if batched else y0
    _check_state_shape(model, sample, args, who, batched)
    return ts, y0


def _check_increasing(who: str, ts: np.ndarray) -> None:
    # Repeats are allowed only of the final time: that is how shorter grids are padded.
    for r, row in enumerate(ts.reshape(-1, ts.shape[-1])):
        d = np.diff(row)
        bad = np.flatnonzero((d < 0) | ((d == 0) & (row[1:] != row[-1])))
        if bad.size:
            j = int(bad[0])
            where = f"trajectory {r}: " if ts.ndim == 2 else ""
            raise ValueError(
                f"{who}: save times must be strictly increasing (only the final time may repeat, as "
                f"padding); {where}ts[{j}] = {row[j]:.6g} is followed by ts[{j + 1}] = {row[j + 1]:.6g}"
            )


def _check_state_shape(model: ODEModel, y0: Any, args: PyTree, who: str, batched: bool) -> None:
    t = jax.ShapeDtypeStruct((), jnp.result_type(float))
    y = jax.ShapeDtypeStruct(y0.shape, y0.dtype)
    what = "each initial state y0[i]" if batched else "y0"
    try:
        out = eqx.filter_eval_shape(model.vector_field, t, y, args)
    except Exception as e:  # the vector field's own shape check, in its own words
        raise ValueError(f"{who}: {what} of shape {y0.shape} is not accepted by the vector field: {e}") from e
    shape = getattr(out, "shape", None)
    if shape != y0.shape:
        raise ValueError(
            f"{who}: {what} has shape {y0.shape} but the vector field returns shape {shape} for it; "
            "dy/dt must have the shape of y"
        )
