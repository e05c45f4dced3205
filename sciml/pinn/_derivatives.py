"""Derivative strategies for PINN residuals: forward, reverse, mixed and Taylor mode.

A residual needs the derivatives of the trial function with respect to its *input*
point, then the training step differentiates the whole residual with respect to the
*parameters* in reverse mode. For the inner, input derivatives the input is small (one
point of a few coordinates), so forward mode is the natural choice: every extra
derivative costs one more tangent through the network instead of one more reverse
sweep, and Taylor mode (`jax.experimental.jet`) carries a whole series of derivatives
along one direction in a single pass.

Measured on the Burgers training step (`benchmarks/pinn.py`, 2-core CPU, float64, tanh
MLPs 4x20 / 8x20 on 3000 / 10000 points), nested forward mode is the fastest; Taylor
mode takes 1.18-1.24x its time, forward-over-reverse 1.24-1.39x and nested reverse
mode 1.46-1.64x. Forward mode is therefore the default of every helper.
"""

import abc
from collections import Counter
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.experimental import jet
from jaxtyping import Array, Float


def _basis(x: Float[Array, " d"], i: int) -> Float[Array, " d"]:
    return jnp.zeros_like(x).at[i].set(1)


def _check_index(index: Sequence[int], dim: int, who: str) -> tuple[int, ...]:
    index = tuple(index)
    for i in index:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < dim:
            raise ValueError(
                f"{who}: derivative index {index} names coordinate {i!r}, but the point has {dim} "
                f"coordinates (valid indices 0..{dim - 1})"
            )
    return index


def _check_point(x: Array, who: str) -> None:
    if x.ndim != 1:
        raise ValueError(
            f"{who}: derivatives are taken at one point of shape (d,), got shape {x.shape}; vmap over a batch of points"
        )


def _forward_series(f: Callable, x: Array, v: Array, order: int) -> list[Array]:
    """`[f, D_v f, ..., D_v^order f]` at `x` by nested `jax.jvp`."""
    if order == 0:
        return [f(x)]
    primals, tangents = jax.jvp(lambda y: _forward_series(f, y, v, order - 1), (x,), (v,))
    return list(primals) + [tangents[-1]]


class AbstractDerivativeMethod(eqx.Module):
    """How the derivatives of a trial function with respect to its input are computed.

    Concrete methods implement two primitives: `series(u, x, v, order)`, the
    directional derivatives `[u, D_v u, ..., D_v^k u]` along one direction `v`, and
    `first(u, x)`, the Jacobian `du/dx`. Mixed partial derivatives are built by
    nesting (`jax.jvp` of a pure derivative along another axis), so every method
    supports every derivative; the methods differ only in speed, which
    `benchmarks/pinn.py` measures on the Burgers residual.
    """

    @abc.abstractmethod
    def series(self, u: Callable, x: Float[Array, " d"], v: Float[Array, " d"], order: int) -> list[Array]:
        """`[u(x), D_v u(x), ..., D_v^order u(x)]`, each of the output's shape."""

    @abc.abstractmethod
    def first(self, u: Callable, x: Float[Array, " d"]) -> Float[Array, " *out d"]:
        """The Jacobian `du/dx`, of shape `(*out, d)`."""

    @abc.abstractmethod
    def mixed(self, u: Callable, x: Float[Array, " d"], index: tuple[int, ...]) -> Array:
        """The mixed partial derivative `d^k u / dx_{i1} ... dx_{ik}` at `x`."""


def _nested_mixed(method: AbstractDerivativeMethod, u: Callable, x: Array, index: tuple[int, ...]) -> Array:
    """A mixed partial by nesting: the most repeated axis as one directional series (one
    Taylor or nested forward pass), the remaining axes by `jax.jvp` around it."""
    if not index:
        return u(x)
    counts = Counter(index).most_common()
    (axis, count), rest = counts[0], [a for a, c in counts[1:] for _ in range(c)]

    def inner(y):
        return method.series(u, y, _basis(y, axis), count)[-1]

    out = inner
    for other in rest:
        out = _jvp_along(out, other)
    return out(x)


def _jvp_along(f: Callable, axis: int) -> Callable:
    def g(y):
        return jax.jvp(f, (y,), (_basis(y, axis),))[1]

    return g


class Forward(AbstractDerivativeMethod):
    """Forward mode: nested `jax.jvp` for every derivative, `jax.jacfwd` for gradients.

    A `k`-th derivative along one axis costs `2^k` tangent evaluations before XLA
    removes the duplicates (in practice about `k + 1` for `k <= 2`).
    """

    def series(self, u, x, v, order):
        return _forward_series(u, x, v, order)

    def first(self, u, x):
        return jax.jacfwd(u)(x)

    def mixed(self, u, x, index):
        return _nested_mixed(self, u, x, index)


class Reverse(AbstractDerivativeMethod):
    """Nested reverse mode (`jax.grad` of `jax.grad`), the habit this package avoids.

    Kept as the baseline of `benchmarks/pinn.py` and as a cross-check in the tests: the
    input has only a few coordinates, so each reverse sweep wastes most of its work, and
    reverse-over-reverse inside the training step's own reverse pass is the slowest
    combination.
    """

    def series(self, u, x, v, order):
        out = [u(x)]

        def directional(f):
            # D_v f = (df/dx) v, with the Jacobian by reverse mode.
            return lambda y: jnp.tensordot(jax.jacrev(f)(y), v, axes=1)

        f = u
        for _ in range(order):
            f = directional(f)
            out.append(f(x))
        return out

    def first(self, u, x):
        return jax.jacrev(u)(x)

    def mixed(self, u, x, index):
        f = u
        for i in index:
            f = _grad_component(f, i)
        return f(x)


def _grad_component(f: Callable, i: int) -> Callable:
    return lambda y: jax.jacrev(f)(y)[..., i]


class ForwardOverReverse(AbstractDerivativeMethod):
    """First derivatives by reverse mode, higher ones by `jax.jvp` of those (as `jax.hessian`)."""

    def series(self, u, x, v, order):
        if order == 0:
            return [u(x)]

        def first(y):
            return jnp.tensordot(jax.jacrev(u)(y), v, axes=1)

        out = [u(x)]
        out.extend(_forward_series(first, x, v, order - 1))
        return out

    def first(self, u, x):
        return jax.jacrev(u)(x)

    def mixed(self, u, x, index):
        return _nested_mixed(self, u, x, index)


class Taylor(AbstractDerivativeMethod):
    """Taylor mode: `jax.experimental.jet` propagates `[u, D_v u, ..., D_v^k u]` in one pass.

    Along one direction, the `k`-th derivative costs one pass of a truncated Taylor
    polynomial of degree `k` instead of `2^k` nested tangents; gradients use
    `jax.jacfwd`.

    ??? cite

        Bettencourt, Johnson and Duvenaud, "Taylor-mode automatic differentiation for
        higher-order derivatives in JAX", NeurIPS 2019 Program Transformations workshop;
        Griewank and Walther, *Evaluating Derivatives*, SIAM 2008, chapter 13.
    """

    def series(self, u, x, v, order):
        if order == 0:
            return [u(x)]
        zeros = [jnp.zeros_like(x)] * (order - 1)
        y0, ys = jet.jet(u, (x,), ((v, *zeros),))
        return [y0, *ys]

    def first(self, u, x):
        return jax.jacfwd(u)(x)

    def mixed(self, u, x, index):
        return _nested_mixed(self, u, x, index)


# The default of every helper below: the fastest strategy on the Burgers training step
# in `benchmarks/pinn.py` (2-core CPU, float64, see its docstring for the figures).
DEFAULT_METHOD: AbstractDerivativeMethod = Forward()


class TrialFunction(eqx.Module):
    """A trial function `u(x)` that carries its derivative strategy to the helpers.

    [`sciml.pinn.PINNLoss`][] passes one of these as the `u` of a residual
    `r(u, x, args)`, so that `grad(u, x)`, `derivative(u, x, index)` and
    `laplacian(u, x)` inside the residual use the strategy chosen for the loss without
    the residual naming it.
    """

    function: Callable
    method: AbstractDerivativeMethod

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " *out"]:
        """**Arguments:**

        - `x`: one point.

        **Returns:**

        `function(x)`.
        """
        return self.function(x)


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
