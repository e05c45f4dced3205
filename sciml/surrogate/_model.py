"""`Surrogate`: a `sciml.nn` network between the normalisers fitted on its training data."""

import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..nn import Normaliser


Adapter = Literal["field", "flat", "tokens"]


class Surrogate(eqx.Module):
    """A field-to-field surrogate in physical units: normalise, apply the network, undo.

    `y = output_normaliser.inverse(network(input_normaliser(x)))` on ONE sample
    `[in_channels, *grid]`, batched with `jax.vmap` like every sciml model. The
    normalisers hold per-channel statistics of the training split (see
    `sciml.data.fit_normaliser`); they are fixed buffers that `sciml.train.trainable`
    keeps away from the optimizer, and they travel with the model, so predictions are
    made with exactly the statistics training saw.

    The `adapter` says how the network sees a field: `"field"` passes `[c, *grid]`
    (FNO, field ResNet), `"flat"` flattens it to one vector (MLP), `"tokens"` makes one
    token of `c` features per grid point (Transformer).

    For trajectory surrogates the input stacks `window` consecutive snapshots of
    `out_channels` channels each (oldest first), then any parameter channels, and
    [`Surrogate.rollout`][] feeds predictions back autoregressively.
    """

    network: eqx.Module
    input_normaliser: Normaliser
    output_normaliser: Normaliser
    adapter: Adapter = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    window: int | None = eqx.field(static=True)

    def __check_init__(self):
        if self.adapter not in ("field", "flat", "tokens"):
            raise ValueError(f"Surrogate adapter must be 'field', 'flat' or 'tokens', got {self.adapter!r}")
        for name, norm, size in (
            ("input", self.input_normaliser, self.in_channels),
            ("output", self.output_normaliser, self.out_channels),
        ):
            if norm.mean.shape != (size,):
                raise ValueError(
                    f"Surrogate {name} normaliser has statistics of shape {norm.mean.shape}; expected ({size},)"
                )
        if self.window is not None and self.window * self.out_channels > self.in_channels:
            raise ValueError(
                f"a window of {self.window} snapshots of {self.out_channels} channels needs at least "
                f"{self.window * self.out_channels} input channels, got {self.in_channels}"
            )

    def network_call(self, z: Float[Array, " c_in *grid"]) -> Float[Array, " c_out *grid"]:
        """The network on one normalised sample, through the adapter.

        **Arguments:**

        - `z`: the normalised input `[in_channels, *grid]`.

        **Returns:**

        The normalised output `[out_channels, *grid]`.
        """
        grid = z.shape[1:]
        if self.adapter == "field":
            return self.network(z)
        if self.adapter == "flat":
            return jnp.reshape(self.network(jnp.reshape(z, (-1,))), (self.out_channels, *grid))
        tokens = jnp.reshape(z, (z.shape[0], math.prod(grid))).T
        return jnp.reshape(self.network(tokens).T, (self.out_channels, *grid))

    def __call__(self, x: Float[Array, " c_in *grid"]) -> Float[Array, " c_out *grid"]:
        """**Arguments:**

        - `x`: one input in physical units, `[in_channels, *grid]`.

        **Returns:**

        The prediction in physical units, `[out_channels, *grid]`.
        """
        return self.output_normaliser.inverse(self.network_call(self.input_normaliser(x)))

    def rollout_normalised(self, z: Float[Array, " c_in *grid"], steps: int) -> Float[Array, " steps c_out *grid"]:
        """An autoregressive rollout in normalised units (what training compares).

        Each prediction replaces the oldest snapshot of the input window; parameter
        channels stay. Trajectory surrogates normalise every snapshot of the window
        with the statistics of the output, so a normalised prediction is directly the
        next normalised input.

        **Arguments:**

        - `z`: the normalised first input `[in_channels, *grid]`.
        - `steps`: the number of steps to predict (static).

        **Returns:**

        The normalised predictions `[steps, out_channels, *grid]`.

        **Raises:**

        `ValueError` for a surrogate of input/output pairs (it has no window).
        """
        if self.window is None:
            raise ValueError("rollout needs a trajectory surrogate (fitted on 'fields'); this one maps pairs")
        c, frames = self.out_channels, self.window * self.out_channels

        def step(z, _):
            y = self.network_call(z)
            return jnp.concatenate([z[c:frames], y, z[frames:]]), y

        _, ys = jax.lax.scan(step, z, None, length=steps)
        return ys

    def rollout(self, x: Float[Array, " c_in *grid"], steps: int) -> Float[Array, " steps c_out *grid"]:
        """An autoregressive rollout in physical units.

        **Arguments:**

        - `x`: the first input window (and parameters) `[in_channels, *grid]`.
        - `steps`: the number of steps to predict (static).

        **Returns:**

        The predicted snapshots `[steps, out_channels, *grid]`.
        """
        ys = self.rollout_normalised(self.input_normaliser(x), steps)
        return jax.vmap(self.output_normaliser.inverse)(ys)
