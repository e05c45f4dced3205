"""Batch normalisation with correctly debiased running statistics."""

from collections.abc import Hashable

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float


class BatchNorm(eqx.Module):
    """Batch normalisation (Ioffe & Szegedy 2015) over a named `vmap` axis.

    Training is delegated unchanged to `eqx.nn.BatchNorm(mode="batch")`: it normalises
    with the statistics of the current batch and updates exponential moving averages
    in the `eqx.nn.State`. Inference (toggled by `eqx.nn.inference_mode`) is done here,
    because equinox 0.13's `"batch"` mode zero-debiases a running variance that starts
    at one, which inflates the inference variance by `m^n / (1 - m^n)` after `n` steps
    with momentum `m` (a factor 2.7 after three steps with `m = 0.9`). The running
    averages are therefore started at zero, so the debiased estimates
    `avg / (1 - m^n)` are exact weighted means of the batch statistics. `"ema"` mode was
    not used instead because it normalises training batches with the moving averages,
    which slows training (equinox issue #659).

    The layer must run under `jax.vmap(..., axis_name=axis_name)` in training.

    ??? cite

        [Batch Normalization: Accelerating Deep Network Training by Reducing Internal
        Covariate Shift](https://arxiv.org/abs/1502.03167), Ioffe & Szegedy, ICML 2015.
    """

    norm: eqx.nn.BatchNorm

    def __init__(
        self,
        channels: int,
        *,
        momentum: float = 0.99,
        eps: float = 1e-5,
        axis_name: Hashable = "batch",
    ):
        """**Arguments:**

        - `channels`: the number of channels (the first axis of a sample).
        - `momentum`: the decay of the moving averages, in `(0, 1)`.
        - `eps`: added to the variance before the square root.
        - `axis_name`: the `vmap` axis name the batch statistics are reduced over.
        """
        norm = eqx.nn.BatchNorm(channels, axis_name, eps=eps, momentum=momentum, mode="batch")
        zeros = jnp.zeros((channels,), dtype=norm.weight.dtype)
        self.norm = eqx.tree_at(lambda n: n.batch_state_index, norm, eqx.nn.StateIndex((zeros, zeros)))

    def running_statistics(self, state: eqx.nn.State) -> tuple[Float[Array, " channels"], Float[Array, " channels"]]:
        """The debiased running mean and variance used in inference.

        **Arguments:**

        - `state`: the model's state.

        **Returns:**

        A pair `(mean, var)`; before any training step, `(0, 1)`, so that an untrained
        model in inference mode is the identity up to its affine map.
        """
        counter = state.get(self.norm.batch_counter)
        avg_mean, avg_var = state.get(self.norm.batch_state_index)
        debias = 1 - self.norm.momentum**counter
        started = counter > 0
        safe = jnp.where(started, debias, 1)
        mean = jnp.where(started, avg_mean / safe, 0)
        var = jnp.where(started, avg_var / safe, 1)
        return mean, var

    def __call__(
        self, x: Float[Array, " channels *spatial"], state: eqx.nn.State
    ) -> tuple[Float[Array, " channels *spatial"], eqx.nn.State]:
        """**Arguments:**

        - `x`: one sample, channels first.
        - `state`: the model's state.

        **Returns:**

        The normalised sample and the (in training, updated) state.
        """
        if not self.norm.inference:
            return self.norm(x, state)
        mean, var = self.running_statistics(state)
        expand = (slice(None),) + (None,) * (x.ndim - 1)
        out = (x - mean[expand]) / jnp.sqrt(var[expand] + self.norm.eps)
        if self.norm.channelwise_affine:
            out = out * self.norm.weight[expand] + self.norm.bias[expand]
        return out, state
