"""Method of lines on a periodic grid: `du/dt = F_known(u) + NN(u)`, integrated by diffrax.

A PDE `u_t = F(u)` on a periodic interval is discretised in space only: the state is the
field `u` on `n` equally spaced points, and the spatial operator becomes a right-hand side
`f(t, u, args)` that an [`sciml.ode.ODEModel`][] integrates in time. This module gives

- periodic spatial operators: central finite-difference derivatives of order 2, 4 and 6
    ([`fd_derivative`][]) and Fourier spectral derivatives ([`spectral_derivative`][]),
    from which a study writes its known physics as an `f(t, u, args)` vector field
    (`problems/burgers_closure.py` writes viscous Burgers this way);
- [`MethodOfLines`][], the known operator plus a learned field-to-field correction
    (any `sciml.nn` model mapping `[channels, n] -> [channels, n]`: `FieldResNet`, `FNO`),
    or the network alone;
- [`spectral_downsample`][], the projection of a fine field onto a coarse grid by
    truncating its Fourier series (the filter that defines what a coarse solver should
    reproduce).

Training differentiates through the solve: `sciml.train.fit(ODEModel(MethodOfLines(...)),
TrajectoryLoss(), trajectory_data(ts, fields), ...)` fits rollouts ("solver in the loop").

**References:** Um, Brand, Fei, Holl and Thuerey, "Solver-in-the-loop: learning from
differentiable physics to interact with iterative PDE-solvers", NeurIPS 2020; Kochkov et
al., "Machine learning-accelerated computational fluid dynamics", PNAS 2021; Canuto,
Hussaini, Quarteroni and Zang, "Spectral methods: fundamentals in single domains",
Springer 2006 (spectral derivatives).
"""

import math
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PyTree

from ..nn import is_stateful
from ..ode import AbstractVectorField


__all__ = [
    "fd_derivative",
    "MethodOfLines",
    "PeriodicGrid",
    "spectral_derivative",
    "spectral_downsample",
]

# Central stencils on a uniform grid: offset -> weight, for (derivative, accuracy).
# Fornberg, "Generation of finite difference formulas on arbitrarily spaced grids",
# Math. Comp. 51 (1988), table 1.
_STENCILS: dict[tuple[int, int], dict[int, float]] = {
    (1, 2): {-1: -1 / 2, 1: 1 / 2},
    (1, 4): {-2: 1 / 12, -1: -8 / 12, 1: 8 / 12, 2: -1 / 12},
    (1, 6): {-3: -1 / 60, -2: 9 / 60, -1: -45 / 60, 1: 45 / 60, 2: -9 / 60, 3: 1 / 60},
    (2, 2): {-1: 1.0, 0: -2.0, 1: 1.0},
    (2, 4): {-2: -1 / 12, -1: 16 / 12, 0: -30 / 12, 1: 16 / 12, 2: -1 / 12},
    (2, 6): {-3: 2 / 180, -2: -27 / 180, -1: 270 / 180, 0: -490 / 180, 1: 270 / 180, 2: -27 / 180, 3: 2 / 180},
}


class PeriodicGrid(eqx.Module):
    """`n` equally spaced points `x_j = j L / n`, `j = 0..n-1`, on the periodic interval `[0, L)`."""

    n: int = eqx.field(static=True)
    length: float = eqx.field(static=True)

    def __init__(self, n: int, length: float = 2 * math.pi):
        """**Arguments:**

        - `n`: the number of points (>= 4).
        - `length`: the period `L` (> 0), default `2 pi`.

        **Raises:**

        `ValueError` for fewer than 4 points or a non-positive length.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 4:
            raise ValueError(f"PeriodicGrid: n must be an integer >= 4, got {n!r}")
        if not (isinstance(length, (int, float)) and math.isfinite(length) and length > 0):
            raise ValueError(f"PeriodicGrid: length must be a finite number > 0, got {length!r}")
        self.n = int(n)
        self.length = float(length)

    @property
    def dx(self) -> float:
        """The spacing `L / n`."""
        return self.length / self.n

    @property
    def points(self) -> np.ndarray:
        """The grid points, shape `(n,)` (NumPy, so it can size static things)."""
        return np.arange(self.n) * self.dx

    @property
    def wavenumbers(self) -> np.ndarray:
        """The angular wavenumbers `2 pi k / L` of `jnp.fft.rfft`, shape `(n // 2 + 1,)`."""
        return 2 * np.pi / self.length * np.arange(self.n // 2 + 1)


def _check_field(u: Array, n: int | None, who: str) -> None:
    if u.ndim < 1:
        raise ValueError(f"{who}: the field must have a grid axis last, got a scalar")
    if n is not None and u.shape[-1] != n:
        raise ValueError(f"{who}: the field's last axis must have the grid's {n} points, got shape {u.shape}")


def _last_axis(factor: np.ndarray, ndim: int) -> np.ndarray:
    # Explicit leading axes: the project runs with rank promotion set to raise.
    return np.reshape(factor, (1,) * (ndim - 1) + factor.shape)


def fd_derivative(
    u: Float[Array, " *batch n"], dx: float, *, order: int = 1, accuracy: int = 2
) -> Float[Array, " *batch n"]:
    """A periodic central finite-difference derivative along the last axis.

    `sum_j w_j u_{i+j} / dx^order` with the central weights of Fornberg (1988); the
    truncation error is `O(dx^accuracy)`.

    **Arguments:**

    - `u`: the field on a uniform periodic grid, grid axis last.
    - `dx`: the grid spacing (> 0).
    - `order`: the derivative, 1 or 2.
    - `accuracy`: the order of accuracy, 2, 4 or 6.

    **Returns:**

    The derivative, of the shape of `u`.

    **Raises:**

    `ValueError` for an unsupported order or accuracy, a non-positive `dx`, or a grid
    shorter than the stencil.
    """
    if (order, accuracy) not in _STENCILS:
        raise ValueError(f"fd_derivative: order must be 1 or 2 and accuracy 2, 4 or 6, got {order!r}, {accuracy!r}")
    if not dx > 0:
        raise ValueError(f"fd_derivative: dx must be > 0, got {dx!r}")
    u = jnp.asarray(u)
    _check_field(u, None, "fd_derivative")
    if u.shape[-1] < accuracy + 1:
        raise ValueError(f"fd_derivative: accuracy {accuracy} needs at least {accuracy + 1} points, got {u.shape[-1]}")
    # roll by -j brings u_{i+j} to position i.
    out = sum(w * jnp.roll(u, -j, axis=-1) for j, w in _STENCILS[order, accuracy].items())
    return out / dx**order


def spectral_derivative(
    u: Float[Array, " *batch n"], length: float = 2 * math.pi, *, order: int = 1
) -> Float[Array, " *batch n"]:
    """A Fourier spectral derivative along the last axis of a periodic field.

    `irfft((i k)^order rfft(u))`; for odd orders the Nyquist mode of an even grid is
    dropped, since its derivative is not a real field on the grid (Trefethen, "Spectral
    methods in MATLAB", SIAM 2000, ch. 3).

    **Arguments:**

    - `u`: the field on `n` equally spaced points of `[0, length)`, grid axis last.
    - `length`: the period.
    - `order`: the derivative (>= 1).

    **Returns:**

    The derivative, of the shape of `u`.

    **Raises:**

    `ValueError` for a non-positive order or length.
    """
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"spectral_derivative: order must be a positive integer, got {order!r}")
    if not length > 0:
        raise ValueError(f"spectral_derivative: length must be > 0, got {length!r}")
    u = jnp.asarray(u)
    _check_field(u, None, "spectral_derivative")
    n = u.shape[-1]
    k = 2 * np.pi / length * np.arange(n // 2 + 1)
    factor = (1j * k) ** order
    if order % 2 == 1 and n % 2 == 0:
        factor[-1] = 0.0
    return jnp.fft.irfft(jnp.fft.rfft(u, axis=-1) * _last_axis(factor, u.ndim), n=n, axis=-1)


def spectral_downsample(
    u: Float[ArrayLike, " *batch n_fine"], n: int, *, length: float = 2 * math.pi, filter_width: float | None = None
) -> Float[Array, " *batch n"]:
    """Project a periodic field onto a coarser grid by filtering and truncating its Fourier series.

    The modes `|k| < n / 2` are kept and the rest dropped (the coarse grid's Nyquist
    mode too, which it cannot represent as a real sine): the sharp spectral filter. A
    sharp cut of a shock rings (Gibbs oscillations of about 9% of the jump), so for
    under-resolved shocks pass `filter_width`: the kept modes are then also multiplied
    by the Gaussian filter's transfer function `exp(-k^2 filter_width^2 / 24)` (Pope,
    "Turbulent flows", 2000, section 13.2), and the coarse field is the smooth,
    filtered field that a large-eddy-simulation model evolves.

    **Arguments:**

    - `u`: the fine field, grid axis last, `n_fine` points.
    - `n`: the coarse number of points, even, with `n_fine` a multiple of `n` (so the
        coarse points are fine points).
    - `length`: the period (used with `filter_width`).
    - `filter_width`: the Gaussian filter's width `Delta` (> 0; twice the coarse spacing
        is the usual choice), or `None` for the sharp cut alone.

    **Returns:**

    The coarse field, shape `(*batch, n)`.

    **Raises:**

    `ValueError` for an odd `n` or one that does not divide the fine grid, a
    non-positive filter width or length.
    """
    if filter_width is not None and not (isinstance(filter_width, (int, float)) and filter_width > 0):
        raise ValueError(f"spectral_downsample: filter_width must be > 0 or None, got {filter_width!r}")
    if not length > 0:
        raise ValueError(f"spectral_downsample: length must be > 0, got {length!r}")
    u = jnp.asarray(u)
    _check_field(u, None, "spectral_downsample")
    fine = u.shape[-1]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2 or n % 2 or fine % n:
        raise ValueError(
            f"spectral_downsample: the coarse size must be an even integer dividing the fine size {fine}, got {n!r}"
        )
    gain = np.full(n // 2, n / fine)
    if filter_width is not None:
        k = 2 * np.pi / length * np.arange(n // 2)
        gain = gain * np.exp(-(k**2) * filter_width**2 / 24)
    coef = jnp.fft.rfft(u, axis=-1)[..., : n // 2] * _last_axis(gain, u.ndim)
    pad = jnp.zeros((*coef.shape[:-1], 1), coef.dtype)
    return jnp.fft.irfft(jnp.concatenate([coef, pad], axis=-1), n=n, axis=-1)


class MethodOfLines(AbstractVectorField):
    """`du/dt = known(t, u, args) + closure(u)` on a grid: physics plus a learned correction.

    The closure is any field-to-field model called on one sample laid out channels
    first, `[1, n] -> [1, n]` (`sciml.nn.FieldResNet` with circular padding, which is
    translation-equivariant on the periodic grid, or `sciml.nn.FNO`); it sees the
    coarse state and returns the missing tendency: the effect of the unresolved scales
    and of the coarse discretisation's error. With `known=None` the network is the whole
    right-hand side; with `closure=None` this is the plain discretisation.

    Wrapped in an [`sciml.ode.ODEModel`][] it integrates with any diffrax solver,
    and [`sciml.ode.TrajectoryLoss`][] trains it on rollouts through the solver.

    **Reference:** Um et al., "Solver-in-the-loop", NeurIPS 2020; Kochkov et al., PNAS
    2021.
    """

    known: Any
    closure: Any
    n: int = eqx.field(static=True)

    def __init__(self, known: Any, closure: Any, *, n: int | None = None):
        """**Arguments:**

        - `known`: the discretised physics, a vector field `f(t, u, args)` on the grid
            (e.g. `ViscousBurgers` of `problems/burgers_closure.py`), or `None`.
        - `closure`: a stateless model `[1, n] -> [1, n]`, or `None`.
        - `n`: the number of grid points; default the known field's grid.

        **Raises:**

        `ValueError` when both parts are `None`, `n` is missing or disagrees with the
        known field's grid, the closure is not callable or holds state (BatchNorm).
        """
        if known is None and closure is None:
            raise ValueError("MethodOfLines: give the known physics, the closure, or both (got neither)")
        if known is not None and not callable(known):
            raise ValueError(f"MethodOfLines: known must be a vector field f(t, u, args), got {type(known).__name__}")
        if closure is not None:
            if not callable(closure):
                raise ValueError(
                    f"MethodOfLines: closure must be a model [1, n] -> [1, n], got {type(closure).__name__}"
                )
            if is_stateful(closure):
                raise ValueError("MethodOfLines: the closure holds state (BatchNorm); build it without batch_norm")
        grid_n = getattr(getattr(known, "grid", None), "n", None)
        if n is None:
            n = grid_n
        if n is None:
            raise ValueError("MethodOfLines: give n, the number of grid points (the known field has no grid)")
        if grid_n is not None and n != grid_n:
            raise ValueError(f"MethodOfLines: n = {n} but the known field's grid has {grid_n} points")
        self.known = known
        self.closure = closure
        self.n = int(n)

    def correction(self, u: Float[Array, " n"]) -> Float[Array, " n"]:
        """The closure's tendency for one field (zero without a closure).

        **Raises:**

        `ValueError` at trace time when the closure's output is not a `[1, n]` field.
        """
        if self.closure is None:
            return jnp.zeros_like(u)
        out = self.closure(u[None, :])
        if out.shape != (1, self.n):
            raise ValueError(
                f"MethodOfLines: the closure must map a [1, {self.n}] field to [1, {self.n}], got {out.shape}"
            )
        return out[0]

    def __call__(self, t: Float[Array, ""], y: Float[Array, " n"], args: PyTree) -> Float[Array, " n"]:
        if y.shape != (self.n,):
            raise ValueError(f"MethodOfLines: the state must be a field of shape ({self.n},), got {y.shape}")
        if self.known is None:
            return self.correction(y)
        return self.known(t, y, args) + self.correction(y)
