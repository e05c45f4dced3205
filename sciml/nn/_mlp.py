"""Multilayer perceptron: PINN trial function, vector field body and regression head."""

from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from ._activations import get_activation
from ._checks import check_int, check_rate, check_size
from ._custom_types import StatisticLike
from ._features import FourierFeatures, Normaliser
from ._misc import check_shape, split_key


class MLP(eqx.Module):
    """A fully connected network on one sample, with optional input embedding.

    The forward pass is: normalise the input (optional, fixed) -> random Fourier
    features (optional, fixed) -> `depth` hidden layers of `width` with `activation`
    and dropout -> linear output -> `final_activation` -> de-normalise the output
    (optional, fixed). As in `eqx.nn.MLP`, `depth` counts hidden layers, so there are
    `depth + 1` linear maps, and `"scalar"` sizes mean shape `()`.

    The call has no required keyword, so the same object is a PINN trial function
    `u = lambda x: mlp(x)` (differentiate with `jax.grad`/`jax.jacfwd`) and a diffrax
    vector field `lambda t, y, args: mlp(y)`. Dropout, when present and not in
    inference mode, needs `key`.
    """

    layers: tuple[eqx.nn.Linear, ...]
    dropout: eqx.nn.Dropout
    activation: Callable
    final_activation: Callable
    features: FourierFeatures | None
    input_normaliser: Normaliser | None
    output_normaliser: Normaliser | None
    in_size: int | Literal["scalar"] = eqx.field(static=True)
    out_size: int | Literal["scalar"] = eqx.field(static=True)

    def __init__(
        self,
        in_size: int | Literal["scalar"],
        out_size: int | Literal["scalar"],
        width: int = 64,
        depth: int = 3,
        *,
        activation: str | Callable = "tanh",
        final_activation: str | Callable = "identity",
        fourier_features: int = 0,
        fourier_sigma: float = 1.0,
        input_mean: StatisticLike | None = None,
        input_std: StatisticLike | None = None,
        output_mean: StatisticLike | None = None,
        output_std: StatisticLike | None = None,
        dropout: float = 0.0,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `in_size`: the input size, or `"scalar"` for inputs of shape `()`.
        - `out_size`: the output size, or `"scalar"` for outputs of shape `()`.
        - `width`: the hidden width.
        - `depth`: the number of hidden layers (`0` gives an affine map).
        - `activation`: a name from `sciml.nn` activations (`"tanh"`, `"relu"`,
            `"gelu"`, `"silu"`, `"sin"`, `"softplus"`, ...) or a callable.
        - `final_activation`: applied to the output before de-normalising.
        - `fourier_features`: the number `m` of random Fourier frequencies (`0`: none);
            the first layer then sees `2 m` features instead of the input.
        - `fourier_sigma`: the standard deviation of those frequencies.
        - `input_mean`, `input_std`: fixed input normalisation (both or neither).
        - `output_mean`, `output_std`: fixed output scaling, `y = mean + std * net(x)`.
        - `dropout`: the dropout rate after each hidden activation.
        - `key`: the PRNG key for the initialisation.

        **Raises:**

        A `ValueError` for bad sizes, unknown activations or half-given statistics.
        """
        check_size("MLP", "in_size", in_size)
        check_size("MLP", "out_size", out_size)
        check_int("MLP", "width", width)
        check_int("MLP", "depth", depth, minimum=0)
        check_int("MLP", "fourier_features", fourier_features, minimum=0)
        check_rate("MLP", "dropout", dropout)
        self.activation = get_activation(activation)
        self.final_activation = get_activation(final_activation)
        self.input_normaliser = _normaliser("input", input_mean, input_std)
        self.output_normaliser = _normaliser("output", output_mean, output_std)
        fkey, *lkeys = jr.split(key, depth + 2)
        if fourier_features > 0:
            self.features = FourierFeatures(in_size, fourier_features, fourier_sigma, key=fkey)
            first = self.features.out_size
        else:
            self.features = None
            first = 1 if in_size == "scalar" else in_size
        last = 1 if out_size == "scalar" else out_size
        sizes = [first] + [width] * depth + [last]
        self.layers = tuple(eqx.nn.Linear(i, o, key=k) for i, o, k in zip(sizes[:-1], sizes[1:], lkeys))
        self.dropout = eqx.nn.Dropout(dropout)
        self.in_size = in_size
        self.out_size = out_size

    def __call__(
        self,
        x: Float[Array, " *in_shape"],
        state: eqx.nn.State | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> Float[Array, " *out_shape"] | tuple[Float[Array, " *out_shape"], eqx.nn.State]:
        """**Arguments:**

        - `x`: one input, of shape `(in_size,)`, or `()` for `in_size="scalar"`.
        - `state`: optional; an MLP holds no state, so it is returned unchanged. Accepted
            so that every `sciml.nn` model can be called as `model(x, state)`.
        - `key`: the dropout key (needed only with dropout in training mode).

        **Returns:**

        The output, of shape `(out_size,)` or `()`; with `state`, `(output, state)`.

        **Raises:**

        A `ValueError` at trace time when `x` has the wrong shape.
        """
        check_shape("MLP", () if self.in_size == "scalar" else (self.in_size,), x.shape)
        if self.input_normaliser is not None:
            x = self.input_normaliser(x)
        if self.features is not None:
            h = self.features(x)
        else:
            h = jnp.reshape(x, (-1,))
        keys = split_key(key, len(self.layers) - 1)
        for layer, k in zip(self.layers[:-1], keys):
            h = self.dropout(self.activation(layer(h)), key=k)
        y = self.final_activation(self.layers[-1](h))
        if self.out_size == "scalar":
            y = jnp.reshape(y, ())
        if self.output_normaliser is not None:
            y = self.output_normaliser.inverse(y)
        return y if state is None else (y, state)


def _normaliser(which: str, mean: StatisticLike | None, std: StatisticLike | None) -> Normaliser | None:
    if (mean is None) != (std is None):
        raise ValueError(f"MLP needs both {which}_mean and {which}_std, or neither")
    return None if mean is None else Normaliser(mean, std)
