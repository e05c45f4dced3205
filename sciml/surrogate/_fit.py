"""Fitting a surrogate on a loaded data file: its plan (model, split, normalisers), training and metadata."""

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Int, PRNGKeyArray

from .. import nn
from ..data import BatchStream, fit_normaliser, fit_stream, Samples, SimulationData, split_indices
from ..nn import Normaliser
from ..train import Checkpointing, fit, FitResult, Logging, make_optimizer, Validation
from ._config import FitConfig, model_config
from ._evaluate import loss, metrics
from ._model import Surrogate


@dataclasses.dataclass(frozen=True)
class SurrogatePlan:
    """What fitting a surrogate to one data file decides before training.

    **Attributes:**

    - `surrogate`: the initialised model, between normalisers of the training split.
    - `name`, `adapter`, `net_config`: the `sciml.nn` registry name, how the network sees
        a field, and the network's keyword arguments (what `model.json` stores).
    - `window`, `horizon`: input snapshots and rollout length (None for pairs).
    - `samples`: the numbered training samples (pairs, or trajectory windows).
    - `train`, `val`, `test`: the split, as indices of whole samples of the file.
    - `train_ids`, `val_ids`: the training / validation samples of `samples`.
    - `batch_size`: the training batch size (at most the number of training samples).
    - `fit_key`: the key of the training run (batch order).
    """

    surrogate: Surrogate
    name: str
    adapter: str
    net_config: dict[str, Any]
    window: int | None
    horizon: int | None
    samples: Samples
    train: Int[np.ndarray, " a"]
    val: Int[np.ndarray, " b"]
    test: Int[np.ndarray, " c"]
    train_ids: Int[np.ndarray, " d"]
    val_ids: Int[np.ndarray, " e"]
    batch_size: int
    fit_key: PRNGKeyArray


def _concat(*norms: Normaliser) -> Normaliser:
    return Normaliser(jnp.concatenate([n.mean for n in norms]), jnp.concatenate([n.std for n in norms]))


def _normalisers(data: SimulationData, train: np.ndarray, window: int | None) -> tuple[Normaliser, Normaliser]:
    """Per-channel statistics of the training split: input (with parameters) and output."""
    params = [fit_normaliser(data, "parameters", train)] if "parameters" in data else []
    if window is None:
        return _concat(fit_normaliser(data, "inputs", train), *params), fit_normaliser(data, "outputs", train)
    fields = fit_normaliser(data, "fields", train)
    # Every snapshot of the window shares the field statistics, so a normalised
    # prediction can be fed back as the next normalised input.
    return _concat(*[fields] * window, *params), fields


def plan_surrogate(
    data: SimulationData, name: str, config: FitConfig, user_model: dict[str, Any], *, seed: int
) -> SurrogatePlan:
    """Splits the samples, fits the normalisers on the training split and builds the model.

    Trajectory files learn the next snapshot from the previous `config.window`; pairs
    files learn `outputs` from `inputs`. The seed gives the split, the initialisation
    and (through `fit_key`) the batch order.

    **Arguments:**

    - `data`: the loaded file.
    - `name`: `fno`, `resnet` (variant `field`), `mlp` or `transformer`.
    - `config`: the training settings.
    - `user_model`: model settings given by the user (the rest default for the layout).
    - `seed`: the run's seed.

    **Returns:**

    A [`SurrogatePlan`][].

    **Raises:**

    `ConfigError` for bad model settings; `sciml.data.DataError` for data whose
    normalised form overflows the float dtype.
    """
    layout = data.layout
    trajectories = layout.kind == "trajectories"
    window = config.window if trajectories else None
    samples = Samples(data, window=window, horizon=config.horizon) if trajectories else Samples(data)
    in_channels = layout.in_channels * (window or 1) + layout.num_parameters
    out_channels = layout.out_channels
    adapter, net_config = model_config(name, layout, in_channels, out_channels, user_model)

    split_key, init_key, fit_key = jr.split(jr.key(seed), 3)
    fractions = (1 - config.val_fraction - config.test_fraction, config.val_fraction, config.test_fraction)
    train, val, test = split_indices(layout.num_samples, fractions, key=split_key)
    train_ids, val_ids = samples.ids(train), samples.ids(val)
    input_norm, output_norm = _normalisers(data, train, window)
    network = nn.build(name, key=init_key, **net_config)
    surrogate = Surrogate(network, input_norm, output_norm, adapter, in_channels, out_channels, window)
    return SurrogatePlan(
        surrogate=surrogate,
        name=name,
        adapter=adapter,
        net_config=net_config,
        window=window,
        horizon=config.horizon if trajectories else None,
        samples=samples,
        train=train,
        val=val,
        test=test,
        train_ids=train_ids,
        val_ids=val_ids,
        batch_size=min(config.batch_size, len(train_ids)),
        fit_key=fit_key,
    )


def train_surrogate(
    plan: SurrogatePlan,
    data: SimulationData,
    config: FitConfig,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    quiet: bool = False,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
) -> FitResult:
    """Trains the planned surrogate through `sciml.train.fit` (or `fit_stream` on lazy data).

    Validation on the validation split, early stopping (`patience`), the best
    validated model kept, checkpoints and exact `resume`. Arrays are converted to JAX's
    default float dtype; a lazy HDF5 file is streamed batch for batch as in memory.

    **Arguments:**

    - `plan`: from [`plan_surrogate`][].
    - `data`: the same loaded file.
    - `config`: the training settings.
    - `checkpoint_dir`, `resume`: where checkpoints go, and whether to continue from one.
    - `quiet`: no progress output.
    - `callback`: passed to `sciml.train.fit` (`callback(step, record)`).

    **Returns:**

    The `sciml.train.FitResult`; its `model` is the trained surrogate.
    """
    optimizer = {
        "name": "adam",
        "learning_rate": config.learning_rate,
        "schedule": config.schedule,
        "warmup_steps": config.warmup_steps,
    }
    if config.clip_norm is not None:
        optimizer["clip_norm"] = config.clip_norm
    optimizer = make_optimizer(optimizer, steps=config.steps)
    has_val = len(plan.val_ids) > 0
    dtype = jnp.zeros(()).dtype
    samples = plan.samples

    def host(ids):
        return {k: jnp.asarray(v, dtype) for k, v in samples.read(ids).items()}

    # A stream validates on ids it reads on demand; in memory the samples are read once.
    validation = None
    if has_val:
        validation = Validation(
            plan.val_ids if data.lazy else host(plan.val_ids),
            every=config.val_every,
            batch_size=plan.batch_size,
            metrics=metrics,
            monitor="relative_l2",
            patience=config.patience,
            keep_best=True,
        )
    common = dict(
        steps=config.steps,
        validation=validation,
        checkpointing=None
        if checkpoint_dir is None
        else Checkpointing(checkpoint_dir, every=config.checkpoint_every, resume=resume),
        logging=Logging(quiet=quiet, callback=callback, desc=f"fit {plan.name}"),
    )
    if data.lazy:
        with BatchStream(
            samples, plan.train_ids, plan.batch_size, key=plan.fit_key, prefetch=config.prefetch, dtype=dtype
        ) as stream:
            return fit_stream(plan.surrogate, loss, stream, optimizer, **common)
    return fit(
        plan.surrogate, loss, host(plan.train_ids), optimizer, key=plan.fit_key, batch_size=plan.batch_size, **common
    )


def surrogate_metadata(plan: SurrogatePlan, data: SimulationData, source: str) -> dict[str, Any]:
    """The `surrogate` entry of `model.json`: what [`load_surrogate`][] and `predict_file` read.

    **Arguments:**

    - `plan`: the plan the model was trained from (its normalisers are the ones stored).
    - `data`: the training file.
    - `source`: its name, recorded.

    **Returns:**

    A JSON-able dict: layout kind, adapter, window, grid, shapes and channels, and the
    normalisation statistics.
    """
    layout, surrogate = data.layout, plan.surrogate
    norms = {
        side: {"mean": np.asarray(norm.mean).tolist(), "std": np.asarray(norm.std).tolist()}
        for side, norm in (("input", surrogate.input_normaliser), ("output", surrogate.output_normaliser))
    }
    return {
        "kind": layout.kind,
        "adapter": plan.adapter,
        "window": plan.window,
        "horizon": plan.horizon,
        "grid": list(layout.grid),
        # Per sample (pairs) or per snapshot (trajectories), channels last as in the file.
        "input_shape": [*layout.grid, layout.in_channels],
        "output_shape": [*layout.grid, surrogate.out_channels],
        "data_channels": layout.in_channels,
        "out_channels": surrogate.out_channels,
        "num_parameters": layout.num_parameters,
        "model_in_channels": surrogate.in_channels,
        "model_out_channels": surrogate.out_channels,
        "model_input_shape": [surrogate.in_channels, *layout.grid],
        "normalisation": norms,
        "data": {
            "file": source,
            "layout": layout.describe(),
            "split": [len(plan.train), len(plan.val), len(plan.test)],
        },
    }
