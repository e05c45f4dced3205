"""`sciml.train.relative_l2`: global and per-sample, on JAX and on NumPy arrays."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.study import precision
from sciml.train import relative_l2


def test_global_against_a_hand_computed_value():
    pred = np.array([[1.0, 2.0], [3.0, 5.0]])
    target = np.array([[1.0, 2.0], [3.0, 4.0]])
    # ||(0, 0, 0, 1)|| / ||(1, 2, 3, 4)|| = 1 / sqrt(30)
    expected = 1.0 / math.sqrt(30.0)
    assert float(relative_l2(pred, target)) == pytest.approx(expected, rel=1e-15)
    assert float(relative_l2(jnp.asarray(pred), jnp.asarray(target))) == pytest.approx(expected, rel=1e-15)
    assert float(jax.jit(relative_l2)(jnp.asarray(pred), jnp.asarray(target))) == pytest.approx(expected, rel=1e-15)


def test_per_sample_along_an_axis():
    pred = np.array([[1.0, 2.0], [3.0, 5.0]])
    target = np.array([[1.0, 1.0], [3.0, 4.0]])
    expected = [1.0 / math.sqrt(2.0), 1.0 / 5.0]
    np.testing.assert_allclose(relative_l2(pred, target, axis=-1), expected, rtol=1e-15)
    np.testing.assert_allclose(relative_l2(jnp.asarray(pred), jnp.asarray(target), axis=1), expected, rtol=1e-15)
    # Two axes: the Frobenius norm over each (2, 2) block of a batch.
    batch = np.stack([pred, 2 * pred]), np.stack([target, 2 * target])
    np.testing.assert_allclose(relative_l2(*batch, axis=(1, 2)), [relative_l2(pred, target)] * 2, rtol=1e-15)


def test_numpy_arguments_keep_float64_whatever_jax_precision():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(64, 33))
    pred = target * (1 + 1e-10 * rng.normal(size=target.shape))
    exact = np.linalg.norm(pred - target) / np.linalg.norm(target)
    with precision("float32"):
        value = relative_l2(pred, target)
    assert value.dtype == np.float64
    assert float(value) == exact  # the same NumPy reduction, bit for bit


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match=r"prediction shape \(2,\) does not match target shape \(3,\)"):
        relative_l2(np.zeros(2), np.ones(3))
