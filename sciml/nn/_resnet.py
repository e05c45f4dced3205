"""Residual networks (He et al. 2016) for 1D, 2D and 3D inputs."""

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
from ._misc import apply_norm, check_shape, require_state
from ._residual_blocks import BasicBlock, BottleneckBlock


class ResNet(eqx.Module):
    """A residual network with a global-average-pooled regression or class head.

    A CIFAR-style stem (3-wide convolution, stride 1, no max pooling: scientific
    inputs are small grids, not 224-pixel photographs) is followed by stages of
    residual blocks. Stage `i` has `width * 2**i` channels (times 4 for bottleneck
    blocks) and every stage after the first halves the resolution with a stride-2
    first block and a projection shortcut. Then the spatial axes are averaged away,
    dropout is applied and a linear head gives `out_size` outputs or `num_classes`
    logits. BatchNorm state is threaded through every block.

    With `batch_norm=True` (the default) the model holds state: build it with
    `eqx.nn.make_with_state` (or `sciml.nn.build_with_state`) and call it as
    `jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(xs, state)`.

    ??? cite

        [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385),
        He, Zhang, Ren & Sun, CVPR 2016, Table 1 and Section 4.2.
    """

    stem: eqx.nn.Conv
    stem_norm: BatchNorm | None
    blocks: tuple[BasicBlock | BottleneckBlock, ...]
    dropout: eqx.nn.Dropout
    head: eqx.nn.Linear
    activation: Callable
    num_spatial_dims: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    out_size: int | Literal["scalar"] = eqx.field(static=True)
    batch_norm: bool = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        block: Literal["basic", "bottleneck"] = "basic",
        blocks_per_stage: Sequence[int] = (2, 2, 2, 2),
        *,
        out_size: int | Literal["scalar"] | None = None,
        num_classes: int | None = None,
        width: int = 64,
        activation: str | Callable = "relu",
        batch_norm: bool = True,
        bn_momentum: float = 0.99,
        padding_mode: Literal["zeros", "circular", "reflect", "replicate"] = "zeros",
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `num_spatial_dims`: 1, 2 or 3.
        - `in_channels`: the channels of one input sample.
        - `block`: `"basic"` (ResNet-18/34) or `"bottleneck"` (ResNet-50 and deeper).
        - `blocks_per_stage`: the number of blocks in each stage.
        - `out_size`: regression head size (or `"scalar"`); give this or `num_classes`.
        - `num_classes`: classification head size (the outputs are logits).
        - `width`: the channels of the stem and first stage (64 in He et al.); a small
            value gives a tiny network with the same topology.
        - `activation`: an activation name or callable.
        - `batch_norm`: BatchNorm after every convolution (makes the model stateful).
        - `bn_momentum`: the BatchNorm running-average momentum.
        - `padding_mode`: how same-padding is filled; `"circular"` for periodic data.
        - `dropout`: the dropout rate before the head.
        - `key`: the PRNG key for the initialisation.

        **Raises:**

        A `ValueError` for unsupported dimensions, block types or head arguments.
        """
        check_int("ResNet", "in_channels", in_channels)
        check_ints("ResNet", "blocks_per_stage", blocks_per_stage)
        check_int("ResNet", "width", width)
        check_rate("ResNet", "dropout", dropout)
        if num_spatial_dims not in (1, 2, 3):
            raise ValueError(f"ResNet supports num_spatial_dims 1, 2 or 3, got {num_spatial_dims}")
        if block not in ("basic", "bottleneck"):
            raise ValueError(f"ResNet block must be 'basic' or 'bottleneck', got {block!r}")
        head_out = check_head("ResNet", out_size, num_classes)
        block_cls = BasicBlock if block == "basic" else BottleneckBlock
        skey, hkey, *bkeys = jr.split(key, 2 + sum(blocks_per_stage))
        self.stem = eqx.nn.Conv(
            num_spatial_dims,
            in_channels,
            width,
            3,
            padding="SAME",
            padding_mode=padding_mode.upper(),
            use_bias=not batch_norm,
            key=skey,
        )
        self.stem_norm = BatchNorm(width, momentum=bn_momentum) if batch_norm else None
        blocks = []
        channels = width
        bkeys = iter(bkeys)
        for stage, count in enumerate(blocks_per_stage):
            planes = width * 2**stage
            for i in range(count):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(
                    block_cls(
                        num_spatial_dims,
                        channels,
                        planes,
                        stride,
                        activation=activation,
                        batch_norm=batch_norm,
                        bn_momentum=bn_momentum,
                        padding_mode=padding_mode,
                        key=next(bkeys),
                    )
                )
                channels = planes * block_cls.expansion
        self.blocks = tuple(blocks)
        self.dropout = eqx.nn.Dropout(dropout)
        self.head = eqx.nn.Linear(channels, head_size(head_out), key=hkey)
        self.activation = get_activation(activation)
        self.num_spatial_dims = num_spatial_dims
        self.in_channels = in_channels
        self.out_size = head_out
        self.batch_norm = batch_norm

    def __call__(
        self,
        x: Float[Array, " channels *spatial"],
        state: eqx.nn.State | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " *out"] | tuple[Float[Array, " *out"], eqx.nn.State]:
        """**Arguments:**

        - `x`: one sample, `[in_channels, *spatial]`.
        - `state`: the BatchNorm state; required when built with `batch_norm=True`.
        - `key`: the dropout key (needed only with dropout in training mode).

        **Returns:**

        The head output, `(out_size,)`, `()` or `(num_classes,)`; with `state`,
        `(output, state)`.

        **Raises:**

        A `ValueError` at trace time for a wrong input shape or a missing state.
        """
        spatial = tuple(f"n{i + 1}" for i in range(self.num_spatial_dims))
        check_shape("ResNet", (self.in_channels, *spatial), x.shape)
        require_state("ResNet", self.batch_norm, state)
        x, state = apply_norm(self.stem_norm, self.stem(x), state)
        x = self.activation(x)
        for block in self.blocks:
            x, state = block(x, state)
        pooled = jnp.mean(x, axis=tuple(range(1, x.ndim)))
        pooled = self.dropout(pooled, key=key)
        y = reshape_head(self.head(pooled), self.out_size)
        return y if state is None else (y, state)


# He et al. 2016, Table 1: the block kind and blocks per stage of each standard depth.
_DEPTHS: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def resnet(
    depth: int,
    num_spatial_dims: int,
    in_channels: int,
    *,
    out_size: int | Literal["scalar"] | None = None,
    num_classes: int | None = None,
    width: int = 64,
    key: PRNGKeyArray,
    **options,
) -> ResNet:
    """A standard-depth ResNet: 18 or 34 (basic blocks), 50, 101 or 152 (bottleneck blocks).

    **Arguments:**

    - `depth`: 18, 34, 50, 101 or 152.
    - `num_spatial_dims`: 1, 2 or 3.
    - `in_channels`: the channels of one input sample.
    - `out_size` / `num_classes`: the head size; give exactly one.
    - `width`: the base width (64 in the paper; e.g. 4 gives a tiny network).
    - `key`: the PRNG key for the initialisation.
    - `**options`: further keywords of `ResNet` (`activation`, `batch_norm`,
        `bn_momentum`, `padding_mode`, `dropout`).

    **Returns:**

    A `ResNet`, stateful when `batch_norm=True` (the default): build it through
    `eqx.nn.make_with_state` or `sciml.nn.build_with_state`.

    **Raises:**

    `ValueError` for a depth not in the table.

    ??? cite

        He, Zhang, Ren & Sun, Deep Residual Learning for Image Recognition, CVPR 2016,
        Table 1.
    """
    if isinstance(depth, bool) or depth not in _DEPTHS:
        raise ValueError(f"resnet: depth must be one of {sorted(_DEPTHS)}, got {depth!r}")
    block, stages = _DEPTHS[depth]
    return ResNet(
        num_spatial_dims,
        in_channels,
        block,
        stages,
        out_size=out_size,
        num_classes=num_classes,
        width=width,
        key=key,
        **options,
    )
