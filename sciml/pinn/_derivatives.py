"""Derivative strategies for PINN residuals: forward, reverse, mixed and Taylor mode.

A residual needs the derivatives of the trial function with respect to its *input*
point, then the training step differentiates the whole residual with respect to the
*parameters* in reverse mode. For the inner, input derivatives the input is small (one
point of a few coordinates), so forward mode is the natural choice: every extra
derivative costs one more tangent through the network instead of one more reverse
sweep, and Taylor mode (`jax.experimental.jet`) carries a whole series of derivatives
along one direction in a single pass.
Forward mode is the default of every helper: it was the fastest strategy on the Burgers
training step (`benchmarks/pinn.py`; the figures are in the README).
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
