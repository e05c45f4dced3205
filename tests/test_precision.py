"""`sciml.study.precision`: a scoped float32 / float64 setting that never leaks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sciml.study import precision


def test_scope_sets_and_restores_the_default_float():
    # conftest enables x64 for the whole test session: that is the ambient setting here.
    assert jnp.ones(1).dtype == jnp.float64
    with precision("float32") as ambient:
        assert ambient == jnp.float64
        assert jnp.ones(1).dtype == jnp.float32
        with precision(np.float64) as inner:
            assert inner == jnp.float32
            assert jnp.ones(1).dtype == jnp.float64
        assert jnp.ones(1).dtype == jnp.float32
    assert jnp.ones(1).dtype == jnp.float64
    assert jax.config.jax_enable_x64


def test_scope_is_restored_when_the_block_raises():
    with pytest.raises(RuntimeError, match="inside"):
        with precision("float32"):
            raise RuntimeError("inside")
    assert jnp.ones(1).dtype == jnp.float64


def test_jitted_functions_follow_the_scope():
    f = jax.jit(lambda x: x * 2.0)
    with precision("float32"):
        assert f(jnp.ones(2)).dtype == jnp.float32
    assert f(jnp.ones(2)).dtype == jnp.float64


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "double", np.int32])
def test_other_dtypes_are_refused(dtype):
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        with precision(dtype):
            pass
