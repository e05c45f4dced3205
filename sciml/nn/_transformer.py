"""Pre-norm Transformer encoder for sequences, with padding and causal masks."""

from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ._activations import get_activation
from ._checks import check_int, check_rate, check_size
from ._misc import check_shape, split_key
from ._positional import LearnedEncoding, SinusoidalEncoding


class TransformerBlock(eqx.Module):
    """A pre-norm encoder block: `x + attn(LN(x))`, then `x + MLP(LN(x))`.

    Normalising before each sub-layer (rather than after, as in Vaswani et al.) keeps
    the residual stream an identity path, which trains stably without warm-up.

    ??? cite

        [On Layer Normalization in the Transformer
        Architecture](https://arxiv.org/abs/2002.04745), Xiong et al., ICML 2020.
    """

    norm1: eqx.nn.LayerNorm
    attention: eqx.nn.MultiheadAttention
    norm2: eqx.nn.LayerNorm
    linear1: eqx.nn.Linear
    linear2: eqx.nn.Linear
    dropout: eqx.nn.Dropout
    activation: Callable

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        ff_size: int,
        *,
        dropout: float = 0.0,
        activation: str | Callable = "gelu",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `d_model`: the token size, divisible by `num_heads`.
        - `num_heads`: the number of attention heads.
        - `ff_size`: the hidden size of the feed-forward MLP.
        - `dropout`: the rate on attention weights and after each sub-layer.
        - `activation`: the feed-forward activation name or callable.
        - `key`: the PRNG key for the initialisation.
        """
        check_int("TransformerBlock", "d_model", d_model)
        check_int("TransformerBlock", "num_heads", num_heads)
        check_int("TransformerBlock", "ff_size", ff_size)
        check_rate("TransformerBlock", "dropout", dropout)
        akey, k1, k2 = jr.split(key, 3)
        self.norm1 = eqx.nn.LayerNorm(d_model)
        self.attention = eqx.nn.MultiheadAttention(num_heads, d_model, dropout_p=dropout, key=akey)
        self.norm2 = eqx.nn.LayerNorm(d_model)
        self.linear1 = eqx.nn.Linear(d_model, ff_size, key=k1)
        self.linear2 = eqx.nn.Linear(ff_size, d_model, key=k2)
        self.dropout = eqx.nn.Dropout(dropout)
        self.activation = get_activation(activation)

    def __call__(
        self,
        x: Float[Array, " seq d_model"],
        mask: Bool[Array, " seq seq"],
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " seq d_model"]:
        """**Arguments:**

        - `x`: the token sequence.
        - `mask`: `mask[q, k]` is whether query `q` may attend to key `k`.
        - `key`: the dropout key (needed only with dropout in training mode).

        **Returns:**

        The updated token sequence.
        """
        k1, k2, k3, k4 = split_key(key, 4)
        h = jax.vmap(self.norm1)(x)
        h = self.attention(h, h, h, mask=mask, key=k1)
        x = x + self.dropout(h, key=k2)
        h = self.activation(jax.vmap(self.linear1)(jax.vmap(self.norm2)(x)))
        h = jax.vmap(self.linear2)(self.dropout(h, key=k3))
        return x + self.dropout(h, key=k4)


class Transformer(eqx.Module):
    """A Transformer encoder on one sequence `[seq, in_size]`.

    Tokens are embedded linearly to `d_model`, given a positional encoding
    (`"sinusoidal"`, `"learned"` or `"none"`), passed through `depth` pre-norm
    `TransformerBlock`s and a final LayerNorm. The `"sequence"` head maps every token
    to `out_size` (`[seq, out_size]`, a sequence-to-sequence model, e.g. a time-series
    or autoregressive surrogate with `causal=True`); the `"vector"` head takes the
    mean over valid tokens and maps it to `out_size` (sequence to vector).

    `mask` marks the valid (non-padding) tokens: padded tokens are never attended to,
    do not enter the pooled mean, and get zero output in the sequence head. With
    `causal=True`, token `t` attends only to tokens `<= t`.

    The identical blocks are stored stacked and run with `jax.lax.scan`, so the compile
    time does not grow with `depth`.

    ??? cite

        [Attention Is All You Need](https://arxiv.org/abs/1706.03762), Vaswani et al.,
        NeurIPS 2017; pre-norm blocks as in Xiong et al., ICML 2020.
    """

    embed: eqx.nn.Linear
    positional: SinusoidalEncoding | LearnedEncoding | None
    embed_dropout: eqx.nn.Dropout
    blocks: TransformerBlock
    norm: eqx.nn.LayerNorm
    head: eqx.nn.Linear
    in_size: int = eqx.field(static=True)
    out_size: int | Literal["scalar"] = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    causal: bool = eqx.field(static=True)
    output: Literal["sequence", "vector"] = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int | Literal["scalar"],
        *,
        d_model: int = 64,
        num_heads: int = 4,
        depth: int = 2,
        ff_size: int | None = None,
        dropout: float = 0.0,
        activation: str | Callable = "gelu",
        positional: Literal["sinusoidal", "learned", "none"] = "sinusoidal",
        max_len: int = 512,
        causal: bool = False,
        output: Literal["sequence", "vector"] = "sequence",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `in_size`: the features per input token.
        - `out_size`: the features per output (or `"scalar"`).
        - `d_model`: the token size inside the encoder; divisible by `num_heads`.
        - `num_heads`: the number of attention heads.
        - `depth`: the number of encoder blocks.
        - `ff_size`: the feed-forward hidden size (default `4 * d_model`).
        - `dropout`: the dropout rate (attention weights, sub-layer outputs, embedding).
        - `activation`: the feed-forward activation.
        - `positional`: `"sinusoidal"`, `"learned"` or `"none"`.
        - `max_len`: the longest sequence for `positional="learned"`.
        - `causal`: whether token `t` may only attend to tokens `<= t`.
        - `output`: `"sequence"` (`[seq, out_size]`) or `"vector"` (`[out_size]`).
        - `key`: the PRNG key for the initialisation.

        **Raises:**

        A `ValueError` for inconsistent sizes or unknown options.
        """
        check_int("Transformer", "in_size", in_size)
        check_size("Transformer", "out_size", out_size)
        check_int("Transformer", "d_model", d_model)
        check_int("Transformer", "num_heads", num_heads)
        check_int("Transformer", "depth", depth)
        if ff_size is not None:
            check_int("Transformer", "ff_size", ff_size)
        check_int("Transformer", "max_len", max_len)
        check_rate("Transformer", "dropout", dropout)
        if d_model % num_heads != 0:
            raise ValueError(f"Transformer d_model={d_model} must be divisible by num_heads={num_heads}")
        if positional not in ("sinusoidal", "learned", "none"):
            raise ValueError(f"Transformer positional must be 'sinusoidal', 'learned' or 'none', got {positional!r}")
        if output not in ("sequence", "vector"):
            raise ValueError(f"Transformer output must be 'sequence' or 'vector', got {output!r}")
        ekey, pkey, bkey, hkey = jr.split(key, 4)
        ff_size = 4 * d_model if ff_size is None else ff_size
        self.embed = eqx.nn.Linear(in_size, d_model, key=ekey)
        if positional == "sinusoidal":
            self.positional = SinusoidalEncoding()
        elif positional == "learned":
            self.positional = LearnedEncoding(max_len, d_model, key=pkey)
        else:
            self.positional = None
        self.embed_dropout = eqx.nn.Dropout(dropout)

        def make_block(k: PRNGKeyArray) -> TransformerBlock:
            return TransformerBlock(d_model, num_heads, ff_size, dropout=dropout, activation=activation, key=k)

        self.blocks = eqx.filter_vmap(make_block)(jr.split(bkey, depth))
        self.norm = eqx.nn.LayerNorm(d_model)
        self.head = eqx.nn.Linear(d_model, 1 if out_size == "scalar" else out_size, key=hkey)
        self.in_size = in_size
        self.out_size = out_size
        self.depth = depth
        self.causal = causal
        self.output = output

    def __call__(
        self,
        x: Float[Array, " seq in_size"],
        state: eqx.nn.State | None = None,
        *,
        mask: Bool[Array, " seq"] | None = None,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " *out"] | tuple[Float[Array, " *out"], eqx.nn.State]:
        """**Arguments:**

        - `x`: one sequence of tokens, `[seq, in_size]` (no batch axis).
        - `state`: optional; a Transformer holds no state, so it is returned unchanged.
        - `mask`: `[seq]` booleans, `True` for valid tokens and `False` for padding.
        - `key`: the dropout key (needed only with dropout in training mode).

        **Returns:**

        `[seq, out_size]` (`[seq]` for `"scalar"`) for the sequence head, `[out_size]`
        (`()`) for the vector head; with `state`, `(output, state)`.

        **Raises:**

        A `ValueError` at trace time for a wrong input or mask shape.
        """
        check_shape("Transformer", ("seq", self.in_size), x.shape)
        seq = x.shape[0]
        if mask is None:
            mask = jnp.ones((seq,), dtype=bool)
        elif mask.shape != (seq,):
            raise ValueError(
                f"Transformer expected mask of shape ({seq},) for a sequence of length {seq}, got {mask.shape}"
            )
        allowed = jnp.broadcast_to(mask[None, :], (seq, seq))
        if self.causal:
            allowed = allowed & jnp.tril(jnp.ones((seq, seq), dtype=bool))
        # A padded query may have no valid key (e.g. causal with leading padding); let
        # every token see itself so no softmax row is empty. Valid outputs are
        # unaffected: a valid token already attends to itself.
        allowed = allowed | jnp.eye(seq, dtype=bool)

        ekey, bkey = split_key(key, 2)
        h = jax.vmap(self.embed)(x)
        if self.positional is not None:
            h = self.positional(h)
        h = self.embed_dropout(h, key=ekey)
        dynamic, static = eqx.partition(self.blocks, eqx.is_array)
        block_keys = None if bkey is None else jr.split(bkey, self.depth)

        def body(h, inputs):
            block_arrays, k = inputs
            return eqx.combine(block_arrays, static)(h, allowed, key=k), None

        h, _ = jax.lax.scan(body, h, (dynamic, block_keys))
        h = jax.vmap(self.norm)(h)
        weights = mask.astype(h.dtype)
        if self.output == "vector":
            pooled = jnp.sum(h * weights[:, None], axis=0) / jnp.maximum(jnp.sum(weights), 1)
            y = self.head(pooled)
            y = jnp.reshape(y, ()) if self.out_size == "scalar" else y
        else:
            y = jax.vmap(self.head)(h) * weights[:, None]
            y = y[:, 0] if self.out_size == "scalar" else y
        return y if state is None else (y, state)
