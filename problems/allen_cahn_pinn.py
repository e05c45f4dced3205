r"""Allen-Cahn equation with a physics-informed neural network: periodic embedding, hard initial data, causal training.

**Physics.** On $x \in [-1, 1]$ (periodic), $t \in [0, 1]$,

$$ u_t - \epsilon u_{xx} + 5 u^3 - 5 u = 0, \qquad \epsilon = 10^{-4}, \qquad u(0, x) = x^2 \cos(\pi x): $$

the reaction drives $u$ to $\pm 1$, leaving interfaces of width about 0.006 that a plain PINN does not find.

**Model.** `sciml.pinn`: a tanh MLP $N$ (`depth` x `width`) on the embedded point $(t, \cos \pi x, \sin \pi x)$
(optionally `fourier_features` random Fourier features of scale `fourier_sigma`), time-marching over windows
$[t_k, t_{k+1}]$ (`edges`, or `windows` uniform ones), each with its own network and the trial function

$$ u(t, x) = u(t_k, x) + \frac{t - t_k}{t_{k+1} - t_k} N_k(t, \cos \pi x, \sin \pi x), $$

$u(t_0, x) = x^2 \cos(\pi x)$, $u(t_k, x)$ the previous window's model at $t_k$: periodicity and initial data
hold exactly, the loss is the residual, weighted causally in time (`pinn.CausalWeighting`, Wang et al. 2022:
`chunks` slices, tolerance `causal_tol`). Per window: Adam (`steps`) on `points` uniform points redrawn every
step (RAD from `rad_from` on), L-BFGS (`lbfgs_steps`), `lm_rounds` x `lm_steps` Levenberg-Marquardt on
`lm_points` fresh points; the windows from `late_from` on use `late_width` and `late_steps`. float64.

**Independent reference.** A Fourier pseudo-spectral solve on `modes` points integrated by diffrax's `Dopri8`
at `reference_rtol` (converged to 1e-4 at 2048 modes; `tests/test_allen_cahn.py`), on the published grid:
$t = 0, 0.005, \dots, 1$ (201) times the 512 points $x_j = -1 + 2j/512$.

**Default budget**: six windows (edges 0, 0.2, 0.4, 0.6, 0.8, 0.9, 1), per window 2400 Adam steps on 1024
points, 300 L-BFGS steps, 2 x 10 LM iterations; 4 x 32 networks, 4 x 64 and 4800 Adam steps from t = 0.8.
About 40 minutes on a shared 2-core CPU. **Expected accuracy**: relative L2 3e-3 to 8e-3 (seeds 0-2). Per-seed
figures and the ablations behind this recipe: `problems/RESULTS.md`.
`--quick`: two windows, a 2 x 8 network, 256 points, a 512-mode reference; accuracy not meaningful.

**Outputs.** `metrics.json` metrics: `relative_l2`, `max_error`, `rmse`, `final_loss`, per stage
`time_<i>_<name>_s` and `loss_<i>_<name>` (stages of all windows in order), `training_time_s`,
`window_residuals` (per window, the mean squared residual on `check_points` fresh points), `reference_time_s`,
`parameters`. `predictions.npz`: `x` (512,), `t` (201,), `u` (201, 512) the prediction (row `i` is time
`t[i]`), `u_exact` (201, 512) the spectral reference. `model.eqx` + `model.json`: the last window's network
(`architecture="mlp"`, its window in the metadata), `window_<k>.eqx` + `window_<k>.json` the earlier ones.
Plots: `solution.png`, `slices.png` ($u$ at $t = 0.25, 0.5, 1$), `training.png`.
"""

import dataclasses
import time
from collections.abc import Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float
from matplotlib.figure import Figure

import sciml.nn
import sciml.train
from sciml import pinn
from sciml.study import plot_space_time, plot_time_slices, precision, predict_batched, RunContext
from sciml.train import count_parameters, relative_l2


DESCRIPTION = (
    "PINN for Allen-Cahn (periodic, eps=1e-4): periodic embedding, hard IC, causal weighting, Adam -> L-BFGS -> LM"
)
HEADLINE = ("relative_l2", "max_error")  # the metrics problems/RESULTS.md and the README show

EPSILON = 1e-4
GAMMA = 5.0
GRID_POINTS = 512


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    width: int = 32  # hidden units per layer of each window's MLP N_k (late windows: late_width)
    depth: int = 4  # hidden layers of each window's MLP N_k
    activation: str = "tanh"  # activation of N_k (a sciml.nn activation name)
    fourier_features: int = 0  # random Fourier features on the embedded input (0: none)
    fourier_sigma: float = 1.0  # standard deviation of the random Fourier frequencies (> 0)
    dtype: str = "float64"  # float32 or float64 of the networks and training (the interfaces need float64)
    points: int = 1024  # uniform collocation points per window, redrawn every step (RAD from rad_from on)
    chunks: int = 32  # time slices of the causal weighting in each window
    causal_tol: float = 10.0  # causal-weighting tolerance (> 0; larger: later slices wait longer for earlier ones)
    steps: int = 2400  # Adam steps per window before late_from
    learning_rate: float = 3e-3  # Adam's initial learning rate
    decay_rate: float = 0.05  # factor of exponential learning-rate decay over the Adam steps
    lbfgs_steps: int = 300  # L-BFGS steps per window after Adam (0 skips the stage)
    lbfgs_memory: int = 50  # L-BFGS history length
    lm_rounds: int = 2  # Levenberg-Marquardt rounds per window, each on fresh points (0 skips)
    lm_steps: int = 10  # Levenberg-Marquardt iterations per round
    lm_points: int = 1500  # collocation points per Levenberg-Marquardt round
    modes: int = 2048  # grid points of the pseudo-spectral reference (a multiple of 512)
    reference_rtol: float = 1e-12  # relative tolerance of the reference's Dopri8 solve, in (0, 1e-3)
    windows: int = 0  # uniform time windows, in [0, 50]; 0 uses edges instead
    edges: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0)  # time-window edges from 0 to 1 (when windows = 0)
    rad_from: float = 0.9  # windows starting at t >= rad_from draw their points by RAD
    rad_every: int = 50  # steps between RAD redraws in those windows
    rad_k: float = 1.0  # RAD exponent k of the residual density
    rad_c: float = 1.0  # RAD constant c added to the density (uniform share)
    late_from: float = 0.8  # windows starting at t >= late_from use late_steps, late_width, late_causal_tol
    late_steps: int = 4800  # Adam steps per late window
    late_width: int = 64  # hidden units per layer in the late windows (0: width)
    late_causal_tol: float = 10.0  # causal-weighting tolerance in the late windows
    check_points: int = 4096  # fresh uniform points of each window's mean squared residual (window_residuals)

    def __post_init__(self):
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"allen_cahn_pinn: dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if min(self.width, self.depth, self.points, self.chunks, self.steps, self.lm_points) < 1:
            raise ValueError("allen_cahn_pinn: width, depth, points, chunks, steps and lm_points must be >= 1")
        if min(self.fourier_features, self.lbfgs_steps, self.lm_rounds, self.lm_steps) < 0:
            raise ValueError("allen_cahn_pinn: fourier_features, lbfgs_steps, lm_rounds and lm_steps must be >= 0")
        if not (self.causal_tol > 0 and self.late_causal_tol > 0 and self.fourier_sigma > 0 and self.learning_rate > 0):
            raise ValueError(
                "allen_cahn_pinn: causal_tol, late_causal_tol, fourier_sigma and learning_rate must be > 0"
            )
        if self.modes < GRID_POINTS or self.modes % GRID_POINTS:
            raise ValueError(f"allen_cahn_pinn: modes must be a positive multiple of {GRID_POINTS}, got {self.modes}")
        if not 0 <= self.windows <= 50:
            raise ValueError(f"allen_cahn_pinn: windows must be in [0, 50], got {self.windows}")
        if not self.windows and not self.edges:
            raise ValueError("allen_cahn_pinn: give windows >= 1 or the window edges")
        if self.edges:
            e = np.asarray(self.edges, float)
            if e.ndim != 1 or len(e) < 2 or e[0] != 0 or e[-1] != 1 or np.any(np.diff(e) <= 0):
                raise ValueError(f"allen_cahn_pinn: edges must increase from 0 to 1, got {self.edges}")
        if not 0 <= self.rad_from <= 1 or self.rad_every < 1 or not self.rad_k > 0 or not self.rad_c >= 0:
            raise ValueError(
                "allen_cahn_pinn: needs 0 <= rad_from <= 1, rad_every >= 1, rad_k > 0 and rad_c >= 0, got "
                f"{self.rad_from}, {self.rad_every}, {self.rad_k}, {self.rad_c}"
            )
        if not 0 <= self.late_from <= 1 or self.late_steps < 1 or self.late_width < 0 or self.check_points < 1:
            raise ValueError(
                "allen_cahn_pinn: needs 0 <= late_from <= 1, late_steps >= 1, late_width >= 0 and "
                f"check_points >= 1, got {self.late_from}, {self.late_steps}, {self.late_width}, "
                f"{self.check_points}"
            )
        if not 0 < self.reference_rtol < 1e-3:
            raise ValueError(f"allen_cahn_pinn: reference_rtol must be in (0, 1e-3), got {self.reference_rtol}")


QUICK = dict(
    width=8,
    depth=2,
    points=256,
    chunks=8,
    steps=40,
    lbfgs_steps=15,
    lm_rounds=0,
    modes=512,
    reference_rtol=1e-8,
    rad_from=0.5,
    rad_every=10,
    late_from=0.5,
    late_steps=60,
    late_width=10,
    check_points=512,
    edges=(0.0, 0.5, 1.0),
)


def initial_condition(x: Float[Array, " *shape"]) -> Float[Array, " *shape"]:
    """`u(0, x) = x^2 cos(pi x)`."""
    return x**2 * jnp.cos(jnp.pi * x)


def wavenumbers(modes: int) -> np.ndarray:
    """The angular wavenumbers `k = pi j`, `j = 0..modes/2`, of `rfft` on `modes` points of [-1, 1)."""
    return np.pi * np.fft.rfftfreq(modes, 1.0 / modes)


def spectral_rhs(u: Float[Array, " n"], k: Float[Array, " m"]) -> Float[Array, " n"]:
    """`eps u_xx - 5 u^3 + 5 u` for periodic `u` on a uniform grid of [-1, 1), `u_xx` by FFT."""
    u_xx = jnp.fft.irfft(-(k**2) * jnp.fft.rfft(u), u.shape[0])
    return EPSILON * u_xx + GAMMA * (u - u**3)


def reference(
    modes: int = 2048, rtol: float = 1e-12, times: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pseudo-spectral solution on `modes` grid points, saved at `times`.

    **Arguments:**

    - `modes`: grid points (and Fourier modes) of [-1, 1).
    - `rtol`: the step-size controller's relative tolerance (absolute: `rtol / 100`).
    - `times`: the output times (default the 201 of the evaluation grid).

    **Returns:**

    `(x, t, u)` with `u[i, j]` at `t[i]`, `x[j] = -1 + 2 j / modes`.

    **Raises:**

    `ValueError` when diffrax does not reach `t = 1`.
    """
    x = -1.0 + 2.0 * np.arange(modes) / modes
    t = evaluation_grid()[1] if times is None else np.asarray(times, np.float64)
    k = jnp.asarray(wavenumbers(modes))
    term = diffrax.ODETerm(lambda _, u, k: spectral_rhs(u, k))
    with precision("float64"):
        solution = diffrax.diffeqsolve(
            term,
            diffrax.Dopri8(),
            0.0,
            float(t[-1]),
            1e-4,
            initial_condition(jnp.asarray(x)),
            args=k,
            saveat=diffrax.SaveAt(ts=jnp.asarray(t)),
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=rtol / 100),
            max_steps=100_000,
            throw=False,
        )
        if solution.result != diffrax.RESULTS.successful:
            raise ValueError(f"allen_cahn_pinn: the spectral reference failed: {solution.result}")
        return x, t, np.asarray(solution.ys, np.float64)


def evaluation_grid() -> tuple[np.ndarray, np.ndarray]:
    """The published grid: `x` (512 points -1 + 2j/512) and `t` (201 points on [0, 1])."""
    return -1.0 + 2.0 * np.arange(GRID_POINTS) / GRID_POINTS, np.linspace(0.0, 1.0, 201)


def allen_cahn_residual(u, x: Float[Array, " 2"], args) -> Float[Array, ""]:
    """`u_t - eps u_xx + 5 u^3 - 5 u` at one point `x = (t, x)`."""
    value, u_t, u_xx = pinn.derivatives(u, x, [(), (0,), (1, 1)])
    return u_t - args["epsilon"] * u_xx + args["gamma"] * (value**3 - value)


def make_problem(t0: float = 0.0, t1: float = 1.0, initial=None) -> pinn.PDEProblem:
    """The PDE on the window `[t0, t1]` of time, with hard periodic and initial conditions.

    `initial` maps a space-time point `(t0, x)` to `u(t0, x)`; the default is the
    initial data (for `t0 = 0`), a later window takes the previous window's model.
    """
    domain = pinn.SpaceTime(pinn.Interval(-1.0, 1.0), t0, t1)
    initial = (lambda p: initial_condition(p[1])) if initial is None else initial
    conditions = [pinn.Initial(initial, hard=True), pinn.Periodic(1, hard=True)]
    return pinn.PDEProblem(allen_cahn_residual, domain, conditions, args={"epsilon": EPSILON, "gamma": GAMMA})


def stages(config: Config, t0: float = 0.0) -> list[pinn.AbstractStage]:
    """The optimizer schedule of `pinn.train` for the window starting at `t0`."""
    steps = config.late_steps if t0 >= config.late_from - 1e-12 else config.steps
    out: list[pinn.AbstractStage] = [
        pinn.Adam(steps, learning_rate=config.learning_rate, schedule="exponential", decay_rate=config.decay_rate)
    ]
    if config.lbfgs_steps:
        out.append(pinn.LBFGS(config.lbfgs_steps, memory_size=config.lbfgs_memory))
    for _ in range(config.lm_rounds if config.lm_steps else 0):
        out.append(pinn.LevenbergMarquardt(config.lm_steps, points=config.lm_points, chunk=10, resample=True))
    return out


def window_edges(windows: int) -> np.ndarray:
    """The `windows + 1` edges of the time windows, uniform on [0, 1]."""
    return np.linspace(0.0, 1.0, windows + 1)


def setup(
    config: Config, key, t0: float = 0.0, t1: float = 1.0, initial=None
) -> tuple[pinn.PINN, pinn.PINNLoss, eqx.nn.State, dict]:
    """The model, the loss with its state, and the network's registry config, for one time window."""
    dtype = jnp.dtype(config.dtype)
    problem = make_problem(t0, t1, initial)
    init_key, points_key = jr.split(key)
    constraint = pinn.HardConstraint(problem.domain, problem.conditions)
    late = t0 >= config.late_from - 1e-12
    width = config.late_width if late and config.late_width else config.width
    network_config = dict(
        in_size=constraint.network_in_size,
        out_size="scalar",
        width=width,
        depth=config.depth,
        activation=config.activation,
        fourier_features=config.fourier_features,
        fourier_sigma=config.fourier_sigma,
    )
    network = sciml.nn.cast(sciml.nn.build("mlp", key=init_key, **network_config), dtype)
    model = pinn.PINN(network, constraint=constraint)
    # Windows from `rad_from` on hold the sharp interfaces: there the points (and the
    # Levenberg-Marquardt rounds' points) follow the residual instead of the uniform law.
    if t0 >= config.rad_from - 1e-12:
        resampling = pinn.RAD(every=config.rad_every, k=config.rad_k, c=config.rad_c)
    else:
        resampling = pinn.Resample(every=1)
    loss, state = pinn.make_loss(
        problem,
        {"residual": config.points},
        sampler="uniform",
        resampling=resampling,
        causal=pinn.CausalWeighting(config.chunks, config.late_causal_tol if late else config.causal_tol),
        method=pinn.Forward(),
        dtype=dtype,
        key=points_key,
    )
    return model, loss, state, network_config


def predict_windows(models: Sequence[pinn.PINN], edges: np.ndarray, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The prediction on the grid `t x x` from one model per window `[edges[i], edges[i+1]]`."""
    index = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(models) - 1)
    u = np.empty((len(t), len(x)))
    for i, model in enumerate(models):
        rows = index == i
        if rows.any():
            u[rows] = predict(model, x, t[rows])
    return u


def predict(model: pinn.PINN, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The prediction on the grid `t x x`, shape `(len(t), len(x))`."""
    tt, xx = np.meshgrid(t, x, indexing="ij")
    dtype = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))[0].dtype
    grid = jnp.asarray(np.stack([tt.ravel(), xx.ravel()], axis=1), dtype)
    return np.asarray(predict_batched(model, grid), np.float64).reshape(tt.shape)


def window_residual(model: pinn.PINN, t0: float, t1: float, initial, points: int, key) -> float:
    """Mean squared PDE residual of a window's trained model on `points` fresh uniform points.

    The points are independent of every training draw (and uniform even where training
    sampled by the residual), so a stalled window reads as a large value.
    """
    dtype = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))[0].dtype
    loss, state = pinn.make_loss(
        make_problem(t0, t1, initial),
        {"residual": points},
        sampler="uniform",
        resampling=pinn.FixedPoints(),
        method=pinn.Forward(),
        dtype=dtype,
        key=key,
    )
    return float(_residual_term(loss, model, state))


@eqx.filter_jit
def _residual_term(loss: pinn.PINNLoss, model: pinn.PINN, state: eqx.nn.State) -> Float[Array, ""]:
    return loss.terms(model, state)["residual"]


def _window_initial(model: pinn.PINN, t0: float):
    """`u(t0, x)` from a trained window's model, as the hard initial data of the next window."""
    return lambda p: model(jnp.stack([jnp.asarray(t0, p.dtype), p[1]]))


def _plot_training(solutions: Sequence[pinn.PINNSolution]) -> Figure:
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    colours = {"adam": "tab:blue", "lbfgs": "tab:orange", "lm": "tab:green"}
    labelled = set()
    offset = 0
    for solution in solutions:
        starts = [0, *solution.stage_ends[:-1]]
        for start, end, stage in zip(starts, solution.stage_ends, solution.stages):
            name = stage.name
            label = None if name in labelled else name
            labelled.add(name)
            ax.semilogy(
                offset + np.asarray(solution.iterations[start:end]),
                solution.losses[start:end],
                label=label,
                color=colours.get(name),
                lw=1,
                marker="." if name == "lm" else None,
            )
        offset += int(np.asarray(solution.iterations)[-1]) + 1 if len(solution.iterations) else 0
    ax.set(xlabel="iteration", ylabel="loss (causal residual for Adam, plain after)", title="training")
    ax.legend()
    return fig


def run(config: Config, ctx: RunContext) -> dict[str, object]:
    """Computes the reference, builds and trains the PINN, evaluates and writes every output."""
    # In `config.dtype` whatever the global setting, which stays as it was after the run.
    with precision(config.dtype):
        return _run(config, ctx)


def _run(config: Config, ctx: RunContext) -> dict[str, object]:
    t0 = time.perf_counter()
    x_ref, t, u_ref = reference(config.modes, config.reference_rtol)
    reference_time = time.perf_counter() - t0
    x = x_ref[:: config.modes // GRID_POINTS]
    exact = u_ref[:, :: config.modes // GRID_POINTS]

    edges = window_edges(config.windows) if config.windows else np.asarray(config.edges, float)
    models, solutions, initial = [], [], None
    checks = []
    for i in range(len(edges) - 1):
        t_start, t_end = float(edges[i]), float(edges[i + 1])
        model, loss, state, network_config = setup(
            config, jr.fold_in(ctx.key, 100 * i) if i else ctx.key, t_start, t_end, initial
        )
        solution = pinn.train(
            model,
            loss,
            state,
            stages(config, t_start),
            key=jr.fold_in(ctx.key, 2 + 100 * i),
            checkpoint_dir=ctx.checkpoint_dir / f"window_{i}" if len(edges) > 2 else ctx.checkpoint_dir,
            resume=ctx.resume,
            quiet=ctx.quiet,
        )
        # Judged on fresh uniform points, so a window that stalled where training sampled
        # (or where its causal weights never opened) shows up in the metrics.
        checks.append(
            window_residual(
                solution.model, t_start, t_end, initial, config.check_points, jr.fold_in(ctx.key, 100 * i + 99)
            )
        )
        models.append(solution.model)
        solutions.append(solution)
        # The next window starts from this one's trained solution at its end time.
        initial = _window_initial(solution.model, t_end)
    u = predict_windows(models, edges, x, t)
    error = u - exact

    ctx.write_predictions(x=x, t=t, u=u, u_exact=exact)
    for i, m in enumerate(models[:-1]):
        sciml.train.save(
            ctx.out / f"window_{i}.eqx",
            m.network,
            problem=ctx.problem,
            seed=ctx.seed,
            architecture="mlp",
            config=network_config,
            window=[float(edges[i]), float(edges[i + 1])],
        )
    ctx.save_model(
        models[-1].network,
        architecture="mlp",
        config=network_config,
        window=[float(edges[-2]), float(edges[-1])],
        transform="u(t, x) = u(t0, x) + (t - t0)/(t1 - t0) N(t, cos(pi x), sin(pi x)) on the window "
        "[t0, t1], u(0, x) = x^2 cos(pi x), u(t0, x) from the previous window (window_<i>.eqx)",
    )
    labels = ("PINN prediction", "reference (spectral)")
    ctx.savefig(plot_space_time(x, t, u, exact, labels=labels, limits=(-1.0, 1.0)), "solution.png")
    ctx.savefig(plot_time_slices(x, t, u, exact, (0.25, 0.5, 1.0), labels=("PINN", "reference")), "slices.png")
    ctx.savefig(_plot_training(solutions), "training.png")

    metrics: dict[str, object] = {
        "relative_l2": float(relative_l2(u, exact)),
        "max_error": float(np.max(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "final_loss": float(solutions[-1].losses[-1]),
        "training_time_s": float(sum(s.time_s for sol in solutions for s in sol.stages)),
        "window_residuals": [float(c) for c in checks],
        "reference_time_s": reference_time,
        "parameters": sum(count_parameters(m)["trainable"] for m in models),
    }
    for i, s in enumerate([s for sol in solutions for s in sol.stages]):
        metrics[f"time_{i}_{s.name}_s"] = float(s.time_s)
        metrics[f"loss_{i}_{s.name}"] = float(s.loss)
    ctx.log(f"relative L2 error {metrics['relative_l2']:.3e}, max error {metrics['max_error']:.3e}")
    return metrics


def replot(ctx: RunContext) -> None:
    """Redraws `solution.png` and `slices.png` of a finished run in `ctx.out` from `predictions.npz`.

    `training.png` is not redrawn: the per-window, per-stage loss curves are not kept in the run's files.
    """
    with np.load(ctx.out / "predictions.npz") as p:
        x, t, u, exact = p["x"], p["t"], p["u"], p["u_exact"]
    labels = ("PINN prediction", "reference (spectral)")
    ctx.savefig(plot_space_time(x, t, u, exact, labels=labels, limits=(-1.0, 1.0)), "solution.png")
    ctx.savefig(plot_time_slices(x, t, u, exact, (0.25, 0.5, 1.0), labels=("PINN", "reference")), "slices.png")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.allen_cahn_pinn [--quick] [--out DIR] ...`, as `sciml run allen_cahn_pinn`."""
    from sciml.study import main as run_main

    return run_main("allen_cahn_pinn", argv)


if __name__ == "__main__":
    raise SystemExit(main())
