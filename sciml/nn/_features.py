"""Fixed input transformations: random Fourier features and normalisation."""

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._buffers import AbstractBuffer
from ._custom_types import StatisticLike
from ._misc import check_shape


class FourierFeatures(AbstractBuffer):
    """Random Fourier feature embedding `x -> [cos(2 pi B x), sin(2 pi B x)]`.

    The frequency matrix `B` has entries drawn from `N(0, sigma^2)` and is fixed:
    it is wrapped in `jax.lax.stop_gradient` in the forward pass, so its gradient is
    exactly zero and gradient-based optimisers leave it alone. (Decoupled weight decay
    would still shrink it: exclude `frequencies` through a filter spec when using one.)
    Larger `sigma` lets the following MLP fit higher frequencies, which is what makes
    PINNs and coordinate networks escape their spectral bias.

    ??? cite

        [Fourier Features Let Networks Learn High Frequency Functions in Low
        Dimensional Domains](https://arxiv.org/abs/2006.10739), Tancik et al.,
        NeurIPS 2020.
    """

    frequencies: Float[Array, " num_features in_dim"]
    in_size: int | Literal["scalar"] = eqx.field(static=True)
    num_features: int = eqx.field(static=True)

    def __init__(
        self,
        in_size: int | Literal["scalar"],
        num_features: int,
        sigma: float = 1.0,
        *,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `in_size`: the input size, or `"scalar"` for inputs of shape `()`.
        - `num_features`: the number `m` of frequencies; the output has size `2 m`.
        - `sigma`: the standard deviation of the frequencies.
        - `key`: the PRNG key drawing `B`.
        """
        in_dim = 1 if in_size == "scalar" else in_size
        self.frequencies = sigma * jr.normal(key, (num_features, in_dim))
        self.in_size = in_size
        self.num_features = num_features

    @property
    def out_size(self) -> int:
        """The embedding size, `2 * num_features`."""
        return 2 * self.num_features

    def __call__(self, x: Float[Array, " *in_shape"]) -> Float[Array, " features"]:
        """**Arguments:**

        - `x`: one input, of shape `(in_size,)` or `()` for `in_size="scalar"`.

        **Returns:**

        The features, of shape `(2 * num_features,)`.
        """
        expected = () if self.in_size == "scalar" else (self.in_size,)
        check_shape("FourierFeatures", expected, x.shape)
        b = jax.lax.stop_gradient(self.frequencies)
        phase = 2 * jnp.pi * (b @ jnp.reshape(x, (-1,)))
        return jnp.concatenate([jnp.cos(phase), jnp.sin(phase)])


class Normaliser(AbstractBuffer):
    """A fixed affine normalisation `x -> (x - mean) / std`, and its inverse.

    The statistics have the shape of the leading axes of a sample (`()` for scalars,
    `(size,)` for vectors, `(channels,)` for channels-first fields) and broadcast over
    the remaining axes. They are stop-gradiented in the forward pass, so training does
    not move them. A channel whose standard deviation is zero (a constant input, or one
    at round-off level when computed in floating point) gets `std = 1`, so it is
    shifted but never divided by zero.
    """

    mean: Float[Array, " *stats"]
    std: Float[Array, " *stats"]

    def __init__(self, mean: StatisticLike, std: StatisticLike):
        """**Arguments:**

        - `mean`: the per-entry (or per-channel) mean.
        - `std`: the standard deviation, of the same shape; zeros are replaced by ones.

        **Raises:**

        A `ValueError` when the shapes of `mean` and `std` differ.
        """
        mean = jnp.asarray(mean, dtype=float)
        std = jnp.asarray(std, dtype=float)
        if mean.shape != std.shape:
            raise ValueError(f"Normaliser mean and std must have the same shape, got {mean.shape} and {std.shape}")
        # Relative threshold: the std of a constant channel computed in floating point
        # is round-off (~eps * |mean|), not exactly zero, and dividing by it would
        # amplify noise by 1e16.
        tiny = 64 * jnp.finfo(std.dtype).eps * jnp.maximum(1, jnp.abs(mean))
        self.mean = mean
        self.std = jnp.where(jnp.abs(std) > tiny, jnp.abs(std), 1)

    @classmethod
    def from_data(cls, data: Float[Array, " batch *sample"], stats_ndim: int = 1) -> "Normaliser":
        """Builds a normaliser from a batch of samples.

        **Arguments:**

        - `data`: samples stacked along the first axis.
        - `stats_ndim`: how many leading sample axes get their own statistics: `0` for
            scalars (or a single statistic for everything), `1` for vectors and for
            channels-first fields (per-channel statistics pooled over the grid).

        **Returns:**

        A `Normaliser` whose statistics have shape `data.shape[1 : 1 + stats_ndim]`.
        """
        axes = (0,) + tuple(range(1 + stats_ndim, data.ndim))
        return cls(jnp.mean(data, axis=axes), jnp.std(data, axis=axes))

    def _stats(self, x: Array) -> tuple[Array, Array]:
        check_shape(
            "Normaliser",
            self.mean.shape + tuple(f"n{i}" for i in range(x.ndim - self.mean.ndim)),
            x.shape,
        )
        expand = (...,) + (None,) * (x.ndim - self.mean.ndim)
        mean = jax.lax.stop_gradient(self.mean)[expand]
        std = jax.lax.stop_gradient(self.std)[expand]
        return mean, std

    def __call__(self, x: Float[Array, " *shape"]) -> Float[Array, " *shape"]:
        """Normalises: `(x - mean) / std`.

        **Arguments:**

        - `x`: one sample whose leading axes have the statistics' shape.

        **Returns:**

        The normalised sample, of the same shape.
        """
        mean, std = self._stats(x)
        return (x - mean) / std

    def inverse(self, y: Float[Array, " *shape"]) -> Float[Array, " *shape"]:
        """Undoes the normalisation: `mean + std * y`.

        **Arguments:**

        - `y`: one normalised sample.

        **Returns:**

        The sample in original units, of the same shape.
        """
        mean, std = self._stats(y)
        return mean + std * y
