"""Ensembles of `sciml.nn` registry models from a JSON specification, and their skeletons."""

from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax.random as jr
from jaxtyping import PRNGKeyArray

from .. import nn
from ._ensemble import Ensemble


_SPEC_DEFAULTS: dict[str, Any] = {
    "num_members": None,
    "architecture": None,
    "config": None,
    "prior": None,
    "prior_scale": 1.0,
    "anchored": False,
    "heteroscedastic": False,
    "min_variance": 1e-6,
}


def _check_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(spec) - set(_SPEC_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown ensemble spec key(s) {unknown}; accepted: {', '.join(sorted(_SPEC_DEFAULTS))}")
    missing = [k for k in ("num_members", "architecture", "config") if spec.get(k) is None]
    if missing:
        raise ValueError(f"the ensemble spec needs {', '.join(missing)}")
    prior = spec.get("prior")
    if prior is not None and (not isinstance(prior, Mapping) or set(prior) != {"architecture", "config"}):
        raise ValueError(
            f"the ensemble spec's 'prior' must be {{'architecture': ..., 'config': ...}} or None, got {prior!r}"
        )
    return {**_SPEC_DEFAULTS, **spec}


def build_ensemble(spec: Mapping[str, Any], *, key: PRNGKeyArray) -> Ensemble:
    """Build an [`sciml.uq.Ensemble`][] of `sciml.nn` registry models from a JSON spec.

    The spec is what a saved ensemble's metadata holds, so `(spec, weights)` rebuilds it
    without the code that made it: `num_members`, `architecture` and `config` (as for
    `sciml.nn.build`), `prior` (`None` or `{"architecture", "config"}` of the fixed
    prior networks), `prior_scale`, `anchored`, `heteroscedastic`, `min_variance`.

    **Arguments:**

    - `spec`: the specification (JSON values only).
    - `key`: the PRNG key.

    **Returns:**

    The ensemble.

    **Raises:**

    `ValueError` for unknown or missing keys, and whatever `sciml.nn.build` raises for
    the configurations.
    """
    spec = _check_spec(spec)
    name, config, prior = spec["architecture"], dict(spec["config"]), spec["prior"]
    make_prior = None if prior is None else (lambda k: nn.build(prior["architecture"], key=k, **prior["config"]))
    return Ensemble(
        lambda k: nn.build(name, key=k, **config),
        spec["num_members"],
        key=key,
        make_prior=make_prior,
        prior_scale=spec["prior_scale"],
        anchored=spec["anchored"],
        heteroscedastic=spec["heteroscedastic"],
        min_variance=spec["min_variance"],
    )


def ensemble_skeleton(spec: Mapping[str, Any]) -> Ensemble:
    """The structure of [`build_ensemble`][]`(spec)` with abstract arrays, for loading.

    Nothing is allocated (`eqx.filter_eval_shape`); pass it as
    `sciml.train.load(path, like=ensemble_skeleton(spec))` with the spec saved in the
    model's metadata under `"ensemble"`.

    **Arguments:**

    - `spec`: the ensemble specification.

    **Returns:**

    An `Ensemble` whose arrays are `jax.ShapeDtypeStruct`s.
    """
    return eqx.filter_eval_shape(lambda k: build_ensemble(spec, key=k), jr.key(0))
