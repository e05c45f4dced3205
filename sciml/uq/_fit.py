"""`fit_ensemble`: `sciml.train.fit` with the filter spec and optimizer an ensemble needs."""

from collections.abc import Mapping

import optax
from jaxtyping import PRNGKeyArray, PyTree

from ..train import Checkpointing, Execution, fit, FitResult, Logging, Validation
from ._ensemble import Ensemble
from ._loss import EnsembleLoss
from ._optim import member_optimizer


def fit_ensemble(
    ensemble: Ensemble,
    loss: EnsembleLoss,
    data: PyTree | None,
    optimizer: optax.GradientTransformation,
    *,
    steps: int,
    key: PRNGKeyArray,
    batch_size: int | None = None,
    filter_spec: PyTree | None = None,
    validation: Validation | None = None,
    checkpointing: Checkpointing | None = None,
    logging: Logging = Logging(),
    execution: Execution = Execution(),
) -> FitResult:
    """Train every member of an ensemble at once with `sciml.train.fit`.

    A thin layer over the one training loop: it only supplies the two things that
    make training an ensemble correct rather than merely fast. The filter spec
    defaults to [`sciml.uq.Ensemble.filter_spec`][], so priors and anchors never train
    (a decoupled weight decay would otherwise shrink them); the optimizer is wrapped by
    [`sciml.uq.member_optimizer`][], so clipping norms and optimizer states are per
    member. All members then advance in one compiled step, one vmapped loss and
    gradient, and each follows the trajectory it would follow alone.

    The non-finite guard of `fit` looks at the summed loss, so a NaN in one member
    raises (or, with `Execution(on_nonfinite="skip")`, skips the step) for all of them:
    a diverging member is loud rather than silently dropped.

    **Arguments:**

    - `ensemble`: the [`sciml.uq.Ensemble`][].
    - `loss`: an [`sciml.uq.EnsembleLoss`][].
    - `data`: the dataset (see `sciml.train.fit`); per-member weights go under a
        `"weights"` entry of shape `(N, K)` in a dict dataset.
    - `optimizer`: an optax transformation (see `sciml.train.make_optimizer`), applied
        to each member separately.
    - `steps`, `key`, `batch_size`, `checkpointing`, `logging`: as for `sciml.train.fit`.
    - `filter_spec`: the trainable leaves; default `ensemble.filter_spec`.
    - `validation`: as for `sciml.train.fit`; its `metrics` receive the ensemble.
    - `execution`: its `on_nonfinite` as for `fit`; members are placed on devices with
        [`sciml.uq.shard_members`][], so it takes no mesh.

    **Returns:**

    `sciml.train.fit`'s `FitResult`; `losses` are sums over members.

    **Raises:**

    `TypeError` when `ensemble`, `loss` or `optimizer` has the wrong type; `ValueError`
    for a data-parallel mesh; whatever `fit` and [`sciml.uq.member_optimizer`][] raise.
    """
    if not isinstance(ensemble, Ensemble):
        raise TypeError(f"fit_ensemble trains a sciml.uq.Ensemble, got {type(ensemble).__name__}")
    if not isinstance(loss, EnsembleLoss):
        raise TypeError(
            f"fit_ensemble needs a sciml.uq.EnsembleLoss (wrap your member loss), got {type(loss).__name__}"
        )
    if isinstance(optimizer, Mapping):
        raise TypeError(
            "fit_ensemble takes an optax GradientTransformation, got a config mapping: build it with "
            f"sciml.train.make_optimizer({dict(optimizer)!r}, steps={steps})"
        )
    if execution.mesh is not None:
        raise ValueError(
            "fit_ensemble shards members, not batches: place the ensemble with sciml.uq.shard_members "
            "instead of passing a data-parallel mesh"
        )
    return fit(
        ensemble,
        loss,
        data,
        member_optimizer(optimizer, steps=steps),
        steps=steps,
        key=key,
        batch_size=batch_size,
        filter_spec=ensemble.filter_spec if filter_spec is None else filter_spec,
        validation=validation,
        checkpointing=checkpointing,
        logging=logging,
        execution=execution,
    )
