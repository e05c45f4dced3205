r"""Bayesian deep ensemble on 1D heteroscedastic regression with a gap, against MC dropout.

**Data.** Observations $y = f(x) + \sigma(x)\,\varepsilon$, $\varepsilon \sim N(0, 1)$, with

$$ f(x) = \sin(1.5\,x) + 0.3\,x, \qquad \sigma(x) = 0.05 + 0.25\,(x / 3)^2 . $$

Training inputs uniform on $[-3, -g] \cup [g, 3]$ ($g = 0.9$); test inputs uniform on $[-5, 5]$: in the
training support ("in-distribution"), in the gap $|x| < g$, and outside the data $|x| > 3$.

**Models.** An [`sciml.uq.Ensemble`][] of K MLPs (SiLU, Gaussian heads) with fixed random prior networks
(Osband et al. 2018), anchored to their initial draws (Pearce et al. 2020), each on its own Bayesian-bootstrap
weighting, trained together (`sciml.uq.fit_ensemble`) on the Gaussian negative log-likelihood. Baseline: MC
dropout (Gal & Ghahramani 2016), one MLP of the same size, `n_mc` passes (`sciml.uq.mc_dropout_predict`).

**Independent reference.** $f$ and $\sigma$ are known: the predicted mean is compared with $f$, the aleatoric
std with $\sigma$, and the scores with those of the true predictive $N(f(x), \sigma(x)^2)$.

**Default budget** (float32): 400 training points, K = 8 members of width 64 and depth 2, 3000 full-batch Adam
steps for each method; under a minute on a 2-core CPU. **Expected accuracy** (in-distribution test points):
ensemble 90% coverage 0.88-0.91 (required within [0.85, 0.95]), CRPS about 0.10 (true predictive 0.096-0.100),
epistemic std in the gap and outside 6-8 times that in the data (required > 1.5); MC dropout scores alike but
is underconfident. Per-seed figures: `problems/RESULTS.md`. `--quick`: 150 points, 4 small members, 300 steps.

**Outputs.** `metrics.json` metrics, for the ensemble and (prefix `mc_`) MC dropout on the in-distribution
points: `nll`, `gaussian_nll`, `crps`, `rmse`, `calibration_error`, `coverage_50`, `coverage_90`,
`coverage_95`, `width_50`, `width_90`, `width_95`, and `gap_nll`, `gap_coverage_90`, `outside_nll`,
`outside_coverage_90`; then `mean_rmse_vs_truth`, `aleatoric_rel_error`, `reference_nll`, `reference_crps`,
`reference_width_90`, `epistemic_std_data`, `epistemic_std_gap`, `epistemic_std_outside`,
`epistemic_gap_ratio`, `epistemic_outside_ratio`, `epistemic_grows` (both above `min_epistemic_ratio`), `mc_`
versions of the ratios, `coverage_90_ok`, `members`, `parameters`.
`model.eqx` + `model.json`: the ensemble (`sciml.uq.load_ensemble("model.eqx")`).
`predictions.npz`: `x` (n,), `y` (n,), `mean` (n,) and `std` (n,) (total), `epistemic_std` (n,),
`aleatoric_std` (n,), `in_gap` (n,), `outside` (n,), `true_mean` (n,) $f(x)$, `true_std` (n,) $\sigma(x)$,
`mc_mean` (n,), `mc_std` (n,), `member_means` (K, n), `x_train` (m,), `y_train` (m,).
Plots: `bands.png`, `calibration.png`, `training.png`, `training_mc_dropout.png`.
"""

import dataclasses
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, Float, Int
from matplotlib.figure import Figure

import sciml.nn
import sciml.uq as uq
from sciml.study import plot_history, RunContext
from sciml.train import Checkpointing, count_parameters, fit, Logging, make_optimizer


DESCRIPTION = "Bayesian MLP ensemble (priors, anchors, bootstrap) vs MC dropout on 1D heteroscedastic data with a gap"
# The metrics problems/RESULTS.md and the README show.
HEADLINE = ("coverage_90", "crps", "calibration_error", "epistemic_gap_ratio", "mc_coverage_90")


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    n_train: int = 400  # training points
    n_test: int = 4000  # test points, uniform on [-test_range, test_range]
    gap: float = 0.9  # half-width g of the gap [-g, g] without training data
    data_range: float = 3.0  # training inputs lie in [-data_range, -gap] and [gap, data_range]
    test_range: float = 5.0  # test inputs span [-test_range, test_range] (beyond data_range: outside the data)
    members: int = 8  # ensemble members (MLPs with Gaussian heads)
    width: int = 64  # hidden units per layer of each MLP
    depth: int = 2  # hidden layers of each MLP
    activation: str = "silu"  # activation of the MLPs (a sciml.nn activation name)
    prior_scale: float = 1.0  # scale of each member's fixed random prior network (0: none)
    anchored: bool = True  # anchored ensemble: each member is regularised towards its own initial draw
    bootstrap: str = "bayesian"  # member weighting of the data: bayesian, multinomial, poisson or none
    steps: int = 3000  # full-batch Adam steps (cosine decay), for the ensemble and for MC dropout alike
    learning_rate: float = 3e-3  # Adam's peak learning rate (decays to a tenth)
    dropout: float = 0.1  # dropout rate of the MC-dropout baseline MLP
    n_mc: int = 100  # MC-dropout forward passes
    min_epistemic_ratio: float = 1.5  # epistemic std ratio (gap and outside over data) above which epistemic_grows
    checkpoint_every: int = 1000  # steps between checkpoints

    def __post_init__(self):
        if not 0 < self.gap < self.data_range < self.test_range:
            raise ValueError(
                f"need 0 < gap < data_range < test_range, got {self.gap}, {self.data_range}, {self.test_range}"
            )
        if min(self.n_train, self.n_test, self.members, self.width, self.steps, self.n_mc, self.checkpoint_every) < 1:
            raise ValueError("n_train, n_test, members, width, steps, n_mc and checkpoint_every must be >= 1")
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")
        if not 0 < self.dropout < 1:
            raise ValueError(f"dropout must be in (0, 1), got {self.dropout}")
        if self.bootstrap not in ("none", "bayesian", "multinomial", "poisson"):
            raise ValueError(f"bootstrap must be none, bayesian, multinomial or poisson, got {self.bootstrap!r}")


QUICK = dict(n_train=150, n_test=600, members=4, width=32, steps=300, n_mc=20, checkpoint_every=100)


def true_mean(x: np.ndarray) -> np.ndarray:
    """The generating function $f(x) = \\sin(1.5 x) + 0.3 x$."""
    return np.sin(1.5 * x) + 0.3 * x


def true_std(x: np.ndarray, data_range: float = 3.0) -> np.ndarray:
    """The noise standard deviation $\\sigma(x) = 0.05 + 0.25 (x / 3)^2$."""
    return 0.05 + 0.25 * (x / data_range) ** 2


def make_data(rng: np.random.Generator, config: Config) -> dict[str, np.ndarray]:
    """Training points with a gap, and test points over the wider range with region flags."""
    n = config.n_train
    side = rng.choice([-1.0, 1.0], n)
    x_train = side * rng.uniform(config.gap, config.data_range, n)
    y_train = true_mean(x_train) + true_std(x_train, config.data_range) * rng.standard_normal(n)
    x_test = np.sort(rng.uniform(-config.test_range, config.test_range, config.n_test))
    y_test = true_mean(x_test) + true_std(x_test, config.data_range) * rng.standard_normal(config.n_test)
    in_gap = np.abs(x_test) < config.gap
    outside = np.abs(x_test) > config.data_range
    return dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, in_gap=in_gap, outside=outside)


def _model_config(config: Config, data_range: float) -> dict:
    # Inputs scaled to about unit range; two outputs, the mean and the raw variance.
    return dict(
        in_size=1,
        out_size=2,
        width=config.width,
        depth=config.depth,
        activation=config.activation,
        input_mean=[0.0],
        input_std=[data_range / 2],
    )


def ensemble_spec(config: Config) -> dict:
    """The `sciml.uq.build_ensemble` specification of the problem's ensemble."""
    prior_config = dict(_model_config(config, config.data_range), out_size=1)
    return dict(
        num_members=config.members,
        architecture="mlp",
        config=_model_config(config, config.data_range),
        prior=None if config.prior_scale == 0 else {"architecture": "mlp", "config": prior_config},
        prior_scale=config.prior_scale,
        anchored=config.anchored,
        heteroscedastic=True,
    )


def train_ensemble(config: Config, data: dict[str, np.ndarray], key, ctx: RunContext | None = None):
    """Builds and trains the ensemble; returns the `FitResult` (its `model` is the ensemble)."""
    dtype = jnp.zeros(()).dtype
    init_key, weight_key, fit_key = jr.split(key, 3)
    ensemble = uq.build_ensemble(ensemble_spec(config), key=init_key)
    n = len(data["x_train"])
    train = {"x": jnp.asarray(data["x_train"][:, None], dtype), "y": jnp.asarray(data["y_train"][:, None], dtype)}
    if config.bootstrap != "none":
        train["weights"] = uq.bootstrap_weights(weight_key, n, config.members, kind=config.bootstrap)
    loss = uq.EnsembleLoss(uq.gaussian_nll_loss, data_size=n)
    checkpointing = (
        None
        if ctx is None
        else Checkpointing(ctx.checkpoint_dir / "ensemble", every=config.checkpoint_every, resume=ctx.resume)
    )
    return uq.fit_ensemble(
        ensemble,
        loss,
        train,
        _optimizer(config),
        steps=config.steps,
        key=fit_key,
        checkpointing=checkpointing,
        logging=Logging(quiet=ctx is None or ctx.quiet, desc="ensemble"),
    )


def _optimizer(config: Config) -> optax.GradientTransformation:
    return make_optimizer(
        {
            "name": "adam",
            "learning_rate": config.learning_rate,
            "schedule": "cosine",
            "end_learning_rate": config.learning_rate / 10,
        },
        steps=config.steps,
    )


def _mc_loss(member, batch, key) -> Float[Array, ""]:
    return uq.gaussian_nll_loss(member, batch, key)


def train_mc_dropout(config: Config, data: dict[str, np.ndarray], key, ctx: RunContext | None = None):
    """Trains the MC-dropout baseline (one heteroscedastic MLP with dropout)."""
    dtype = jnp.zeros(()).dtype
    init_key, fit_key = jr.split(key)
    mlp = sciml.nn.build("mlp", key=init_key, dropout=config.dropout, **_model_config(config, config.data_range))
    model = uq.EnsembleMember(mlp, heteroscedastic=True)
    train = {"x": jnp.asarray(data["x_train"][:, None], dtype), "y": jnp.asarray(data["y_train"][:, None], dtype)}
    checkpointing = (
        None
        if ctx is None
        else Checkpointing(ctx.checkpoint_dir / "mc_dropout", every=config.checkpoint_every, resume=ctx.resume)
    )
    return fit(
        model,
        _mc_loss,
        train,
        _optimizer(config),
        steps=config.steps,
        key=fit_key,
        checkpointing=checkpointing,
        logging=Logging(quiet=ctx is None or ctx.quiet, desc="mc dropout"),
    )


@eqx.filter_jit
def _predict(ensemble: uq.Ensemble, x: Float[Array, " n 1"]) -> uq.Predictive:
    return ensemble.predict(x)


@eqx.filter_jit
def _evaluate_jit(p: uq.Predictive, y: Float[Array, " n"], idx: Int[Array, " m"]):
    # One program per method: the per-point quantities on every test point and the
    # scores on the in-distribution ones (gathered by index, so shapes stay static).
    lower, upper = p.interval(0.9)
    points = dict(
        log_prob=p.log_prob(y),
        cdf=p.cdf(y),
        lower_90=lower,
        upper_90=upper,
        mean=p.mean,
        std=p.std,
        epistemic_std=p.epistemic_std,
        aleatoric_std=p.aleatoric_std,
    )
    sub = uq.Predictive(p.means[:, idx], p.variances[:, idx], p.weights)
    return points, uq.predictive_metrics(y[idx], sub)


def evaluate(p: uq.Predictive, y: np.ndarray, in_data: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Per test point: log-density, PIT value, 90% interval, mean and standard deviations;
    and the `sciml.uq.predictive_metrics` of the in-distribution points."""
    dtype = p.means.dtype
    points, scores = _evaluate_jit(p, jnp.asarray(y, dtype), jnp.asarray(np.flatnonzero(in_data)))
    return {k: np.asarray(v) for k, v in points.items()}, {k: float(v) for k, v in scores.items()}


def _squeeze(p: uq.Predictive) -> uq.Predictive:
    # One scalar output per input: drop the trailing output axis of size one.
    return uq.Predictive(p.means[..., 0], p.variances[..., 0], p.weights)


def epistemic_ratios(std: np.ndarray, in_gap: np.ndarray, outside: np.ndarray) -> dict[str, float]:
    """Mean epistemic std in the data, the gap and outside, and the two growth ratios."""
    in_data = ~in_gap & ~outside
    data_std, gap_std, out_std = (float(np.mean(std[m])) for m in (in_data, in_gap, outside))
    return dict(
        std_data=data_std,
        std_gap=gap_std,
        std_outside=out_std,
        gap_ratio=gap_std / data_std,
        outside_ratio=out_std / data_std,
    )


def _reference_scores(y: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> dict[str, float]:
    lower, upper = mu - 1.6448536269514722 * sigma, mu + 1.6448536269514722 * sigma
    return dict(
        reference_nll=float(uq.gaussian_nll(y, mu, sigma)),
        reference_crps=float(uq.crps_gaussian(y, mu, sigma)),
        reference_width_90=float(np.mean(upper - lower)),
    )


def _plot_bands(data, predictives: dict[str, dict[str, np.ndarray]], config: Config) -> Figure:
    x = data["x_test"]
    fig = Figure(figsize=(7.5, 3.6 * len(predictives)), layout="constrained")
    axes = fig.subplots(len(predictives), 1, squeeze=False)[:, 0]
    for ax, (name, p) in zip(axes, predictives.items()):
        mean, epi, total = p["mean"], p["epistemic_std"], p["std"]
        ax.axvspan(-config.gap, config.gap, color="grey", alpha=0.1, lw=0)
        ax.fill_between(
            x, mean - 2 * total, mean + 2 * total, color="tab:blue", alpha=0.18, lw=0, label="± 2 total std"
        )
        ax.fill_between(
            x, mean - 2 * epi, mean + 2 * epi, color="tab:blue", alpha=0.45, lw=0, label="± 2 epistemic std"
        )
        ax.scatter(data["x_train"], data["y_train"], s=4, color="black", alpha=0.5, label="training data")
        ax.plot(x, true_mean(x), color="tab:red", ls="--", lw=1.2, label="true f(x)")
        ax.plot(x, mean, color="tab:blue", lw=1.4, label="predictive mean")
        ax.set_ylim(-4, 4)
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend(loc="upper left", fontsize=7, ncol=3)
    return fig


def run(config: Config, ctx: RunContext) -> dict[str, object]:
    """Generates the data, trains the ensemble and MC dropout, scores both, writes every output."""
    data = make_data(ctx.rng("data"), config)
    ens_key, mc_key, pred_key = jr.split(ctx.key, 3)
    dtype = jnp.zeros(()).dtype

    ens_result = train_ensemble(config, data, ens_key, ctx)
    mc_result = train_mc_dropout(config, data, mc_key, ctx)
    ensemble = ens_result.model

    x_test = jnp.asarray(data["x_test"][:, None], dtype)
    ens_pred = _squeeze(_predict(ensemble, x_test))
    mc_pred = _squeeze(uq.mc_dropout_predict(mc_result.model, x_test, pred_key, config.n_mc))

    y, in_gap, outside = data["y_test"], data["in_gap"], data["outside"]
    in_data = ~in_gap & ~outside
    mu, sigma = true_mean(data["x_test"]), true_std(data["x_test"], config.data_range)

    def scores(p: uq.Predictive) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        points, out = evaluate(p, y, in_data)
        for region, mask in (("gap", in_gap), ("outside", outside)):
            out[f"{region}_nll"] = float(-np.mean(points["log_prob"][mask]))
            inside = (y[mask] >= points["lower_90"][mask]) & (y[mask] <= points["upper_90"][mask])
            out[f"{region}_coverage_90"] = float(np.mean(inside))
        return points, out

    (ens_points, ens_scores), (mc_points, mc_scores) = scores(ens_pred), scores(mc_pred)
    ens_ratios = epistemic_ratios(ens_points["epistemic_std"], in_gap, outside)
    mc_ratios = epistemic_ratios(mc_points["epistemic_std"], in_gap, outside)
    aleatoric = ens_points["aleatoric_std"]

    ctx.write_predictions(
        x=data["x_test"],
        y=y,
        mean=ens_points["mean"],
        std=ens_points["std"],
        epistemic_std=ens_points["epistemic_std"],
        aleatoric_std=aleatoric,
        in_gap=in_gap,
        outside=outside,
        true_mean=mu,
        true_std=sigma,
        mc_mean=mc_points["mean"],
        mc_std=mc_points["std"],
        member_means=np.asarray(ens_pred.means),
        x_train=data["x_train"],
        y_train=data["y_train"],
    )
    ctx.save_model(
        ensemble,
        ensemble=ensemble_spec(config),
        input="x of shape (1,)",
        output="per member: mean (1,) and softplus-variance (1,) halves",
    )
    ctx.savefig(
        _plot_bands(data, {"deep ensemble (prior, anchors, bootstrap)": ens_points, "MC dropout": mc_points}, config),
        "bands.png",
    )
    ctx.savefig(
        uq.plot_calibration({"ensemble": ens_points["cdf"][in_data], "MC dropout": mc_points["cdf"][in_data]}),
        "calibration.png",
    )
    ctx.save_training_curves(ens_result.losses / config.members, ens_result.history)
    title = f"{ctx.problem} MC dropout (seed {ctx.seed})"
    ctx.savefig(plot_history(mc_result.losses, mc_result.history, title=title), "training_mc_dropout.png")

    metrics: dict[str, object] = dict(ens_scores)
    metrics.update({f"mc_{k}": v for k, v in mc_scores.items()})
    metrics.update(
        mean_rmse_vs_truth=float(np.sqrt(np.mean((ens_points["mean"][in_data] - mu[in_data]) ** 2))),
        aleatoric_rel_error=float(np.mean(np.abs(aleatoric[in_data] / sigma[in_data] - 1))),
        **_reference_scores(y[in_data], mu[in_data], sigma[in_data]),
    )
    metrics.update({f"epistemic_{k}": v for k, v in ens_ratios.items()})
    metrics.update({f"mc_epistemic_{k}": v for k, v in mc_ratios.items() if k.endswith("ratio")})
    metrics.update(
        epistemic_grows=bool(min(ens_ratios["gap_ratio"], ens_ratios["outside_ratio"]) > config.min_epistemic_ratio),
        coverage_90_ok=bool(0.85 <= ens_scores["coverage_90"] <= 0.95),
        members=config.members,
        parameters=count_parameters(ensemble.member(0).model)["trainable"],
    )
    return metrics


def replot(ctx: RunContext) -> None:
    """Redraws `training.png` and `training_mc_dropout.png` of a finished run in `ctx.out` from its final
    checkpoints.

    `bands.png` and `calibration.png` are not redrawn: MC dropout's epistemic deviation and the
    predictive CDF values they show are not kept in the run's files.
    """
    import json  # here, not at the top: keeps this hook's diff in one place

    members = json.loads((ctx.out / "metrics.json").read_text())["config"]["members"]
    pointer = json.loads((ctx.checkpoint_dir / "ensemble" / "checkpoint.json").read_text())
    ctx.save_training_curves(np.asarray(pointer["losses"]) / members, pointer["history"])
    pointer = json.loads((ctx.checkpoint_dir / "mc_dropout" / "checkpoint.json").read_text())
    title = f"{ctx.problem} MC dropout (seed {ctx.seed})"
    ctx.savefig(plot_history(pointer["losses"], pointer["history"], title=title), "training_mc_dropout.png")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.ensemble_regression [--quick] [--out DIR] ...`, as `sciml run ensemble_regression`."""
    from sciml.study import main as run_main

    return run_main("ensemble_regression", argv)


if __name__ == "__main__":
    raise SystemExit(main())
