"""`sciml.study.predict_batched`: chunked, jitted prediction equals the plain vmap."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from sciml.study import predict_batched


_TRACES = []


class _TwoOutputs(eqx.Module):
    scale: jax.Array

    def __call__(self, x):
        _TRACES.append(x.shape)  # runs once per trace, not per call
        return {"sum": jnp.sum(self.scale * x), "square": x**2}


@pytest.mark.parametrize("batch_size", [None, 1, 4, 7, 10, 100])
def test_chunks_agree_with_one_vmap(batch_size, getkey):
    mlp = eqx.nn.MLP(3, 2, 8, 2, key=getkey())
    x = jr.normal(getkey(), (10, 3))
    expected = jax.vmap(mlp)(x)
    out = predict_batched(mlp, x, batch_size)
    assert out.shape == (10, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-14)


def test_pytree_outputs_and_one_compilation_per_chunk_size():
    model = _TwoOutputs(jnp.asarray([1.0, 2.0]))
    x = jnp.arange(10.0).reshape(5, 2)
    out = predict_batched(model, x, 2)  # three chunks, the last padded
    assert _TRACES == [(2,)]
    np.testing.assert_array_equal(out["sum"], x[:, 0] + 2 * x[:, 1])
    np.testing.assert_array_equal(out["square"], x**2)


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        predict_batched(lambda x: x, jnp.ones((3, 1)), 0)
