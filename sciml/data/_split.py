"""`split_indices`: seeded, disjoint splits of whole samples (trajectories)."""

import math
from collections.abc import Sequence

import jax.random as jr
import numpy as np
from jaxtyping import Int, PRNGKeyArray

from ._errors import DataError


def _counts(num_samples: int, fractions: Sequence[float]) -> list[int]:
    exact = [f * num_samples for f in fractions]
    counts = [math.floor(x) for x in exact]
    # Largest remainders first, so the counts add up to num_samples exactly.
    order = sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])
    for i in order[: num_samples - sum(counts)]:
        counts[i] += 1
    # Every split asked for gets at least one sample, taken from the largest split.
    for i, f in enumerate(fractions):
        if f > 0 and counts[i] == 0:
            donor = max(range(len(counts)), key=lambda j: counts[j])
            counts[donor] -= 1
            counts[i] += 1
    return counts


def split_indices(
    num_samples: int, fractions: Sequence[float], *, key: PRNGKeyArray
) -> tuple[Int[np.ndarray, " _"], ...]:
    """Splits sample indices into disjoint sets, e.g. train / validation / test.

    The unit is the whole sample: for trajectories, every snapshot and every window of
    one trajectory lands in the same split, so nothing of a test trajectory is seen in
    training. The split is a pure function of `key`.

    **Arguments:**

    - `num_samples`: the number of samples (trajectories or input/output pairs).
    - `fractions`: one fraction per split, each in `[0, 1]`, summing to 1; counts are
        rounded by largest remainder, and every nonzero fraction gets at least one sample.
    - `key`: the PRNG key of the shuffle.

    **Returns:**

    One sorted integer array of indices per fraction; together they hold every index
    exactly once.

    **Raises:**

    [`DataError`][] for fractions that are negative or do not sum to 1, or fewer samples
    than nonzero fractions.
    """
    fractions = [float(f) for f in fractions]
    if not fractions or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise DataError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    needed = sum(f > 0 for f in fractions)
    if num_samples < needed:
        raise DataError(
            f"cannot split {num_samples} sample(s) into {needed} non-empty sets (fractions {fractions}); "
            "the split is by whole sample, so more samples (trajectories) are needed"
        )
    perm = np.asarray(jr.permutation(key, num_samples))
    bounds = np.cumsum([0, *_counts(num_samples, fractions)])
    return tuple(np.sort(perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))
