"""Implicit layers and deep equilibrium layers: solutions, implicit-function-theorem gradients, result codes."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import lineax as lx
import numpy as np
import optax
import optimistix as optx
import pytest
from jaxtyping import Array, Float

from sciml.implicit import DEQ, ImplicitLayer, ImplicitSolution
from sciml.nn import MLP
from sciml.ode import RESULTS
from sciml.testing import check_grad
from sciml.train import fit, Logging


TIGHT = optx.Newton(rtol=1e-12, atol=1e-12)


class LinearResidual(eqx.Module):
    """g(z, x) = A z + c tanh(z) - net(x); linear in z when c = 0."""

    a: Float[Array, " m m"]
    c: Float[Array, ""]
    net: MLP

    def __call__(self, z, x):
        return self.a @ z + self.c * jnp.tanh(z) - self.net(x)


class TanhMap(eqx.Module):
    """f(z, x) = tanh(W z + net(x)) (+ a linear variant), the DEQ cell of Bai et al. 2019."""

    w: Float[Array, " m m"]
    net: MLP
    linear: bool = eqx.field(static=True, default=False)

    def __call__(self, z, x):
        pre = self.w @ z + self.net(x)
        return pre if self.linear else jnp.tanh(pre)


def _residual(key, m=3, c=0.0):
    akey, nkey = jr.split(key)
    a = 2 * jnp.eye(m) + 0.3 * jr.normal(akey, (m, m))
    return LinearResidual(a, jnp.asarray(c), MLP(2, m, width=8, depth=1, key=nkey))


def _tanh_map(key, m=3, linear=False):
    wkey, nkey = jr.split(key)
    # Spectral norm about 0.5: a contraction, so fixed-point iteration converges too.
    w = jr.normal(wkey, (m, m))
    w = 0.5 * w / jnp.linalg.norm(w, 2)
    return TanhMap(w, MLP(2, m, width=8, depth=1, key=nkey), linear)


def test_linear_residual_matches_numpy_solve(getkey):
    residual = _residual(getkey())
    layer = ImplicitLayer(residual, (3,), solver=TIGHT)
    xs = jr.normal(getkey(), (4, 2))
    zs = jax.vmap(layer)(xs)
    for x, z in zip(xs, zs):
        expected = np.linalg.solve(np.asarray(residual.a), np.asarray(residual.net(x)))
        np.testing.assert_allclose(z, expected, rtol=1e-12, atol=1e-13)
        assert np.max(np.abs(residual(z, x))) < 1e-13


def test_scalar_root_and_gradient_are_analytic():
    # g(z, x; a) = exp(a z) - x  =>  z* = log(x) / a, dz/dx = 1 / (a x), dz/da = -log(x) / a^2.
    def z_star(a, x):
        return ImplicitLayer(lambda z, x: jnp.exp(a * z) - x, (), solver=TIGHT)(x)

    a, x = jnp.array(1.5), jnp.array(3.0)
    np.testing.assert_allclose(z_star(a, x), np.log(3.0) / 1.5, rtol=1e-14)
    da, dx = jax.grad(z_star, argnums=(0, 1))(a, x)
    # The closed-over `a` reaches the custom VJP through closure conversion.
    np.testing.assert_allclose(da, -np.log(3.0) / 1.5**2, rtol=1e-12)
    np.testing.assert_allclose(dx, 1 / (1.5 * 3.0), rtol=1e-12)


@pytest.mark.parametrize("c", [0.0, 0.5])
def test_gradients_match_finite_differences(getkey, c):
    layer = ImplicitLayer(_residual(getkey(), c=c), (3,), solver=TIGHT)
    x = jnp.array([0.3, -0.7])
    weights = jnp.array([1.0, -2.0, 0.5])

    def loss(layer, x):
        return jnp.sum(weights * jnp.sin(layer(x)))

    # Parameters of the residual (A, c and the MLP) and the input, entry by entry.
    report = check_grad(loss, layer, x, rtol=1e-6, atol=1e-9)
    assert report.max_rel_error < 1e-6, str(report)


def test_deq_matches_closed_form_and_finite_differences(getkey):
    # Linear map f(z, x) = W z + net(x): z* = (I - W)^-1 net(x).
    cell = _tanh_map(getkey(), linear=True)
    deq = DEQ(cell, (3,), solver=TIGHT)
    x = jnp.array([0.2, 0.4])
    expected = np.linalg.solve(np.eye(3) - np.asarray(cell.w), np.asarray(cell.net(x)))
    np.testing.assert_allclose(deq(x), expected, rtol=1e-12, atol=1e-13)
    # Nonlinear cell: the equilibrium satisfies z = f(z, x), and the IFT gradient is right.
    deq = DEQ(_tanh_map(getkey()), (3,), solver=TIGHT)
    z = deq(x)
    assert np.max(np.abs(deq.fn(z, x) - z)) < 1e-13
    check_grad(lambda deq, x: jnp.sum(deq(x) ** 2), deq, x, rtol=1e-6, atol=1e-9)


def test_gradient_does_not_depend_on_the_forward_solver(getkey):
    cell = _tanh_map(getkey())
    x = jnp.array([0.5, -1.0])
    solvers = {
        "newton": optx.Newton(rtol=1e-12, atol=1e-12),
        "picard": optx.FixedPointIteration(rtol=1e-13, atol=1e-13),
        "picard_loose": optx.FixedPointIteration(rtol=1e-9, atol=1e-9),
    }
    grads, steps = {}, {}
    for name, solver in solvers.items():
        deq = DEQ(cell, (3,), solver=solver)
        steps[name] = int(deq.solve(x).num_steps)
        grads[name] = eqx.filter_grad(lambda dx: jnp.sum(jnp.cos(dx[0](dx[1]))))((deq, x))
    # Warm-started at the solution, the forward solve takes (almost) no iterations.
    deq = DEQ(cell, (3,), solver=solvers["newton"])
    z_star = deq(x)
    steps["warm"] = int(deq.solve(x, z_star).num_steps)
    grads["warm"] = eqx.filter_grad(lambda dx: jnp.sum(jnp.cos(dx[0](dx[1], z_star))))((deq, x))
    assert steps["picard"] > 5 * steps["newton"] and steps["warm"] <= 1, steps
    reference = jax.tree_util.tree_leaves(eqx.filter(grads["newton"], eqx.is_inexact_array))
    for name, g in grads.items():
        leaves = jax.tree_util.tree_leaves(eqx.filter(g, eqx.is_inexact_array))
        # A looser forward solve moves the point z* at which the IFT is evaluated by
        # about its tolerance, and the gradient by as much; nothing else changes.
        rtol = 1e-7 if name == "picard_loose" else 1e-11
        for a, b in zip(leaves, reference, strict=True):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2, err_msg=name)


def _primitive_counts(jaxpr) -> dict[str, int]:
    counts: dict[str, int] = {}

    def walk(j):
        for eqn in j.eqns:
            counts[eqn.primitive.name] = counts.get(eqn.primitive.name, 0) + 1
            for param in eqn.params.values():
                for sub in param if isinstance(param, (tuple, list)) else (param,):
                    if isinstance(sub, jax.extend.core.ClosedJaxpr):
                        walk(sub.jaxpr)
                    elif isinstance(sub, jax.extend.core.Jaxpr):
                        walk(sub)

    walk(jaxpr.jaxpr)
    return counts


def test_backward_pass_is_one_linear_solve_without_loops(getkey):
    deq = DEQ(_tanh_map(getkey()), (3,), solver=optx.FixedPointIteration(rtol=1e-10, atol=1e-10))
    x = jnp.array([0.5, -1.0])
    z, vjp = jax.vjp(lambda x: deq(x), x)
    assert "while" in _primitive_counts(jax.make_jaxpr(lambda x: deq(x))(x))
    counts = _primitive_counts(jax.make_jaxpr(vjp)(jnp.ones_like(z)))
    # The iterations are neither differentiated nor replayed: one adjoint solve, no loop.
    assert counts.get("linear_solve", 0) == 1, counts
    assert counts.get("while", 0) == 0 and counts.get("scan", 0) == 0, counts


def test_matrix_free_adjoint_solver(getkey):
    cell = _tanh_map(getkey(), m=4)
    x = jnp.array([0.1, 0.2])
    dense = DEQ(cell, (4,), solver=TIGHT)
    free = DEQ(cell, (4,), solver=TIGHT, linear_solver=lx.GMRES(rtol=1e-12, atol=1e-12))
    g_dense = jax.grad(lambda x: jnp.sum(dense(x) ** 2))(x)
    g_free = jax.grad(lambda x: jnp.sum(free(x) ** 2))(x)
    np.testing.assert_allclose(g_free, g_dense, rtol=1e-9)


def test_trains_inside_fit(getkey):
    # Learn the MLP of a DEQ so that z*(x)[0] fits a target; gradients through fit's step.
    deq = DEQ(_tanh_map(getkey()), (3,))
    xs = jr.uniform(getkey(), (16, 2), minval=-1.0, maxval=1.0)
    ys = jnp.sin(2 * xs[:, 0]) * 0.5

    def loss(model, batch, key):
        x, y = batch
        return jnp.mean((jax.vmap(model)(x)[:, 0] - y) ** 2)

    result = fit(deq, loss, (xs, ys), optax.adam(1e-2), steps=30, key=getkey(), logging=Logging(quiet=True))
    assert isinstance(result.model, ImplicitLayer) and result.model.fixed_point
    assert result.losses[-1] < 0.5 * result.losses[0], result.losses


def test_throw_true_raises_on_non_convergence(getkey):
    layer = ImplicitLayer(_residual(getkey(), c=0.5), (3,), solver=TIGHT, max_steps=1)
    with pytest.raises(eqx.EquinoxRuntimeError, match="maximum number of steps"):
        layer(jnp.array([0.3, -0.7]))
    with pytest.raises(eqx.EquinoxRuntimeError, match="maximum number of steps"):
        jax.grad(lambda x: jnp.sum(layer(x)))(jnp.array([0.3, -0.7]))


def test_throw_false_returns_codes_under_vmap():
    # z = x z + 1 is a contraction for |x| < 1 (z* = 1 / (1 - x)) and diverges for |x| > 1.
    deq = DEQ(lambda z, x: x * z + 1, (), solver=optx.FixedPointIteration(rtol=1e-10, atol=1e-10), throw=False)
    sol = jax.vmap(deq.solve)(jnp.array([0.5, 2.0, -0.25]))
    assert isinstance(sol, ImplicitSolution)
    np.testing.assert_array_equal(np.asarray(sol.ok), [True, False, True])
    assert bool((sol.result == RESULTS.nonlinear_max_steps_reached)[1])
    np.testing.assert_allclose(sol.value[jnp.array([0, 2])], [2.0, 0.8], rtol=1e-9)
    # (z - 1)^2 = x has no root for x < 0: Newton fails there and only there.
    layer = ImplicitLayer(lambda z, x: (z - 1) ** 2 - x, (), solver=TIGHT, max_steps=64, throw=False)
    sol = jax.vmap(layer.solve)(jnp.array([4.0, -1.0]))
    np.testing.assert_array_equal(np.asarray(sol.result == RESULTS.successful), [True, False])
    np.testing.assert_allclose(sol.value[0], -1.0, rtol=1e-12)


def test_errors(getkey):
    message = r"ImplicitLayer: fn\(z, x\) must return an array of z's shape \(2,\), got \(3,\)"
    with pytest.raises(ValueError, match=message):
        ImplicitLayer(lambda z, x: jnp.concatenate([z, x[:1]]), (2,))(jnp.zeros(2))
    with pytest.raises(ValueError, match=r"z0 must have shape \(3,\), got \(2,\)"):
        DEQ(_tanh_map(getkey()), (3,))(jnp.zeros(2), jnp.zeros(2))
    with pytest.raises((ValueError, TypeError), match="z_shape"):
        ImplicitLayer(_residual(getkey()), (0,))
    with pytest.raises((ValueError, TypeError), match="max_steps"):
        DEQ(_tanh_map(getkey()), (3,), max_steps=0)
    # A fixed-point solver on a residual would silently solve the wrong equation.
    with pytest.raises(ValueError, match="fixed_point=True"):
        ImplicitLayer(_residual(getkey()), (3,), solver=optx.FixedPointIteration(rtol=1e-6, atol=1e-6))
