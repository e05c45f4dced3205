"""Fourier Neural Operator (Li et al. 2021)."""

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._activations import get_activation
from ._checks import check_int, check_rate
from ._misc import check_shape
from ._spectral_conv import SpectralConv


class _FourierLayer(eqx.Module):
    """One Fourier layer before its activation: `K x + W x` (spectral + 1x1 skip)."""

    spectral: SpectralConv
    pointwise: eqx.nn.Conv

    def __call__(self, x: Float[Array, " width *grid"]) -> Float[Array, " width *grid"]:
        return self.spectral(x) + self.pointwise(x)


class FNO(eqx.Module):
    """Fourier Neural Operator: a field-to-field map `[c_in, *grid] -> [c_out, *grid]`.

    A pointwise lifting `P` to `width` channels, `depth` Fourier layers
    `v <- act(K v + W v)` (a `SpectralConv` `K` on the lowest `modes` frequencies plus a
    pointwise 1x1 convolution `W`; no activation after the last layer), and a pointwise
    two-layer projection `Q` (`width -> projection_width -> out_channels`), as in the
    reference implementation. The weights do not depend on the grid, so a model trained
    at one resolution evaluates at another (zero-shot super-resolution); the spectral
    convolution treats the domain as periodic.

    With `dropout > 0`, an `eqx.nn.Dropout` follows every activation (that of each
    Fourier layer but the last, and the projection's hidden one), so the model can be
    trained with dropout and sampled with [`sciml.uq.mc_dropout_predict`][] (Gal &
    Ghahramani 2016). It is active in training mode only; `eqx.nn.inference_mode`
    turns it off.

    The identical Fourier layers are stored stacked and run with `jax.lax.scan`, so the
    compile time does not grow with `depth`.

    ??? cite

        [Fourier Neural Operator for Parametric Partial Differential
        Equations](https://arxiv.org/abs/2010.08895), Li, Kovachki, Azizzadenesheli,
        Liu, Bhattacharya, Stuart & Anandkumar, ICLR 2021.

        [Dropout as a Bayesian Approximation: Representing Model Uncertainty in Deep
        Learning](https://arxiv.org/abs/1506.02142), Gal & Ghahramani, ICML 2016.
    """

    lift: eqx.nn.Conv
    layers: _FourierLayer
    project_hidden: eqx.nn.Conv
    project_out: eqx.nn.Conv
    activation: Callable
    dropout: eqx.nn.Dropout | None
    num_spatial_dims: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    grid_features: bool = eqx.field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        *,
        modes: int | Sequence[int] = 12,
        width: int = 32,
        depth: int = 4,
        projection_width: int = 128,
        activation: str | Callable = "gelu",
        grid_features: bool = False,
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `num_spatial_dims`: 1, 2 or 3.
        - `in_channels`: the input field's channels.
        - `out_channels`: the output field's channels.
        - `modes`: kept Fourier modes per axis (12 in Li et al.'s 2D experiments, 16 in
            1D); an int for all axes or one per axis.
        - `width`: the channels inside the Fourier layers.
        - `depth`: the number of Fourier layers.
        - `projection_width`: the hidden channels of the projection `Q`.
        - `activation`: an activation name or callable (`"gelu"` in the paper).
        - `grid_features`: append the coordinates `j / n` of every axis as extra input
            channels (Li et al. append the grid; this helps non-periodic problems).
        - `dropout`: the dropout rate after every activation, in `[0, 1)`; 0 (the
            default) means no dropout layer at all.
        - `key`: the PRNG key for the initialisation.

        **Raises:**

        A `ValueError` for unsupported dimensions or depth, or a dropout rate outside
        `[0, 1)`.
        """
        check_int("FNO", "in_channels", in_channels)
        check_int("FNO", "out_channels", out_channels)
        check_int("FNO", "width", width)
        check_int("FNO", "depth", depth)
        check_int("FNO", "projection_width", projection_width)
        check_rate("FNO", "dropout", dropout)
        if num_spatial_dims not in (1, 2, 3):
            raise ValueError(f"FNO supports num_spatial_dims 1, 2 or 3, got {num_spatial_dims}")
        lkey, hkey, okey, fkey = jr.split(key, 4)
        d = num_spatial_dims
        lifted = in_channels + (d if grid_features else 0)
        self.lift = eqx.nn.Conv(d, lifted, width, 1, key=lkey)

        def make_layer(k: PRNGKeyArray) -> _FourierLayer:
            skey, pkey = jr.split(k)
            return _FourierLayer(
                SpectralConv(d, width, width, modes, key=skey),
                eqx.nn.Conv(d, width, width, 1, key=pkey),
            )

        self.layers = eqx.filter_vmap(make_layer)(jr.split(fkey, depth))
        self.project_hidden = eqx.nn.Conv(d, width, projection_width, 1, key=hkey)
        self.project_out = eqx.nn.Conv(d, projection_width, out_channels, 1, key=okey)
        self.activation = get_activation(activation)
        # No layer at all for rate 0: equinox serialises the Dropout's `p` and
        # `inference` leaves, so an always-present layer would make FNOs saved before
        # this option unreadable.
        self.dropout = eqx.nn.Dropout(float(dropout)) if dropout > 0 else None
        self.num_spatial_dims = d
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.depth = depth
        self.grid_features = grid_features

    def __call__(
        self,
        x: Float[Array, " c_in *grid"],
        state: eqx.nn.State | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " c_out *grid"] | tuple[Float[Array, " c_out *grid"], eqx.nn.State]:
        """**Arguments:**

        - `x`: one field, `[in_channels, *grid]`, on a uniform (periodic) grid.
        - `state`: optional; an FNO holds no state, so it is returned unchanged.
        - `key`: the dropout key, split into one key per Fourier layer and one for the
            projection; needed only with dropout in training mode (otherwise unused,
            and may be omitted).

        **Returns:**

        The output field `[out_channels, *grid]`; with `state`, `(field, state)`.

        **Raises:**

        A `ValueError` at trace time for a wrong input shape, or for a missing `key`
        when dropout is active (a rate above 0 in training mode).
        """
        dropout_active = self.dropout is not None and not self.dropout.inference
        if dropout_active and key is None:
            raise ValueError(
                f"FNO has dropout {self.dropout.p} in training mode and needs a `key`: call "
                "`model(x, key=key)` with one key per sample, or `eqx.nn.inference_mode(model)(x)` "
                "for deterministic predictions"
            )
        grid = tuple(f"n{i + 1}" for i in range(self.num_spatial_dims))
        check_shape("FNO", (self.in_channels, *grid), x.shape)
        if self.grid_features:
            coords = jnp.meshgrid(*(jnp.arange(n, dtype=x.dtype) / n for n in x.shape[1:]), indexing="ij")
            x = jnp.concatenate([x, jnp.stack(coords)])
        if dropout_active:
            keys = jr.split(key, self.depth + 1)
            layer_keys, project_key = keys[:-1], keys[-1]
        else:
            # None is an empty pytree, so the scan carries no keys at all.
            layer_keys = project_key = None
        h = self.lift(x)
        dynamic, static = eqx.partition(self.layers, eqx.is_array)

        def body(h, inputs):
            layer_arrays, index, layer_key = inputs
            h = eqx.combine(layer_arrays, static)(h)
            # The last Fourier layer has no activation, as in the reference code, and so
            # no dropout either.
            h = jnp.where(index < self.depth - 1, self._drop(self.activation(h), layer_key), h)
            return h, None

        h, _ = jax.lax.scan(body, h, (dynamic, jnp.arange(self.depth), layer_keys))
        y = self.project_out(self._drop(self.activation(self.project_hidden(h)), project_key))
        return y if state is None else (y, state)

    def _drop(self, h: Float[Array, " channels *grid"], key: PRNGKeyArray | None) -> Float[Array, " channels *grid"]:
        return h if self.dropout is None else self.dropout(h, key=key)
