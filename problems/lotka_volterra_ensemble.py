r"""Lotka-Volterra UDE ensemble: forecast bands from noisy data, their coverage and widening.

**Physics and data.** Predator-prey dynamics (Rackauckas et al. 2020, section 2.1; the data of
`problems.lotka_volterra_ude`):

$$ \dot x = a x - b x y, \qquad \dot y = c x y - d y, \qquad (a, b, c, d) = (1.3, 0.9, 0.8, 1.8), $$

$u_0 = (0.44249296, 4.6280594)$; 31 observations on $t \in [0, 3]$ with Gaussian noise of $\sigma$ = 5% of each
state's mean there.

**Model.** An [`sciml.uq.Ensemble`][] of K universal differential equations
$\dot u = (a x, -d y) + U_k(u) + \beta P_k(u)$, $u(0) = y_{obs}(0) + 3 \sigma z_k$: $U_k$ a trainable 2-5-5-5-2
RBF MLP, $P_k$ a fixed random prior network (Osband et al. 2018, $\beta$ = `prior_scale`), $z_k$ a trainable
initial offset; each an `sciml.ode.ODEModel` (Tsit5, PID, float32, `throw=False`). Each member fits its own
Bayesian-bootstrap weighting on the Gaussian NLL, anchored to its initial draw (Pearce et al. 2020); all train
in one compiled step (`sciml.uq.fit_ensemble`), then are integrated to `t_forecast`; a failed member is
reported in `members_failed` and dropped. **Bands**: the moment-matched Gaussian 90% band
$\bar u \pm 1.645\, s$; coverage is the fraction of true (time, component) points inside it, widths are
relative to the true state's mean over the data window. Beyond $t \approx 3$ the prey leaves the observed
range and no member can know the predator's bloom: the near window $(3, 3 +$ `near_horizon`$]$ is reported
separately from the whole forecast window.

**Independent reference.** `scipy.integrate.solve_ivp` (DOP853, rtol = atol = 1e-12) from the true $u_0$.

**Default budget** (float32): K = 8 members, 3000 Adam steps, forecast on 1001 times; about a minute.
**Expected accuracy**: data-window coverage of the 90% band 0.96-1.0 with ensemble-mean relative L2 4-6%;
near-window coverage 0.98-1.0 with error 7.5-13%; on $(3, 10]$ coverage 0.34-0.39 with bands 2000 times
wider than on the data. Per-seed figures: `problems/RESULTS.md`. `--quick`: 3 members, 60 steps.

**Outputs.** `metrics.json` metrics: `members`, `members_used`, `members_failed`, `failure_messages`; per
window (`data_`, `near_`, `forecast_`) `coverage_90`, `width_90` and `mean_rel_l2`; `width_ratio`,
`width_90_at_t...`, `first_miss_after_data`, `fit_rmse_observations`, `initial_states`, `parameters`,
`final_loss`. `model.eqx` + `model.json`: the ensemble of $U_k + \beta P_k$ networks
(`sciml.uq.load_ensemble("model.eqx")`), with `initial_states` and the known terms in the metadata.
`predictions.npz`: `t` (n,), `y_true` (n, 2), `member_ys` (K, n, 2) (NaN where a solve failed), `used` (K,),
`mean`, `std`, `lower_90`, `upper_90` (n, 2), `t_obs` (31,), `y_obs` (31, 2), `sigma` (2,), `initial_states`
(K, 2). Plots: `bands.png`, `band_width.png`, `calibration.png`, `training.png`.
"""

import dataclasses
import math
from collections.abc import Sequence

import diffrax
import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import scipy.stats
from jaxtyping import Array, Float, PRNGKeyArray
from matplotlib.figure import Figure
from scipy.integrate import solve_ivp

import sciml.nn
import sciml.uq as uq
from sciml.ode import HybridVectorField, NeuralVectorField, ODEModel, ODESolution, PhysicsVectorField
from sciml.study import RunContext
from sciml.train import Checkpointing, count_parameters, Logging, make_optimizer, relative_l2


DESCRIPTION = "Lotka-Volterra UDE ensemble (bootstrap, anchors, priors): forecast bands, coverage, widening"
# The metrics problems/RESULTS.md and the README show.
HEADLINE = ("data_coverage_90", "data_mean_rel_l2", "near_coverage_90", "first_miss_after_data")

# The experiment of Rackauckas et al. 2020 (as in `problems.lotka_volterra_ude`).
TRUE = {"a": 1.3, "b": 0.9, "c": 0.8, "d": 1.8}
U0 = (0.44249296, 4.6280594)
_Z90 = 1.6448536269514722  # the standard normal's 95% quantile


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    n_obs: int = 31  # observation times, uniform on [0, t_end]
    t_end: float = 3.0  # end of the observed window (time units)
    t_forecast: float = 10.0  # end of the forecast (time units)
    near_horizon: float = 1.0  # length of the near-forecast window (t_end, t_end + near_horizon] scored apart
    n_eval: int = 1001  # evaluation times, uniform on [0, t_forecast]
    noise: float = 0.05  # observation noise std, relative to each state's mean over the data window
    members: int = 8  # ensemble members (UDEs)
    width: int = 5  # hidden units per layer of each member's network U_k
    depth: int = 3  # hidden layers of each member's network U_k
    activation: str = "rbf"  # activation of U_k (a sciml.nn activation name; rbf as in the paper)
    prior_scale: float = 1.0  # scale beta of each member's fixed random prior network P_k (0: none)
    anchored: bool = True  # anchored ensemble: each member is regularised towards its own initial draw
    bootstrap: str = "bayesian"  # member weighting of the observation times: bayesian, multinomial, poisson or none
    initial_state_prior: float = 3.0  # prior width of the initial-state offset, in noise stds
    steps: int = 3000  # Adam steps (cosine decay to a tenth)
    learning_rate: float = 1e-2  # Adam's peak learning rate
    rtol: float = 1e-5  # relative tolerance of the members' Tsit5 solves
    atol: float = 1e-6  # absolute tolerance of the members' Tsit5 solves
    max_steps: int = 4096  # step limit of each member's solve (a member that hits it is dropped)
    checkpoint_every: int = 500  # steps between checkpoints

    def __post_init__(self):
        if self.n_obs < 3 or not 0 < self.t_end < self.t_forecast:
            raise ValueError(
                f"lotka_volterra_ensemble: need n_obs >= 3 and 0 < t_end < t_forecast, got "
                f"{self.n_obs}, {self.t_end}, {self.t_forecast}"
            )
        if not 0 < self.near_horizon <= self.t_forecast - self.t_end:
            raise ValueError(
                f"lotka_volterra_ensemble: need 0 < near_horizon <= t_forecast - t_end, got {self.near_horizon}"
            )
        if self.n_eval < 10:
            raise ValueError(f"lotka_volterra_ensemble: n_eval must be >= 10, got {self.n_eval}")
        if not self.noise > 0:
            raise ValueError(f"lotka_volterra_ensemble: noise must be > 0, got {self.noise}")
        if self.members < 2:
            raise ValueError(f"lotka_volterra_ensemble: an ensemble needs members >= 2, got {self.members}")
        if min(self.width, self.depth, self.steps, self.max_steps, self.checkpoint_every) < 1:
            raise ValueError("lotka_volterra_ensemble: width, depth, steps, max_steps, checkpoint_every must be >= 1")
        if self.prior_scale < 0 or not self.initial_state_prior > 0:
            raise ValueError("lotka_volterra_ensemble: need prior_scale >= 0 and initial_state_prior > 0")
        if self.bootstrap not in ("none", "bayesian", "multinomial", "poisson"):
            raise ValueError(
                f"lotka_volterra_ensemble: bootstrap must be none, bayesian, multinomial or poisson, "
                f"got {self.bootstrap!r}"
            )
        if not (0 < self.rtol < 1 and 0 < self.atol < 1):
            raise ValueError(f"lotka_volterra_ensemble: need 0 < rtol, atol < 1, got {self.rtol}, {self.atol}")


QUICK = dict(members=3, steps=60, n_eval=201, checkpoint_every=30)


def true_rhs(t: float, u: np.ndarray) -> list[float]:
    """The full Lotka-Volterra right-hand side, for the scipy reference."""
    x, y = u
    return [TRUE["a"] * x - TRUE["b"] * x * y, TRUE["c"] * x * y - TRUE["d"] * y]


def reference(ts: np.ndarray) -> np.ndarray:
    """The true solution at `ts` by scipy's DOP853 at tight tolerances, shape (n, 2)."""
    sol = solve_ivp(true_rhs, (0.0, float(ts[-1])), U0, method="DOP853", rtol=1e-12, atol=1e-12, t_eval=ts)
    return sol.y.T


def known_terms(t: Float[Array, ""], u: Float[Array, " 2"], p: dict) -> Float[Array, " 2"]:
    """The physics kept in the model: growth `a x` and decay `-d y`."""
    return jnp.stack([p["a"] * u[0], -p["d"] * u[1]])


def make_data(rng: np.random.Generator, config: Config) -> dict[str, np.ndarray]:
    """The noisy observations on [0, t_end] and their noise level (5% of each state's mean)."""
    t_obs = np.linspace(0.0, config.t_end, config.n_obs)
    truth = reference(t_obs)
    sigma = config.noise * truth.mean(axis=0)
    y_obs = truth + sigma * rng.standard_normal(truth.shape)
    return dict(t_obs=t_obs, y_obs=y_obs, sigma=sigma)


class UDEMember(eqx.Module):
    """One member's trainable part: the missing-terms network and its initial state.

    The first observation is as noisy as the others, so each member fits its own initial
    state `u0 = y_obs[0] + initial_state_prior * sigma * z`; with anchoring, the
    standard-normal draw of `z` at initialisation is that member's prior sample
    (randomised MAP sampling, Pearce et al. 2020), so the members' initial states spread
    as the data allow.
    """

    network: eqx.Module
    z: Float[Array, " 2"]

    def __call__(self, u: Float[Array, " 2"]) -> Float[Array, " 2"]:
        """The learned missing terms at state `u`."""
        return self.network(u)


class UDESetup(eqx.Module):
    """Everything that turns an [`sciml.uq.EnsembleMember`][] into its UDE: fixed settings only.

    All fields are static Python numbers, so the member loss hashes alike across calls and
    `sciml.train.fit` compiles its step once.
    """

    y_start: tuple[float, float] = eqx.field(static=True)
    sigma: tuple[float, float] = eqx.field(static=True)
    initial_state_prior: float = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)

    def __init__(
        self,
        y_start: Sequence[float],
        sigma: Sequence[float],
        initial_state_prior: float,
        rtol: float,
        atol: float,
        max_steps: int,
    ):
        """**Arguments:** the first observation, the noise standard deviation per state, the
        initial-state prior's width in units of `sigma`, the solver tolerances and step limit."""
        self.y_start = tuple(float(v) for v in y_start)
        self.sigma = tuple(float(v) for v in sigma)
        self.initial_state_prior = float(initial_state_prior)
        self.rtol, self.atol, self.max_steps = float(rtol), float(atol), int(max_steps)

    def ode(self, member: uq.EnsembleMember) -> ODEModel:
        """`du/dt = (a x, -d y) + member(u)`: known growth and decay plus the learned terms."""
        known = PhysicsVectorField(known_terms, {"a": TRUE["a"], "d": TRUE["d"]})
        controller = diffrax.PIDController(rtol=self.rtol, atol=self.atol)
        return ODEModel(
            HybridVectorField(known, NeuralVectorField(member)),
            diffrax.Tsit5(),
            controller,
            max_steps=self.max_steps,
            name="Lotka-Volterra UDE member",
        )

    def initial_state(self, member: uq.EnsembleMember) -> Float[Array, " 2"]:
        """The member's fitted initial state."""
        z = member.model.z
        return jnp.asarray(self.y_start, z.dtype) + self.initial_state_prior * jnp.asarray(self.sigma, z.dtype) * z

    def solve(self, member: uq.EnsembleMember, ts: Float[Array, " n"]) -> ODESolution:
        """The member's trajectory at `ts`, with `throw=False`: a failure is a result code."""
        return self.ode(member).solve(ts, self.initial_state(member), throw=False)

    def __call__(self, member: uq.EnsembleMember, batch: dict[str, Array], key: PRNGKeyArray) -> Float[Array, ""]:
        """The member loss: the (bootstrap-weighted) Gaussian negative log-likelihood of the data.

        Per observation time `0.5 * sum_j ((u_j(t) - y_j) / sigma_j)^2`, averaged with the
        member's weights; the per-sample mean makes `anchor_weight = 1` of
        [`sciml.uq.EnsembleLoss`][] the exact MAP objective.
        """
        del key
        sol = self.solve(member, batch["t"])
        r = (sol.ys - batch["y"]) / jnp.asarray([self.sigma], sol.ys.dtype)
        per_time = 0.5 * jnp.sum(r**2, axis=1)
        weights = batch.get("weights")
        return jnp.mean(per_time if weights is None else weights * per_time)


def network_config(config: Config, data: dict[str, np.ndarray]) -> dict:
    """The `sciml.nn` MLP configuration of the missing terms (inputs standardised by the data)."""
    y_obs = data["y_obs"]
    return dict(
        in_size=2,
        out_size=2,
        width=config.width,
        depth=config.depth,
        activation=config.activation,
        input_mean=y_obs.mean(axis=0).tolist(),
        input_std=y_obs.std(axis=0).tolist(),
    )


def ensemble_spec(config: Config, data: dict[str, np.ndarray]) -> dict:
    """The `sciml.uq.build_ensemble` specification of the saved ensemble of missing-term networks."""
    net = network_config(config, data)
    return dict(
        num_members=config.members,
        architecture="mlp",
        config=net,
        prior=None if config.prior_scale == 0 else {"architecture": "mlp", "config": net},
        prior_scale=config.prior_scale,
        anchored=config.anchored,
    )


def build_ensemble(config: Config, data: dict[str, np.ndarray], key: PRNGKeyArray) -> uq.Ensemble:
    """K members, each a network, an initial-state offset and (optionally) a fixed prior network."""
    net = network_config(config, data)
    dtype = jnp.zeros(()).dtype

    def make_model(k):
        net_key, z_key = jr.split(k)
        return UDEMember(sciml.nn.build("mlp", key=net_key, **net), jr.normal(z_key, (2,), dtype))

    make_prior = None if config.prior_scale == 0 else (lambda k: sciml.nn.build("mlp", key=k, **net))
    return uq.Ensemble(
        make_model,
        config.members,
        key=key,
        make_prior=make_prior,
        prior_scale=config.prior_scale,
        anchored=config.anchored,
    )


def networks_only(ensemble: uq.Ensemble) -> uq.Ensemble:
    """The ensemble with each member's model reduced to its network: the structure of
    `sciml.uq.build_ensemble(ensemble_spec(...))`, so it reloads from its metadata alone."""
    parts = lambda e: (e.members.model, e.anchors, e.anchor_variances)
    anchors = None if ensemble.anchors is None else ensemble.anchors.network
    variances = None if ensemble.anchor_variances is None else ensemble.anchor_variances.network
    return eqx.tree_at(
        parts, ensemble, (ensemble.members.model.network, anchors, variances), is_leaf=lambda x: x is None
    )


def setup_for(config: Config, data: dict[str, np.ndarray]) -> UDESetup:
    """The member loss and solver settings of a configuration and its data."""
    return UDESetup(
        data["y_obs"][0], data["sigma"], config.initial_state_prior, config.rtol, config.atol, config.max_steps
    )


def train(config: Config, data: dict[str, np.ndarray], key: PRNGKeyArray, ctx: RunContext | None = None):
    """Builds and trains the ensemble in one compiled step; returns `(FitResult, UDESetup)`."""
    dtype = jnp.zeros(()).dtype
    init_key, weight_key, fit_key = jr.split(key, 3)
    ensemble = build_ensemble(config, data, init_key)
    n = config.n_obs
    train_data = {"t": jnp.asarray(data["t_obs"], dtype), "y": jnp.asarray(data["y_obs"], dtype)}
    if config.bootstrap != "none":
        train_data["weights"] = uq.bootstrap_weights(weight_key, n, config.members, kind=config.bootstrap)
    setup = setup_for(config, data)
    loss = uq.EnsembleLoss(setup, data_size=n)
    checkpointing = (
        None if ctx is None else Checkpointing(ctx.checkpoint_dir, every=config.checkpoint_every, resume=ctx.resume)
    )
    optimizer = {
        "name": "adam",
        "learning_rate": config.learning_rate,
        "schedule": "cosine",
        "end_learning_rate": config.learning_rate / 10,
    }
    result = uq.fit_ensemble(
        ensemble,
        loss,
        train_data,
        make_optimizer(optimizer, steps=config.steps),
        steps=config.steps,
        key=fit_key,
        checkpointing=checkpointing,
        logging=Logging(quiet=ctx is None or ctx.quiet, desc="UDE ensemble"),
    )
    return result, setup


@eqx.filter_jit
def forecast(ensemble: uq.Ensemble, setup: UDESetup, ts: Float[Array, " n"]) -> ODESolution:
    """Every member's trajectory at `ts`, one vmapped solve; per-member result codes."""
    return ensemble.map(setup.solve, ts)


def band(means: np.ndarray, used: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Mean, standard deviation and Gaussian 90% band of the used members' trajectories.

    The members are K samples of the trajectory: the band is the moment-matched Gaussian
    `mean +- 1.645 std` (the deep-ensemble predictive), not the range of a handful of
    members, whose empirical 5% and 95% quantiles would be the extremes. `cdf` is the
    truth's PIT value under that Gaussian.
    """
    p = uq.Predictive(jnp.asarray(np.where(used[:, None, None], means, 0.0)), weights=jnp.asarray(used, float))
    mean, std = np.asarray(p.mean, np.float64), np.asarray(p.epistemic_std, np.float64)
    cdf = scipy.stats.norm.cdf(truth, mean, np.maximum(std, 1e-30))
    return dict(mean=mean, std=std, lower=mean - _Z90 * std, upper=mean + _Z90 * std, cdf=cdf)


def window_scores(truth: np.ndarray, b: dict[str, np.ndarray], mask: np.ndarray, scale: np.ndarray) -> dict:
    """Coverage of the true trajectory by the 90% band and the band's mean width on a window.

    Widths are per state component divided by that component's mean over the data window
    (`scale`), then averaged over components, so prey and predator count alike.
    """
    inside = (truth[mask] >= b["lower"][mask]) & (truth[mask] <= b["upper"][mask])
    width = (b["upper"][mask] - b["lower"][mask]) / scale
    error = relative_l2(b["mean"][mask], truth[mask])
    return dict(coverage_90=float(np.mean(inside)), width_90=float(np.mean(width)), mean_rel_l2=float(error))


def _plot_bands(t, truth, b, members, used, data, t_end) -> Figure:
    fig = Figure(figsize=(9, 6), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for i, (ax, name) in enumerate(zip(axes, ("prey x", "predator y"))):
        ax.axvspan(0, t_end, color="0.93", label="data window")
        ax.fill_between(t, b["lower"][:, i], b["upper"][:, i], color="C0", alpha=0.3, lw=0, label="90% band")
        for k in np.flatnonzero(used):
            ax.plot(t, members[k, :, i], color="C0", lw=0.5, alpha=0.5)
        ax.plot(t, truth[:, i], "k-", lw=1.8, label="truth (scipy)")
        ax.plot(t, b["mean"][:, i], "C3--", lw=1.2, label="ensemble mean")
        ax.plot(data["t_obs"], data["y_obs"][:, i], "ko", ms=3, label="observations")
        top = 1.6 * truth[:, i].max()
        ax.set_ylim(-0.3 * top, top)
        ax.set_ylabel(name)
    axes[0].legend(ncol=5, fontsize=8, loc="upper left")
    axes[1].set_xlabel("t")
    fig.suptitle(f"UDE ensemble ({int(used.sum())} members): fit on [0, {t_end:g}], forecast beyond")
    return fig


def _plot_width(t, width, t_end) -> Figure:
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    ax.axvspan(0, t_end, color="0.93", label="data window")
    for i, name in enumerate(("prey x", "predator y")):
        ax.semilogy(t, np.maximum(width[:, i], 1e-12), label=name)
    ax.set_xlabel("t")
    ax.set_ylabel("90% band width / state mean on data window")
    ax.legend(fontsize=8)
    return fig


def run(config: Config, ctx: RunContext) -> dict[str, object]:
    """Generates the data, trains the ensemble, forecasts, scores the bands, writes every output."""
    data = make_data(ctx.rng("data"), config)
    result, setup = train(config, data, ctx.key, ctx)
    ensemble = result.model

    dtype = jnp.zeros(()).dtype
    t = np.linspace(0.0, config.t_forecast, config.n_eval)
    sol = forecast(ensemble, setup, jnp.asarray(t, dtype))
    failures = sol.failures()
    used = np.asarray(sol.ok)
    ctx.log(
        f"{int(used.sum())} of {config.members} members solved to t = {config.t_forecast:g}"
        + "".join(f"\n  member {k} failed: {msg.splitlines()[0]}" for k, msg in failures.items())
    )
    members = np.asarray(sol.ys, dtype=np.float64)
    truth = reference(t)
    in_data = t <= config.t_end + 1e-9
    scale = truth[in_data].mean(axis=0)

    metrics: dict[str, object] = dict(
        members=config.members,
        members_used=int(used.sum()),
        members_failed=sorted(failures),
        failure_messages={str(k): m.splitlines()[0] for k, m in failures.items()},
    )
    b = None
    if used.any():
        b = band(members, used, truth)
        data_scores = window_scores(truth, b, in_data, scale)
        extra_scores = window_scores(truth, b, ~in_data, scale)
        near = ~in_data & (t <= config.t_end + config.near_horizon + 1e-9)
        metrics.update({f"data_{k}": v for k, v in data_scores.items()})
        metrics.update({f"near_{k}": v for k, v in window_scores(truth, b, near, scale).items()})
        metrics.update({f"forecast_{k}": v for k, v in extra_scores.items()})
        metrics["width_ratio"] = extra_scores["width_90"] / data_scores["width_90"]
        width = (b["upper"] - b["lower"]) / scale
        for tw in sorted({config.t_end, 0.5 * (config.t_end + config.t_forecast), config.t_forecast}):
            metrics[f"width_90_at_t{tw:g}"] = float(width[np.argmin(np.abs(t - tw))].mean())
        # Coverage over time: until when does the band still hold the truth?
        inside = np.all((truth >= b["lower"]) & (truth <= b["upper"]), axis=1)
        first_miss = np.flatnonzero(~inside & ~in_data)
        metrics["first_miss_after_data"] = float(t[first_miss[0]]) if first_miss.size else None
    u0 = np.asarray(eqx.filter_vmap(setup.initial_state)(ensemble.members))
    obs_error = math.inf
    if used.any():
        at_obs = np.stack(
            [np.stack([np.interp(data["t_obs"], t, m[:, i]) for i in range(2)], axis=1) for m in members[used]]
        )
        obs_error = float(np.sqrt(np.mean((at_obs - data["y_obs"]) ** 2)))
    metrics.update(
        fit_rmse_observations=obs_error,
        initial_states=u0.tolist(),
        parameters=count_parameters(ensemble.member(0).model.network)["trainable"],
        final_loss=float(result.losses[-1]) / config.members,
    )

    zeros = np.zeros_like(truth)
    ctx.write_predictions(
        t=t,
        y_true=truth,
        member_ys=np.where(np.isfinite(members), members, np.nan),
        used=used,
        mean=zeros if b is None else b["mean"],
        std=zeros if b is None else b["std"],
        lower_90=zeros if b is None else b["lower"],
        upper_90=zeros if b is None else b["upper"],
        t_obs=data["t_obs"],
        y_obs=data["y_obs"],
        sigma=data["sigma"],
        initial_states=u0,
    )
    spec = ensemble_spec(config, data)
    ctx.save_model(
        networks_only(ensemble),
        ensemble=spec,
        initial_states=u0.tolist(),
        known_terms="a x, -d y",
        known_parameters={"a": TRUE["a"], "d": TRUE["d"]},
        call="member(u) with u = (x, y): the missing terms; du/dt = (a x, -d y) + member(u), u(0) = initial_states[k]",
    )
    if b is not None:
        ctx.savefig(_plot_bands(t, truth, b, members, used, data, config.t_end), "bands.png")
        ctx.savefig(_plot_width(t, (b["upper"] - b["lower"]) / scale, config.t_end), "band_width.png")
        ctx.savefig(
            uq.plot_calibration({"data window": b["cdf"][in_data], "forecast window": b["cdf"][~in_data]}),
            "calibration.png",
        )
    ctx.save_training_curves(result.losses / config.members, result.history)
    return metrics


def replot(ctx: RunContext) -> None:
    """Redraws every plot of a finished run in `ctx.out` from `predictions.npz`, `metrics.json` and its final
    checkpoint (the band plots only where a member solved, as the run draws them)."""
    import json  # here, not at the top: keeps this hook's diff in one place

    config = json.loads((ctx.out / "metrics.json").read_text())["config"]
    with np.load(ctx.out / "predictions.npz") as p:
        t, truth, members, used = p["t"], p["y_true"], p["member_ys"], p["used"]
        data = {"t_obs": p["t_obs"], "y_obs": p["y_obs"]}
    if used.any():
        in_data = t <= config["t_end"] + 1e-9
        b = band(members, used, truth)
        ctx.savefig(_plot_bands(t, truth, b, members, used, data, config["t_end"]), "bands.png")
        scale = truth[in_data].mean(axis=0)
        ctx.savefig(_plot_width(t, (b["upper"] - b["lower"]) / scale, config["t_end"]), "band_width.png")
        ctx.savefig(
            uq.plot_calibration({"data window": b["cdf"][in_data], "forecast window": b["cdf"][~in_data]}),
            "calibration.png",
        )
    pointer = json.loads((ctx.checkpoint_dir / "checkpoint.json").read_text())
    ctx.save_training_curves(np.asarray(pointer["losses"]) / config["members"], pointer["history"])


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.lotka_volterra_ensemble [--quick] [--out DIR] ...`, as `sciml run` does."""
    from sciml.study import main as run_main

    return run_main("lotka_volterra_ensemble", argv)


if __name__ == "__main__":
    raise SystemExit(main())
