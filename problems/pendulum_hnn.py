r"""Nonlinear pendulum: Hamiltonian neural network vs plain neural ODE over 100 periods.

**Physics.** The frictionless pendulum in canonical coordinates $y = (q, p)$:

$$ \dot q = \partial H/\partial p = p, \qquad \dot p = -\partial H/\partial q = -\sin q,
\qquad H(q, p) = \tfrac12 p^2 - \cos q; $$

the period of the orbit of energy $E$ is $T(E) = 4 K(k^2)$, $k = \sin(q_{max}/2)$, $\cos q_{max} = -E$.

**Data.** `n_train` trajectories with energies stratified over [`energy_min`, `energy_max`] and random phases,
observed at `n_obs` times on $[0, t_{obs}]$ (about one period) with Gaussian noise `noise` on $q$ and $p$.

**Models.** `sciml.ode.ODEModel`s of tanh MLPs (`depth` x `width`): (a) a plain neural ODE
$\dot y = f_\theta(y)$ (`NeuralVectorField`); (b) a Hamiltonian neural network (Greydanus et al. 2019)
$\dot y = J \nabla H_\theta(y)$ (`HamiltonianVectorField`). Trained together by one `sciml.train.fit` call on the
sum of their losses (no shared parameters, so two independent trainings), float64: `steps` steps of
`sciml.ode.MultipleShootingLoss` (segments of `segment_length`), then `refine_steps` steps of
`sciml.ode.TrajectoryLoss` with trained initial states.

**Evaluation.** `n_test` held-out initial conditions inside the training energies, rolled out for `periods`
(100) true periods with `diffrax.Dopri8` at `eval_rtol`. On the TRUE energy $H$ along each rollout: *energy
drift* $|b| t_{end}$ ($b$ the least-squares slope, `energy_drift_*`) and *energy error*
$\max_t |H(y(t)) - H(y(0))|$ (`energy_error_max_*`). Success: `energy_drift_node >= 10 energy_drift_hnn`.
Trajectory relative L2 over `error_periods` periods (`trajectory_rel_l2_*`) and over all (`rollout_rel_l2_*`).

**Independent reference.** `scipy.integrate.solve_ivp` (DOP853, rtol = atol = 1e-12) from the same states, and
the exact energy and period.

**Default budget**: 16 trajectories, 64 x 2 MLPs, 1000 multiple-shooting + 1000 whole-trajectory Adam steps.
**Expected accuracy**: energy drift 0.21-0.35 for the neural ODE against 3.7-6.7e-5 for the HNN (ratio 4500x
or more), maximum energy error 13-27x lower for the HNN, 5-period relative L2 0.038-0.085 (HNN) against
0.12-0.21.
Per-seed figures: `problems/RESULTS.md`. `--quick`: 4 trajectories, tiny networks, 3 periods.

**Outputs.** `metrics.json` metrics: `success`, `energy_drift_ratio`, `energy_drift_node`, `energy_drift_hnn`,
`energy_error_max_node`, `energy_error_max_hnn`, `learned_energy_drift_hnn`, `integrator_energy_drift`,
`integrator_energy_error_max`, `trajectory_rel_l2_node`, `trajectory_rel_l2_hnn`, `rollout_rel_l2_node`,
`rollout_rel_l2_hnn`, `hamiltonian_rel_error`, `per_trajectory`, `final_loss`, `parameters_node`,
`parameters_hnn`. `predictions.npz`: `t` (n_test, m) save times, `true` (n_test, m, 2) the reference, `node` and
`hnn` (n_test, m, 2) the rollouts, `energy_true` (n_test,), `energy_node` and `energy_hnn` (n_test, m),
`learned_energy_hnn` (n_test, m), `period` (n_test,); the training data `t_obs` (n_obs,), `y_obs`
(n_train, n_obs, 2), `y0_train` (n_train, 2). `model.eqx` + `model.json`: the HNN's $H_\theta$
(`architecture="mlp"`), called on one state $(q, p)$; `node.eqx` + `node.json`: the neural ODE's $f_\theta$.
Plots: `phase_portraits.png`, `energy.png`, `training.png`.
"""

import dataclasses
import math
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
from sciml.study import precision, RunContext
from sciml.train import Checkpointing, count_parameters, fit, Logging, make_optimizer, relative_l2


DESCRIPTION = "Pendulum from noisy trajectories: Hamiltonian network vs neural ODE, energy drift over 100 periods"
# The metrics problems/RESULTS.md and the README show.
HEADLINE = ("energy_drift_node", "energy_drift_hnn", "energy_drift_ratio", "trajectory_rel_l2_hnn")


_SOLVERS = {"dopri8": diffrax.Dopri8, "dopri5": diffrax.Dopri5, "tsit5": diffrax.Tsit5}


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    n_train: int = 16  # training trajectories, energies stratified over [energy_min, energy_max]
    n_obs: int = 61  # observations per training trajectory, uniform on [0, t_obs]
    t_obs: float = 6.0  # observed time span of each training trajectory
    energy_min: float = -0.9  # lowest energy H of the training and test orbits (> -1)
    energy_max: float = 0.4  # highest energy H of the training and test orbits (< 1: librations)
    noise: float = 0.05  # Gaussian noise std on each observed q and p
    width: int = 64  # hidden units per layer of both MLPs
    depth: int = 2  # hidden layers of both MLPs
    activation: str = "tanh"  # activation of both MLPs (a sciml.nn activation name)
    segment_length: int = 10  # intervals per multiple-shooting segment
    steps: int = 1000  # Adam steps on the multiple-shooting loss
    refine_steps: int = 1000  # Adam steps on whole trajectories afterwards (0 skips the stage)
    learning_rate: float = 3e-3  # peak learning rate of the multiple-shooting stage (cosine decay to a tenth)
    refine_learning_rate: float = 1e-3  # peak learning rate of the refinement stage (cosine decay to a hundredth)
    train_rtol: float = 1e-6  # rtol = atol of the Tsit5 solves during training
    n_test: int = 4  # held-out initial conditions, energies evenly inside the training range
    periods: int = 100  # true periods of each evaluation rollout
    saves_per_period: int = 20  # saved states per period of the rollouts
    error_periods: int = 5  # leading periods scored by trajectory_rel_l2_*
    eval_solver: str = "dopri8"  # diffrax solver of the evaluation rollouts
    eval_rtol: float = 1e-10  # rtol = atol of the evaluation rollouts
    eval_max_steps: int = 200_000  # step limit of each evaluation rollout
    checkpoint_every: int = 250  # steps between checkpoints

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
    return float(relative_l2(pred, ref))


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
    with precision("float64") as ambient:
        out = _run(config, ctx)
    cast = lambda tree: sciml.nn.cast(tree, ambient)
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


def replot(ctx: RunContext) -> None:
    """Redraws every plot of a finished run in `ctx.out` from `predictions.npz`, `metrics.json` and the final
    checkpoints of the multiple-shooting and refinement stages."""
    import json  # here, not at the top: keeps this hook's diff in one place

    config = json.loads((ctx.out / "metrics.json").read_text())["config"]
    with np.load(ctx.out / "predictions.npz") as p:
        saved = {k: p[k] for k in p.files}
    ctx.savefig(_plot_phase(saved["true"], saved["node"], saved["hnn"], saved["y_obs"]), "phase_portraits.png")
    ctx.savefig(
        _plot_energy(saved["t"], saved["energy_node"], saved["energy_hnn"], saved["energy_true"], saved["period"]),
        "energy.png",
    )
    stages = ["shooting", "refine"] if config["refine_steps"] > 0 else ["shooting"]
    losses = [json.loads((ctx.checkpoint_dir / s / "checkpoint.json").read_text())["losses"] for s in stages]
    ctx.save_training_curves(np.concatenate(losses))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.pendulum_hnn [--quick] [--out DIR] ...`, as `sciml run pendulum_hnn`."""
    from sciml.study import main as run_main

    return run_main("pendulum_hnn", argv)


if __name__ == "__main__":
    raise SystemExit(main())
