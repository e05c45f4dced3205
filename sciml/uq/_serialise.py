"""Saving and loading ensembles: the member specification travels with the weights."""

import os
from collections.abc import Mapping
from typing import Any

from ..train import load, load_metadata, save
from ._build import ensemble_skeleton
from ._ensemble import Ensemble


def save_ensemble(path: str | os.PathLike, ensemble: Ensemble, spec: Mapping[str, Any], **metadata: Any) -> None:
    """Saves an ensemble built by [`sciml.uq.build_ensemble`][] with its specification.

    **Arguments:**

    - `path`: the `.eqx` file; the metadata goes to the `.json` beside it.
    - `ensemble`: the ensemble (or its networks-only part that `spec` rebuilds).
    - `spec`: the specification it was built from, stored under `"ensemble"`.
    - `metadata`: further JSON-able metadata.
    """
    save(path, ensemble, ensemble=dict(spec), **metadata)


def load_ensemble(path: str | os.PathLike) -> Ensemble:
    """Loads an ensemble saved by [`save_ensemble`][], rebuilding its structure from the spec.

    **Raises:**

    `ValueError` when the file holds no ensemble specification, or its arrays do not
    match the structure the specification builds.
    """
    meta = load_metadata(path)
    if "ensemble" not in meta:
        raise ValueError(f"{path} holds no ensemble specification; load a single model with sciml.train.load")
    return load(path, like=ensemble_skeleton(meta["ensemble"]))
