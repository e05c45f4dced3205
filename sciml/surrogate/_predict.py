"""Loading a fitted surrogate, and `sciml predict`: predictions for a new data file."""

import os
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from .._misc import atomic_write
from ..data import DataError, Layout, load
from ..nn import Normaliser
from ..train import load as load_network, load_metadata
from ._evaluate import error_metrics, predict_pairs, predict_trajectories
from ._model import Surrogate


def load_surrogate(directory: str | os.PathLike) -> tuple[Surrogate, dict[str, Any]]:
    """Rebuilds a surrogate written by `sciml fit` (or `fit_surrogate`).

    The network comes from `model.eqx` through `sciml.train.load` (architecture and
    config in `model.json`), the normalisers from the statistics stored under
    `model.json`'s `surrogate` key, in the network's dtype.

    **Arguments:**

    - `directory`: the `--out` folder of `sciml fit`.

    **Returns:**

    `(surrogate, metadata)`, the metadata being `model.json`'s contents.

    **Raises:**

    `FileNotFoundError` when there is no `model.eqx`; `ValueError` when it was not
    written by `sciml fit`.
    """
    path = Path(directory) / "model.eqx"
    if not path.exists():
        raise FileNotFoundError(f"no fitted model in {directory} (expected {path}, written by `sciml fit`)")
    meta = load_metadata(path)
    info = meta.get("surrogate")
    if not isinstance(info, dict):
        raise ValueError(f"{path} was not written by `sciml fit` (model.json has no 'surrogate' entry)")
    network = load_network(path)
    # The network keeps the dtype it was saved in; the statistics follow it.
    dtype = next(x.dtype for x in jax.tree_util.tree_leaves(network) if eqx.is_inexact_array(x))

    def normaliser(stats: dict[str, list[float]]) -> Normaliser:
        norm = Normaliser(stats["mean"], stats["std"])
        return Normaliser(norm.mean.astype(dtype), norm.std.astype(dtype))

    norms = info["normalisation"]
    surrogate = Surrogate(
        network,
        normaliser(norms["input"]),
        normaliser(norms["output"]),
        info["adapter"],
        info["model_in_channels"],
        info["model_out_channels"],
        info["window"],
    )
    return surrogate, meta


def check_compatible(info: dict[str, Any], layout: Layout, source: str, model_dir: str) -> None:
    """Refuses data whose layout, grid, channels or parameters differ from training.

    **Raises:**

    `sciml.data.DataError` naming what the model was trained on and what the file holds.
    """
    trained = tuple(info["grid"])
    key = "fields" if info["kind"] == "trajectories" else "inputs"
    if layout.kind != info["kind"]:
        raise DataError(
            f"{source} holds {layout.kind}, but the model in {model_dir} was fitted on {info['kind']} (key {key!r})"
        )
    if layout.grid != trained or layout.in_channels != info["data_channels"]:
        raise DataError(
            f"{source}: {key!r} has grid {layout.grid} with {layout.in_channels} channel(s); the model in {model_dir} "
            f"was trained on grid {trained} with {info['data_channels']} channel(s)"
        )
    if layout.num_parameters != info["num_parameters"]:
        raise DataError(
            f"{source} has {layout.num_parameters} parameter(s) per sample; the model in {model_dir} was trained "
            f"with {info['num_parameters']}"
        )
    if layout.kind == "pairs" and layout.out_channels not in (None, info["out_channels"]):
        raise DataError(
            f"{source}: 'outputs' has {layout.out_channels} channel(s); the model in {model_dir} predicts "
            f"{info['out_channels']}"
        )
    if layout.kind == "trajectories" and layout.num_times <= info["window"]:
        raise DataError(
            f"{source}: trajectories of {layout.num_times} times are too short for the model's input window "
            f"of {info['window']} (at least {info['window'] + 1} needed)"
        )


def predict_file(model_dir: str | os.PathLike, data_path: str | os.PathLike, out: str | os.PathLike) -> dict[str, Any]:
    """Predicts with a fitted surrogate on a data file and writes the predictions (`.npz`).

    Pairs: `predictions` `[n, *grid, out_channels]`. Trajectories: `one_step` and
    `rollout`, each `[n, n_times - window, *grid, channels]` (frames `window` onwards,
    from the true previous frames, or from the first window only). Channels last, as in
    the data file. When the file has targets (`outputs`, or the trajectories' later
    frames), their errors are returned too.

    **Arguments:**

    - `model_dir`: the `--out` folder of `sciml fit`.
    - `data_path`: a file in the `sciml.data` layout; `outputs` may be absent.
    - `out`: the `.npz` file to write (atomically).

    **Returns:**

    `{"samples": n, "file": out, "metrics": {...}}`.

    **Raises:**

    `sciml.data.DataError` for a file that does not follow the layout or does not match
    what the model was trained on; `FileNotFoundError`.
    """
    surrogate, meta = load_surrogate(model_dir)
    info = meta["surrogate"]
    data_path = Path(data_path)
    with load(data_path, require_targets=False) as data:
        check_compatible(info, data.layout, data_path.name, str(model_dir))
        members = np.arange(data.layout.num_samples)
        scores: dict[str, Any] = {}
        if data.layout.kind == "pairs":
            pred = predict_pairs(surrogate, data, members)
            arrays = {"predictions": pred}
            if "outputs" in data:
                scores = error_metrics(pred, data.read("outputs", members))
        else:
            one_step, rollout = predict_trajectories(surrogate, data, members)
            arrays = {"one_step": one_step, "rollout": rollout}
            truth = data.read("fields", members)[:, surrogate.window :]
            scores = {**error_metrics(one_step, truth), **error_metrics(rollout, truth, "rollout_")}
    atomic_write(out, lambda f: np.savez(f, **arrays))
    return {"samples": len(members), "file": str(out), "metrics": scores}
