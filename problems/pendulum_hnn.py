r"""Nonlinear pendulum: Hamiltonian neural network vs plain neural ODE over 100 periods.

**Physics.** The frictionless pendulum with unit mass, length and gravity, in canonical
coordinates $y = (q, p)$ (angle and angular momentum):

$$ \dot q = \partial H/\partial p = p, \qquad \dot p = -\partial H/\partial q = -\sin q,
\qquad H(q, p) = \tfrac12 p^2 - \cos q. $$

Energies $-1 < H < 1$ are librations (below the separatrix); the period of the orbit of
energy $E$ is $T(E) = 4 K(k^2)$ with $k = \sin(q_{max}/2)$, $\cos q_{max} = -E$
($K$ the complete elliptic integral of the first kind, `scipy.special.ellipk`).

**Data.** `n_train` trajectories with energies stratified over
[`energy_min`, `energy_max`] (default $[-0.9, 0.4]$: amplitudes 0.45 to 1.98 rad) and
a random phase (a uniform angle on the orbit, a random sign of $p$), each observed at
`n_obs` equally spaced times on $[0, t_{obs}]$ (default 61 on $[0, 6]$, about one
period) with independent Gaussian noise of standard deviation `noise` (default 0.05) on
both $q$ and $p$.

**Models.** Both are `sciml.ode.ODEModel`s of tanh MLPs (`sciml.nn` registry
`"mlp"`, `depth` x `width`, inputs scaled by the observations' deviation):

- (a) a plain neural ODE, $\dot y = f_\theta(y)$ (`NeuralVectorField`, 2 -> 2);
- (b) a Hamiltonian neural network (Greydanus, Dzamba and Yosinski, NeurIPS 2019),
  $\dot y = J \nabla H_\theta(y)$ with a scalar $H_\theta$ (`HamiltonianVectorField`,
  2 -> 1), which conserves its own $H_\theta$ exactly whatever $\theta$ is.

Both are trained the same way, together in one `sciml.train.fit` call on the sum of
their losses (the models share no parameters and Adam acts entry by entry, so this is
exactly two separate trainings on the same data, compiled once; Adam with cosine decay,
float64, training solves Tsit5 with `train_rtol`): first `steps` steps of
`sciml.ode.MultipleShootingLoss` (segments of `segment_length` intervals, each
started from a noisy observation: short horizons keep the first steps out of the bad
local minima of long rollouts), then `refine_steps` steps of
`sciml.ode.TrajectoryLoss` on whole trajectories whose initial states are trained
as well (a noisy first observation as the start would bias the fit).

**Evaluation.** `n_test` held-out initial conditions with energies evenly spread inside
the training range and random phases, rolled out from their exact states for `periods`
(100) true periods with `diffrax.Dopri8` at rtol = atol = `eval_rtol` (1e-10).
Integrator error is negligible: the same solve of the exact Hamiltonian field drifts by
`integrator_energy_drift` (about 2e-9). Energy is always the TRUE energy $H(q, p)$
evaluated on the rollouts. Two measures per rollout, averaged over the held-out
trajectories:

- *energy drift* (`energy_drift_*`): the secular change, $|b| \, t_{end}$ with $b$ the
  least-squares slope of $H(y(t))$ over the rollout;
- *energy error* (`energy_error_max_*`): $\max_t |H(y(t)) - H(y(0))|$, which also counts
  the bounded oscillation of a closed orbit that is not exactly a true level set.

The HNN cannot drift (its orbits are closed level sets of $H_\theta$), only oscillate by
its level-set error; the neural ODE's energy creeps along the whole rollout. Success is
`energy_drift_node >= 10 energy_drift_hnn`. Trajectory error: relative L2 against the
reference over the first `error_periods` periods (`trajectory_rel_l2_*`) and over all
100 (`rollout_rel_l2_*`, dominated by phase error).

**Independent reference.** `scipy.integrate.solve_ivp` (DOP853, rtol = atol = 1e-12) of
the true pendulum from the same initial states, and the exact energy and period above.

**Default budget** (16 trajectories, 64 x 2 MLPs of 4482 and 4417 parameters, 1000
multiple-shooting + 1000 whole-trajectory Adam steps per model). Measured on a shared
2-core CPU under heavy load (load average 11 to 17; 89 and 104 s of CPU time for seeds
1 and 2), means over the 4 held-out trajectories:

| seed | energy drift NODE / HNN (ratio) | max energy error NODE / HNN | rel. L2, 5 periods | wall |
|---|---|---|---|---|
| 0 | 0.31 / 6.7e-5 (4700x) | 0.36 / 0.022 (16x) | 0.116 / 0.040 | 380 s |
| 1 | 0.35 / 3.7e-5 (9500x) | 0.48 / 0.017 (27x) | 0.205 / 0.038 | 488 s |
| 2 | 0.21 / 4.8e-5 (4500x) | 0.34 / 0.025 (13x) | 0.165 / 0.085 | 377 s |

Both models fit the data to the noise level (summed final loss 0.0048 to 0.0051; noise
alone gives 0.005). The neural ODE's energy creeps monotonically (it learned a slightly
dissipative or anti-dissipative field, differently per orbit); the HNN's true energy only
oscillates by its level-set error (`hamiltonian_rel_error` 1.8% to 2.5%), so even its
maximum error is 13x to 27x below the neural ODE's on average (per trajectory the ratio
goes down to 2.8x, on orbits where the neural ODE happens to be nearly conservative; the
per-trajectory drift ratio stays above 380x). Its own $H_\theta$ stays constant to 3e-8
(`learned_energy_drift_hnn`) and the exact field in the same solve drifts by 2e-9
(`integrator_energy_drift`): the integrator is not what is being measured. Over 100
periods both rollouts drift out of phase with the truth (`rollout_rel_l2_*` 1.4 to 1.7
for the neural ODE, 0.57 to 0.90 for the HNN).

`--quick`: 4 trajectories, 16 x 1 networks, 30 multiple-shooting steps and no
whole-trajectory stage, 2 held-out trajectories over 3 periods with Tsit5 at 1e-8; two
compilations (one training step, one rollout), about 20 s of CPU; figures not meaningful.

**Outputs.** `metrics.json` metrics: `success`, `energy_drift_ratio`, `energy_drift_node`,
`energy_drift_hnn`, `energy_error_max_node`, `energy_error_max_hnn`,
`learned_energy_drift_hnn` (max change of $H_\theta$ along the HNN's own rollouts),
`integrator_energy_drift`, `integrator_energy_error_max`, `trajectory_rel_l2_node`,
`trajectory_rel_l2_hnn`, `rollout_rel_l2_node`, `rollout_rel_l2_hnn`,
`hamiltonian_rel_error` (RMS of $H_\theta - H$ after removing the free constant, over the
reference states, divided by the deviation of $H$ there), `per_trajectory` (each metric
per held-out trajectory, with its energy and period), `final_loss` (the two models'
losses summed, mean of the last 20 steps), `parameters_node`, `parameters_hnn`.
`predictions.npz`: `t` (n_test, m) each held-out trajectory's save times over 100
periods, `true` (n_test, m, 2) the scipy reference, `node` and `hnn` (n_test, m, 2) the
rollouts, `energy_true` (n_test,) the exact energies, `energy_node` and `energy_hnn`
(n_test, m) the true energy along each rollout, `learned_energy_hnn` (n_test, m) the
learned $H_\theta$ along the HNN rollout, `period` (n_test,); the training data
`t_obs` (n_obs,), `y_obs` (n_train, n_obs, 2) and the exact initial states `y0_train`
(n_train, 2).
`model.eqx` + `model.json`: the HNN's scalar network $H_\theta$ (`architecture="mlp"`,
reloadable with `sciml.train.load`), called on one state $(q, p)$;
`node.eqx` + `node.json`: the neural ODE's network $f_\theta$, likewise.
Plots: `phase_portraits.png` (reference, neural ODE, HNN), `energy.png` (true energy
error along the rollouts), `training.png` (the summed loss, multiple shooting then whole
trajectories).
"""

import dataclasses
import math
import sys
from collections.abc import Mapping, Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray
from matplotlib.figure import Figure
from scipy.integrate import solve_ivp
from scipy.special import ellipk

import sciml.nn
import sciml.train
from sciml.ode import (
    HamiltonianVectorField,
    MultipleShootingLoss,
    NeuralVectorField,
    ODEModel,
    trajectory_data,
    TrajectoryLoss,
)
from sciml.study import RunContext
from sciml.train import Checkpointing, count_parameters, fit, Logging, make_optimizer


DESCRIPTION = "Pendulum from noisy trajectories: Hamiltonian network vs neural ODE, energy drift over 100 periods"


_SOLVERS = {"dopri8": diffrax.Dopri8, "dopri5": diffrax.Dopri5, "tsit5": diffrax.Tsit5}


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    n_train: int = 16
    n_obs: int = 61
    t_obs: float = 6.0
    energy_min: float = -0.9
    energy_max: float = 0.4
    noise: float = 0.05
    width: int = 64
    depth: int = 2
    activation: str = "tanh"
    segment_length: int = 10
    steps: int = 1000
    refine_steps: int = 1000
    learning_rate: float = 3e-3
    refine_learning_rate: float = 1e-3
    train_rtol: float = 1e-6
    n_test: int = 4
    periods: int = 100
    saves_per_period: int = 20
    error_periods: int = 5
    eval_solver: str = "dopri8"
    eval_rtol: float = 1e-10
    eval_max_steps: int = 200_000
    checkpoint_every: int = 250

    def __post_init__(self):
        def bad(message):
            raise ValueError(f"pendulum_hnn: {message}")

        if not -1.0 < self.energy_min < self.energy_max < 1.0:
            bad(
                "need -1 < energy_min < energy_max < 1 (librations below the separatrix), "
                f"got [{self.energy_min}, {self.energy_max}]"
            )
        if self.n_train < 1 or self.n_test < 1:
            bad(f"n_train and n_test must be >= 1, got {self.n_train} and {self.n_test}")
        if self.n_obs < 3 or not self.t_obs > 0:
            bad(f"need n_obs >= 3 and t_obs > 0, got {self.n_obs} and {self.t_obs}")
        if not self.noise >= 0:
            bad(f"noise must be >= 0, got {self.noise}")
        if self.width < 1 or self.depth < 0:
            bad(f"need width >= 1 and depth >= 0, got {self.width} and {self.depth}")
        if not 1 <= self.segment_length <= self.n_obs - 1:
            bad(f"segment_length must be in [1, n_obs - 1 = {self.n_obs - 1}], got {self.segment_length}")
        if self.steps < 1 or self.refine_steps < 0 or self.checkpoint_every < 1:
            bad("need steps >= 1, refine_steps >= 0 and checkpoint_every >= 1")
        if not (self.learning_rate > 0 and self.refine_learning_rate > 0):
            bad("learning rates must be > 0")
        if not (0 < self.train_rtol < 1 and 0 < self.eval_rtol < 1):
            bad(f"tolerances must be in (0, 1), got {self.train_rtol} and {self.eval_rtol}")
        if self.periods < 1 or self.saves_per_period < 4 or not 1 <= self.error_periods <= self.periods:
            bad("need periods >= 1, saves_per_period >= 4 and 1 <= error_periods <= periods")
        if self.eval_solver not in _SOLVERS:
            bad(f"eval_solver must be one of {sorted(_SOLVERS)}, got {self.eval_solver!r}")
        if self.eval_max_steps < 1:
            bad(f"eval_max_steps must be >= 1, got {self.eval_max_steps}")


QUICK = dict(
    n_train=4,
    n_obs=21,
    t_obs=4.0,
    width=16,
    depth=1,
    segment_length=5,
    steps=30,
    refine_steps=0,
    n_test=2,
    periods=3,
    saves_per_period=10,
    error_periods=1,
    eval_solver="tsit5",
    eval_rtol=1e-8,
    checkpoint_every=10,
)


# ---------------------------------------------------------------- the true system


def energy(y: np.ndarray) -> np.ndarray:
    """The true energy `p^2 / 2 - cos q` of states `y` (..., 2)."""
    return 0.5 * y[..., 1] ** 2 - np.cos(y[..., 0])


def period(e: np.ndarray) -> np.ndarray:
    """The exact period `4 K(sin^2(q_max / 2))` of the libration of energy `e` in (-1, 1)."""
    q_max = np.arccos(-np.asarray(e, dtype=float))
    return 4.0 * ellipk(np.sin(q_max / 2) ** 2)


def _rhs(t: float, y: np.ndarray) -> list[float]:
    return [y[1], -math.sin(y[0])]


def reference(ts: np.ndarray, y0: np.ndarray) -> np.ndarray:
    """The true trajectory at `ts` from `y0`, scipy DOP853 at rtol = atol = 1e-12, shape (n, 2)."""
    sol = solve_ivp(_rhs, (float(ts[0]), float(ts[-1])), y0, method="DOP853", rtol=1e-12, atol=1e-12, t_eval=ts)
    if not sol.success:
        raise RuntimeError(f"pendulum_hnn: the scipy reference failed: {sol.message}")
    return sol.y.T


class PendulumHamiltonian(eqx.Module):
    """The exact `H(q, p) = p^2 / 2 - cos q`, to measure the integrator's own energy drift."""

    def __call__(self, y: Float[Array, " 2"]) -> Float[Array, ""]:
        return 0.5 * y[1] ** 2 - jnp.cos(y[0])


def on_orbit(energies: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random state on each orbit: a uniform angle within the amplitude, a random sign of `p`."""
    q_max = np.arccos(-energies)
    q = rng.uniform(-q_max, q_max)
    sign = rng.choice([-1.0, 1.0], size=len(energies))
    p = sign * np.sqrt(np.maximum(2 * (energies + np.cos(q)), 0.0))
    return np.stack([q, p], axis=1)


# ---------------------------------------------------------------- training


class WithInitialStates(eqx.Module):
    """An ODE model together with one trainable initial state per training trajectory."""

    ode: ODEModel
    y0: Float[Array, " n_train 2"]


class InitialStatesLoss(eqx.Module):
    """`TrajectoryLoss` of a [`WithInitialStates`][] model; `batch["index"]` picks the states."""

    inner: TrajectoryLoss

    def __call__(
        self, model: WithInitialStates, batch: Mapping[str, Array], key: PRNGKeyArray | None
    ) -> Float[Array, ""]:
        rest = {k: v for k, v in batch.items() if k != "index"}
        return self.inner(model.ode, {**rest, "y0": model.y0[batch["index"]]}, key)


class SumOverModels(eqx.Module):
    """The sum of one loss over a tuple of models that share no parameters.

    Its gradient with respect to each model is that model's own, and Adam acts entry by
    entry, so one `fit` of the tuple trains every model exactly as separate `fit`s would
    (same data, same steps), with one compilation instead of one per model.
    """

    inner: eqx.Module

    def __call__(self, models: tuple, batch: Mapping[str, Array], key: PRNGKeyArray | None) -> Float[Array, ""]:
        return sum(self.inner(m, batch, key) for m in models)


def _train(
    models: tuple[ODEModel, ...], data: dict, config: Config, key: PRNGKeyArray, ctx: RunContext
) -> tuple[tuple[ODEModel, ...], np.ndarray]:
    """Multiple shooting, then whole trajectories with trained initial states; returns the models and losses."""
    shoot_key, refine_key = jr.split(key)

    def options(folder: str, desc: str) -> dict:
        checkpointing = Checkpointing(ctx.checkpoint_dir / folder, every=config.checkpoint_every, resume=ctx.resume)
        return dict(checkpointing=checkpointing, logging=Logging(quiet=ctx.quiet, desc=desc))

    adam = {
        "name": "adam",
        "learning_rate": config.learning_rate,
        "schedule": "cosine",
        "end_learning_rate": 0.1 * config.learning_rate,
    }
    shooting = fit(
        models,
        SumOverModels(MultipleShootingLoss(config.segment_length)),
        data,
        make_optimizer(adam, steps=config.steps),
        steps=config.steps,
        key=shoot_key,
        **options("shooting", "shooting"),
    )
    losses = [shooting.losses]
    models = shooting.model
    if config.refine_steps > 0:
        refine = {
            "name": "adam",
            "learning_rate": config.refine_learning_rate,
            "schedule": "cosine",
            "end_learning_rate": 0.01 * config.refine_learning_rate,
        }
        start = tuple(WithInitialStates(m, data["ys"][:, 0]) for m in models)
        indexed = {**data, "index": jnp.arange(data["ys"].shape[0])}
        result = fit(
            start,
            SumOverModels(InitialStatesLoss(TrajectoryLoss())),
            indexed,
            make_optimizer(refine, steps=config.refine_steps),
            steps=config.refine_steps,
            key=refine_key,
            **options("refine", "refine"),
        )
        losses.append(result.losses)
        models = tuple(m.ode for m in result.model)
    return models, np.concatenate(losses)


# ---------------------------------------------------------------- evaluation


class SideBySide(eqx.Module):
    """Several vector fields integrated as one system: state `y[i]` follows `fields[i]`."""

    fields: tuple

    def __call__(self, t: Float[Array, ""], y: Float[Array, " k 2"], args: None) -> Float[Array, " k 2"]:
        return jnp.stack([f(t, y[i], args) for i, f in enumerate(self.fields)])


def _drift(t: np.ndarray, e: np.ndarray) -> float:
    """The secular energy change `|slope| * duration` of a least-squares line through `e(t)`."""
    if not np.all(np.isfinite(e)):
        return math.inf
    slope = np.polyfit(t - t[0], e, 1)[0]
    return float(abs(slope) * (t[-1] - t[0]))


def _max_error(e: np.ndarray) -> float:
    return float(np.max(np.abs(e - e[0]))) if np.all(np.isfinite(e)) else math.inf


def _rel_l2(pred: np.ndarray, ref: np.ndarray) -> float:
    if not np.all(np.isfinite(pred)):
        return math.inf
    return float(np.linalg.norm(pred - ref) / np.linalg.norm(ref))


def _rollout(model: ODEModel, ts: np.ndarray, y0: np.ndarray) -> np.ndarray:
    sol = model.solve_batch(jnp.asarray(ts), jnp.asarray(y0), throw=False)
    ys = np.asarray(sol.ys)
    return np.where(np.isfinite(ys), ys, np.nan)


@eqx.filter_jit
def _hamiltonian_on(field: HamiltonianVectorField, ys: Float[Array, " n 2"]) -> Float[Array, " n"]:
    return jax.vmap(field.hamiltonian)(ys)


def _plot_phase(true: np.ndarray, node: np.ndarray, hnn: np.ndarray, y_obs: np.ndarray) -> Figure:
    fig = Figure(figsize=(12, 4.2), layout="constrained")
    axes = fig.subplots(1, 3, sharex=True, sharey=True)
    titles = ("reference (scipy) + training data", "neural ODE", "Hamiltonian NN")
    for ax, ys, title in zip(axes, (true, node, hnn), titles):
        for i, y in enumerate(ys):
            ax.plot(y[:, 0], y[:, 1], color=f"C{i}", lw=0.6)
        ax.set_title(title)
        ax.set_xlabel("q")
    for y in y_obs:
        axes[0].plot(y[:, 0], y[:, 1], "k.", ms=1.5)
    axes[0].set_ylabel("p")
    fig.suptitle("phase portraits of the held-out trajectories over 100 periods")
    return fig


def _plot_energy(
    t: np.ndarray, e_node: np.ndarray, e_hnn: np.ndarray, e_true: np.ndarray, periods: np.ndarray
) -> Figure:
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, e, title in zip(axes, (e_node, e_hnn), ("neural ODE", "Hamiltonian NN")):
        for i in range(len(e)):
            ax.plot(t[i] / periods[i], e[i] - e_true[i], color=f"C{i}", lw=0.6, label=f"E = {e_true[i]:.3f}")
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_title(title)
        ax.set_xlabel("t / period")
    axes[0].set_ylabel("H(y(t)) - H(y(0)), true energy")
    axes[0].legend(fontsize=8)
    return fig


def run(config: Config, ctx: RunContext) -> dict[str, object]:
    """Generates the data, trains both models, rolls them out and writes every output."""
    # Float64 whatever the global setting: energy drifts of 1e-4 over 100 periods need
    # integrator tolerances far below float32's precision.
    ambient = jnp.zeros(()).dtype
    with jax.enable_x64(True):
        out = _run(config, ctx)
    cast = lambda tree: jax.tree_util.tree_map(lambda x: x.astype(ambient) if eqx.is_inexact_array(x) else x, tree)
    hnn_config, node_config = out.pop("hnn_config"), out.pop("node_config")
    node_net = cast(out.pop("node_network"))
    ctx.save_model(
        cast(out.pop("hnn_network")),
        architecture="mlp",
        config=hnn_config,
        call="H(y) with y = (q, p): the learned Hamiltonian; the vector field is (dH/dp, -dH/dq)",
        companion="node.eqx: the neural ODE's network f(y) = dy/dt",
    )
    sciml.train.save(
        ctx.out / "node.eqx",
        node_net,
        architecture="mlp",
        config=node_config,
        problem=ctx.problem,
        seed=ctx.seed,
        call="f(y) with y = (q, p): the neural ODE's dy/dt",
    )
    return out


def _run(config: Config, ctx: RunContext) -> dict[str, object]:
    data_rng = ctx.rng("data")
    strata = (np.arange(config.n_train) + data_rng.uniform(size=config.n_train)) / config.n_train
    e_train = config.energy_min + (config.energy_max - config.energy_min) * strata
    y0_train = on_orbit(e_train, data_rng)
    t_obs = np.linspace(0.0, config.t_obs, config.n_obs)
    clean = np.stack([reference(t_obs, y0) for y0 in y0_train])
    y_obs = clean + config.noise * data_rng.standard_normal(clean.shape)
    data = trajectory_data(t_obs, y_obs)

    node_key, hnn_key, fit_key = jr.split(ctx.key, 3)
    base = dict(
        in_size=2,
        width=config.width,
        depth=config.depth,
        activation=config.activation,
        input_mean=[0.0, 0.0],
        input_std=y_obs.reshape(-1, 2).std(axis=0).tolist(),
    )
    node_config, hnn_config = dict(base, out_size=2), dict(base, out_size="scalar")
    controller = diffrax.PIDController(rtol=config.train_rtol, atol=config.train_rtol)
    node = ODEModel(
        NeuralVectorField(sciml.nn.build("mlp", key=node_key, **node_config)),
        diffrax.Tsit5(),
        controller,
        name="pendulum neural ODE",
    )
    hnn = ODEModel(
        HamiltonianVectorField(sciml.nn.build("mlp", key=hnn_key, **hnn_config)),
        diffrax.Tsit5(),
        controller,
        name="pendulum HNN",
    )
    (node, hnn), losses = _train((node, hnn), data, config, fit_key, ctx)
    final_loss = float(np.mean(losses[-min(20, len(losses)) :]))
    ctx.log(f"trained: final loss (both models summed) {final_loss:.4g}")

    # Held-out orbits: energies evenly inside the training range, random phases.
    centres = (np.arange(config.n_test) + 0.5) / config.n_test
    e_test = config.energy_min + (config.energy_max - config.energy_min) * centres
    y0_test = on_orbit(e_test, ctx.rng("test"))
    periods = period(e_test)
    n_save = config.periods * config.saves_per_period + 1
    t = np.stack([np.linspace(0.0, config.periods * p, n_save) for p in periods])
    true = np.stack([reference(ti, y0) for ti, y0 in zip(t, y0_test)])

    # The two models and the exact pendulum side by side in one solve: they share the
    # step sequence (so the exact field's drift is the integrator's own on those very
    # steps) and one compilation instead of three.
    fields = (node.vector_field, hnn.vector_field, HamiltonianVectorField(PendulumHamiltonian()))
    controller = diffrax.PIDController(rtol=config.eval_rtol, atol=config.eval_rtol)
    evaluator = ODEModel(
        SideBySide(fields),
        _SOLVERS[config.eval_solver](),
        controller,
        max_steps=config.eval_max_steps,
        name="pendulum rollouts (neural ODE, HNN, exact)",
    )
    stacked = _rollout(evaluator, t, np.repeat(y0_test[:, None], len(fields), axis=1))
    rollouts = {name: stacked[:, :, i] for i, name in enumerate(("node", "hnn", "exact"))}
    energies = {name: energy(ys) for name, ys in rollouts.items()}
    learned = np.asarray(_hamiltonian_on(hnn.vector_field, jnp.asarray(rollouts["hnn"].reshape(-1, 2))))
    learned = learned.reshape(config.n_test, n_save)

    short = config.error_periods * config.saves_per_period + 1
    per = {"energy": e_test.tolist(), "period": periods.tolist()}
    for name in ("node", "hnn", "exact"):
        per[f"energy_drift_{name}"] = [_drift(ti, ei) for ti, ei in zip(t, energies[name])]
        per[f"energy_error_max_{name}"] = [_max_error(ei) for ei in energies[name]]
    for name in ("node", "hnn"):
        ys = rollouts[name]
        per[f"trajectory_rel_l2_{name}"] = [_rel_l2(ys[i, :short], true[i, :short]) for i in range(config.n_test)]
        per[f"rollout_rel_l2_{name}"] = [_rel_l2(ys[i], true[i]) for i in range(config.n_test)]
    per["learned_energy_drift_hnn"] = [_max_error(li) for li in learned]

    # H_theta is defined up to a constant: compare it with H after removing the mean offset.
    h_learned = np.asarray(_hamiltonian_on(hnn.vector_field, jnp.asarray(true.reshape(-1, 2))))
    h_true = energy(true.reshape(-1, 2))
    offset = h_learned - h_true
    h_error = float(np.sqrt(np.mean((offset - offset.mean()) ** 2)) / h_true.std())

    mean = {k: float(np.mean(v)) for k, v in per.items()}
    ratio = mean["energy_drift_node"] / mean["energy_drift_hnn"] if mean["energy_drift_hnn"] > 0 else math.inf
    ctx.log(
        f"energy drift over {config.periods} periods: neural ODE {mean['energy_drift_node']:.3g}, "
        f"HNN {mean['energy_drift_hnn']:.3g} (ratio {ratio:.3g})"
    )

    ctx.write_predictions(
        t=t,
        true=true,
        node=rollouts["node"],
        hnn=rollouts["hnn"],
        energy_true=e_test,
        energy_node=energies["node"],
        energy_hnn=energies["hnn"],
        learned_energy_hnn=learned,
        period=periods,
        t_obs=t_obs,
        y_obs=y_obs,
        y0_train=y0_train,
    )
    ctx.savefig(_plot_phase(true, rollouts["node"], rollouts["hnn"], y_obs), "phase_portraits.png")
    ctx.savefig(_plot_energy(t, energies["node"], energies["hnn"], e_test, periods), "energy.png")
    ctx.save_training_curves(losses)

    return {
        "success": bool(ratio >= 10),
        "energy_drift_ratio": ratio,
        "energy_drift_node": mean["energy_drift_node"],
        "energy_drift_hnn": mean["energy_drift_hnn"],
        "energy_error_max_node": mean["energy_error_max_node"],
        "energy_error_max_hnn": mean["energy_error_max_hnn"],
        "learned_energy_drift_hnn": float(np.max(per["learned_energy_drift_hnn"])),
        "integrator_energy_drift": float(np.max(per["energy_drift_exact"])),
        "integrator_energy_error_max": float(np.max(per["energy_error_max_exact"])),
        "trajectory_rel_l2_node": mean["trajectory_rel_l2_node"],
        "trajectory_rel_l2_hnn": mean["trajectory_rel_l2_hnn"],
        "rollout_rel_l2_node": mean["rollout_rel_l2_node"],
        "rollout_rel_l2_hnn": mean["rollout_rel_l2_hnn"],
        "hamiltonian_rel_error": h_error,
        "per_trajectory": per,
        "final_loss": final_loss,
        "parameters_node": count_parameters(node)["trainable"],
        "parameters_hnn": count_parameters(hnn)["trainable"],
        "node_network": node.vector_field.network,
        "hnn_network": hnn.vector_field.network,
        "node_config": node_config,
        "hnn_config": hnn_config,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.pendulum_hnn [--quick] [--out DIR] ...`, as `sciml run pendulum_hnn`."""
    from sciml.cli import main as cli_main

    return cli_main(["run", "pendulum_hnn", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
