"""Spectral convolution: the global integral operator of the Fourier Neural Operator."""

import itertools
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._checks import check_int, check_ints
from ._misc import check_shape


class SpectralConv(eqx.Module):
    """Multiplies the lowest Fourier modes of a field by learned complex weights.

    `y = irfft(W * rfft(x))` with `W` nonzero only on the lowest `modes` frequencies
    per axis: on the last (rfft) axis the non-negative frequencies `0..m-1`, on every
    other axis both the non-negative `0..m-1` and the negative `-m..-1` blocks (the
    `weights1`/`weights2` corners of Li et al.'s 2D code, generalised to 3D). The
    complex weights are stored as two real arrays, so every parameter is a float
    array that optax and `eqx.is_inexact_array` handle as usual.

    The operator is discretisation invariant: the same weights act on any grid. On a
    grid too coarse to hold all kept modes, the modes above Nyquist are dropped, which
    is the same operator applied to the band-limited interpolant of the samples.

    ??? cite

        [Fourier Neural Operator for Parametric Partial Differential
        Equations](https://arxiv.org/abs/2010.08895), Li et al., ICLR 2021, Section 4.
    """

    weight_real: Float[Array, " c_in c_out *kept"]
    weight_imag: Float[Array, " c_in c_out *kept"]
    modes: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        modes: int | Sequence[int],
        *,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `num_spatial_dims`: 1, 2 or 3.
        - `in_channels`: the input channels.
        - `out_channels`: the output channels.
        - `modes`: the number of kept frequencies per axis (an int for all axes).
        - `key`: the PRNG key for the initialisation.

        **Raises:**

        A `ValueError` for unsupported dimensions or a wrong number of modes.
        """
        check_int("SpectralConv", "in_channels", in_channels)
        check_int("SpectralConv", "out_channels", out_channels)
        check_ints("SpectralConv", "modes", [modes] if isinstance(modes, int) else modes)
        if num_spatial_dims not in (1, 2, 3):
            raise ValueError(f"SpectralConv supports num_spatial_dims 1, 2 or 3, got {num_spatial_dims}")
        modes = (modes,) * num_spatial_dims if isinstance(modes, int) else tuple(modes)
        if len(modes) != num_spatial_dims or min(modes) < 1:
            raise ValueError(f"SpectralConv needs {num_spatial_dims} positive modes, got {modes}")
        kept = tuple(2 * m for m in modes[:-1]) + (modes[-1],)
        shape = (in_channels, out_channels, *kept)
        # Li et al.'s initialisation: uniform on [0, 1 / (c_in c_out)) for both parts.
        scale = 1 / (in_channels * out_channels)
        rkey, ikey = jr.split(key)
        self.weight_real = scale * jr.uniform(rkey, shape)
        self.weight_imag = scale * jr.uniform(ikey, shape)
        self.modes = modes

    def __call__(self, x: Float[Array, " c_in *grid"]) -> Float[Array, " c_out *grid"]:
        """**Arguments:**

        - `x`: one field, `[in_channels, *grid]`.

        **Returns:**

        The field `[out_channels, *grid]`.

        **Raises:**

        A `ValueError` at trace time for a wrong input shape.
        """
        d = len(self.modes)
        c_in = self.weight_real.shape[0]
        check_shape("SpectralConv", (c_in, *(f"n{i + 1}" for i in range(d))), x.shape)
        grid = x.shape[1:]
        axes = tuple(range(1, d + 1))
        x_ft = jnp.fft.rfftn(x, axes=axes)
        weight = self.weight_real + 1j * self.weight_imag
        out_ft = jnp.zeros((weight.shape[1], *x_ft.shape[1:]), dtype=x_ft.dtype)
        # Modes that fit on this grid: 2m <= n on full axes (the positive and negative
        # blocks must not overlap), m <= n // 2 + 1 on the rfft axis.
        fit = [min(m, n // 2) for m, n in zip(self.modes[:-1], grid[:-1])]
        last = min(self.modes[-1], grid[-1] // 2 + 1)
        for corner in itertools.product((False, True), repeat=d - 1):
            data_index = [slice(None)]
            weight_index = [slice(None), slice(None)]
            for negative, m, k, n in zip(corner, self.modes[:-1], fit, grid[:-1]):
                data_index.append(slice(n - k, n) if negative else slice(0, k))
                weight_index.append(slice(2 * m - k, 2 * m) if negative else slice(0, k))
            data_index.append(slice(0, last))
            weight_index.append(slice(0, last))
            block = jnp.einsum("i...,io...->o...", x_ft[tuple(data_index)], weight[tuple(weight_index)])
            out_ft = out_ft.at[tuple(data_index)].set(block)
        return jnp.fft.irfftn(out_ft, s=grid, axes=axes).astype(x.dtype)
