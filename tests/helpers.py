"""Shared test utilities: tree comparison and finite-difference gradient checks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def tree_allclose(x, y, *, rtol=1e-5, atol=1e-8) -> bool:
    """True when two pytrees have the same structure and allclose array leaves."""
    if jax.tree_util.tree_structure(x) != jax.tree_util.tree_structure(y):
        return False
    for a, b in zip(jax.tree_util.tree_leaves(x), jax.tree_util.tree_leaves(y)):
        if eqx.is_array(a):
            if a.shape != b.shape or not np.allclose(a, b, rtol=rtol, atol=atol):
                return False
        elif a != b:
            return False
    return True


def tree_equal_bytes(x, y) -> bool:
    """True when every array leaf of two pytrees is bit-identical."""
    xs = [np.asarray(a) for a in jax.tree_util.tree_leaves(eqx.filter(x, eqx.is_array))]
    ys = [np.asarray(a) for a in jax.tree_util.tree_leaves(eqx.filter(y, eqx.is_array))]
    return len(xs) == len(ys) and all(
        a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes() for a, b in zip(xs, ys)
    )


def finite_difference_grad(f, x, eps=1e-6):
    """Central finite-difference gradient of a scalar function of one float64 array."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat = x.reshape(-1)
    for i in range(flat.size):
        e = np.zeros_like(flat)
        e[i] = eps
        g.reshape(-1)[i] = (
            f(jnp.asarray((flat + e).reshape(x.shape))) - f(jnp.asarray((flat - e).reshape(x.shape)))
        ) / (2 * eps)
    return g
