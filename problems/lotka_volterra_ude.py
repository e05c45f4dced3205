r"""Lotka-Volterra missing physics: a universal differential equation, then sparse regression.

**Physics.** Predator-prey dynamics (Rackauckas et al., "Universal differential equations for scientific machine
learning", 2020, section 2.1):

$$ \dot x = a x - b x y, \qquad \dot y = c x y - d y, \qquad (a, b, c, d) = (1.3, 0.9, 0.8, 1.8), $$

$u_0 = (0.44249296, 4.6280594)$; 31 observations on $t \in [0, 3]$ with Gaussian noise of 5% of each state's mean.

**Model.** $\dot u = (a x, -d y) + U_\theta(u)$ with $a$, $d$ known and $U_\theta$ a 2-5-5-5-2 MLP with the
paper's radial-basis activation (`"mlp"`, `activation="rbf"`), an `sciml.ode.ODEModel` (Tsit5, PID 1e-7) from
the first noisy observation, trained by `sciml.train.fit` on the trajectory MSE (`sciml.ode.TrajectoryLoss`):
Adam, then L-BFGS, float64.

**Symbolic recovery.** $U_\theta$ along the UDE's trajectory is regressed per component on the 10 polynomials
of degree <= 3 by STLSQ (Brunton et al. 2016) with library bagging (Fasel et al. 2022); the `candidates` most
frequent supports per component are refitted to the observations as ODEs, and the recovered equation is the
pair with the fewest terms whose loss is consistent with the known noise (discrepancy principle; else the
lowest AICc, Mangan et al. 2017). Success: exactly $-b x y$ and $+c x y$, coefficients within 10% of the truth.

**Independent references.** `scipy.integrate.solve_ivp` (DOP853, rtol = atol = 1e-12) on $[0, 10]$; for the
coefficients a scipy `least_squares` fit of $b$, $c$ and $u_0$ with the true equation's form (the best any
method can do from these 31 points).

**Default budget** (float64): 3000 Adam + 500 L-BFGS steps, 200 bagging rounds, 4 candidates per component.
**Expected accuracy**: the exact two interaction terms on seeds 0-2; coefficients within 10% on seeds 1 and 2
(seed 0's noise draw puts the best estimate of $c$ 14% off); UDE fit 0.7-1.7% relative L2; the recovered
equation extrapolates to $t = 10$ within 4.5-18%. Per-seed figures and ablations: `problems/RESULTS.md`.
`--quick`: 150 Adam steps, no L-BFGS, candidates scored without refitting.

**Outputs.** `metrics.json` metrics: `recovered_terms`, `sindy_coefficients`, `recovered_coefficients` (after
the ODE refit), `recovered_exact`, `coefficient_relative_errors`, `refit_coefficient_relative_errors`,
`oracle_coefficients`, `success`, `fit_rel_l2_ude`, `fit_rmse_observations`, `missing_terms_rel_l2`,
`extrapolation_rel_l2_ude`, `extrapolation_rel_l2_recovered`, `extrapolation_max_abs_ude`,
`extrapolation_max_abs_recovered`, `selected_by`, `noise_loss_expected`, `acceptance_loss`, `aicc_choice`,
`candidates`, `ude_loss`, `parameters`. `model.eqx` + `model.json`: $U_\theta$ (`architecture="mlp"`), called
on one state $(x, y)$; the metadata holds the known terms and the recovered equation.
`predictions.npz`: `t` (n,) on $[0, 10]$, `y` (n, 2) the recovered equation's solution, `y_ude` (n, 2),
`y_true` (n, 2); `t_obs` (31,), `y_obs` (31, 2); `t_fit` (m,) on $[0, 3]$ with `missing_learned` (m, 2) and
`missing_true` (m, 2) the learned and true interaction terms. Plots: `trajectories.png`, `missing_terms.png`,
`training.png`.
"""

import dataclasses
import itertools
import math
from collections import Counter
from collections.abc import Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Bool, Float, PyTree
from matplotlib.figure import Figure
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares

import sciml.nn
from sciml.ode import (
    HybridVectorField,
    NeuralVectorField,
    ODEModel,
    PhysicsVectorField,
    trajectory_data,
    TrajectoryLoss,
)
from sciml.study import precision, RunContext
from sciml.train import Checkpointing, count_parameters, Execution, fit, Logging, make_optimizer, relative_l2


DESCRIPTION = "Lotka-Volterra UDE: learn the missing interaction terms, recover them by sparse regression"
# The metrics problems/RESULTS.md and the README show.
HEADLINE = ("recovered_exact", "coefficient_relative_errors", "fit_rel_l2_ude", "extrapolation_rel_l2_recovered")

TRUE = {"a": 1.3, "b": 0.9, "c": 0.8, "d": 1.8}
U0 = (0.44249296, 4.6280594)


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    n_obs: int = 31  # observation times, uniform on [0, t_end]
    t_end: float = 3.0  # end of the observed window (time units)
    t_extrapolate: float = 10.0  # end of the extrapolation window scored against the reference (time units)
    noise: float = 0.05  # observation noise std, relative to each state's mean over the data window
    width: int = 5  # hidden units per layer of the network U
    depth: int = 3  # hidden layers of the network U
    activation: str = "rbf"  # activation of U (a sciml.nn activation name; rbf as in the paper)
    steps: int = 3000  # Adam steps of the UDE fit
    learning_rate: float = 1e-2  # Adam's learning rate
    lbfgs_steps: int = 500  # L-BFGS steps after Adam (0 skips the stage)
    rtol: float = 1e-7  # relative tolerance of the UDE's Tsit5 solves
    atol: float = 1e-7  # absolute tolerance of the UDE's Tsit5 solves
    degree: int = 3  # largest total degree of the polynomial library in (x, y)
    bagging_rounds: int = 200  # STLSQ fits on random sub-libraries (library bagging)
    max_terms: int = 3  # largest number of terms of a candidate support per component
    candidates: int = 4  # most frequent supports kept per component (candidates**2 ODE refits)
    refit_steps: int = 100  # L-BFGS steps of each candidate's ODE refit (0: least-squares coefficients)
    checkpoint_every: int = 250  # steps between checkpoints

    def __post_init__(self):
        if self.n_obs < 3 or not 0 < self.t_end < self.t_extrapolate:
            raise ValueError("need n_obs >= 3 and 0 < t_end < t_extrapolate")
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise}")
        if min(self.width, self.depth + 1, self.steps, self.bagging_rounds, self.max_terms, self.candidates) < 1:
            raise ValueError("width, steps, bagging_rounds, max_terms and candidates must be >= 1, depth >= 0")
        if min(self.lbfgs_steps, self.refit_steps) < 0 or self.checkpoint_every < 1:
            raise ValueError("lbfgs_steps and refit_steps must be >= 0, checkpoint_every >= 1")
        if not 1 <= self.degree <= 5:
            raise ValueError(f"degree must be in [1, 5], got {self.degree}")


QUICK = dict(steps=150, lbfgs_steps=0, bagging_rounds=20, candidates=2, refit_steps=0, checkpoint_every=50)


def true_rhs(t: float, u: np.ndarray) -> list[float]:
    """The full Lotka-Volterra right-hand side, for the scipy reference."""
    x, y = u
    return [TRUE["a"] * x - TRUE["b"] * x * y, TRUE["c"] * x * y - TRUE["d"] * y]


def reference(ts: np.ndarray) -> np.ndarray:
    """The true solution at `ts` by scipy's DOP853 at tight tolerances, shape (n, 2)."""
    sol = solve_ivp(true_rhs, (0.0, float(ts[-1])), U0, method="DOP853", rtol=1e-12, atol=1e-12, t_eval=ts)
    return sol.y.T


def oracle_fit(t_obs: np.ndarray, y_obs: np.ndarray, scale: np.ndarray) -> dict[str, float]:
    """Least-squares estimate of (b, c) and the initial state with the true equation's form.

    The best any method can do from these observations once the structure is known: an
    independent scipy reference (`least_squares` over `solve_ivp` at tight tolerances) for
    the coefficients the sparse regression recovers.
    """

    def residuals(p):
        b, c, x0, y0 = p
        rhs = lambda t, u: [TRUE["a"] * u[0] - b * u[0] * u[1], c * u[0] * u[1] - TRUE["d"] * u[1]]
        sol = solve_ivp(rhs, (0.0, float(t_obs[-1])), [x0, y0], t_eval=t_obs, rtol=1e-10, atol=1e-10)
        if sol.y.shape[1] != len(t_obs):
            return np.full(y_obs.size, 1e3)
        return ((sol.y.T - y_obs) / scale).ravel()

    fitted = least_squares(residuals, [TRUE["b"], TRUE["c"], *y_obs[0]], x_scale="jac")
    b, c = fitted.x[:2]
    return {"b": float(b), "c": float(c), "loss": float(np.mean(fitted.fun**2))}


def known_terms(t: Float[Array, ""], u: Float[Array, " 2"], p: dict) -> Float[Array, " 2"]:
    """The physics kept in the model: growth `a x` and decay `-d y`."""
    return jnp.stack([p["a"] * u[0], -p["d"] * u[1]])


def exponents(degree: int) -> tuple[tuple[int, int], ...]:
    """The monomials x^i y^j of total degree <= `degree`, ordered by degree."""
    return tuple((k - j, j) for k in range(degree + 1) for j in range(k + 1))


def term_name(e: tuple[int, int]) -> str:
    parts = [v if p == 1 else f"{v}^{p}" for v, p in zip("xy", e) if p > 0]
    return " ".join(parts) or "1"


def library(u: np.ndarray, exps: Sequence[tuple[int, int]]) -> np.ndarray:
    """The polynomial library evaluated at states `u` (n, 2): shape (n, terms)."""
    return np.stack([u[:, 0] ** i * u[:, 1] ** j for i, j in exps], axis=1)


class Polynomial(eqx.Module):
    """Recovered terms `sum_k coef[i, k] x^p_k y^q_k` over a masked monomial library.

    The mask travels with the data while refitting (`InitialStateLoss` inserts it), so
    every candidate support reuses one compiled training step: `fit` bakes the model's
    non-trainable arrays into the compiled step as constants.
    """

    coef: Float[Array, " 2 terms"]
    mask: Bool[Array, " 2 terms"] | None
    exponents: tuple[tuple[int, int], ...] = eqx.field(static=True)

    def __call__(self, t: Float[Array, ""], u: Float[Array, " 2"], args: PyTree) -> Float[Array, " 2"]:
        del t, args
        powers = jnp.stack([u[0] ** i * u[1] ** j for i, j in self.exponents])
        return jnp.where(self.mask, self.coef, 0.0) @ powers


class WithInitialState(eqx.Module):
    """An ODE model together with its initial state, both fitted to the data.

    The first observation is as noisy as the others: an equation started from it cannot
    fit the data as well as it deserves, and a wrong equation with extra terms could win
    the model selection by compensating. Fitting the initial state removes that bias.
    """

    ode: ODEModel
    y0: Float[Array, " 2"]


class InitialStateLoss(eqx.Module):
    """`TrajectoryLoss` of a [`WithInitialState`][] model on one trajectory.

    The batch's `"support"` entry, the candidate's mask of monomials, is put into the
    model's `Polynomial`.
    """

    inner: TrajectoryLoss

    def __call__(self, model: WithInitialState, batch: dict, key) -> Float[Array, ""]:
        ode = with_support(model.ode, batch["support"][0])
        rest = {k: v for k, v in batch.items() if k != "support"}
        return self.inner(ode, {**rest, "y0": model.y0[None]}, key)


def with_support(ode: ODEModel, mask: Bool[Array, " 2 terms"]) -> ODEModel:
    """The recovered-equation model with its monomial mask set."""
    return eqx.tree_at(lambda m: m.vector_field.learned.mask, ode, mask, is_leaf=lambda x: x is None)


def stlsq(a: np.ndarray, b: np.ndarray, threshold: float, iterations: int = 20) -> np.ndarray:
    """Sequentially thresholded least squares (Brunton, Proctor and Kutz 2016, PNAS).

    Least squares, then repeatedly zero the coefficients below `threshold` and refit on
    the remaining columns, until the support stops changing.
    """
    w = np.linalg.lstsq(a, b, rcond=None)[0]
    for _ in range(iterations):
        keep = np.abs(w) >= threshold
        w = np.zeros_like(w)
        if keep.any():
            w[keep] = np.linalg.lstsq(a[:, keep], b, rcond=None)[0]
        if np.array_equal(np.abs(w) >= threshold, keep):
            break
    return w


def candidate_supports(
    u: np.ndarray, targets: np.ndarray, exps: Sequence[tuple[int, int]], config: Config, rng: np.random.Generator
) -> list[list[tuple[int, ...]]]:
    """The most frequent sparse supports of each component under library bagging.

    Columns are scaled to unit RMS and targets to unit RMS, so one threshold grid
    serves every component. Each round drops a random subset of the library and runs
    STLSQ at every threshold; supports with at most `max_terms` terms are counted.
    """
    lib = library(u, exps)
    lib = lib / np.sqrt(np.mean(lib**2, axis=0))
    thresholds = np.geomspace(0.02, 2.0, 25)
    out = []
    for target in targets.T:
        target = target / np.sqrt(np.mean(target**2))
        counts: Counter = Counter()
        for _ in range(config.bagging_rounds):
            size = int(rng.integers(len(exps) // 2, len(exps)))
            keep = np.sort(rng.choice(len(exps), size=size, replace=False))
            for threshold in thresholds:
                w = stlsq(lib[:, keep], target, threshold)
                support = tuple(int(k) for k in keep[w != 0])
                if 0 < len(support) <= config.max_terms:
                    counts[support] += 1
        out.append([s for s, _ in counts.most_common(config.candidates)] or [tuple()])
    return out


def aicc(loss: float, n: int, k: int) -> float:
    """Corrected Akaike information criterion of a Gaussian fit with `k` coefficients."""
    if not math.isfinite(loss) or loss <= 0:
        return math.inf
    return n * math.log(loss) + 2 * k + 2 * k * (k + 1) / max(n - k - 1, 1)


@eqx.filter_jit
def _network_on(network, u: Float[Array, " n 2"]) -> Float[Array, " n 2"]:
    return jax.vmap(network)(u)


def _solve(model: ODEModel, ts: np.ndarray, y0: np.ndarray) -> np.ndarray:
    sol = model.solve(jnp.asarray(ts), jnp.asarray(y0), throw=False)
    ys = np.asarray(sol.ys)
    return np.where(np.isfinite(ys), ys, np.nan)


def _loss_on(pred: np.ndarray, obs: np.ndarray, scale: np.ndarray) -> float:
    """`TrajectoryLoss`'s value from predictions at the observation times (inf if any failed)."""
    value = float(np.mean(((pred - obs) / scale) ** 2))
    return value if math.isfinite(value) else math.inf


def _rel_l2(pred: np.ndarray, ref: np.ndarray) -> float:
    if not np.all(np.isfinite(pred)):
        return math.inf
    return float(relative_l2(pred, ref))


def _plot_trajectories(t, y_true, y_ude, y_rec, t_obs, y_obs, t_end) -> Figure:
    fig = Figure(figsize=(9, 5.5), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for i, (ax, name) in enumerate(zip(axes, ("prey x", "predator y"))):
        ax.axvspan(0, t_end, color="0.92", label="training window")
        ax.plot(t, y_true[:, i], "k-", lw=2, label="truth (scipy)")
        ax.plot(t, y_ude[:, i], "C0--", label="UDE")
        ax.plot(t, y_rec[:, i], "C3:", lw=2, label="recovered equation")
        ax.plot(t_obs, y_obs[:, i], "ko", ms=3, label="observations")
        # A diverging extrapolation would squash the truth into a flat line.
        top = 1.5 * max(y_true[:, i].max(), y_obs[:, i].max())
        ax.set_ylim(-0.05 * top, top)
        ax.set_ylabel(name)
    axes[0].legend(ncol=5, fontsize=8, loc="upper right")
    axes[1].set_xlabel("t")
    fig.suptitle(f"Lotka-Volterra: fit on [0, {t_end:g}], extrapolation beyond")
    return fig


def _plot_missing(t, learned, true) -> Figure:
    fig = Figure(figsize=(9, 3.8), layout="constrained")
    for i, (ax, name) in enumerate(zip(fig.subplots(1, 2), ("-b x y (prey)", "+c x y (predator)"))):
        ax.plot(t, true[:, i], "k-", lw=2, label="true")
        ax.plot(t, learned[:, i], "C0--", label="network")
        ax.set_title(name)
        ax.set_xlabel("t")
    fig.axes[0].legend()
    fig.suptitle("missing terms along the UDE trajectory")
    return fig


def run(config: Config, ctx: RunContext) -> dict[str, object]:
    """Generates the data, trains the UDE, recovers the equation and writes every output."""
    # Train in float64 whatever the global setting: L-BFGS and the AICc comparison need
    # losses resolved well below float32's 1e-7 relative precision.
    with precision("float64") as ambient:
        out = _run(config, ctx)
    network = sciml.nn.cast(out.pop("network"), ambient)
    ctx.save_model(
        network,
        architecture="mlp",
        config=out.pop("network_config"),
        known_terms="a x, -d y",
        known_parameters={"a": TRUE["a"], "d": TRUE["d"]},
        recovered=out["recovered_coefficients"],
        call="network(u) with u = (x, y): the missing terms",
    )
    return out


def _run(config: Config, ctx: RunContext) -> dict[str, object]:
    t_obs = np.linspace(0.0, config.t_end, config.n_obs)
    truth_obs = reference(t_obs)
    sigma = config.noise * truth_obs.mean(axis=0)
    y_obs = truth_obs + sigma * ctx.rng("data").standard_normal(truth_obs.shape)
    data = trajectory_data(t_obs, y_obs[None])
    scale = y_obs.std(axis=0)

    init_key, adam_key, lbfgs_key, refit_key = jr.split(ctx.key, 4)
    network_config = dict(
        in_size=2,
        out_size=2,
        width=config.width,
        depth=config.depth,
        activation=config.activation,
        input_mean=y_obs.mean(axis=0).tolist(),
        input_std=scale.tolist(),
    )
    network = sciml.nn.build("mlp", key=init_key, **network_config)
    known = PhysicsVectorField(known_terms, {"a": TRUE["a"], "d": TRUE["d"]})
    controller = diffrax.PIDController(rtol=config.rtol, atol=config.atol)
    ude = ODEModel(
        HybridVectorField(known, NeuralVectorField(network)),
        diffrax.Tsit5(),
        controller,
        max_steps=4096,
        name="Lotka-Volterra UDE",
    )
    # An infinite loss on a failed solve lets L-BFGS's line search back off from a
    # trial step into a blow-up instead of stopping the run.
    loss = TrajectoryLoss(scale=scale, on_failure="inf")

    adam = fit(
        ude,
        loss,
        data,
        make_optimizer({"name": "adam", "learning_rate": config.learning_rate}, steps=config.steps),
        steps=config.steps,
        key=adam_key,
        checkpointing=Checkpointing(ctx.checkpoint_dir / "adam", every=config.checkpoint_every, resume=ctx.resume),
        logging=Logging(quiet=ctx.quiet, desc="UDE adam"),
    )
    stages = [adam]
    if config.lbfgs_steps > 0:
        stages.append(
            fit(
                adam.model,
                loss,
                data,
                make_optimizer({"name": "lbfgs"}, steps=config.lbfgs_steps),
                steps=config.lbfgs_steps,
                key=lbfgs_key,
                checkpointing=Checkpointing(
                    ctx.checkpoint_dir / "lbfgs", every=config.checkpoint_every, resume=ctx.resume
                ),
                logging=Logging(quiet=ctx.quiet, desc="UDE lbfgs"),
            )
        )
    ude = stages[-1].model

    # One grid for every evaluation: each new grid length would compile another solve.
    # It contains the fine grid on [0, t_end] and the observation times.
    t = np.linspace(0.0, config.t_extrapolate, 1001)
    window = t <= config.t_end + 1e-9
    at_obs = np.searchsorted(t, t_obs - 1e-9)
    if not np.allclose(t[at_obs], t_obs, rtol=0, atol=1e-9):
        raise ValueError(
            "the evaluation grid must contain the observation times: choose t_extrapolate / t_end "
            "and n_obs so that the observation spacing is a multiple of t_extrapolate / 1000"
        )
    y_true = reference(t)
    y_ude = _solve(ude, t, y_obs[0])
    ude_loss = _loss_on(y_ude[at_obs], y_obs, scale)
    ctx.log(f"UDE trained: loss {ude_loss:.4g}")

    # The network's view of the missing terms, along the UDE's own trajectory.
    t_fit, u_fit = t[window], y_ude[window]
    if not np.all(np.isfinite(u_fit)):
        raise RuntimeError("the trained UDE does not integrate over the training window; train longer")
    missing = np.asarray(_network_on(ude.vector_field.learned.network, jnp.asarray(u_fit)))
    x, y = u_fit[:, 0], u_fit[:, 1]
    missing_true = np.stack([-TRUE["b"] * x * y, TRUE["c"] * x * y], axis=1)

    exps = exponents(config.degree)
    names = [term_name(e) for e in exps]
    supports = candidate_supports(u_fit, missing, exps, config, ctx.rng("sindy"))
    lib = library(u_fit, exps)
    n_data = y_obs.size
    refit_loss = InitialStateLoss(loss)
    candidates = []
    for pair in itertools.product(*supports):
        mask = np.zeros((2, len(exps)), bool)
        coef = np.zeros((2, len(exps)))
        for i, support in enumerate(pair):
            cols = list(support)
            mask[i, cols] = True
            if cols:
                coef[i, cols] = np.linalg.lstsq(lib[:, cols], missing[:, i], rcond=None)[0]
        ode = ODEModel(
            HybridVectorField(known, Polynomial(jnp.asarray(coef), None, exps)),
            diffrax.Tsit5(),
            controller,
            max_steps=4096,
            name="recovered Lotka-Volterra",
        )
        model = WithInitialState(ode, jnp.asarray(y_obs[0]))
        if config.refit_steps > 0:
            refit_data = {**data, "support": jnp.asarray(mask)[None]}
            model = fit(
                model,
                refit_loss,
                refit_data,
                make_optimizer({"name": "lbfgs"}, steps=config.refit_steps),
                steps=config.refit_steps,
                key=refit_key,
                logging=Logging(quiet=True),
                execution=Execution(on_nonfinite="skip"),
            ).model
        model = WithInitialState(with_support(model.ode, jnp.asarray(mask)), model.y0)
        y_model = _solve(model.ode, t, np.asarray(model.y0))
        value = _loss_on(y_model[at_obs], y_obs, scale)
        candidates.append(
            {
                "terms": [[names[k] for k in support] for support in pair],
                "sindy": coef,
                "model": model,
                "y": y_model,
                "loss": value,
                "size": int(mask.sum()),
                "aicc": aicc(value, n_data, int(mask.sum()) + 2),
            }
        )
    # The sparsest candidate that fits as well as the known measurement noise allows (the
    # discrepancy principle): its loss within two standard deviations of the chi-square
    # expectation of pure noise. Ties go to the lower loss; if none qualifies, the AICc.
    noise_loss = float(np.mean((config.noise * y_obs.mean(axis=0) / scale) ** 2))
    threshold = noise_loss * (1 + 2 * math.sqrt(2 / n_data))
    accepted = [c for c in candidates if c["loss"] <= threshold]
    if accepted:
        best = min(accepted, key=lambda c: (c["size"], c["loss"]))
    else:
        best = min(candidates, key=lambda c: c["aicc"])
    by_aicc = min(candidates, key=lambda c: c["aicc"])
    ctx.log("recovered: " + "; ".join(f"d{v}/dt += {' + '.join(t) or '0'}" for v, t in zip("xy", best["terms"])))

    refit = best["model"].ode.vector_field.learned
    coefficients = np.asarray(jnp.where(refit.mask, refit.coef, 0.0))
    recovered = {
        f"d{v}/dt": {names[k]: float(coefficients[i, k]) for k in np.flatnonzero(np.asarray(refit.mask)[i])}
        for i, v in enumerate("xy")
    }
    sindy = {
        f"d{v}/dt": {names[k]: float(best["sindy"][i, k]) for k in np.flatnonzero(np.asarray(refit.mask)[i])}
        for i, v in enumerate("xy")
    }
    exact = best["terms"] == [["x y"], ["x y"]]
    errors = errors_refit = None
    if exact:
        errors = {
            "b": abs(-sindy["dx/dt"]["x y"] - TRUE["b"]) / TRUE["b"],
            "c": abs(sindy["dy/dt"]["x y"] - TRUE["c"]) / TRUE["c"],
        }
        errors_refit = {
            "b": abs(-recovered["dx/dt"]["x y"] - TRUE["b"]) / TRUE["b"],
            "c": abs(recovered["dy/dt"]["x y"] - TRUE["c"]) / TRUE["c"],
        }
    oracle = oracle_fit(t_obs, y_obs, scale)
    y_rec = best["y"]

    ctx.write_predictions(
        t=t,
        y=y_rec,
        y_ude=y_ude,
        y_true=y_true,
        t_obs=t_obs,
        y_obs=y_obs,
        t_fit=t_fit,
        missing_learned=missing,
        missing_true=missing_true,
    )
    ctx.savefig(_plot_trajectories(t, y_true, y_ude, y_rec, t_obs, y_obs, config.t_end), "trajectories.png")
    ctx.savefig(_plot_missing(t_fit, missing, missing_true), "missing_terms.png")
    ctx.save_training_curves(np.concatenate([s.losses for s in stages]))

    return {
        "recovered_terms": best["terms"],
        "sindy_coefficients": sindy,
        "recovered_coefficients": recovered,
        "recovered_exact": exact,
        "coefficient_relative_errors": errors,
        "refit_coefficient_relative_errors": errors_refit,
        "oracle_coefficients": oracle,
        "success": bool(exact and max(errors.values()) <= 0.1),
        "fit_rel_l2_ude": _rel_l2(y_ude[window], y_true[window]),
        "fit_rmse_observations": float(np.sqrt(np.mean((y_ude[at_obs] - y_obs) ** 2))),
        "missing_terms_rel_l2": _rel_l2(missing, missing_true),
        "extrapolation_rel_l2_ude": _rel_l2(y_ude, y_true),
        "extrapolation_rel_l2_recovered": _rel_l2(y_rec, y_true),
        "extrapolation_max_abs_ude": float(np.max(np.abs(y_ude - y_true))),
        "extrapolation_max_abs_recovered": float(np.max(np.abs(y_rec - y_true))),
        "selected_by": "noise-consistent parsimony" if accepted else "aicc",
        "noise_loss_expected": noise_loss,
        "acceptance_loss": threshold,
        "aicc_choice": by_aicc["terms"],
        "candidates": sorted(
            ({"terms": c["terms"], "aicc": c["aicc"], "loss": c["loss"]} for c in candidates), key=lambda c: c["aicc"]
        ),
        "ude_loss": ude_loss,
        "parameters": count_parameters(ude)["trainable"],
        "network": ude.vector_field.learned.network,
        "network_config": network_config,
    }


def replot(ctx: RunContext) -> None:
    """Redraws every plot of a finished run in `ctx.out` from `predictions.npz`, `metrics.json` and the final
    checkpoints of the Adam and L-BFGS stages."""
    import json  # here, not at the top: keeps this hook's diff in one place

    config = json.loads((ctx.out / "metrics.json").read_text())["config"]
    with np.load(ctx.out / "predictions.npz") as p:
        saved = {k: p[k] for k in p.files}
    ctx.savefig(
        _plot_trajectories(
            saved["t"], saved["y_true"], saved["y_ude"], saved["y"], saved["t_obs"], saved["y_obs"], config["t_end"]
        ),
        "trajectories.png",
    )
    ctx.savefig(_plot_missing(saved["t_fit"], saved["missing_learned"], saved["missing_true"]), "missing_terms.png")
    stages = ["adam", "lbfgs"] if config["lbfgs_steps"] > 0 else ["adam"]
    losses = [json.loads((ctx.checkpoint_dir / s / "checkpoint.json").read_text())["losses"] for s in stages]
    ctx.save_training_curves(np.concatenate(losses))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.lotka_volterra_ude [--quick] [--out DIR] ...`, as `sciml run lotka_volterra_ude`."""
    from sciml.study import main as run_main

    return run_main("lotka_volterra_ude", argv)


if __name__ == "__main__":
    raise SystemExit(main())
