"""Figures of `sciml fit`: prediction against truth with its error, and the error map."""

import numpy as np
from matplotlib.figure import Figure


def _show(ax, field: np.ndarray, title: str, cmap: str = "viridis", vmin=None, vmax=None) -> None:
    """Draws one channel of one sample: a curve (1D), an image (2D) or a mid slice (3D)."""
    if field.ndim == 3:
        field = field[:, :, field.shape[2] // 2]
        title += " (mid slice)"
    if field.ndim == 1:
        ax.plot(field)
    else:
        image = ax.imshow(field.T, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax)
        ax.figure.colorbar(image, ax=ax, shrink=0.8)
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def plot_predictions(truth: np.ndarray, pred: np.ndarray, *, title: str, labels: list[str]) -> Figure:
    """Truth, prediction and error of a few samples, first channel, one row per sample.

    **Arguments:**

    - `truth`, `pred`: channels-last samples `[k, *grid, c]`.
    - `title`: the figure title.
    - `labels`: one row label per sample.

    **Returns:**

    The figure (1D grids: truth and prediction overlaid, error beside).
    """
    k = len(truth)
    one_d = truth.ndim == 3
    cols = 2 if one_d else 3
    fig = Figure(figsize=(4.2 * cols, 2.6 * k), layout="constrained")
    axes = fig.subplots(k, cols, squeeze=False)
    for i in range(k):
        t, p = truth[i, ..., 0], pred[i, ..., 0]
        if one_d:
            axes[i, 0].plot(t, label="truth", color="black")
            axes[i, 0].plot(p, label="prediction", color="tab:orange", ls="--")
            axes[i, 0].set_title(f"{labels[i]}: channel 0", fontsize=9)
            if i == 0:
                axes[i, 0].legend(fontsize=8)
            _show(axes[i, 1], p - t, f"{labels[i]}: error")
        else:
            lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
            _show(axes[i, 0], t, f"{labels[i]}: truth", vmin=lo, vmax=hi)
            _show(axes[i, 1], p, f"{labels[i]}: prediction", vmin=lo, vmax=hi)
            _show(axes[i, 2], p - t, f"{labels[i]}: error", cmap="RdBu_r")
    fig.suptitle(title)
    return fig


def plot_error_map(truth: np.ndarray, pred: np.ndarray, *, title: str) -> Figure:
    """The root-mean-square error over test samples at every grid point, per channel.

    **Arguments:**

    - `truth`, `pred`: channels-last `[k, *grid, c]` (any extra leading axes are pooled
        with the samples).
    - `title`: the figure title.

    **Returns:**

    The figure, one panel per channel (at most 4).
    """
    grid_ndim = truth.ndim - 2
    error = (np.asarray(pred, np.float64) - np.asarray(truth, np.float64)) ** 2
    rmse = np.sqrt(error.reshape(-1, *error.shape[-grid_ndim - 1 :]).mean(axis=0))
    channels = min(rmse.shape[-1], 4)
    fig = Figure(figsize=(4.5 * channels, 3.4), layout="constrained")
    for c, ax in enumerate(fig.subplots(1, channels, squeeze=False)[0]):
        _show(ax, rmse[..., c], f"channel {c}: RMS error", cmap="magma")
        if grid_ndim == 1:
            ax.set_xlabel("grid index")
    fig.suptitle(title)
    return fig


def plot_rollout_error(one_step: np.ndarray, rollout: np.ndarray, truth: np.ndarray, *, times: np.ndarray) -> Figure:
    """Relative L2 error per predicted time, one-step against rollout (trajectories)."""

    def per_time(pred):
        axes = (0, *range(2, truth.ndim))
        return np.sqrt(((pred - truth) ** 2).sum(axis=axes) / (truth**2).sum(axis=axes))

    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.plot(times, per_time(one_step), marker="o", ms=3, label="one step (true inputs)")
    ax.plot(times, per_time(rollout), marker="o", ms=3, label="rollout (own predictions)")
    ax.set_yscale("log")
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    ax.set_xlabel("time")
    ax.set_ylabel("relative L2 error over test trajectories")
    ax.legend()
    return fig
