"""Basic and bottleneck residual blocks (He et al. 2016), with projection shortcuts."""

from collections.abc import Callable

import equinox as eqx
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._activations import get_activation
from ._batch_norm import BatchNorm
from ._misc import apply_norm


def _conv(
    num_spatial_dims: int,
    c_in: int,
    c_out: int,
    kernel_size: int,
    stride: int,
    padding_mode: str,
    batch_norm: bool,
    key: PRNGKeyArray,
) -> eqx.nn.Conv:
    return eqx.nn.Conv(
        num_spatial_dims,
        c_in,
        c_out,
        kernel_size,
        stride=stride,
        # "SAME" with stride s gives ceil(n / s), exactly what the unpadded strided 1x1
        # projection shortcut gives, so both branches agree for odd sizes too.
        padding="SAME" if kernel_size > 1 else 0,
        padding_mode=padding_mode.upper() if kernel_size > 1 else "ZEROS",
        # A bias before BatchNorm is cancelled by its mean subtraction.
        use_bias=not batch_norm,
        key=key,
    )


def _norm(channels: int, batch_norm: bool, momentum: float) -> BatchNorm | None:
    return BatchNorm(channels, momentum=momentum) if batch_norm else None


class _Shortcut(eqx.Module):
    """Projection shortcut: strided 1x1 convolution and BatchNorm."""

    conv: eqx.nn.Conv
    norm: BatchNorm | None

    def __call__(
        self, x: Float[Array, " c_in *spatial"], state: eqx.nn.State | None
    ) -> tuple[Float[Array, " c_out *new_spatial"], eqx.nn.State | None]:
        return apply_norm(self.norm, self.conv(x), state)


class BasicBlock(eqx.Module):
    """The two-convolution residual block of ResNet-18/34.

    `y = act(bn(conv3(act(bn(conv3_stride(x))))) + shortcut(x))`, where the shortcut
    is the identity, or a strided 1x1 convolution with BatchNorm when the stride or
    the channel count changes.

    ??? cite

        [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385),
        He, Zhang, Ren & Sun, CVPR 2016, Figure 5 (left).
    """

    conv1: eqx.nn.Conv
    norm1: BatchNorm | None
    conv2: eqx.nn.Conv
    norm2: BatchNorm | None
    shortcut: _Shortcut | None
    activation: Callable

    expansion = 1

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        channels: int,
        stride: int = 1,
        *,
        activation: str | Callable = "relu",
        batch_norm: bool = True,
        bn_momentum: float = 0.99,
        padding_mode: str = "zeros",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `num_spatial_dims`: 1, 2 or 3.
        - `in_channels`: the input channels.
        - `channels`: the output channels.
        - `stride`: the down-sampling factor of the first convolution.
        - `activation`: an activation name or callable.
        - `batch_norm`: whether to normalise after each convolution (stateful).
        - `bn_momentum`: the BatchNorm running-average momentum.
        - `padding_mode`: `"zeros"`, `"circular"`, `"reflect"` or `"replicate"`.
        - `key`: the PRNG key for the initialisation.
        """
        k1, k2, k3 = jr.split(key, 3)
        d, bn, pm = num_spatial_dims, batch_norm, padding_mode
        self.conv1 = _conv(d, in_channels, channels, 3, stride, pm, bn, k1)
        self.norm1 = _norm(channels, bn, bn_momentum)
        self.conv2 = _conv(d, channels, channels, 3, 1, pm, bn, k2)
        self.norm2 = _norm(channels, bn, bn_momentum)
        if stride != 1 or in_channels != channels:
            conv = _conv(d, in_channels, channels, 1, stride, pm, bn, k3)
            self.shortcut = _Shortcut(conv, _norm(channels, bn, bn_momentum))
        else:
            self.shortcut = None
        self.activation = get_activation(activation)

    def __call__(
        self,
        x: Float[Array, " c_in *spatial"],
        state: eqx.nn.State | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> tuple[Float[Array, " c_out *new_spatial"], eqx.nn.State | None]:
        """**Arguments:**

        - `x`: one sample, channels first.
        - `state`: the BatchNorm state, or `None` when built without BatchNorm.
        - `key`: unused; accepted for a uniform block interface.

        **Returns:**

        `(y, state)`, with the state updated in training.
        """
        del key
        h, state = apply_norm(self.norm1, self.conv1(x), state)
        h, state = apply_norm(self.norm2, self.conv2(self.activation(h)), state)
        if self.shortcut is not None:
            x, state = self.shortcut(x, state)
        return self.activation(h + x), state


class BottleneckBlock(eqx.Module):
    """The 1x1 -> 3x3 -> 1x1 residual block of ResNet-50 and deeper.

    The block narrows to `channels`, convolves (with the stride) and widens to
    `4 * channels` outputs, then adds the (identity or projection) shortcut.

    ??? cite

        [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385),
        He, Zhang, Ren & Sun, CVPR 2016, Figure 5 (right).
    """

    conv1: eqx.nn.Conv
    norm1: BatchNorm | None
    conv2: eqx.nn.Conv
    norm2: BatchNorm | None
    conv3: eqx.nn.Conv
    norm3: BatchNorm | None
    shortcut: _Shortcut | None
    activation: Callable

    expansion = 4

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        channels: int,
        stride: int = 1,
        *,
        activation: str | Callable = "relu",
        batch_norm: bool = True,
        bn_momentum: float = 0.99,
        padding_mode: str = "zeros",
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `num_spatial_dims`: 1, 2 or 3.
        - `in_channels`: the input channels.
        - `channels`: the bottleneck width; the block outputs `4 * channels`.
        - `stride`: the down-sampling factor of the 3x3 convolution.
        - `activation`: an activation name or callable.
        - `batch_norm`: whether to normalise after each convolution (stateful).
        - `bn_momentum`: the BatchNorm running-average momentum.
        - `padding_mode`: `"zeros"`, `"circular"`, `"reflect"` or `"replicate"`.
        - `key`: the PRNG key for the initialisation.
        """
        k1, k2, k3, k4 = jr.split(key, 4)
        d, bn, pm = num_spatial_dims, batch_norm, padding_mode
        out = self.expansion * channels
        self.conv1 = _conv(d, in_channels, channels, 1, 1, pm, bn, k1)
        self.norm1 = _norm(channels, bn, bn_momentum)
        self.conv2 = _conv(d, channels, channels, 3, stride, pm, bn, k2)
        self.norm2 = _norm(channels, bn, bn_momentum)
        self.conv3 = _conv(d, channels, out, 1, 1, pm, bn, k3)
        self.norm3 = _norm(out, bn, bn_momentum)
        if stride != 1 or in_channels != out:
            conv = _conv(d, in_channels, out, 1, stride, pm, bn, k4)
            self.shortcut = _Shortcut(conv, _norm(out, bn, bn_momentum))
        else:
            self.shortcut = None
        self.activation = get_activation(activation)

    def __call__(
        self,
        x: Float[Array, " c_in *spatial"],
        state: eqx.nn.State | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> tuple[Float[Array, " c_out *new_spatial"], eqx.nn.State | None]:
        """**Arguments:**

        - `x`: one sample, channels first.
        - `state`: the BatchNorm state, or `None` when built without BatchNorm.
        - `key`: unused; accepted for a uniform block interface.

        **Returns:**

        `(y, state)`, with the state updated in training.
        """
        del key
        h, state = apply_norm(self.norm1, self.conv1(x), state)
        h, state = apply_norm(self.norm2, self.conv2(self.activation(h)), state)
        h, state = apply_norm(self.norm3, self.conv3(self.activation(h)), state)
        if self.shortcut is not None:
            x, state = self.shortcut(x, state)
        return self.activation(h + x), state
