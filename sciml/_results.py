"""Result codes shared by the solvers (ODE solves, implicit layers): diffrax's and ours."""

import diffrax
from jaxtyping import ArrayLike, Int


class RESULTS(diffrax.RESULTS):  # pyright: ignore[reportGeneralTypeIssues]
    """Result codes of [`sciml.ode.ODEModel.solve`][]: diffrax's, plus one of ours.

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


def result_message(code: Int[ArrayLike, ""]) -> str:
    """The message of a result code given as an integer (e.g. one member of a batch).

    **Arguments:**

    - `code`: the integer value of a [`sciml.ode.RESULTS`][] item.

    **Returns:**

    Its message; the empty string for success.
    """
    return RESULTS._index_to_message[int(code)]
