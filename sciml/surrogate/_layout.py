"""Between the files' channels-last batches and the models' channels-first samples."""

import jax.numpy as jnp
from jaxtyping import Array, Float


def channels_first(x: Float[Array, " b *rest"], num_spatial_dims: int) -> Float[Array, " b *moved"]:
    """Moves the last (channel) axis in front of the `num_spatial_dims` grid axes.

    `[b, *grid, c] -> [b, c, *grid]` and `[b, t, *grid, c] -> [b, t, c, *grid]`.
    """
    return jnp.moveaxis(x, -1, x.ndim - 1 - num_spatial_dims)


def channels_last(x: Float[Array, " b *rest"], num_spatial_dims: int) -> Float[Array, " b *moved"]:
    """The inverse of [`channels_first`][]."""
    return jnp.moveaxis(x, x.ndim - 1 - num_spatial_dims, -1)


def model_inputs(
    inputs: Float[Array, " b *rest"], parameters: Float[Array, " b p"] | None, num_spatial_dims: int
) -> Float[Array, " b c *grid"]:
    """Assembles a batch of model inputs `[b, channels, *grid]` from file-layout arrays.

    Pairs inputs `[b, *grid, c]` become `[b, c, *grid]`; trajectory windows
    `[b, window, *grid, c]` become `[b, window * c, *grid]` (oldest snapshot first);
    parameters `[b, p]` are appended as `p` constant channels.

    **Arguments:**

    - `inputs`: the batch's `"inputs"` from `sciml.data.Samples`.
    - `parameters`: its `"parameters"`, or None.
    - `num_spatial_dims`: the number of grid axes.

    **Returns:**

    The model inputs, channels-first.
    """
    x = channels_first(inputs, num_spatial_dims)
    grid = x.shape[x.ndim - num_spatial_dims :]
    x = jnp.reshape(x, (x.shape[0], -1, *grid))
    if parameters is None:
        return x
    expanded = jnp.reshape(parameters, (*parameters.shape, *(1,) * num_spatial_dims))
    constant = jnp.broadcast_to(expanded, (*parameters.shape, *grid)).astype(x.dtype)
    return jnp.concatenate([x, constant], axis=1)
