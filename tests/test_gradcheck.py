"""sciml.testing: finite-difference gradients and the gradient check that guards custom rules."""

import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.nn import MLP
from sciml.testing import check_grad, finite_difference_grad, GradCheckReport, GradientCheckError


def _rosenbrock(x):
    return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def test_finite_difference_grad_matches_analytic():
    x = jnp.array([0.3, -1.2, 2.0, 0.7])
    expected = np.asarray(jax.grad(_rosenbrock)(x))
    got = finite_difference_grad(_rosenbrock, x)
    # Central differences with h = 1e-6 (relative): truncation ~h^2 f''', rounding ~1e-16 |f| / h.
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-6)


def test_finite_difference_grad_pytrees_and_argnums(getkey):
    mlp = MLP(2, "scalar", width=4, depth=1, key=getkey())
    x = jnp.array([0.5, -0.25])
    n = jnp.array(3)  # an integer leaf: held fixed, gets None

    def f(model, x, n):
        return model(x) * n + jnp.sum(x**2)

    g_model, g_x, g_n = finite_difference_grad(f, mlp, x, n, argnums=(0, 1, 2))
    assert g_n is None
    ad_model, ad_x = eqx.filter_grad(lambda mx: f(mx[0], mx[1], n))((mlp, x))
    np.testing.assert_allclose(g_x, ad_x, rtol=1e-7, atol=1e-8)
    for a, b in zip(jax.tree_util.tree_leaves(g_model), jax.tree_util.tree_leaves(ad_model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)
    # A single int argnums returns the bare gradient, like jax.grad.
    np.testing.assert_allclose(finite_difference_grad(f, mlp, x, n, argnums=1), ad_x, rtol=1e-7, atol=1e-8)


def test_check_grad_passes_on_correct_rules(getkey):
    mlp = MLP(3, "scalar", width=8, depth=2, key=getkey())
    x = jnp.array([0.1, 0.2, -0.3])
    report = check_grad(lambda m, x: jnp.sin(m(x)) + jnp.sum(x**3), mlp, x, modes=("rev", "fwd"))
    assert isinstance(report, GradCheckReport) and report.passed
    assert report.num_checked == sum(a.size for a in jax.tree_util.tree_leaves(eqx.filter(mlp, eqx.is_array))) + 3
    assert report.max_rel_error < 1e-6, str(report)


@jax.custom_vjp
def _cube_wrong(x):
    return x**3


def _cube_fwd(x):
    return x**3, x


def _cube_bwd(x, g):
    # Deliberately wrong: the correct cotangent is 3 x^2 g.
    return (3 * x**2 * g * (1 + 1e-3 * (x > 0.5)),)


_cube_wrong.defvjp(_cube_fwd, _cube_bwd)


def test_check_grad_catches_a_wrong_custom_vjp():
    x = jnp.array([0.2, 0.4, 0.9, -0.3])
    with pytest.raises(GradientCheckError, match=r"worst entry args\[0\]\[2\]") as info:
        check_grad(lambda x: jnp.sum(_cube_wrong(x)), x)
    assert "FAILED" in str(info.value)
    report = check_grad(lambda x: jnp.sum(_cube_wrong(x)), x, throw=False)
    assert not report.passed
    assert report.worst_entry == "args[0][2]" and report.worst_mode == "rev"
    # The rule is wrong by a relative 1e-3 on one entry, and the report says so.
    assert report.max_rel_error == pytest.approx(1e-3, rel=1e-2)
    np.testing.assert_allclose(report.worst_finite_difference, 3 * 0.9**2, rtol=1e-8)
    # The same rule restricted to the correct entries passes.
    check_grad(lambda x: jnp.sum(_cube_wrong(x)), jnp.array([0.2, 0.4, -0.3]))


@jax.custom_jvp
def _softplus_wrong(x):
    return jnp.logaddexp(x, 0.0)


@_softplus_wrong.defjvp
def _softplus_wrong_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    # Deliberately wrong: the derivative is sigmoid(x), not sigmoid(2x).
    return _softplus_wrong(x), jax.nn.sigmoid(2 * x) * t


def test_check_grad_catches_a_wrong_custom_jvp_in_both_modes():
    x = jnp.array([0.3, -0.7])
    for mode in ("rev", "fwd"):
        with pytest.raises(GradientCheckError):
            check_grad(lambda x: jnp.sum(_softplus_wrong(x)), x, modes=(mode,))


def test_directional_check(getkey):
    mlp = MLP(4, 2, width=16, depth=2, key=getkey())
    x = jnp.linspace(-1, 1, 4)
    report = check_grad(lambda m: jnp.sum(m(x) ** 2), mlp, directions=5, key=getkey())
    assert report.passed and report.num_checked == 5 and report.worst_entry.startswith("direction")
    with pytest.raises(GradientCheckError):
        check_grad(lambda x: jnp.sum(_cube_wrong(x)), jnp.full(20, 0.9), directions=3)


def test_check_grad_argnums_holds_other_arguments_fixed():
    x, y = jnp.array([0.9]), jnp.array([2.0])
    # The wrong rule sits on x only: checking y alone passes, checking x fails.
    check_grad(lambda x, y: jnp.sum(_cube_wrong(x) * y**2), x, y, argnums=1)
    with pytest.raises(GradientCheckError):
        check_grad(lambda x, y: jnp.sum(_cube_wrong(x) * y**2), x, y, argnums=0)


def test_check_grad_validates_its_inputs():
    with pytest.raises(ValueError, match="real scalar"):
        check_grad(lambda x: x**2, jnp.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="float32"):
        check_grad(lambda x: jnp.sum(x), jnp.array([1.0], jnp.float32))
    with pytest.raises(ValueError, match="no floating-point array"):
        check_grad(lambda n: jnp.sum(n) * 1.0, jnp.array([1, 2]))
    # Under the test suite's runtime type checking the annotation rejects it first.
    with pytest.raises((ValueError, TypeError), match="modes"):
        check_grad(lambda x: jnp.sum(x), jnp.array([1.0]), modes=("central",))
    with pytest.raises(ValueError, match="out of range"):
        check_grad(lambda x: jnp.sum(x), jnp.array([1.0]), argnums=3)


def test_check_grad_needs_x64():
    # x64 cannot be switched off in this process without disturbing other tests.
    code = (
        "import jax.numpy as jnp\n"
        "from sciml.testing import check_grad\n"
        "try:\n"
        "    check_grad(lambda x: jnp.sum(x), jnp.ones(2))\n"
        "except ValueError as e:\n"
        "    assert 'jax_enable_x64' in str(e), e\n"
        "    print('ok')\n"
    )
    env = {"JAX_PLATFORMS": "cpu", "JAX_ENABLE_X64": "0", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
