"""Point sets in the unit cube: uniform, Latin hypercube and (shifted) Sobol samplers.

Every sampler is a pure JAX function of a key with static sizes, so collocation points
can be redrawn inside the compiled training step.
"""

import functools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.typing import DTypeLike
from jaxtyping import Array, Bool, Float, PRNGKeyArray


SAMPLERS = ("uniform", "lhs", "sobol")


def check_sampler(sampler: str, who: str) -> str:
    """Returns `sampler` if it is a known name, else raises a `ValueError` naming `who`."""
    if sampler not in SAMPLERS:
        raise ValueError(f"{who}: unknown sampler {sampler!r}; accepted: {', '.join(SAMPLERS)}")
    return sampler


@functools.lru_cache(maxsize=32)
def _sobol(n: int, d: int) -> np.ndarray:
    from scipy.stats import qmc

    m = max(int(np.ceil(np.log2(max(n, 2)))), 1)
    # Unscrambled: the randomisation is the shift below, which JAX can apply inside jit.
    return qmc.Sobol(d, scramble=False).random_base2(m)[:n]


def unit_cube(key: PRNGKeyArray, n: int, d: int, sampler: str, dtype: DTypeLike | None = None) -> Float[Array, " n d"]:
    """Draws `n` points in `[0, 1)^d`.

    - `"uniform"`: independent uniform points.
    - `"lhs"`: Latin hypercube sampling: each coordinate has exactly one point in each
        of the `n` strata (McKay, Beckman and Conover, Technometrics 1979).
    - `"sobol"`: the first `n` points of the Sobol sequence (Sobol 1967; Joe and Kuo
        direction numbers, through SciPy), randomised by a uniform shift modulo one
        (Cranley and Patterson, SIAM J. Numer. Anal. 1976), which keeps the low
        discrepancy and makes every draw different and unbiased.

    **Arguments:**

    - `key`: the PRNG key.
    - `n`, `d`: the number of points and the dimension.
    - `sampler`: one of `"uniform"`, `"lhs"`, `"sobol"`.
    - `dtype`: the floating-point type; default JAX's default float.

    **Returns:**

    The points, shape `(n, d)`.

    **Raises:**

    `ValueError` for an unknown sampler.
    """
    check_sampler(sampler, "unit_cube")
    dtype = jnp.result_type(float) if dtype is None else dtype
    if sampler == "uniform":
        return jr.uniform(key, (n, d), dtype)
    if sampler == "lhs":
        pkey, ukey = jr.split(key)
        strata = jax.vmap(lambda k: jr.permutation(k, n))(jr.split(pkey, d)).T
        return ((strata + jr.uniform(ukey, (n, d), dtype)) / n).astype(dtype)
    base = jnp.asarray(_sobol(n, d), dtype)
    shift = jr.uniform(key, (1, d), dtype)
    return jnp.mod(base + shift, 1)


def first_inside(candidates: Float[Array, " m d"], inside: Bool[Array, " m"], n: int) -> Float[Array, " n d"]:
    """The first `n` candidates that lie inside, keeping their order.

    Rejection sampling with a static output size: the caller draws enough candidates
    that a shortfall is astronomically unlikely; should it happen anyway, the points
    found are repeated, so no point outside is ever returned.
    """
    order = jnp.argsort(~inside, stable=True)
    count = jnp.maximum(jnp.sum(inside), 1)
    take = order[jnp.arange(n) % count]
    return candidates[take]


def oversample(n: int, fraction: float) -> int:
    """How many candidates give `n` inside points when `fraction` of the box is inside.

    1.25 times the expectation plus 64: for `n = 1000` in a quarter-empty box the
    shortfall is a 16-sigma event.
    """
    return int(np.ceil(1.25 * n / fraction)) + 64
