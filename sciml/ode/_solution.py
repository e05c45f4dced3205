"""The solution object of an ODE solve."""

import equinox as eqx
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._results import result_message, RESULTS


class ODESolution(eqx.Module):
    """What [`sciml.ode.ODEModel.solve`][] returns (batched by `solve_batch`).

    **Attributes:**

    - `ts`: the save times, shape `(n,)` (or `(batch, n)`).
    - `ys`: the state at each save time, shape `(n, *state)` (or `(batch, n, *state)`);
        diffrax fills the save times after a failure with `inf`.
    - `result`: a [`sciml.ode.RESULTS`][] code per trajectory.
    - `num_steps`: the accepted and rejected solver steps per trajectory.
    """

    ts: Float[Array, " *batch n"]
    ys: Float[Array, "..."]
    result: RESULTS
    num_steps: Int[Array, " *batch"]

    @property
    def ok(self) -> Bool[Array, " *batch"]:
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
