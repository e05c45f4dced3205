"""Type aliases shared by the `sciml.nn` modules."""

from collections.abc import Sequence

from jaxtyping import ArrayLike


# Fixed statistics may come from arrays or, through a JSON configuration, from
# (nested) lists of floats.
StatisticLike = ArrayLike | Sequence[float] | Sequence[Sequence[float]]
