"""Same-resolution residual network mapping fields to fields."""

from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._activations import get_activation
from ._batch_norm import BatchNorm
from ._checks import check_int
from ._misc import apply_norm, check_shape, require_state


class _PreActBlock(eqx.Module):
    """x + conv(act(norm(conv(act(norm(x)))))): identity shortcut, no down-sampling."""

    norm1: BatchNorm | None
    conv1: eqx.nn.Conv
    norm2: BatchNorm | None
    conv2: eqx.nn.Conv
    activation: Callable

    def __call__(
        self, x: Float[Array, " width *grid"], state: eqx.nn.State | None
    ) -> tuple[Float[Array, " width *grid"], eqx.nn.State | None]:
        h, state = apply_norm(self.norm1, x, state)
        h = self.conv1(self.activation(h))
        h, state = apply_norm(self.norm2, h, state)
        h = self.conv2(self.activation(h))
        return x + h, state


class FieldResNet(eqx.Module):
    """A residual network that keeps the grid: `[c_in, *grid] -> [c_out, *grid]`.

    A convolution lifts the input to `width` channels, `depth` pre-activation residual
    blocks (two same-padded convolutions each, identity shortcuts) process it at full
    resolution, and a 1x1 convolution projects to `out_channels`. Nothing is pooled,
    so the output is a field on the input grid; with `padding="circular"` the network
    is exactly translation-equivariant on periodic domains. Without BatchNorm (the
    default) it is stateless, so it can serve directly as a learned closure term inside
    a method-of-lines right-hand side `f(t, u, args)`. Local residual CNNs of this kind
    are strong baselines for autoregressive PDE surrogates (Koehler et al. 2024,
    APEBench).

    ??? cite

        [Identity Mappings in Deep Residual Networks](https://arxiv.org/abs/1603.05027),
        He, Zhang, Ren & Sun, ECCV 2016 (the pre-activation block).
    """

    lift: eqx.nn.Conv
    blocks: tuple[_PreActBlock, ...]
    project: eqx.nn.Conv
    activation: Callable
    num_spatial_dims: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    batch_norm: bool = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        width: int = 32,
        depth: int = 4,
        kernel_size: int = 3,
        padding: Literal["circular", "zeros", "reflect", "replicate"] = "circular",
        activation: str | Callable = "gelu",
        batch_norm: bool = False,
        bn_momentum: float = 0.99,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `num_spatial_dims`: 1, 2 or 3.
        - `in_channels`: the input field's channels.
        - `out_channels`: the output field's channels.
        - `width`: the hidden channels.
        - `depth`: the number of residual blocks.
        - `kernel_size`: the (odd) convolution kernel size.
        - `padding`: `"circular"` for periodic domains, or `"zeros"`, `"reflect"`,
            `"replicate"`.
        - `activation`: an activation name or callable.
        - `batch_norm`: BatchNorm in each block (makes the model stateful).
        - `bn_momentum`: the BatchNorm running-average momentum.
        - `key`: the PRNG key for the initialisation.

        **Raises:**

        A `ValueError` for unsupported dimensions or an even kernel size.
        """
        check_int("FieldResNet", "in_channels", in_channels)
        check_int("FieldResNet", "out_channels", out_channels)
        check_int("FieldResNet", "width", width)
        check_int("FieldResNet", "depth", depth, minimum=0)
        check_int("FieldResNet", "kernel_size", kernel_size)
        if num_spatial_dims not in (1, 2, 3):
            raise ValueError(f"FieldResNet supports num_spatial_dims 1, 2 or 3, got {num_spatial_dims}")
        if kernel_size % 2 != 1:
            # Same-padding with an even kernel is asymmetric and would shift the field.
            raise ValueError(f"FieldResNet needs an odd kernel_size, got {kernel_size}")
        lkey, pkey, *bkeys = jr.split(key, 2 + 2 * depth)

        def conv(c_in: int, c_out: int, k: int, key: PRNGKeyArray) -> eqx.nn.Conv:
            return eqx.nn.Conv(
                num_spatial_dims,
                c_in,
                c_out,
                k,
                padding="SAME",
                padding_mode=padding.upper(),
                key=key,
            )

        def norm() -> BatchNorm | None:
            return BatchNorm(width, momentum=bn_momentum) if batch_norm else None

        act = get_activation(activation)
        self.lift = conv(in_channels, width, kernel_size, lkey)
        self.blocks = tuple(
            _PreActBlock(norm(), conv(width, width, kernel_size, k1), norm(), conv(width, width, kernel_size, k2), act)
            for k1, k2 in zip(bkeys[::2], bkeys[1::2])
        )
        self.project = conv(width, out_channels, 1, pkey)
        self.activation = act
        self.num_spatial_dims = num_spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.batch_norm = batch_norm

    def __call__(
        self,
        x: Float[Array, " c_in *grid"],
        state: eqx.nn.State | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " c_out *grid"] | tuple[Float[Array, " c_out *grid"], eqx.nn.State]:
        """**Arguments:**

        - `x`: one field, `[in_channels, *grid]`.
        - `state`: the BatchNorm state; required only when built with `batch_norm=True`.
        - `key`: unused (no dropout); accepted for the uniform model interface.

        **Returns:**

        The output field `[out_channels, *grid]`; with `state`, `(field, state)`.

        **Raises:**

        A `ValueError` at trace time for a wrong input shape or a missing state.
        """
        del key
        grid = tuple(f"n{i + 1}" for i in range(self.num_spatial_dims))
        check_shape("FieldResNet", (self.in_channels, *grid), x.shape)
        require_state("FieldResNet", self.batch_norm, state)
        h = self.lift(x)
        for block in self.blocks:
            h, state = block(h, state)
        y = self.project(self.activation(h))
        return y if state is None else (y, state)
