"""Result codes and the solution object of an ODE solve."""

import diffrax
import equinox as eqx
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int


class RESULTS(diffrax.RESULTS):  # pyright: ignore[reportGeneralTypeIssues]
    """Result codes of [`sciml.solvers.ODEModel.solve`][]: diffrax's, plus one of ours.

    Extending `diffrax.RESULTS` (itself extending optimistix's and lineax's) keeps the
    words of a failure deep inside an implicit solver's Newton iteration; our own code
    covers the failure diffrax does not report: with constant steps a state that
    overflows to Inf or NaN is integrated on as if nothing happened.
    """

    nonfinite_state = (
        "The ODE state became non-finite (NaN or Inf) at a save time although the solver "
        "reported success. With constant steps this usually means the step is too large for "
        "the dynamics (an explicit solver on a stiff system) or the solution blows up; use an "
        "adaptive step-size controller or an implicit solver."
    )


class ODESolution(eqx.Module):
    """What [`sciml.solvers.ODEModel.solve`][] returns (batched by `solve_batch`).

    **Attributes:**

    - `ts`: the save times, shape `(n,)` (or `(batch, n)`).
    - `ys`: the state at each save time, shape `(n, *state)` (or `(batch, n, *state)`);
        diffrax fills the save times after a failure with `inf`.
    - `result`: a [`sciml.solvers.RESULTS`][] code per trajectory.
    - `num_steps`: the accepted and rejected solver steps per trajectory.
    """

    ts: Float[Array, "*batch n"]
    ys: Float[Array, "..."]
    result: RESULTS
    num_steps: Int[Array, "*batch"]

    @property
    def ok(self) -> Bool[Array, "*batch"]:
        """Whether each trajectory was solved successfully."""
        return self.result == RESULTS.successful

    def failures(self) -> dict[int, str]:
        """The failed trajectories and their messages, read on the host.

        Call it outside `jit` on the result of a `throw=False` solve to drop and report
        the failed members of a batch or an ensemble.

        **Returns:**

        `{index: message}` for every failed trajectory (index 0 for an unbatched solve);
        empty when everything succeeded.
        """
        codes = np.atleast_1d(np.asarray(self.result._value))
        return {int(i): result_message(c) for i, c in enumerate(codes) if c != 0}


def result_message(code: Int[ArrayLike, ""]) -> str:
    """The message of a result code given as an integer (e.g. one member of a batch).

    **Arguments:**

    - `code`: the integer value of a [`sciml.solvers.RESULTS`][] item.

    **Returns:**

    Its message; the empty string for success.
    """
    return RESULTS._index_to_message[int(code)]
