"""Differential operators of a trial function at one point: gradient, partial derivatives, Laplacian, Hessian.

Each takes a derivative strategy of `_derivatives.py` (forward mode by default) and works on
one point; residuals vmap them over collocation points.
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._derivatives import (
    _basis,
    _check_index,
    _check_point,
    AbstractDerivativeMethod,
    DEFAULT_METHOD,
    Reverse,
    TrialFunction,
)


def _resolve(u: Callable, method: AbstractDerivativeMethod | None) -> tuple[Callable, AbstractDerivativeMethod]:
    if method is not None:
        if not isinstance(method, AbstractDerivativeMethod):
            raise TypeError(f"method must be a sciml.pinn derivative method, got {type(method).__name__}")
        return u, method
    if isinstance(u, TrialFunction):
        return u.function, u.method
    return u, DEFAULT_METHOD


def grad(
    u: Callable[[Float[Array, " d"]], Float[Array, " *out"]],
    x: Float[Array, " d"],
    *,
    method: AbstractDerivativeMethod | None = None,
) -> Float[Array, " *out d"]:
    """The gradient (Jacobian for vector outputs) of `u` with respect to its input point.

    **Arguments:**

    - `u`: a function of one point, e.g. the trial function a residual receives.
    - `x`: the point, shape `(d,)`.
    - `method`: the derivative strategy; default the one carried by `u` (inside a
        [`sciml.pinn.PINNLoss`][]) or else the measured-fastest one.

    **Returns:**

    `du/dx`, of shape `(*out, d)` (`(d,)` for a scalar `u`).

    **Raises:**

    `ValueError` when `x` is not one point.
    """
    _check_point(x, "grad")
    f, m = _resolve(u, method)
    return m.first(f, x)


def derivative(
    u: Callable[[Float[Array, " d"]], Float[Array, " *out"]],
    x: Float[Array, " d"],
    index: Sequence[int],
    *,
    method: AbstractDerivativeMethod | None = None,
) -> Float[Array, " *out"]:
    """One partial derivative of `u` by coordinate indices: `(1,)` is `du/dx1`,
    `(1, 1)` is `d2u/dx1^2`, `(0, 1)` is `d2u/dx0 dx1`, `()` is `u` itself.

    **Arguments:**

    - `u`: a function of one point.
    - `x`: the point, shape `(d,)`.
    - `index`: the coordinates to differentiate along, any order (partials commute).
    - `method`: the derivative strategy (see [`sciml.pinn.grad`][]).

    **Returns:**

    The derivative, of the output's shape.

    **Raises:**

    `ValueError` when `x` is not one point or an index is out of range.
    """
    _check_point(x, "derivative")
    index = _check_index(index, x.shape[0], "derivative")
    f, m = _resolve(u, method)
    return m.mixed(f, x, index)


def derivatives(
    u: Callable[[Float[Array, " d"]], Float[Array, " *out"]],
    x: Float[Array, " d"],
    indices: Sequence[Sequence[int]],
    *,
    method: AbstractDerivativeMethod | None = None,
) -> tuple[Float[Array, " *out"], ...]:
    """Several partial derivatives at once, sharing work between them.

    Pure derivatives along the same axis (`(1,)`, `(1, 1)`, and `u` itself as `()`)
    come from one directional series of the highest order requested, which is one pass
    in Taylor mode: `derivatives(u, x, [(), (1,), (1, 1), (0,)])` costs two series for
    Burgers' `u, u_x, u_xx, u_t`.

    **Arguments:**

    - `u`: a function of one point.
    - `x`: the point, shape `(d,)`.
    - `indices`: the derivatives wanted, as in [`sciml.pinn.derivative`][].
    - `method`: the derivative strategy (see [`sciml.pinn.grad`][]).

    **Returns:**

    A tuple with one array per requested index, in order.

    **Raises:**

    `ValueError` when `x` is not one point or an index is out of range.
    """
    _check_point(x, "derivatives")
    indices = [_check_index(i, x.shape[0], "derivatives") for i in indices]
    f, m = _resolve(u, method)
    pure: dict[int, int] = {}
    for index in indices:
        if len(set(index)) == 1:
            pure[index[0]] = max(pure.get(index[0], 0), len(index))
    series = {axis: m.series(f, x, _basis(x, axis), order) for axis, order in pure.items()}
    value = next(iter(series.values()))[0] if series else None
    out = []
    for index in indices:
        if not index:
            out.append(f(x) if value is None else value)
        elif len(set(index)) == 1:
            out.append(series[index[0]][len(index)])
        else:
            out.append(m.mixed(f, x, index))
    return tuple(out)


def laplacian(
    u: Callable[[Float[Array, " d"]], Float[Array, " *out"]],
    x: Float[Array, " d"],
    axes: Sequence[int] | None = None,
    *,
    method: AbstractDerivativeMethod | None = None,
) -> Float[Array, " *out"]:
    """The Laplacian `sum_i d2u/dx_i^2` over `axes` (default all coordinates).

    For a space-time point `(t, x1, ..., xd)` pass `axes=range(1, d + 1)` to leave
    time out.

    **Arguments:**

    - `u`: a function of one point.
    - `x`: the point, shape `(d,)`.
    - `axes`: the coordinates summed over.
    - `method`: the derivative strategy (see [`sciml.pinn.grad`][]).

    **Returns:**

    The Laplacian, of the output's shape.

    **Raises:**

    `ValueError` when `x` is not one point or an axis is out of range.
    """
    _check_point(x, "laplacian")
    axes = tuple(range(x.shape[0])) if axes is None else _check_index(axes, x.shape[0], "laplacian")
    if not axes:
        raise ValueError("laplacian: axes must name at least one coordinate")
    f, m = _resolve(u, method)
    basis = jnp.eye(x.shape[0], dtype=x.dtype)[jnp.asarray(axes)]
    # One second-order series per axis, vmapped: the network runs once on a batch of
    # directions instead of once per direction.
    second = jax.vmap(lambda v: m.series(f, x, v, 2)[2])(basis)
    return jnp.sum(second, axis=0)


def hessian(
    u: Callable[[Float[Array, " d"]], Float[Array, " *out"]],
    x: Float[Array, " d"],
    *,
    method: AbstractDerivativeMethod | None = None,
) -> Float[Array, " *out d d"]:
    """The Hessian `d2u/dx_i dx_j` of `u` at `x`.

    **Arguments:**

    - `u`: a function of one point.
    - `x`: the point, shape `(d,)`.
    - `method`: the derivative strategy (see [`sciml.pinn.grad`][]).

    **Returns:**

    The Hessian, of shape `(*out, d, d)`.

    **Raises:**

    `ValueError` when `x` is not one point.
    """
    _check_point(x, "hessian")
    f, m = _resolve(u, method)
    if isinstance(m, Reverse):
        return jax.jacrev(jax.jacrev(f))(x)
    # Forward over the method's first derivative: jacfwd(jacrev) is `jax.hessian`.
    return jax.jacfwd(lambda y: m.first(f, y))(x)
