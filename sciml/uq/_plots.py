"""Figures of predictive uncertainty: calibration curves and 1D uncertainty bands."""

from collections.abc import Mapping

import numpy as np
from jaxtyping import ArrayLike, Float
from matplotlib.figure import Figure

from ._metrics import calibration_curve
from ._predictive import Predictive


def plot_calibration(
    pits: Mapping[str, Float[ArrayLike, "..."]], *, kind: str = "central", num_levels: int = 41
) -> Figure:
    """Calibration curves: observed against nominal coverage, one curve per predictive.

    A calibrated predictive lies on the diagonal; a curve below it is overconfident
    (intervals too narrow), above it underconfident. Each label shows the expected
    calibration error (mean distance to the diagonal).

    Built on `matplotlib.figure.Figure` (no pyplot, no GUI backend); write it with
    `RunContext.savefig` or `fig.savefig("calibration.png")`.

    **Arguments:**

    - `pits`: name -> PIT values `F(y)` of the observations under that predictive
        ([`sciml.uq.Predictive.cdf`][]).
    - `kind`: `"central"` (coverage of central intervals) or `"quantile"` (one-sided), as
        in [`sciml.uq.calibration_curve`][].
    - `num_levels`: the number of nominal levels from 0 to 1.

    **Returns:**

    The figure.
    """
    levels = np.linspace(0.0, 1.0, num_levels)
    fig = Figure(figsize=(4.6, 4.4), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="calibrated")
    for name, pit in pits.items():
        observed = np.asarray(calibration_curve(pit, levels, kind=kind))
        ece = float(np.mean(np.abs(observed - levels)))
        ax.plot(levels, observed, marker="o", ms=2.5, label=f"{name} (ECE {ece:.3f})")
    what = "central interval" if kind == "central" else "quantile"
    ax.set_xlabel(f"nominal {what} probability")
    ax.set_ylabel("observed frequency")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def plot_bands(
    x: Float[ArrayLike, " n"],
    predictive: Predictive,
    *,
    x_train: Float[ArrayLike, " m"] | None = None,
    y_train: Float[ArrayLike, " m"] | None = None,
    truth: Float[ArrayLike, " n"] | None = None,
    title: str | None = None,
) -> Figure:
    """A 1D regression with its predictive mean and epistemic and total +-2 std bands.

    **Arguments:**

    - `x`: the sorted evaluation inputs.
    - `predictive`: the predictive at `x` (means of shape `(members, n)`).
    - `x_train`, `y_train`: the training data, drawn as points.
    - `truth`: the noise-free generating function at `x`.
    - `title`: an optional title.

    **Returns:**

    The figure.

    **Raises:**

    `ValueError` when the predictive is not one scalar output per input.
    """
    x = np.asarray(x)
    if predictive.means.shape[1:] != x.shape:
        raise ValueError(
            f"plot_bands needs a predictive of shape (members, {x.shape[0]}), got {predictive.means.shape}"
        )
    mean = np.asarray(predictive.mean)
    epi = np.asarray(predictive.epistemic_std)
    total = np.asarray(predictive.std)
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(
        x, mean - 2 * total, mean + 2 * total, color="tab:blue", alpha=0.18, lw=0, label="mean ± 2 total std"
    )
    ax.fill_between(
        x, mean - 2 * epi, mean + 2 * epi, color="tab:blue", alpha=0.4, lw=0, label="mean ± 2 epistemic std"
    )
    if x_train is not None and y_train is not None:
        ax.scatter(np.asarray(x_train), np.asarray(y_train), s=6, color="black", alpha=0.6, label="training data")
    if truth is not None:
        ax.plot(x, np.asarray(truth), color="tab:red", lw=1.2, ls="--", label="true mean")
    ax.plot(x, mean, color="tab:blue", lw=1.5, label="predictive mean")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(loc="upper left", fontsize=8)
    if title:
        ax.set_title(title)
    return fig
