"""Plain convolutional network for 1, 2 and 3 spatial dimensions."""

from collections.abc import Callable, Sequence
from typing import Literal

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._activations import get_activation
from ._batch_norm import BatchNorm
from ._checks import check_int, check_ints, check_rate
from ._head import check_head, head_size, reshape_head
from ._misc import apply_norm, check_shape, require_state, split_key


_POOLS = {
    ("max", 1): eqx.nn.MaxPool1d,
    ("max", 2): eqx.nn.MaxPool2d,
    ("max", 3): eqx.nn.MaxPool3d,
    ("avg", 1): eqx.nn.AvgPool1d,
    ("avg", 2): eqx.nn.AvgPool2d,
    ("avg", 3): eqx.nn.AvgPool3d,
}


class _ConvBlock(eqx.Module):
    """conv -> optional BatchNorm -> activation -> optional 2x pooling -> dropout."""

    conv: eqx.nn.Conv
    norm: BatchNorm | None
    pool: eqx.nn.Pool | None
    dropout: eqx.nn.Dropout
    activation: Callable

    def __call__(
        self,
        x: Float[Array, " c_in *spatial"],
        state: eqx.nn.State | None,
        *,
        key: PRNGKeyArray | None,
    ) -> tuple[Float[Array, " c_out *new_spatial"], eqx.nn.State | None]:
        x, state = apply_norm(self.norm, self.conv(x), state)
        x = self.activation(x)
        if self.pool is not None:
            x = self.pool(x)
        return self.dropout(x, key=key), state


class CNN(eqx.Module):
    """A convolutional network with a global-average-pooled regression or class head.

    Each block is a same-padded convolution, optional BatchNorm, the activation,
    optional 2x max/average pooling and dropout. After the last block the spatial axes
    are averaged away and a linear head gives `out_size` regression outputs or
    `num_classes` logits. One sample is channels first, `[in_channels, *spatial]`.

    With `batch_norm=True` the model holds state: build it with
    `eqx.nn.make_with_state` (or `sciml.nn.build_with_state`) and call it as
    `jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(xs, state)`.
    """

    blocks: tuple[_ConvBlock, ...]
    head: eqx.nn.Linear
    num_spatial_dims: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    out_size: int | Literal["scalar"] = eqx.field(static=True)
    batch_norm: bool = eqx.field(static=True)
    num_pools: int = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        channels: Sequence[int] = (16, 32, 64),
        *,
        out_size: int | Literal["scalar"] | None = None,
        num_classes: int | None = None,
        kernel_size: int = 3,
        activation: str | Callable = "relu",
        batch_norm: bool = False,
        pooling: Literal["max", "avg"] | None = "max",
        padding_mode: Literal["zeros", "circular", "reflect", "replicate"] = "zeros",
        dropout: float = 0.0,
        bn_momentum: float = 0.99,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `num_spatial_dims`: 1, 2 or 3.
        - `in_channels`: the channels of one input sample.
        - `channels`: the output channels of each conv block.
        - `out_size`: regression head size (or `"scalar"`); give this or `num_classes`.
        - `num_classes`: classification head size (the output are logits).
        - `kernel_size`: the convolution kernel size (odd, for symmetric same-padding).
        - `activation`: an activation name or callable.
        - `batch_norm`: BatchNorm after each convolution (makes the model stateful).
        - `pooling`: `"max"`, `"avg"` or `None`; 2x down-sampling in each block.
        - `padding_mode`: how the same-padding is filled; `"circular"` for periodic data.
        - `dropout`: the dropout rate after each block.
        - `bn_momentum`: the BatchNorm running-average momentum.
        - `key`: the PRNG key for the initialisation.

        **Raises:**

        A `ValueError` for unsupported dimensions, pooling, or head arguments.
        """
        check_int("CNN", "in_channels", in_channels)
        check_ints("CNN", "channels", channels)
        check_int("CNN", "kernel_size", kernel_size)
        check_rate("CNN", "dropout", dropout)
        if num_spatial_dims not in (1, 2, 3):
            raise ValueError(f"CNN supports num_spatial_dims 1, 2 or 3, got {num_spatial_dims}")
        if pooling not in ("max", "avg", None):
            raise ValueError(f"CNN pooling must be 'max', 'avg' or None, got {pooling!r}")
        if len(channels) == 0:
            raise ValueError("CNN needs at least one conv block in `channels`")
        head_out = check_head("CNN", out_size, num_classes)
        *ckeys, hkey = jr.split(key, len(channels) + 1)
        act = get_activation(activation)
        blocks = []
        for c_in, c_out, k in zip((in_channels, *channels[:-1]), channels, ckeys):
            conv = eqx.nn.Conv(
                num_spatial_dims,
                c_in,
                c_out,
                kernel_size,
                padding="SAME",
                padding_mode=padding_mode.upper(),
                # A bias before BatchNorm is cancelled by its mean subtraction.
                use_bias=not batch_norm,
                key=k,
            )
            norm = BatchNorm(c_out, momentum=bn_momentum) if batch_norm else None
            pool = None if pooling is None else _POOLS[pooling, num_spatial_dims](2, 2)
            blocks.append(_ConvBlock(conv, norm, pool, eqx.nn.Dropout(dropout), act))
        self.blocks = tuple(blocks)
        self.head = eqx.nn.Linear(channels[-1], head_size(head_out), key=hkey)
        self.num_spatial_dims = num_spatial_dims
        self.in_channels = in_channels
        self.out_size = head_out
        self.batch_norm = batch_norm
        self.num_pools = 0 if pooling is None else len(channels)

    def __call__(
        self,
        x: Float[Array, " channels *spatial"],
        state: eqx.nn.State | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " *out"] | tuple[Float[Array, " *out"], eqx.nn.State]:
        """**Arguments:**

        - `x`: one sample, `[in_channels, *spatial]`; with pooling every spatial size
            must be at least `2 ** len(channels)`.
        - `state`: the BatchNorm state; required when built with `batch_norm=True`.
        - `key`: the dropout key (needed only with dropout in training mode).

        **Returns:**

        The head output, `(out_size,)`, `()` or `(num_classes,)`; with `state`,
        `(output, state)`.

        **Raises:**

        A `ValueError` at trace time for a wrong input shape or a missing state.
        """
        spatial = tuple(f"n{i + 1}" for i in range(self.num_spatial_dims))
        check_shape("CNN", (self.in_channels, *spatial), x.shape)
        smallest = 2**self.num_pools
        if min(x.shape[1:]) < smallest:
            raise ValueError(
                f"CNN with {self.num_pools} pooling blocks needs spatial sizes >= {smallest}, "
                f"got input of shape {x.shape}"
            )
        require_state("CNN", self.batch_norm, state)
        for block, k in zip(self.blocks, split_key(key, len(self.blocks))):
            x, state = block(x, state, key=k)
        pooled = jnp.mean(x, axis=tuple(range(1, x.ndim)))
        y = reshape_head(self.head(pooled), self.out_size)
        return y if state is None else (y, state)
