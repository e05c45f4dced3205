r"""Viscous Burgers' equation with a physics-informed neural network (Raissi et al. 2019).

**Physics.** On $x \in [-1, 1]$, $t \in [0, 1]$,

$$ u_t + u u_x = \nu u_{xx}, \qquad \nu = 0.01/\pi, \qquad u(0, x) = -\sin(\pi x), \qquad u(t, \pm 1) = 0: $$

the sine steepens into a shock at $x = 0$ (maximum slope 152.005 at $t = 0.5105$, Basdevant et al. 1986).

**Model.** `sciml.pinn`: a tanh MLP $N(t, x)$ (`depth` x `width`, default 6 x 20) in the hard constraint
$u(t, x) = -\sin(\pi x) + t (1 - x^2) N(t, x)$, so the loss is the PDE residual alone, at `points`
collocation points redrawn by residual-based adaptive sampling (RAD). float64, forward-mode derivatives.
Schedule (`pinn.train`, checkpointed per stage): Adam (`steps`), L-BFGS (`lbfgs_steps`), then `lm_rounds`
rounds of `lm_steps` Levenberg-Marquardt iterations, each on freshly RAD-drawn points.

**Independent reference.** The exact Cole-Hopf solution by Gauss-Hermite quadrature (`reference_nodes`
nodes) in log-space, converged to 2e-15 (`tests/test_burgers_pinn.py`), on Raissi's grid: 256 values of
$x$ uniform on $[-1, 1]$ with both ends, $t = 0, 0.01, \dots, 0.99$.

**Default budget**: 1000 Adam + 3000 L-BFGS steps on 4000 points, 8 x 40 LM iterations; about 5 minutes
on an idle 2-core CPU. **Expected accuracy**: relative L2 about 3.4e-4, max error 2-4e-3 (at the shock);
Raissi et al. published 6.7e-4. Per-seed figures and timings: `problems/RESULTS.md`.
`--quick`: a 2 x 8 network, 256 points, a few steps of each stage; accuracy not meaningful.

**Outputs.** `metrics.json` metrics: `relative_l2`, `max_error`, `rmse`, `final_loss`, per stage
`time_<i>_<name>_s` and `loss_<i>_<name>`, `training_time_s`, `parameters`.
`predictions.npz`: `x` (256,), `t` (100,), `u` (100, 256) the prediction (row `i` is time `t[i]`),
`u_exact` (100, 256) the Cole-Hopf solution. `model.eqx` + `model.json`: the network $N$
(`architecture="mlp"`); apply the transform above to get $u$.
Plots: `solution.png`, `slices.png` ($u$ at $t = 0.25, 0.5, 0.75$), `training.png`.
"""

import dataclasses
import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float
from matplotlib.figure import Figure

import sciml.nn
from sciml import pinn
from sciml.study import plot_space_time, plot_time_slices, precision, predict_batched, RunContext
from sciml.train import count_parameters, relative_l2


DESCRIPTION = "PINN for viscous Burgers (Raissi 2019): hard IC/BC, RAD, Adam -> L-BFGS -> Levenberg-Marquardt"
HEADLINE = ("relative_l2", "max_error")  # the metrics problems/RESULTS.md and the README show

NU = 0.01 / math.pi


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    width: int = 20  # hidden units per layer of the MLP N
    depth: int = 6  # hidden layers of the MLP N
    activation: str = "tanh"  # activation of N (a sciml.nn activation name)
    dtype: str = "float64"  # float32 or float64
    method: str = "forward"  # derivatives: forward, taylor, forward_over_reverse or reverse (forward: fastest measured)
    points: int = 4000  # collocation points in [0, 1] x [-1, 1]
    sampler: str = "sobol"  # first collocation draw: uniform, lhs or sobol
    resample_every: int = 1000  # steps between residual-based (RAD) redraws of the points (Adam and L-BFGS)
    rad_k: float = 1.0  # RAD exponent k of the residual density
    rad_c: float = 1.0  # RAD constant c added to the density (uniform share)
    steps: int = 1000  # Adam steps
    learning_rate: float = 3e-3  # Adam's initial learning rate
    decay_rate: float = 0.05  # factor of exponential learning-rate decay over the Adam steps
    lbfgs_steps: int = 3000  # L-BFGS steps after Adam (0 skips the stage)
    lbfgs_memory: int = 50  # L-BFGS history length
    lm_rounds: int = 8  # Levenberg-Marquardt rounds, each on freshly RAD-drawn points (0 skips)
    lm_steps: int = 40  # Levenberg-Marquardt iterations per round
    lm_points: int = 4000  # collocation points per Levenberg-Marquardt round
    reference_nodes: int = 200  # Gauss-Hermite nodes of the Cole-Hopf reference quadrature

    def __post_init__(self):
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {sorted(_METHODS)}, got {self.method!r}")
        if min(self.width, self.depth, self.points, self.resample_every, self.steps, self.lm_points) < 1:
            raise ValueError("width, depth, points, resample_every, steps and lm_points must be >= 1")
        if min(self.lbfgs_steps, self.lm_rounds, self.lm_steps) < 0:
            raise ValueError("lbfgs_steps, lm_rounds and lm_steps must be >= 0")
        if not 2 <= self.reference_nodes <= 300:
            raise ValueError("reference_nodes must be in [2, 300] (NumPy's Gauss-Hermite rule overflows beyond)")


_METHODS = {
    "forward": pinn.Forward(),
    "taylor": pinn.Taylor(),
    "forward_over_reverse": pinn.ForwardOverReverse(),
    "reverse": pinn.Reverse(),
}

QUICK = dict(
    width=8, depth=2, points=256, resample_every=20, steps=60, lbfgs_steps=20, lm_rounds=1, lm_steps=5, lm_points=128
)


def cole_hopf(x: np.ndarray, t: np.ndarray, nodes: int = 200, nu: float = NU) -> np.ndarray:
    """The exact solution at points `(t, x)` (broadcast), by Gauss-Hermite quadrature.

    With $\\eta = \\sqrt{4 \\nu t}\\, z$ both integrals become $\\int g(z) e^{-z^2} dz
    \\approx \\sum_k w_k g(z_k)$. The integrands carry $e^{-\\cos(\\pi y)/2\\pi\\nu}$,
    up to $e^{\\pm 50}$ here, so the weights are combined in log-space with the largest
    exponent subtracted (a log-sum-exp); $t = 0$ returns the initial condition.
    """
    z, w = np.polynomial.hermite.hermgauss(nodes)
    x = np.asarray(x, np.float64)[..., None]
    t = np.asarray(t, np.float64)[..., None]
    y = x - np.sqrt(4 * nu * np.maximum(t, 0)) * z
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    exponent = log_w - np.cos(np.pi * y) / (2 * np.pi * nu)
    weight = np.exp(exponent - exponent.max(axis=-1, keepdims=True))
    u = -np.sum(np.sin(np.pi * y) * weight, axis=-1) / np.sum(weight, axis=-1)
    return np.where(t[..., 0] > 0, u, -np.sin(np.pi * x[..., 0]))


def evaluation_grid() -> tuple[np.ndarray, np.ndarray]:
    """Raissi's grid: `x` (256 points on [-1, 1], ends included) and `t` (0, 0.01, ..., 0.99)."""
    return np.linspace(-1.0, 1.0, 256), np.arange(100) * 0.01


def burgers_residual(u, x: Float[Array, " 2"], args) -> Float[Array, ""]:
    """`u_t + u u_x - nu u_xx` at one point `x = (t, x)`."""
    value, u_t, u_x, u_xx = pinn.derivatives(u, x, [(), (0,), (1,), (1, 1)])
    return u_t + value * u_x - args["nu"] * u_xx


def _initial(x: Float[Array, " 2"]) -> Float[Array, ""]:
    return -jnp.sin(jnp.pi * x[1])


def make_problem() -> pinn.PDEProblem:
    """The PDE, its space-time domain and the (hard) initial and boundary conditions."""
    domain = pinn.SpaceTime(pinn.Interval(-1.0, 1.0), 0.0, 1.0)
    conditions = [pinn.Initial(_initial, hard=True), pinn.Dirichlet(0.0, hard=True)]
    return pinn.PDEProblem(burgers_residual, domain, conditions, args={"nu": NU})


def stages(config: Config) -> list[pinn.AbstractStage]:
    """The optimizer schedule of `pinn.train` for a configuration."""
    out: list[pinn.AbstractStage] = [
        pinn.Adam(
            config.steps, learning_rate=config.learning_rate, schedule="exponential", decay_rate=config.decay_rate
        )
    ]
    if config.lbfgs_steps:
        out.append(pinn.LBFGS(config.lbfgs_steps, memory_size=config.lbfgs_memory, adaptive=True))
    for _ in range(config.lm_rounds if config.lm_steps else 0):
        out.append(pinn.LevenbergMarquardt(config.lm_steps, points=config.lm_points, chunk=10, resample=True))
    return out


def setup(config: Config, key) -> tuple[pinn.PINN, pinn.PINNLoss, eqx.nn.State, dict]:
    """The model, the loss with its state, and the network's registry config, for a seed's key."""
    dtype = jnp.dtype(config.dtype)
    problem = make_problem()
    init_key, points_key = jr.split(key)
    network_config = dict(
        in_size=2, out_size="scalar", width=config.width, depth=config.depth, activation=config.activation
    )
    network = sciml.nn.cast(sciml.nn.build("mlp", key=init_key, **network_config), dtype)
    model = pinn.PINN(network, constraint=pinn.HardConstraint(problem.domain, problem.conditions))
    loss, state = pinn.make_loss(
        problem,
        {"residual": config.points},
        sampler=config.sampler,
        resampling=pinn.RAD(every=config.resample_every, k=config.rad_k, c=config.rad_c),
        method=_METHODS[config.method],
        dtype=dtype,
        key=points_key,
    )
    return model, loss, state, network_config


def evaluate(model: pinn.PINN, nodes: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """The prediction and the exact solution on Raissi's grid, both of shape (100, 256)."""
    x, t = evaluation_grid()
    tt, xx = np.meshgrid(t, x, indexing="ij")
    dtype = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))[0].dtype
    grid = jnp.asarray(np.stack([tt.ravel(), xx.ravel()], axis=1), dtype)
    u = np.asarray(predict_batched(model, grid), np.float64).reshape(tt.shape)
    return u, cole_hopf(xx, tt, nodes)


def _plot_training(solution: pinn.PINNSolution) -> Figure:
    fig = Figure(figsize=(12, 4), layout="constrained")
    full, rounds = fig.subplots(1, 2)
    starts = [0, *solution.stage_ends[:-1]]
    colours = {"adam": "tab:blue", "lbfgs": "tab:orange", "lm": "tab:green"}
    labelled = set()
    for start, end, stage in zip(starts, solution.stage_ends, solution.stages):
        name = stage.name
        steps, losses = solution.iterations[start:end], solution.losses[start:end]
        label = None if name in labelled else name
        labelled.add(name)
        style = dict(color=colours.get(name), lw=1, marker="." if name == "lm" else None)
        full.semilogy(steps, losses, label=label, **style)
        if name == "lm":
            rounds.semilogy(steps, losses, **style)
    full.set(xlabel="iteration", ylabel="PDE residual loss", title="all stages")
    full.legend()
    rounds.set(xlabel="iteration", title="Levenberg-Marquardt rounds (fresh RAD points each)")
    return fig


def run(config: Config, ctx: RunContext) -> dict[str, object]:
    """Builds the PINN, trains it through the schedule, evaluates and writes every output."""
    # In `config.dtype` whatever the global setting, which stays as it was after the run.
    with precision(config.dtype):
        return _run(config, ctx)


def _run(config: Config, ctx: RunContext) -> dict[str, object]:
    model, loss, state, network_config = setup(config, ctx.key)
    train_key = jr.fold_in(ctx.key, 2)
    solution = pinn.train(
        model,
        loss,
        state,
        stages(config),
        key=train_key,
        checkpoint_dir=ctx.checkpoint_dir,
        resume=ctx.resume,
        quiet=ctx.quiet,
    )

    x, t = evaluation_grid()
    u, exact = evaluate(solution.model, config.reference_nodes)
    error = u - exact

    ctx.write_predictions(x=x, t=t, u=u, u_exact=exact)
    ctx.save_model(
        solution.model.network,
        architecture="mlp",
        config=network_config,
        transform="u(t, x) = -sin(pi x) + t (1 - x^2) N(t, x); input (t, x)",
    )
    labels = ("PINN prediction", "exact (Cole-Hopf)")
    ctx.savefig(plot_space_time(x, t, u, exact, labels=labels, limits=(-1.0, 1.0)), "solution.png")
    ctx.savefig(plot_time_slices(x, t, u, exact, (0.25, 0.5, 0.75), labels=("PINN", "exact")), "slices.png")
    ctx.savefig(_plot_training(solution), "training.png")

    metrics: dict[str, object] = {
        "relative_l2": float(relative_l2(u, exact)),
        "max_error": float(np.max(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "final_loss": float(solution.losses[-1]),
        "training_time_s": float(sum(s.time_s for s in solution.stages)),
        "parameters": count_parameters(solution.model)["trainable"],
    }
    for i, s in enumerate(solution.stages):
        metrics[f"time_{i}_{s.name}_s"] = float(s.time_s)
        metrics[f"loss_{i}_{s.name}"] = float(s.loss)
    ctx.log(f"relative L2 error {metrics['relative_l2']:.3e}, max error {metrics['max_error']:.3e}")
    return metrics


def replot(ctx: RunContext) -> None:
    """Redraws `solution.png` and `slices.png` of a finished run in `ctx.out` from `predictions.npz`.

    `training.png` is not redrawn: the per-stage loss curves are not kept in the run's files.
    """
    with np.load(ctx.out / "predictions.npz") as p:
        x, t, u, exact = p["x"], p["t"], p["u"], p["u_exact"]
    labels = ("PINN prediction", "exact (Cole-Hopf)")
    ctx.savefig(plot_space_time(x, t, u, exact, labels=labels, limits=(-1.0, 1.0)), "solution.png")
    ctx.savefig(plot_time_slices(x, t, u, exact, (0.25, 0.5, 0.75), labels=("PINN", "exact")), "slices.png")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.burgers_pinn [--quick] [--out DIR] ...`, as `sciml run burgers_pinn`."""
    from sciml.study import main as run_main

    return run_main("burgers_pinn", argv)


if __name__ == "__main__":
    raise SystemExit(main())
