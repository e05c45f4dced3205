"""Loading a fitted surrogate, and `sciml predict`: predictions for a new data file."""

import os
import zipfile
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


# A member that marks the files `predict_file` writes, so that it replaces only its own.
PREDICTIONS_MARK = "__sciml_predictions__"


def _surrogate_info(meta: dict[str, Any], source: Path) -> dict[str, Any]:
    """`model.json`'s `surrogate` entry, checked key by key so a damaged file is named."""
    info = meta.get("surrogate")
    if not isinstance(info, dict):
        raise ValueError(f"{source} was not written by `sciml fit` (it has no 'surrogate' entry)")

    def need(ok: bool, key: str, expected: str) -> None:
        if not ok:
            raise ValueError(
                f"{source}: 'surrogate.{key}' must be {expected}, got {info.get(key, '(missing)')!r}; "
                "fit the model again"
            )

    need(info.get("kind") in ("pairs", "trajectories"), "kind", "'pairs' or 'trajectories'")
    need(info.get("adapter") in ("field", "flat", "tokens"), "adapter", "'field', 'flat' or 'tokens'")
    for key in ("model_in_channels", "model_out_channels", "data_channels", "out_channels", "num_parameters"):
        value = info.get(key)
        need(isinstance(value, int) and not isinstance(value, bool) and value >= 0, key, "a non-negative integer")
    window = info.get("window")
    need(
        window is None or (isinstance(window, int) and not isinstance(window, bool) and window > 0),
        "window",
        "null or a positive integer",
    )
    grid = info.get("grid")
    need(isinstance(grid, list) and all(isinstance(n, int) and n > 0 for n in grid), "grid", "a list of grid sizes")
    norms = info.get("normalisation")
    ok = isinstance(norms, dict) and all(
        isinstance(norms.get(side), dict)
        and all(
            isinstance(norms[side].get(stat), list) and all(isinstance(v, (int, float)) for v in norms[side][stat])
            for stat in ("mean", "std")
        )
        for side in ("input", "output")
    )
    need(ok, "normalisation", "{'input': {'mean': [...], 'std': [...]}, 'output': {...}} (the training statistics)")
    return info


def load_surrogate(directory: str | os.PathLike) -> tuple[Surrogate, dict[str, Any]]:
    """Rebuilds a surrogate written by `sciml fit` (or `fit_surrogate`).

    The network comes from `model.eqx` through `sciml.train.load` (architecture and
    config in `model.json`, both checked against the fingerprints stored when they were
    written), the normalisers from the statistics stored under `model.json`'s
    `surrogate` key, in the network's dtype.

    **Arguments:**

    - `directory`: the `--out` folder of `sciml fit`.

    **Returns:**

    `(surrogate, metadata)`, the metadata being `model.json`'s contents.

    **Raises:**

    `FileNotFoundError` when there is no `model.eqx`; `ValueError` naming the file when
    `directory` is a file, or the model was not written by `sciml fit`, was changed
    after it was written, or is damaged.
    """
    directory = Path(directory)
    if directory.is_file():
        raise ValueError(f"{directory} is a file; pass the --out folder of `sciml fit` (it holds model.eqx)")
    path = directory / "model.eqx"
    if not path.exists():
        raise FileNotFoundError(f"no fitted model in {directory} (expected {path}, written by `sciml fit`)")
    meta = load_metadata(path)
    info = _surrogate_info(meta, path.with_suffix(".json"))
    network = load_network(path)
    # The network keeps the dtype it was saved in; the statistics follow it.
    dtype = next(x.dtype for x in jax.tree_util.tree_leaves(network) if eqx.is_inexact_array(x))

    def normaliser(stats: dict[str, list[float]]) -> Normaliser:
        norm = Normaliser(stats["mean"], stats["std"])
        return Normaliser(norm.mean.astype(dtype), norm.std.astype(dtype))

    norms = info["normalisation"]
    try:
        surrogate = Surrogate(
            network,
            normaliser(norms["input"]),
            normaliser(norms["output"]),
            info["adapter"],
            info["model_in_channels"],
            info["model_out_channels"],
            info["window"],
        )
    except ValueError as e:
        raise ValueError(f"{path.with_suffix('.json')}: its 'surrogate' entry does not fit the network ({e})") from None
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


def _is_predictions_file(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return f"{PREDICTIONS_MARK}.npy" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def _check_output(out: Path, reads: dict[str, Path], force: bool) -> None:
    """Refuses an output that is a file the command reads, or a file that is not ours."""
    if out.suffix.lower() != ".npz":
        raise ValueError(f"--out {out}: predictions are written as a .npz file; give a name ending in .npz")
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory; give the .npz file to write")
    if out.parent.exists() and not out.parent.is_dir():
        raise ValueError(f"--out {out}: {out.parent} is not a directory")
    target = out.resolve()
    for role, path in reads.items():
        # resolve() follows symlinks and `..`; samefile also catches hard links.
        if target == path.resolve() or (out.exists() and path.exists() and os.path.samefile(out, path)):
            raise ValueError(f"--out {out} is the {role} ({path}) this command reads; write the predictions elsewhere")
    if out.exists() and not force and not _is_predictions_file(out):
        raise ValueError(
            f"--out {out} exists and is not a predictions file written by `sciml predict`; choose another name, "
            "or pass --force (force=True) to replace it"
        )


def predict_file(
    model_dir: str | os.PathLike, data_path: str | os.PathLike, out: str | os.PathLike, *, force: bool = False
) -> dict[str, Any]:
    """Predicts with a fitted surrogate on a data file and writes the predictions (`.npz`).

    Pairs: `predictions` `[n, *grid, out_channels]`. Trajectories: `one_step` and
    `rollout`, each `[n, n_times - window, *grid, channels]` (frames `window` onwards,
    from the true previous frames, or from the first window only). Channels last, as in
    the data file. The file also holds the marker `__sciml_predictions__`, by which a
    later call recognises a file it may replace. When the data has targets (`outputs`,
    or the trajectories' later frames), their errors are returned too.

    Nothing a user owns is overwritten: `out` may not be any file the command reads
    (the data file, `model.eqx`, `model.json`, through symlinks and relative paths too),
    and an existing file that is not such a predictions file is replaced only with
    `force`. These checks come before any work.

    **Arguments:**

    - `model_dir`: the `--out` folder of `sciml fit`.
    - `data_path`: a file in the `sciml.data` layout; `outputs` may be absent.
    - `out`: the `.npz` file to write (atomically).
    - `force`: replace an existing `out` even when it is not a predictions file.

    **Returns:**

    `{"samples": n, "file": out, "metrics": {...}}`.

    **Raises:**

    `ValueError` for a refused `out` or a damaged model; `sciml.data.DataError` for a
    file that does not follow the layout or does not match what the model was trained
    on; `FileNotFoundError`.
    """
    model_dir, data_path, out = Path(model_dir), Path(data_path), Path(out)
    reads = {"data file": data_path, "model file": model_dir / "model.eqx", "model metadata": model_dir / "model.json"}
    _check_output(out, reads, force)
    surrogate, meta = load_surrogate(model_dir)
    info = meta["surrogate"]
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
    arrays[PREDICTIONS_MARK] = np.array("sciml predict")
    try:
        atomic_write(out, lambda f: np.savez(f, **arrays))
    except OSError as e:
        raise ValueError(f"cannot write the predictions to {out}: {e.strerror or e}") from None
    return {"samples": len(members), "file": str(out), "metrics": scores}
