"""Positional encodings for sequences of tokens `[seq, d_model]`."""

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray


class SinusoidalEncoding(eqx.Module):
    """Adds the fixed sinusoidal encoding of Vaswani et al. (2017).

    `PE[p, 2i] = sin(p / 10000^(2i/d))`, `PE[p, 2i+1] = cos(p / 10000^(2i/d))`. It has
    no parameters and is computed for whatever sequence length arrives, so it extends
    to sequences longer than any seen in training.

    ??? cite

        [Attention Is All You Need](https://arxiv.org/abs/1706.03762), Vaswani et al.,
        NeurIPS 2017, Section 3.5.
    """

    def __call__(self, x: Float[Array, " seq d_model"]) -> Float[Array, " seq d_model"]:
        """**Arguments:**

        - `x`: token embeddings.

        **Returns:**

        `x` plus the encoding of positions `0 .. seq-1`.
        """
        seq, d = x.shape
        positions = jnp.arange(seq, dtype=x.dtype)[:, None]
        rates = 10000.0 ** (-jnp.arange(0, d, 2, dtype=x.dtype) / d)
        angles = positions * rates[None, :]
        # Interleave sin/cos, then drop the extra column when d is odd.
        table = jnp.stack([jnp.sin(angles), jnp.cos(angles)], axis=-1).reshape(seq, -1)
        return x + table[:, :d]


class LearnedEncoding(eqx.Module):
    """Adds a learned embedding of each position `0 .. max_len-1`.

    The table is initialised from `N(0, 0.02^2)` as in GPT-2 and BERT; sequences longer
    than `max_len` are rejected.
    """

    table: Float[Array, " max_len d_model"]

    def __init__(self, max_len: int, d_model: int, *, key: PRNGKeyArray):
        """**Arguments:**

        - `max_len`: the longest sequence supported.
        - `d_model`: the embedding size.
        - `key`: the PRNG key for the initialisation.
        """
        self.table = 0.02 * jr.normal(key, (max_len, d_model))

    def __call__(self, x: Float[Array, " seq d_model"]) -> Float[Array, " seq d_model"]:
        """**Arguments:**

        - `x`: token embeddings, with `seq <= max_len`.

        **Returns:**

        `x` plus the learned embedding of positions `0 .. seq-1`.

        **Raises:**

        A `ValueError` at trace time when the sequence is longer than `max_len`.
        """
        seq = x.shape[0]
        if seq > self.table.shape[0]:
            raise ValueError(
                f"LearnedEncoding supports sequences up to max_len={self.table.shape[0]}, got length {seq}"
            )
        return x + self.table[:seq]
