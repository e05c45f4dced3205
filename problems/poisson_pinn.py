r"""Poisson's equation on the unit disk with a physics-informed neural network.

**Physics.** On the unit disk $\Omega = \{x^2 + y^2 < 1\}$, $-\Delta u = f$ in $\Omega$, $u = g$ on
$\partial\Omega$, with the manufactured solution ($\rho = x^2 + y^2$)

$$ u^*(x, y) = e^{(x + y)/2} \sin(\pi \rho) + x y, $$

$$ f = -\Delta u^* = -e^{(x + y)/2} \big[2\pi (2 + x + y) \cos(\pi \rho)
+ (\tfrac12 - 4 \pi^2 \rho) \sin(\pi \rho)\big], \qquad g = x y. $$

**Model.** `sciml.pinn`: a tanh MLP $N(x, y)$ (`depth` x `width`, default 3 x 20) in the hard Dirichlet
transform $u(x, y) = x y + (1 - x^2 - y^2) N(x, y)$ (`pinn.HardConstraint` on `pinn.Disk()`), so the loss
is the PDE residual alone, at `points` collocation points redrawn by RAD. float64, forward-mode Laplacians.
Schedule (`pinn.train`, checkpointed per stage): Adam (`steps`), L-BFGS (`lbfgs_steps`), then `lm_rounds`
rounds of `lm_steps` Levenberg-Marquardt iterations, each on `lm_points` freshly RAD-drawn points.

**Independent reference.** The analytic $u^*$ on the nodes of the 201 x 201 grid of spacing 0.01 strictly
inside the circle (31,397 points); `tests/test_pinn_problems.py` checks $f = -\Delta u^*$ and $u^* = g$.

**Default budget**: 1000 Adam + 500 L-BFGS steps on 3000 points, 4 x 30 LM iterations on 3000 points.
**Expected accuracy**: relative L2 1.7-2.0e-5, max error 4-6e-5 (target 1e-4). Per-seed figures,
timings and the L-shaped-domain trial: `problems/RESULTS.md`.
`--quick`: a 2 x 8 network, 200 points, 60 Adam steps and 5 LM iterations; accuracy not meaningful.

**Outputs.** `metrics.json` metrics: `relative_l2`, `max_error`, `rmse`, `final_loss`, per stage
`time_<i>_<name>_s` and `loss_<i>_<name>`, `training_time_s`, `parameters`, `evaluation_points`.
`predictions.npz`: `x` (201,) and `y` (201,) the grid axes, `inside` (201, 201) the evaluation mask (row
`i` is `y[i]`), `u` (201, 201) the prediction and `u_exact` (201, 201) the manufactured solution, both NaN
outside the evaluation set. `model.eqx` + `model.json`: the network $N$ (`architecture="mlp"`); apply the
transform above to get $u$. Plots: `solution.png` (prediction, exact, log error), `training.png`.
"""

import dataclasses
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray
from matplotlib.figure import Figure

import sciml.nn
from sciml import pinn
from sciml.study import precision, predict_batched, RunContext
from sciml.train import count_parameters, relative_l2


DESCRIPTION = "PINN for Poisson on a disk: manufactured solution, hard Dirichlet, Adam -> L-BFGS -> Levenberg-Marquardt"
HEADLINE = ("relative_l2", "max_error")  # the metrics problems/RESULTS.md and the README show

GRID = 201


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    width: int = 20  # hidden units per layer of the MLP N
    depth: int = 3  # hidden layers of the MLP N
    activation: str = "tanh"  # activation of N (a sciml.nn activation name)
    points: int = 3000  # collocation points in the disk
    sampler: str = "sobol"  # first collocation draw: uniform, lhs or sobol
    resample_every: int = 500  # steps between residual-based (RAD) redraws of the points
    rad_k: float = 1.0  # RAD exponent k of the residual density
    rad_c: float = 1.0  # RAD constant c added to the density (uniform share)
    steps: int = 1000  # Adam steps
    learning_rate: float = 3e-3  # Adam's initial learning rate
    decay_rate: float = 0.05  # factor of exponential learning-rate decay over the Adam steps
    lbfgs_steps: int = 500  # L-BFGS steps after Adam (0 skips the stage)
    lbfgs_memory: int = 50  # L-BFGS history length
    lm_rounds: int = 4  # Levenberg-Marquardt rounds, each on freshly drawn points (0 skips)
    lm_steps: int = 30  # Levenberg-Marquardt iterations per round
    lm_points: int = 3000  # collocation points per Levenberg-Marquardt round

    def __post_init__(self):
        if min(self.width, self.depth, self.points, self.resample_every, self.steps, self.lm_points) < 1:
            raise ValueError("poisson_pinn: width, depth, points, resample_every, steps and lm_points must be >= 1")
        if min(self.lbfgs_steps, self.lbfgs_memory, self.lm_rounds, self.lm_steps) < 0:
            raise ValueError("poisson_pinn: lbfgs_steps, lbfgs_memory, lm_rounds and lm_steps must be >= 0")
        if not (self.learning_rate > 0 and 0 < self.decay_rate <= 1):
            raise ValueError(
                f"poisson_pinn: learning_rate must be > 0 and decay_rate in (0, 1], got {self.learning_rate}, "
                f"{self.decay_rate}"
            )
        if not (self.rad_k >= 0 and self.rad_c >= 0):
            raise ValueError(f"poisson_pinn: rad_k and rad_c must be >= 0, got {self.rad_k}, {self.rad_c}")


QUICK = dict(
    width=8, depth=2, points=200, resample_every=20, steps=60, lbfgs_steps=0, lm_rounds=1, lm_steps=5, lm_points=150
)


def exact_solution(x: Float[Array, " 2"]) -> Float[Array, ""]:
    """The manufactured solution $u^*$ at one point `(x, y)`."""
    a, b = x[0], x[1]
    return jnp.exp((a + b) / 2) * jnp.sin(jnp.pi * (a**2 + b**2)) + a * b


def source(x: Float[Array, " 2"]) -> Float[Array, ""]:
    """The source $f = -\\Delta u^*$ at one point, in closed form."""
    a, b = x[0], x[1]
    rho = a**2 + b**2
    radial = 2 * jnp.pi * (2 + a + b) * jnp.cos(jnp.pi * rho) + (0.5 - 4 * jnp.pi**2 * rho) * jnp.sin(jnp.pi * rho)
    return -jnp.exp((a + b) / 2) * radial


def boundary_value(x: Float[Array, " 2"]) -> Float[Array, ""]:
    """The Dirichlet data $g = x y$, defined in the whole disk (the lifting)."""
    return x[0] * x[1]


def poisson_residual(u, x: Float[Array, " 2"], args) -> Float[Array, ""]:
    """`-Laplace(u) - f` at one point."""
    return -pinn.laplacian(u, x) - source(x)


def make_problem() -> pinn.PDEProblem:
    """The PDE on the unit disk with its (hard) Dirichlet condition."""
    return pinn.PDEProblem(poisson_residual, pinn.Disk(), [pinn.Dirichlet(boundary_value, hard=True)])


def evaluation_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid axes `x`, `y` (201 points on [-1, 1]) and the mask of nodes in the open unit disk, shape (201, 201)."""
    x = np.linspace(-1.0, 1.0, GRID)
    y = np.linspace(-1.0, 1.0, GRID)
    yy, xx = np.meshgrid(y, x, indexing="ij")
    return x, y, xx**2 + yy**2 < 1


def stages(config: Config) -> list[pinn.AbstractStage]:
    """The optimizer schedule of `pinn.train` for a configuration."""
    out: list[pinn.AbstractStage] = [
        pinn.Adam(
            config.steps, learning_rate=config.learning_rate, schedule="exponential", decay_rate=config.decay_rate
        )
    ]
    if config.lbfgs_steps:
        out.append(pinn.LBFGS(config.lbfgs_steps, memory_size=config.lbfgs_memory))
    for _ in range(config.lm_rounds if config.lm_steps else 0):
        out.append(pinn.LevenbergMarquardt(config.lm_steps, points=config.lm_points, chunk=10, resample=True))
    return out


def setup(config: Config, key: PRNGKeyArray) -> tuple[pinn.PINN, pinn.PINNLoss, eqx.nn.State, dict]:
    """The model, the loss with its state, and the network's registry config, for a seed's key (float64)."""
    problem = make_problem()
    init_key, points_key = jr.split(key)
    network_config = dict(
        in_size=2, out_size="scalar", width=config.width, depth=config.depth, activation=config.activation
    )
    network = sciml.nn.cast(sciml.nn.build("mlp", key=init_key, **network_config), jnp.float64)
    model = pinn.PINN(network, constraint=pinn.HardConstraint(problem.domain, problem.conditions))
    loss, state = pinn.make_loss(
        problem,
        {"residual": config.points},
        sampler=config.sampler,
        resampling=pinn.RAD(every=config.resample_every, k=config.rad_k, c=config.rad_c),
        method=pinn.Forward(),
        dtype=jnp.float64,
        key=points_key,
    )
    return model, loss, state, network_config


def evaluate(model: pinn.PINN) -> tuple[np.ndarray, np.ndarray]:
    """The prediction and the exact solution on the evaluation set, shape (201, 201), NaN outside it."""
    x, y, inside = evaluation_grid()
    yy, xx = np.meshgrid(y, x, indexing="ij")
    points = np.stack([xx[inside], yy[inside]], axis=1)
    u, exact = np.full(inside.shape, np.nan), np.full(inside.shape, np.nan)
    u[inside] = np.asarray(predict_batched(model, jnp.asarray(points, jnp.float64)))
    exact[inside] = np.asarray(jax.vmap(exact_solution)(jnp.asarray(points, jnp.float64)))
    return u, exact


def _plot_solution(x, y, u, exact) -> Figure:
    fig = Figure(figsize=(14, 4), layout="constrained")
    axes = fig.subplots(1, 3)
    extent = (x[0], x[-1], y[0], y[-1])
    lo, hi = np.nanmin(exact), np.nanmax(exact)
    for ax, field, title in ((axes[0], u, "PINN prediction"), (axes[1], exact, "exact (manufactured)")):
        im = ax.imshow(field, origin="lower", extent=extent, cmap="RdBu_r", vmin=lo, vmax=hi)
        ax.set_title(title)
        fig.colorbar(im, ax=ax)
    err = np.log10(np.maximum(np.abs(u - exact), 1e-14))
    im = axes[2].imshow(err, origin="lower", extent=extent, cmap="magma")
    axes[2].set_title("log10 |error|")
    fig.colorbar(im, ax=axes[2])
    for ax in axes:
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_aspect("equal")
    return fig


def _plot_training(solution: pinn.PINNSolution) -> Figure:
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    starts = [0, *solution.stage_ends[:-1]]
    colours = {"adam": "tab:blue", "lbfgs": "tab:orange", "lm": "tab:green"}
    labelled = set()
    for start, end, stage in zip(starts, solution.stage_ends, solution.stages):
        name = stage.name
        label = None if name in labelled else name
        labelled.add(name)
        ax.semilogy(
            solution.iterations[start:end],
            solution.losses[start:end],
            color=colours.get(name),
            lw=1,
            marker="." if name == "lm" else None,
            label=label,
        )
    ax.set(xlabel="iteration", ylabel="PDE residual loss", title="training (LM rounds on fresh RAD points)")
    ax.legend()
    return fig


def _run(config: Config, ctx: RunContext) -> tuple[dict[str, object], pinn.PINN, dict]:
    model, loss, state, network_config = setup(config, ctx.key)
    solution = pinn.train(
        model,
        loss,
        state,
        stages(config),
        key=jr.fold_in(ctx.key, 2),
        checkpoint_dir=ctx.checkpoint_dir,
        resume=ctx.resume,
        quiet=ctx.quiet,
    )
    x, y, inside = evaluation_grid()
    u, exact = evaluate(solution.model)
    error = (u - exact)[inside]
    ctx.write_predictions(x=x, y=y, inside=inside, u=u, u_exact=exact)
    ctx.savefig(_plot_solution(x, y, u, exact), "solution.png")
    ctx.savefig(_plot_training(solution), "training.png")
    metrics: dict[str, object] = {
        "relative_l2": float(relative_l2(u[inside], exact[inside])),
        "max_error": float(np.max(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "final_loss": float(solution.losses[-1]),
        "training_time_s": float(sum(s.time_s for s in solution.stages)),
        "parameters": count_parameters(solution.model)["trainable"],
        "evaluation_points": int(inside.sum()),
    }
    for i, s in enumerate(solution.stages):
        metrics[f"time_{i}_{s.name}_s"] = float(s.time_s)
        metrics[f"loss_{i}_{s.name}"] = float(s.loss)
    return metrics, solution.model, network_config


def run(config: Config, ctx: RunContext) -> dict[str, object]:
    """Builds the PINN, trains it through the schedule, evaluates and writes every output."""
    # float64 whatever the global setting: the 1e-4 target sits near float32's floor for PINNs.
    with precision("float64"):
        metrics, model, network_config = _run(config, ctx)
        ctx.save_model(
            model.network,
            architecture="mlp",
            config=network_config,
            transform="u(x, y) = x y + (1 - x^2 - y^2) N(x, y)",
        )
    ctx.log(f"relative L2 error {metrics['relative_l2']:.3e}, max error {metrics['max_error']:.3e}")
    return metrics


def replot(ctx: RunContext) -> None:
    """Redraws `solution.png` of a finished run in `ctx.out` from `predictions.npz`.

    `training.png` is not redrawn: the per-stage loss curves are not kept in the run's files.
    """
    with np.load(ctx.out / "predictions.npz") as p:
        ctx.savefig(_plot_solution(p["x"], p["y"], p["u"], p["u_exact"]), "solution.png")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.poisson_pinn [--quick] [--out DIR] ...`, as `sciml run poisson_pinn`."""
    from sciml.study import main as run_main

    return run_main("poisson_pinn", argv)


if __name__ == "__main__":
    raise SystemExit(main())
