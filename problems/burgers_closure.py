r"""Learned closure for under-resolved viscous Burgers: a coarse solver plus a CNN, trained through diffrax.

**Physics.** Viscous Burgers on the periodic interval $[0, 2\pi)$,

$$ u_t + (u^2/2)_x = \nu u_{xx}, \qquad \nu = 0.02, $$

from random smooth initial conditions $u_0 = c \sum_{k=1}^{3} (a_k \cos kx + b_k \sin kx)/k$, $a_k, b_k \sim
N(0, 1)$, scaled to $\max |u_0| = 1$; shocks of width about 0.04 form by $t \approx 0.5$; horizon $[0, 2]$,
saved every 0.1. On 32 points the shocks are 5 times narrower than a cell, so the coarse solver (central
flux and second difference, `ViscousBurgers(..., discretisation="fd")`) rings and the closure has work to do.

**Independent reference.** A 512-point pseudo-spectral solve with the 2/3 rule
(`ViscousBurgers(..., discretisation="spectral")` below; diffrax Tsit5, rtol 1e-7,
float64), Gaussian-filtered over `filter_cells` coarse cells and projected onto the coarse grid
(`spectral_downsample`): the "filtered fine reference" (converged to 5e-9; `tests/test_method_of_lines.py`).

**Model.** `sciml.pde.MethodOfLines` on the 32-point grid, $du/dt = F_{\rm FD}(u) + N_\theta(u)$, with
$N_\theta$ a `sciml.nn.FieldResNet` (circular padding; `width`, `depth`, `kernel_size`; zero output layer
at start), integrated by Tsit5 at step `dt` and trained by `sciml.train.fit` on the rollout loss
(`sciml.ode.TrajectoryLoss`) over `n_train` trajectories, Adam with cosine decay, float64.

**Acceptance.** On `n_test` held-out initial conditions over $t \in (0, 2]$, the learned model's relative L2
error against the filtered reference is at least 5 times lower than the plain coarse solver's. The speed-up
over the fine solver is the median of `timing_repeats` interleaved batched solves, compiled and warm.

**Default budget**: 32 training trajectories, 400 Adam steps of batch 8 (lr 3e-3), a 5297-parameter closure.
**Expected accuracy**: relative L2 1.2-1.3e-2 against 1.2-1.4e-1 for the plain coarse solver (ratio 10-12),
speed-up 3.3-4.7x over the fine solver. Per-seed figures and timing context: `problems/RESULTS.md`.
`--quick`: a 128-point reference, 8 + 4 trajectories on $[0, 0.5]$, a tiny network; accuracy not meaningful.

**Outputs.** `metrics.json` metrics: `rel_l2_learned`, `rel_l2_coarse`, `improvement` (their ratio), `success`
(improvement >= 5), `rel_l2_learned_per_time`, `rel_l2_coarse_per_time`, `rel_l2_learned_train`,
`time_fine_s`, `time_learned_s`, `time_coarse_s`, `speedup_learned_vs_fine`, `fine_steps_max`,
`reference_cutoff_ratio`, `final_loss`, `training_time_s`, `parameters`.
`predictions.npz`: `x_coarse` (32,), `x_fine` (512,), `t` (21,), `reference` (n_test, 21, 32) the filtered
fine solution, `learned` and `coarse` (n_test, 21, 32), `fine_example` (21, 512) the first test trajectory's
fine solution. `model.eqx` + `model.json`: $N_\theta$ (`architecture="resnet"`, `variant="field"`), called on
a field of shape `[1, 32]`. Plots: `fields.png`, `error_vs_time.png`, `snapshots.png`, `training.png`.
"""

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PyTree
from matplotlib.figure import Figure

import sciml.nn
from sciml.ode import AbstractVectorField, ODEModel, trajectory_data, TrajectoryLoss
from sciml.pde import fd_derivative, MethodOfLines, PeriodicGrid, spectral_downsample
from sciml.study import precision, RunContext
from sciml.train import Checkpointing, count_parameters, fit, Logging, make_optimizer, relative_l2


# The known physics of this study: viscous Burgers on a periodic grid, by finite differences
# (the classical coarse solver) or pseudo-spectrally (the reference).


def _check_grid(u: Array, n: int, who: str) -> None:
    if u.ndim < 1 or u.shape[-1] != n:
        raise ValueError(f"{who}: the field's last axis must have the grid's {n} points, got shape {u.shape}")


def burgers_flux_divergence(u: Float[Array, " *batch n"], dx: float) -> Float[Array, " *batch n"]:
    """`-(u^2/2)_x` in conservative form with the energy-conserving flux.

    `-(F_{i+1/2} - F_{i-1/2}) / dx` with `F_{i+1/2} = (u_i^2 + u_i u_{i+1} + u_{i+1}^2) / 6`:
    the sum of `u` is conserved exactly (flux form) and so is the discrete energy
    `sum u^2` (the flux is the skew-symmetric split of the advective and conservative
    forms), so the inviscid scheme cannot blow up; it is second-order accurate.

    **Reference:** Fornberg, "On a Fourier method for the integration of hyperbolic
    equations", SIAM J. Numer. Anal. 12 (1975); Jameson, "Formulation of kinetic energy
    preserving conservative schemes", J. Sci. Comput. 34 (2008).

    **Arguments:**

    - `u`: the field on a uniform periodic grid, grid axis last.
    - `dx`: the grid spacing (> 0).

    **Returns:**

    The advective tendency, of the shape of `u`.

    **Raises:**

    `ValueError` for a non-positive `dx`.
    """
    if not dx > 0:
        raise ValueError(f"burgers_flux_divergence: dx must be > 0, got {dx!r}")
    u = jnp.asarray(u)
    if u.ndim < 1:
        raise ValueError(f"burgers_flux_divergence: u needs a grid axis, got shape {u.shape}")
    right = jnp.roll(u, -1, axis=-1)
    flux = (u**2 + u * right + right**2) / 6
    return -(flux - jnp.roll(flux, 1, axis=-1)) / dx


class ViscousBurgers(AbstractVectorField):
    """Viscous Burgers `u_t + (u^2 / 2)_x = nu u_xx` on a periodic grid, as `f(t, u, args)`.

    - `"fd"`: the conservative energy-conserving flux (`burgers_flux_divergence`) and
        a central second difference of the given accuracy for the viscous term: the
        classical coarse-grid solver, which on an under-resolved grid produces
        dispersive (Gibbs-like) oscillations at shocks.
    - `"spectral"`: pseudo-spectral, `-(1/2) i k FFT(u^2) - nu k^2 FFT(u)`, with the
        2/3 rule (modes `|k| > n / 3` zeroed), so products do not alias; spectrally
        accurate for resolved solutions. Start it from a dealiased field
        (see `dealias`).

    `nu` as a Python float is a constant; as a float array it is trained with the model.
    """

    grid: PeriodicGrid
    nu: Any
    discretisation: str = eqx.field(static=True)
    accuracy: int = eqx.field(static=True)

    def __init__(
        self,
        grid: PeriodicGrid,
        nu: float | Float[ArrayLike, ""],
        *,
        discretisation: str = "fd",
        accuracy: int = 2,
    ):
        """**Arguments:**

        - `grid`: the `sciml.pde.PeriodicGrid`.
        - `nu`: the viscosity (>= 0).
        - `discretisation`: `"fd"` or `"spectral"`.
        - `accuracy`: the viscous stencil's order for `"fd"` (2, 4 or 6).

        **Raises:**

        `ValueError` for a negative viscosity or an unknown discretisation or accuracy.
        """
        if not isinstance(grid, PeriodicGrid):
            raise ValueError(f"ViscousBurgers: grid must be a PeriodicGrid, got {type(grid).__name__}")
        if discretisation not in ("fd", "spectral"):
            raise ValueError(f"ViscousBurgers: discretisation must be 'fd' or 'spectral', got {discretisation!r}")
        if accuracy not in (2, 4, 6):
            raise ValueError(f"ViscousBurgers: accuracy must be 2, 4 or 6, got {accuracy!r}")
        if isinstance(nu, (int, float)):
            if not (math.isfinite(nu) and nu >= 0):
                raise ValueError(f"ViscousBurgers: nu must be finite and >= 0, got {nu!r}")
            nu = float(nu)
        else:
            nu = jnp.asarray(nu, dtype=jnp.result_type(float))
            if nu.shape != ():
                raise ValueError(f"ViscousBurgers: nu must be a scalar, got shape {nu.shape}")
        self.grid = grid
        self.nu = nu
        self.discretisation = discretisation
        self.accuracy = int(accuracy)

    def dealias(self, u: Float[ArrayLike, " *batch n"]) -> Float[Array, " *batch n"]:
        """Zero the modes `|k| > n / 3` of a field (the 2/3 rule's state space)."""
        u = jnp.asarray(u)
        _check_grid(u, self.grid.n, "ViscousBurgers.dealias")
        mask = self._mask().reshape((1,) * (u.ndim - 1) + (-1,))  # strict rank promotion
        return jnp.fft.irfft(jnp.fft.rfft(u, axis=-1) * mask, n=self.grid.n, axis=-1)

    def _mask(self) -> np.ndarray:
        return (np.arange(self.grid.n // 2 + 1) <= self.grid.n // 3).astype(float)

    def __call__(self, t: Float[Array, ""], y: Float[Array, " n"], args: PyTree) -> Float[Array, " n"]:
        del t, args
        _check_grid(y, self.grid.n, "ViscousBurgers")
        if self.discretisation == "fd":
            viscous = fd_derivative(y, self.grid.dx, order=2, accuracy=self.accuracy)
            return burgers_flux_divergence(y, self.grid.dx) + self.nu * viscous
        k = self.grid.wavenumbers
        u_hat = jnp.fft.rfft(y)
        tendency = -0.5j * k * jnp.fft.rfft(y**2) - self.nu * k**2 * u_hat
        return jnp.fft.irfft(tendency * self._mask(), n=self.grid.n)


DESCRIPTION = "Burgers closure: 32-point solver + CNN correction trained through diffrax on 512-point spectral data"
# The metrics problems/RESULTS.md and the README show.
HEADLINE = ("rel_l2_learned", "rel_l2_coarse", "improvement", "speedup_learned_vs_fine")


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    nu: float = 0.02  # viscosity nu of Burgers' equation (> 0)
    n_fine: int = 512  # grid points of the pseudo-spectral fine reference (a multiple of n_coarse)
    n_coarse: int = 32  # grid points of the coarse solver and closure (even, >= 8)
    modes: int = 3  # Fourier modes k = 1..modes of the random initial conditions, < n_coarse / 3
    amplitude: float = 1.0  # max |u_0| of each initial condition
    t_end: float = 2.0  # time horizon
    n_save: int = 21  # saved times, uniform on [0, t_end] (dt should be their spacing)
    n_train: int = 32  # training trajectories
    n_test: int = 32  # held-out test trajectories (a separate random stream)
    filter_cells: float = 2.0  # width of the Gaussian filter of the reference, in coarse cells
    dt: float = 0.1  # constant Tsit5 step of the coarse models
    width: int = 16  # channels of the closure CNN
    depth: int = 2  # residual blocks of the closure CNN
    kernel_size: int = 5  # convolution kernel size of the closure CNN (odd)
    activation: str = "gelu"  # activation of the closure CNN (a sciml.nn activation name)
    steps: int = 400  # Adam steps (cosine schedule)
    learning_rate: float = 3e-3  # Adam's peak learning rate
    batch_size: int = 8  # trajectories per step (at most n_train)
    fine_rtol: float = 1e-7  # relative tolerance of the fine solve (absolute: a hundredth of it)
    timing_repeats: int = 7  # interleaved calls per solver in the speed comparison (median taken)
    checkpoint_every: int = 250  # steps between checkpoints

    def __post_init__(self):
        if not (math.isfinite(self.nu) and self.nu > 0):
            raise ValueError(f"burgers_closure: nu must be > 0, got {self.nu}")
        if self.n_coarse < 8 or self.n_coarse % 2 or self.n_fine % self.n_coarse or self.n_fine < 2 * self.n_coarse:
            raise ValueError(
                f"burgers_closure: need an even n_coarse >= 8 dividing n_fine >= 2 n_coarse, "
                f"got n_coarse={self.n_coarse}, n_fine={self.n_fine}"
            )
        if not 1 <= self.modes < self.n_coarse // 3:
            raise ValueError(f"burgers_closure: modes must be in [1, n_coarse / 3), got {self.modes}")
        if not (self.amplitude > 0 and self.t_end > 0 and self.dt > 0 and self.fine_rtol > 0):
            raise ValueError("burgers_closure: amplitude, t_end, dt and fine_rtol must be > 0")
        if self.n_save < 2 or min(self.n_train, self.n_test, self.steps, self.batch_size, self.timing_repeats) < 1:
            raise ValueError(
                "burgers_closure: n_save must be >= 2; n_train, n_test, steps, batch_size and timing_repeats >= 1"
            )
        if min(self.width, self.depth, self.checkpoint_every) < 1 or self.kernel_size % 2 != 1:
            raise ValueError("burgers_closure: width, depth, checkpoint_every must be >= 1 and kernel_size odd")
        if not self.filter_cells > 0:
            raise ValueError(f"burgers_closure: filter_cells must be > 0, got {self.filter_cells}")
        if self.learning_rate <= 0:
            raise ValueError(f"burgers_closure: learning_rate must be > 0, got {self.learning_rate}")


QUICK = dict(
    n_fine=128,
    n_train=8,
    n_test=4,
    t_end=0.5,
    n_save=6,
    width=4,
    depth=1,
    steps=10,
    batch_size=4,
    timing_repeats=1,
    checkpoint_every=5,
)


def initial_conditions(x: np.ndarray, count: int, config: Config, rng: np.random.Generator) -> np.ndarray:
    """Random smooth periodic fields `sum_k (a_k cos kx + b_k sin kx) / k`, scaled to max |u| = amplitude."""
    k = np.arange(1, config.modes + 1)
    ab = rng.standard_normal((count, 2, config.modes)) / k
    u = np.einsum("bk,kx->bx", ab[:, 0], np.cos(np.outer(k, x))) + np.einsum(
        "bk,kx->bx", ab[:, 1], np.sin(np.outer(k, x))
    )
    return config.amplitude * u / np.abs(u).max(axis=1, keepdims=True)


@eqx.filter_jit
def _rollout(model: ODEModel, ts, y0):
    sol = model.solve_batch(ts, y0, throw=False)
    return sol.ys, sol.num_steps


def _side_by_side(runs: Sequence[tuple[ODEModel, jax.Array]], ts, repeats: int) -> list[float]:
    """The median wall time of each batched solve, compiled and warm.

    The solves take turns, so a change in the machine's load hits all of them alike.
    """
    for model, y0 in runs:
        jax.block_until_ready(_rollout(model, ts, y0))
    times = [[] for _ in runs]
    for _ in range(repeats):
        for (model, y0), record in zip(runs, times):
            start = time.perf_counter()
            jax.block_until_ready(_rollout(model, ts, y0))
            record.append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def _rel_l2(pred: np.ndarray, ref: np.ndarray) -> float:
    if not np.all(np.isfinite(pred)):
        return math.inf
    return float(relative_l2(pred, ref))


def _per_time(pred: np.ndarray, ref: np.ndarray) -> list[float]:
    return [_rel_l2(pred[:, i], ref[:, i]) for i in range(ref.shape[1])]


def _plot_fields(x, t, ref, learned, coarse) -> Figure:
    fig = Figure(figsize=(12, 6), layout="constrained")
    axes = fig.subplots(2, 3, sharex=True, sharey=True)
    lim = np.abs(ref).max()
    panels = [("filtered fine reference", ref), ("learned coarse", learned), ("plain coarse", coarse)]
    for ax, (name, u) in zip(axes[0], panels):
        im = ax.pcolormesh(x, t, u, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="nearest")
        ax.set_title(name)
    fig.colorbar(im, ax=axes[0], shrink=0.8)
    err = max(np.abs(learned - ref).max(), np.abs(coarse - ref).max())
    axes[1, 0].axis("off")
    for ax, (name, u) in zip(axes[1, 1:], panels[1:]):
        im = ax.pcolormesh(x, t, u - ref, cmap="RdBu_r", vmin=-err, vmax=err, shading="nearest")
        ax.set_title(f"{name} - reference")
        ax.set_xlabel("x")
    fig.colorbar(im, ax=axes[1], shrink=0.8)
    for ax in axes[:, 0]:
        ax.set_ylabel("t")
    return fig


def _plot_error(t, learned, coarse, n_fine) -> Figure:
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.semilogy(t[1:], coarse[1:], "C3o-", label="plain coarse")
    ax.semilogy(t[1:], learned[1:], "C0o-", label="learned coarse")
    ax.set_xlabel("t")
    ax.set_ylabel("relative L2 error (held-out ICs)")
    ax.legend()
    ax.set_title(f"error against the filtered {n_fine}-point reference")
    return fig


def _plot_snapshots(x_fine, x, t, fine, ref, learned, coarse) -> Figure:
    picks = np.unique(np.linspace(0, len(t) - 1, 4).round().astype(int))
    fig = Figure(figsize=(12, 3.2), layout="constrained")
    for ax, i in zip(fig.subplots(1, len(picks), sharey=True), picks):
        ax.plot(x_fine, fine[i], color="0.7", lw=1, label="fine")
        ax.plot(x, ref[i], "k.-", label="filtered reference")
        ax.plot(x, learned[i], "C0--", label="learned coarse")
        ax.plot(x, coarse[i], "C3:", label="plain coarse")
        ax.set_title(f"t = {t[i]:.2f}")
        ax.set_xlabel("x")
    fig.axes[0].legend(fontsize=7)
    return fig


def run(config: Config, ctx: RunContext) -> dict[str, object]:
    """Generates the reference, trains the closure, evaluates on held-out ICs and writes every output."""
    with precision("float64") as ambient:
        out = _run(config, ctx)
    network = sciml.nn.cast(out.pop("network"), ambient)
    ctx.save_model(
        network,
        architecture="resnet",
        config=out.pop("network_config"),
        call="network(u[None]) -> [1, n_coarse]: the closure tendency added to the coarse solver",
        coarse_solver={
            "equation": "u_t + (u^2/2)_x = nu u_xx",
            "nu": config.nu,
            "grid": config.n_coarse,
            "length": 2 * math.pi,
            "discretisation": "energy-conserving flux + central 2nd difference",
            "time_stepping": f"Tsit5, constant dt = {config.dt}",
        },
    )
    return out


def _run(config: Config, ctx: RunContext) -> dict[str, object]:
    fine_grid, grid = PeriodicGrid(config.n_fine), PeriodicGrid(config.n_coarse)
    ts = np.linspace(0.0, config.t_end, config.n_save)
    spectral = ViscousBurgers(fine_grid, config.nu, discretisation="spectral")
    controller = diffrax.PIDController(rtol=config.fine_rtol, atol=1e-2 * config.fine_rtol)
    fine = ODEModel(spectral, diffrax.Tsit5(), controller, max_steps=100_000, name="fine spectral Burgers")
    u0_train = initial_conditions(fine_grid.points, config.n_train, config, ctx.rng("train"))
    u0_test = initial_conditions(fine_grid.points, config.n_test, config, ctx.rng("test"))

    # One batch (training and held-out ICs together) for every solve: one compilation
    # per model, and the timings compare the same work.
    start = time.perf_counter()
    u0 = spectral.dealias(np.concatenate([u0_train, u0_test]))
    ys_fine, fine_steps = (np.asarray(a) for a in _rollout(fine, jnp.asarray(ts), u0))
    if not np.all(np.isfinite(ys_fine)):
        raise RuntimeError("burgers_closure: the fine reference solve failed; lower nu or raise max_steps")
    ctx.log(f"reference: {len(u0)} fine solves in {time.perf_counter() - start:.1f} s")
    spectrum = np.abs(np.fft.rfft(ys_fine, axis=-1))
    cut = config.n_fine // 3
    cutoff_ratio = float((spectrum[..., cut - cut // 8 : cut + 1].max(-1) / spectrum.max(-1)).max())
    width = config.filter_cells * grid.dx
    ref = np.asarray(spectral_downsample(ys_fine, config.n_coarse, filter_width=width))
    train, test = slice(0, config.n_train), slice(config.n_train, None)
    ref_train, ref_test = ref[train], ref[test]

    coarse = ODEModel(
        ViscousBurgers(grid, config.nu),
        diffrax.Tsit5(),
        diffrax.ConstantStepSize(),
        dt0=config.dt,
        max_steps=int(math.ceil(config.t_end / config.dt)) + 1,
        name="coarse Burgers",
    )
    init_key, fit_key = jr.split(ctx.key)
    network_config = dict(
        variant="field",
        num_spatial_dims=1,
        in_channels=1,
        out_channels=1,
        width=config.width,
        depth=config.depth,
        kernel_size=config.kernel_size,
        activation=config.activation,
    )
    network = sciml.nn.build("resnet", key=init_key, **network_config)
    # A zero output layer: training starts from the plain coarse solver.
    network = eqx.tree_at(lambda n: (n.project.weight, n.project.bias), network, replace_fn=jnp.zeros_like)
    learned = eqx.tree_at(lambda m: m.vector_field, coarse, MethodOfLines(coarse.vector_field, network))
    data = trajectory_data(ts, ref_train)
    start = time.perf_counter()
    result = fit(
        learned,
        TrajectoryLoss(),
        data,
        make_optimizer(
            {"name": "adam", "learning_rate": config.learning_rate, "schedule": "cosine"}, steps=config.steps
        ),
        steps=config.steps,
        batch_size=min(config.batch_size, config.n_train),
        key=fit_key,
        checkpointing=Checkpointing(ctx.checkpoint_dir, every=config.checkpoint_every, resume=ctx.resume),
        logging=Logging(quiet=ctx.quiet, desc="closure"),
    )
    learned = result.model
    training_time = time.perf_counter() - start

    y0 = jnp.asarray(ref[:, 0])
    pred_learned = np.asarray(_rollout(learned, jnp.asarray(ts), y0)[0])
    pred_coarse = np.asarray(_rollout(coarse, jnp.asarray(ts), y0)[0])
    time_fine, time_learned, time_coarse = _side_by_side(
        [(fine, u0), (learned, y0), (coarse, y0)], jnp.asarray(ts), config.timing_repeats
    )
    err_train = _rel_l2(pred_learned[train, 1:], ref_train[:, 1:])
    pred_learned, pred_coarse, ys_test = pred_learned[test], pred_coarse[test], ys_fine[test]
    later = slice(1, None)
    err_learned = _rel_l2(pred_learned[:, later], ref_test[:, later])
    err_coarse = _rel_l2(pred_coarse[:, later], ref_test[:, later])
    improvement = err_coarse / err_learned if err_learned > 0 else math.inf
    ctx.log(
        f"held-out relative L2: learned {err_learned:.3e}, plain coarse {err_coarse:.3e} "
        f"({improvement:.1f}x); solve time fine {time_fine * 1e3:.1f} ms, learned {time_learned * 1e3:.1f} ms"
    )
    per_learned, per_coarse = _per_time(pred_learned, ref_test), _per_time(pred_coarse, ref_test)

    x, x_fine = grid.points, fine_grid.points
    ctx.write_predictions(
        x_coarse=x,
        x_fine=x_fine,
        t=ts,
        reference=ref_test,
        learned=pred_learned,
        coarse=pred_coarse,
        fine_example=ys_test[0],
    )
    ctx.savefig(_plot_fields(x, ts, ref_test[0], pred_learned[0], pred_coarse[0]), "fields.png")
    ctx.savefig(_plot_error(ts, np.asarray(per_learned), np.asarray(per_coarse), config.n_fine), "error_vs_time.png")
    ctx.savefig(
        _plot_snapshots(x_fine, x, ts, ys_test[0], ref_test[0], pred_learned[0], pred_coarse[0]), "snapshots.png"
    )
    ctx.save_training_curves(result.losses)
    return {
        "rel_l2_learned": err_learned,
        "rel_l2_coarse": err_coarse,
        "rel_l2_learned_train": err_train,
        "improvement": improvement,
        "success": bool(improvement >= 5),
        "rel_l2_learned_per_time": per_learned,
        "rel_l2_coarse_per_time": per_coarse,
        "time_fine_s": time_fine,
        "time_learned_s": time_learned,
        "time_coarse_s": time_coarse,
        "speedup_learned_vs_fine": time_fine / time_learned,
        "fine_steps_max": int(fine_steps.max()),
        "reference_cutoff_ratio": cutoff_ratio,
        "final_loss": float(result.losses[-1]),
        "training_time_s": training_time,
        "parameters": count_parameters(network)["trainable"],
        "network": learned.vector_field.closure,
        "network_config": network_config,
    }


def replot(ctx: RunContext) -> None:
    """Redraws every plot of a finished run in `ctx.out` from `predictions.npz` and its final checkpoint."""
    import json  # here, not at the top: keeps this hook's diff in one place

    with np.load(ctx.out / "predictions.npz") as p:
        x, x_fine, ts, ref = p["x_coarse"], p["x_fine"], p["t"], p["reference"]
        learned, coarse, fine = p["learned"], p["coarse"], p["fine_example"]
    per_learned, per_coarse = _per_time(learned, ref), _per_time(coarse, ref)
    ctx.savefig(_plot_fields(x, ts, ref[0], learned[0], coarse[0]), "fields.png")
    ctx.savefig(_plot_error(ts, np.asarray(per_learned), np.asarray(per_coarse), len(x_fine)), "error_vs_time.png")
    ctx.savefig(_plot_snapshots(x_fine, x, ts, fine, ref[0], learned[0], coarse[0]), "snapshots.png")
    # The final checkpoint's pointer keeps the whole loss curve.
    pointer = json.loads((ctx.checkpoint_dir / "checkpoint.json").read_text())
    ctx.save_training_curves(pointer["losses"])


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.burgers_closure [--quick] [--out DIR] ...`, as `sciml run burgers_closure`."""
    from sciml.study import main as run_main

    return run_main("burgers_closure", argv)


if __name__ == "__main__":
    raise SystemExit(main())
