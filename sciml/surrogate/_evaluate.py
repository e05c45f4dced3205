"""Predictions of a `Surrogate` on whole samples of a dataset, and their error metrics."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ..data import make_windows, SimulationData
from ._layout import channels_first, channels_last, model_inputs
from ._model import Surrogate


def loss(model: Surrogate, batch: dict[str, Array], key: PRNGKeyArray | None) -> Float[Array, ""]:
    """The training loss: mean squared error in normalised units.

    Pairs compare one prediction with `targets`; trajectory windows roll the model out
    over the target horizon, feeding predictions back (the rollout loss). Normalised
    units weigh every channel alike whatever its physical scale.

    **Arguments:**

    - `model`: the surrogate.
    - `batch`: a batch from `sciml.data.Samples` (`inputs`, `targets`, `parameters`).
    - `key`: unused (no dropout in the field models); part of the loss signature.

    **Returns:**

    The scalar loss.
    """
    del key
    pred, target = _normalised(model, batch)
    return jnp.mean((pred - target) ** 2)


def _normalised(model: Surrogate, batch: dict[str, Array]) -> tuple[Array, Array]:
    d = batch["targets"].ndim - 2 - (model.window is not None)
    z = jax.vmap(model.input_normaliser)(model_inputs(batch["inputs"], batch.get("parameters"), d))
    targets = channels_first(batch["targets"], d)
    if model.window is None:
        return jax.vmap(model.network_call)(z), jax.vmap(model.output_normaliser)(targets)
    horizon = targets.shape[1]
    pred = jax.vmap(lambda zi: model.rollout_normalised(zi, horizon))(z)
    return pred, jax.vmap(jax.vmap(model.output_normaliser))(targets)


def metrics(model: Surrogate, batch: dict[str, Array]) -> dict[str, Float[Array, ""]]:
    """Validation metrics: the loss and the relative L2 error in physical units.

    **Returns:**

    `{"loss": ..., "relative_l2": ...}`.
    """
    pred, target = _normalised(model, batch)
    norm = model.output_normaliser
    # Back to physical units through the per-channel scale; the mean cancels in the error.
    shape = [1] * pred.ndim
    shape[1 + (model.window is not None)] = model.out_channels
    std = jnp.reshape(norm.std, shape)
    error = (pred - target) * std
    truth = target * std + jnp.reshape(norm.mean, shape)
    return {"loss": jnp.mean((pred - target) ** 2), "relative_l2": jnp.linalg.norm(error) / jnp.linalg.norm(truth)}


@eqx.filter_jit
def _apply(model: Surrogate, x: Float[Array, " b c *grid"]) -> Float[Array, " b d *grid"]:
    return jax.vmap(model)(x)


@eqx.filter_jit
def _rollout(model: Surrogate, x: Float[Array, " c *grid"], steps: int) -> Float[Array, " steps d *grid"]:
    return model.rollout(x, steps)


def model_dtype(model: Surrogate) -> Any:
    """The floating dtype of the surrogate's parameters (inputs are converted to it)."""
    return next(leaf.dtype for leaf in jax.tree_util.tree_leaves(model.network) if eqx.is_inexact_array(leaf))


def predict_pairs(
    model: Surrogate, data: SimulationData, members: Int[np.ndarray, " k"], *, chunk: int = 256
) -> np.ndarray:
    """Predicts `outputs` for the pairs `members`, channels-last like the file.

    **Returns:**

    `[k, *grid, out_channels]` in the model's dtype.
    """
    d, dtype, out = data.layout.num_spatial_dims, model_dtype(model), []
    for start in range(0, len(members), chunk):
        ids = members[start : start + chunk]
        inputs = jnp.asarray(data.read("inputs", ids), dtype)
        params = jnp.asarray(data.read("parameters", ids), dtype) if "parameters" in data else None
        x = model_inputs(inputs, params, d)
        out.append(np.asarray(channels_last(_apply(model, x), d)))
    return np.concatenate(out)


def predict_trajectories(
    model: Surrogate, data: SimulationData, members: Int[np.ndarray, " k"]
) -> tuple[np.ndarray, np.ndarray]:
    """One-step and rollout predictions of frames `window .. n_times - 1` of trajectories.

    One-step: frame `t` from the true frames `t - window .. t - 1`. Rollout: every frame
    from the first `window` true frames only, feeding predictions back.

    **Returns:**

    `(one_step, rollout)`, each `[k, n_times - window, *grid, channels]`.
    """
    d, dtype, w = data.layout.num_spatial_dims, model_dtype(model), model.window
    one_step, rollout = [], []
    for j in members:
        fields = data.read("fields", np.asarray([j]))
        inputs, _, _ = make_windows(fields, window=w, horizon=1)
        params = None
        if "parameters" in data:
            params = jnp.asarray(np.repeat(data.read("parameters", np.asarray([j])), len(inputs), axis=0), dtype)
        x = model_inputs(jnp.asarray(inputs, dtype), params, d)
        one_step.append(np.asarray(channels_last(_apply(model, x), d)))
        rollout.append(np.asarray(channels_last(_rollout(model, x[0], len(inputs)), d)))
    return np.stack(one_step), np.stack(rollout)


def relative_l2(pred: np.ndarray, truth: np.ndarray) -> float:
    """`||pred - truth|| / ||truth||` over all entries, in float64."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    return float(np.linalg.norm(pred - truth) / np.linalg.norm(truth))


def error_metrics(pred: np.ndarray, truth: np.ndarray, prefix: str = "") -> dict[str, Any]:
    """Relative L2 (global and per channel) and MSE of channels-last predictions."""
    pred64, truth64 = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    channels = truth.shape[-1]
    per_channel = [relative_l2(pred64[..., c], truth64[..., c]) for c in range(channels)]
    return {
        f"{prefix}relative_l2": relative_l2(pred64, truth64),
        f"{prefix}mse": float(np.mean((pred64 - truth64) ** 2)),
        f"{prefix}relative_l2_per_channel": per_channel,
    }


def evaluate_test(
    surrogate: Surrogate, data: SimulationData, test: Int[np.ndarray, " k"]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Test-split metrics with naive baselines, and the arrays of `predictions.npz`.

    Pairs: relative L2 and MSE of the predictions, and of the identity (output = input)
    as the naive baseline when shapes allow. Trajectories: one-step and rollout errors
    over the frames after the first window, and persistence (the next snapshot equals
    the last) as the baseline.

    **Arguments:**

    - `surrogate`: the trained surrogate.
    - `data`: the file it was trained on.
    - `test`: the test split (whole samples).

    **Returns:**

    `(scores, arrays)`: the metrics, and the test inputs, targets and predictions
    (channels last, as in the file).
    """
    if surrogate.window is None:
        pred = predict_pairs(surrogate, data, test)
        truth = data.read("outputs", test)
        inputs = data.read("inputs", test)
        scores = error_metrics(pred, truth, "test_")
        if inputs.shape == truth.shape:
            # Identity (output = input) is the naive baseline of a smoothing-type map.
            scores["baseline_identity_relative_l2"] = error_metrics(inputs, truth)["relative_l2"]
        arrays = {"sample_index": test, "inputs": inputs, "targets": truth, "predictions": pred}
    else:
        w = surrogate.window
        one_step, rollout = predict_trajectories(surrogate, data, test)
        fields = data.read("fields", test)
        truth = fields[:, w:]
        scores = error_metrics(one_step, truth, "test_")
        scores.update(error_metrics(rollout, truth, "test_rollout_"))
        # Persistence (the next snapshot equals the last one) is the naive baseline.
        scores["baseline_persistence_relative_l2"] = error_metrics(fields[:, w - 1 : -1], truth)["relative_l2"]
        times = np.asarray(data["times"]) if "times" in data else np.arange(fields.shape[1], dtype=float)
        times = times[test] if times.ndim == 2 else np.broadcast_to(times, fields.shape[:2])
        arrays = {"trajectory_index": test, "times": times, "fields": fields, "one_step": one_step, "rollout": rollout}
    if "parameters" in data:
        arrays["parameters"] = data.read("parameters", test)
    return scores, arrays
