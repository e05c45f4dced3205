"""The standard training-curve figure every problem writes."""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure


def _running_mean(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    # 'valid' keeps the curve unbiased at the ends instead of padding with zeros.
    return np.convolve(values, kernel, mode="valid")


def plot_history(
    losses: Sequence[float] | np.ndarray,
    history: Sequence[Mapping[str, Any]] = (),
    *,
    title: str | None = None,
) -> Figure:
    """Training loss per step and, beside it, every validation metric in `history`.

    The per-step loss is drawn faintly with a running mean over it (minibatch losses
    are noisy); the axis is logarithmic when every loss is positive. Each numeric key of
    the history records other than `step` and `loss` becomes one curve of the second
    panel, so problems need not say which metrics they logged.

    Built on `matplotlib.figure.Figure` rather than `pyplot`, so no GUI backend and
    no global figure registry are involved (safe in tests and on headless machines).

    **Arguments:**

    - `losses`: the training loss at every step (`FitResult.losses`).
    - `history`: the logged records (`FitResult.history`), each a dict with `step`.
    - `title`: an optional figure title.

    **Returns:**

    The figure; write it with `RunContext.savefig`.
    """
    losses = np.asarray(losses, dtype=np.float64)
    # `fit` prefixes validation metrics with `val_`; its other keys (time, skipped
    # updates) are bookkeeping, not curves.
    keys = sorted({k for record in history for k in record if k.startswith("val_")})
    fig = Figure(figsize=(4.5 * (1 + len(keys)), 3.6), layout="constrained")
    axes = fig.subplots(1, 1 + len(keys), squeeze=False)[0]

    ax = axes[0]
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, color="tab:blue", alpha=0.3, lw=0.8, label="per step")
    window = max(1, len(losses) // 50)
    smooth = _running_mean(losses, window)
    if len(smooth) < len(losses):
        ax.plot(steps[window - 1 :], smooth, color="tab:blue", lw=1.5, label=f"mean of {window}")
    finite = losses[np.isfinite(losses)]
    if finite.size and (finite > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend(loc="upper right")

    # One panel per metric: accuracies and losses live on different scales.
    for ax, k in zip(axes[1:], keys):
        points = [(r["step"], float(r[k])) for r in history if r.get(k) is not None]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", ms=3, color="tab:orange")
        ax.set_xlabel("step")
        ax.set_ylabel(k.replace("_", " "))
    if title:
        fig.suptitle(title)
    return fig
