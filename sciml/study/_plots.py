"""Standard figures of the problems: training curves, space-time fields and time slices."""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from jaxtyping import ArrayLike, Float
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


def plot_space_time(
    x: Float[ArrayLike, " nx"],
    t: Float[ArrayLike, " nt"],
    u: Float[ArrayLike, " nt nx"],
    reference: Float[ArrayLike, " nt nx"],
    *,
    labels: tuple[str, str] = ("prediction", "reference"),
    limits: tuple[float, float] | None = None,
) -> Figure:
    """Heat maps of a space-time field `u[t, x]`, its reference and `log10 |error|`.

    `limits` fixes the colour range of the two fields (default: the reference's range).
    """
    x, t, u, reference = (np.asarray(a) for a in (x, t, u, reference))
    fig = Figure(figsize=(14, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    extent = (t[0], t[-1], x[0], x[-1])
    vmin, vmax = limits if limits is not None else (float(np.min(reference)), float(np.max(reference)))
    for ax, field, title in ((axes[0], u, labels[0]), (axes[1], reference, labels[1])):
        im = ax.imshow(field.T, origin="lower", aspect="auto", extent=extent, cmap="RdBu_r", vmin=vmin, vmax=vmax)
        ax.set_title(title)
        fig.colorbar(im, ax=ax)
    # Floor the error so exact zeros (hard constraints) do not become -inf.
    err = np.log10(np.maximum(np.abs(u - reference), 1e-12))
    im = axes[2].imshow(err.T, origin="lower", aspect="auto", extent=extent, cmap="magma")
    axes[2].set_title("log10 |error|")
    fig.colorbar(im, ax=axes[2])
    for ax in axes:
        ax.set(xlabel="t", ylabel="x")
    return fig


def plot_time_slices(
    x: Float[ArrayLike, " nx"],
    t: Float[ArrayLike, " nt"],
    u: Float[ArrayLike, " nt nx"],
    reference: Float[ArrayLike, " nt nx"],
    times: Sequence[float],
    *,
    labels: tuple[str, str] = ("prediction", "reference"),
) -> Figure:
    """`u(t, x)` against its reference at the saved times nearest to `times`, one panel each."""
    x, t, u, reference = (np.asarray(a) for a in (x, t, u, reference))
    fig = Figure(figsize=(4.4 * len(times), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(times)))
    for ax, time in zip(axes, times):
        i = int(np.argmin(np.abs(t - time)))
        ax.plot(x, reference[i], color="black", lw=2, label=labels[1])
        ax.plot(x, u[i], color="tab:red", ls="--", lw=1.5, label=labels[0])
        ax.set_title(f"t = {t[i]:.2f}: max error {np.max(np.abs(u[i] - reference[i])):.1e}")
        ax.set(xlabel="x", ylabel="u")
    axes[-1].legend()
    return fig
