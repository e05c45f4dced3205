r"""FNO surrogate ensemble for 1D variable-coefficient diffusion, against MC dropout: error bars that track the error.

**Physics.** Steady diffusion with a random coefficient on $[0, 1]$:

$$ -\frac{d}{dx}\Big(k(x) \frac{du}{dx}\Big) = 1, \qquad u(0) = u(1) = 0, \qquad
\log k(x) = s \sum_{m=1}^{8} \frac{a_m \cos(m \pi x) + b_m \sin(m \pi x)}{m^{1.5}}, $$

$a_m, b_m \sim N(0, 1)$, amplitude $s$ uniform on $[0.2, 1.0]$ for training and $[0.2, 1.6]$ for testing
(`in_range` false beyond 1.0). The operator maps $\log k$ on the 66 grid nodes to $u$ on the same nodes.

**Independent reference.** The finite-volume solve of `sciml.pde.solve_diffusion` (harmonic face means, a
direct tridiagonal lineax solve, float64) on 64 interior nodes, checked against quadrature of the exact $u$.

**Model.** An [`sciml.uq.Ensemble`][] of K 1D FNOs (`"fno"`, grid coordinates as an extra channel), each on its
own Bayesian-bootstrap weighting of the data and anchored to its initial draw (Pearce et al. 2020;
`anchor_noise`), trained together by `sciml.uq.fit_ensemble` on the squared error of $u / u_{scale}$.
**Baseline: MC dropout** (Gal & Ghahramani 2016): one FNO with dropout rate `mc_dropout` trained by
`sciml.train.fit` on the same data and budget, sampled `mc_samples` times (`sciml.uq.mc_dropout_predict`).
**Measured** for both: per test sample the relative L2 error of the mean and the predicted relative std, their
Spearman correlation, and the pointwise coverage of the Gaussian 90% band and its calibration error.

**Default budget** (float32): 512 training and 256 test samples, K = 6 FNOs (width 12, depth 3, 8 modes),
2000 Adam steps of 32 samples. **Expected accuracy**: ensemble-mean relative L2 6.4-8.2% over all test samples
(about 3.4% in the training range), Spearman correlation of std and error about 0.9 (required > 0), 90% band
coverage 0.61-0.67; MC dropout is more accurate (4.9%) but ranks errors less well (0.76). Per-seed figures:
`problems/RESULTS.md`. `--quick`: 64 + 32 samples, 3 small members, 40 steps; not meaningful.

**Outputs.** `metrics.json` metrics: `test_rel_l2`, `test_rel_l2_in_range`, `test_rel_l2_beyond`,
`member_rel_l2`, `train_rel_l2`, `spearman_std_error`, `spearman_std_error_in_range`, `spearman_positive`,
`coverage_90`, `coverage_90_in_range`, `calibration_error`, `mean_predicted_std`, `members`, `parameters`,
`train_time_s`, `predict_time_s`; the same prefixed `mc_dropout_` (plus `mc_dropout_samples`).
`model.eqx` + `model.json`: the ensemble (`sciml.uq.load_ensemble("model.eqx")`) and `u_scale`; a member maps
`log k` (1, 66) to $u / u_{scale}$ (1, 66). `predictions.npz`: `x` (66,), `log_k` (m, 66), `u_true` (m, 66),
`mean` and `std` (m, 66), `member_u` (K, m, 66), `error` and `predicted_std` (m,), `mc_dropout_mean`,
`mc_dropout_std` (m, 66), `mc_dropout_error` and `mc_dropout_predicted_std` (m,), `amplitude` (m,),
`in_range` (m,). Plots: `examples.png`, `error_vs_std.png`, `calibration.png`, `training.png`,
`training_mc_dropout.png`.
"""

import dataclasses
import time
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import scipy.stats
from jaxtyping import Array, Float
from matplotlib.figure import Figure

import sciml.nn
import sciml.uq as uq
from sciml.pde import solve_diffusion
from sciml.study import plot_history, precision, RunContext
from sciml.train import Checkpointing, count_parameters, fit, Logging, make_optimizer, relative_l2


DESCRIPTION = (
    "FNO ensemble surrogate of 1D diffusion -(k u')' = 1 against MC dropout: error bars, "
    "Spearman(std, error), calibration"
)
# The metrics problems/RESULTS.md and the README show.
HEADLINE = (
    "test_rel_l2",
    "spearman_std_error",
    "coverage_90",
    "mc_dropout_test_rel_l2",
    "mc_dropout_spearman_std_error",
)

_Z90 = 1.6448536269514722  # the standard normal's 95% quantile


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    n: int = 64  # interior grid nodes of the 1D diffusion solve (the fields have n + 2 nodes)
    n_train: int = 512  # training samples
    n_test: int = 256  # test samples
    modes_field: int = 8  # Fourier modes m = 1..modes_field of the random log k
    decay: float = 1.5  # decay exponent of the log k modes (coefficients / m**decay)
    amplitude_train: float = 1.0  # largest amplitude s of the training log k (s uniform on [0.2, it])
    amplitude_test: float = 1.6  # largest amplitude s of the test log k (above amplitude_train: out of range)
    members: int = 6  # ensemble members (FNOs)
    modes: int = 8  # Fourier modes kept in each FNO layer
    width: int = 12  # channels of each FNO's Fourier layers
    depth: int = 3  # Fourier layers of each FNO
    projection_width: int = 24  # width of each FNO's output projection
    anchored: bool = True  # anchored ensemble: each member is regularised towards its own initial draw
    anchor_noise: float = 0.01  # assumed per-node noise sigma in units of u_scale (anchor weight 2 sigma^2)
    bootstrap: str = "bayesian"  # member weighting of the data: bayesian, multinomial, poisson or none
    steps: int = 2000  # Adam steps (cosine decay), for the ensemble and for MC dropout alike
    batch_size: int = 32  # samples per step
    learning_rate: float = 3e-3  # Adam's peak learning rate (decays to a twentieth)
    checkpoint_every: int = 500  # steps between checkpoints
    mc_dropout: float = 0.1  # dropout rate of the MC-dropout baseline FNO
    mc_samples: int = 64  # MC-dropout forward passes standing in for members

    def __post_init__(self):
        if self.n < 8 or self.modes_field < 1 or self.modes < 1:
            raise ValueError(
                f"diffusion_ensemble: need n >= 8, modes_field >= 1 and modes >= 1, got {self.n}, "
                f"{self.modes_field}, {self.modes}"
            )
        if self.members < 2:
            raise ValueError(f"diffusion_ensemble: an ensemble needs members >= 2, got {self.members}")
        if (
            min(
                self.n_train,
                self.n_test,
                self.width,
                self.depth,
                self.projection_width,
                self.steps,
                self.batch_size,
                self.checkpoint_every,
            )
            < 1
        ):
            raise ValueError("diffusion_ensemble: sizes, steps, batch_size and checkpoint_every must be >= 1")
        if self.batch_size > self.n_train:
            raise ValueError(f"diffusion_ensemble: batch_size {self.batch_size} exceeds n_train {self.n_train}")
        if not 0 < self.amplitude_train <= self.amplitude_test:
            raise ValueError(
                f"diffusion_ensemble: need 0 < amplitude_train <= amplitude_test, got "
                f"{self.amplitude_train}, {self.amplitude_test}"
            )
        if not self.anchor_noise > 0:
            raise ValueError(f"diffusion_ensemble: anchor_noise must be > 0, got {self.anchor_noise}")
        if self.n_test < 3:
            raise ValueError(f"diffusion_ensemble: n_test must be >= 3 for a rank correlation, got {self.n_test}")
        if not 0 < self.mc_dropout < 1:
            raise ValueError(f"diffusion_ensemble: mc_dropout must be in (0, 1), got {self.mc_dropout}")
        if self.mc_samples < 2:
            raise ValueError(f"diffusion_ensemble: mc_samples must be >= 2 for a spread, got {self.mc_samples}")
        if self.bootstrap not in ("none", "bayesian", "multinomial", "poisson"):
            raise ValueError(
                f"diffusion_ensemble: bootstrap must be none, bayesian, multinomial or poisson, got {self.bootstrap!r}"
            )


QUICK = dict(
    n_train=64,
    n_test=32,
    members=3,
    width=8,
    depth=2,
    projection_width=16,
    steps=40,
    batch_size=16,
    checkpoint_every=20,
    mc_samples=8,
)


def log_coefficients(rng: np.random.Generator, count: int, config: Config, amplitude_max: float) -> np.ndarray:
    """Random smooth log-coefficients on the full grid (`n + 2` nodes), and their amplitudes.

    `log k(x) = s * sum_m (a_m cos(m pi x) + b_m sin(m pi x)) / m^decay`, with standard
    normal `a_m, b_m` for `m = 1..modes_field` and a per-sample amplitude `s` uniform on
    `[0.2, amplitude_max]`, so a test set with `amplitude_max` above the training one holds
    rougher, higher-contrast coefficients than any training sample.
    """
    x = np.linspace(0.0, 1.0, config.n + 2)
    m = np.arange(1, config.modes_field + 1)
    a, b = rng.standard_normal((2, count, config.modes_field)) / m**config.decay
    s = rng.uniform(0.2, amplitude_max, count)
    basis_c, basis_s = np.cos(np.pi * m[:, None] * x), np.sin(np.pi * m[:, None] * x)
    return s[:, None] * (a @ basis_c + b @ basis_s), s


@eqx.filter_jit
def _solve_all(k: Float[Array, " batch full"]) -> Float[Array, " batch n"]:
    f = jnp.ones(k.shape[1] - 2, k.dtype)
    return jax.vmap(lambda kk: solve_diffusion(kk, f))(k)


def solutions(log_k: np.ndarray) -> np.ndarray:
    """The reference: `-(k u')' = 1` on [0, 1], `u(0) = u(1) = 0`, by the finite-volume solve
    (`sciml.pde.solve_diffusion`, a direct tridiagonal lineax solve) in float64, on
    the full grid with the boundary zeros."""
    with precision("float64"):
        u = np.asarray(_solve_all(jnp.asarray(np.exp(log_k), jnp.float64)))
    return np.pad(u, ((0, 0), (1, 1)))


def make_data(rng: np.random.Generator, config: Config) -> dict[str, np.ndarray]:
    """Training and test coefficients and reference solutions."""
    log_k_train, s_train = log_coefficients(rng, config.n_train, config, config.amplitude_train)
    log_k_test, s_test = log_coefficients(rng, config.n_test, config, config.amplitude_test)
    # One batch of solves: each new batch size would compile the solve again.
    u = solutions(np.concatenate([log_k_train, log_k_test]))
    return dict(
        log_k_train=log_k_train,
        u_train=u[: config.n_train],
        s_train=s_train,
        log_k_test=log_k_test,
        u_test=u[config.n_train :],
        s_test=s_test,
    )


def fno_config(config: Config) -> dict:
    """The `sciml.nn` registry configuration of one member: a 1D FNO with the grid as extra input."""
    return dict(
        num_spatial_dims=1,
        in_channels=1,
        out_channels=1,
        modes=config.modes,
        width=config.width,
        depth=config.depth,
        projection_width=config.projection_width,
        grid_features=True,
    )


def ensemble_spec(config: Config) -> dict:
    """The `sciml.uq.build_ensemble` specification: K members of `fno_config`."""
    return dict(num_members=config.members, architecture="fno", config=fno_config(config), anchored=config.anchored)


def _optimizer(config: Config) -> optax.GradientTransformation:
    return make_optimizer(
        {
            "name": "adam",
            "learning_rate": config.learning_rate,
            "schedule": "cosine",
            "end_learning_rate": config.learning_rate / 20,
        },
        steps=config.steps,
    )


def _train_data(config: Config, data: dict[str, np.ndarray], u_scale: float) -> dict[str, Array]:
    dtype = jnp.zeros(()).dtype
    return {
        "x": jnp.asarray(data["log_k_train"][:, None], dtype),
        "y": jnp.asarray(data["u_train"][:, None] / u_scale, dtype),
    }


def train(config: Config, data: dict[str, np.ndarray], u_scale: float, key, ctx: RunContext | None = None):
    """Trains the ensemble on `log k -> u / u_scale` in one compiled step per batch."""
    init_key, weight_key, fit_key = jr.split(key, 3)
    ensemble = uq.build_ensemble(ensemble_spec(config), key=init_key)
    n = config.n_train
    train_data = _train_data(config, data, u_scale)
    if config.bootstrap != "none":
        train_data["weights"] = uq.bootstrap_weights(weight_key, n, config.members, kind=config.bootstrap)
    # The squared error is the Gaussian NLL times 2 sigma^2 for a per-entry noise sigma (in
    # units of u_scale), so anchor_weight = 2 sigma^2 keeps anchoring the MAP prior term.
    loss = uq.EnsembleLoss(uq.squared_error_loss, data_size=n, anchor_weight=2 * config.anchor_noise**2)
    checkpointing = (
        None if ctx is None else Checkpointing(ctx.checkpoint_dir, every=config.checkpoint_every, resume=ctx.resume)
    )
    return uq.fit_ensemble(
        ensemble,
        loss,
        train_data,
        _optimizer(config),
        steps=config.steps,
        key=fit_key,
        batch_size=config.batch_size,
        checkpointing=checkpointing,
        logging=Logging(quiet=ctx is None or ctx.quiet, desc="FNO ensemble"),
    )


def train_mc_dropout(config: Config, data: dict[str, np.ndarray], u_scale: float, key, ctx: RunContext | None = None):
    """Trains the MC-dropout baseline: one member-sized FNO with dropout, on the ensemble's
    data, loss (without bootstrap weights or anchoring), optimizer and steps."""
    init_key, fit_key = jr.split(key)
    model = sciml.nn.build("fno", key=init_key, dropout=config.mc_dropout, **fno_config(config))
    checkpointing = (
        None
        if ctx is None
        else Checkpointing(ctx.checkpoint_dir / "mc_dropout", every=config.checkpoint_every, resume=ctx.resume)
    )
    return fit(
        model,
        uq.squared_error_loss,
        _train_data(config, data, u_scale),
        _optimizer(config),
        steps=config.steps,
        key=fit_key,
        batch_size=config.batch_size,
        checkpointing=checkpointing,
        logging=Logging(quiet=ctx is None or ctx.quiet, desc="FNO MC dropout"),
    )


@eqx.filter_jit
def _predict(ensemble: uq.Ensemble, x: Float[Array, " batch 1 full"]) -> Float[Array, " members batch full"]:
    return ensemble.predict(x).means[:, :, 0]


def per_sample_scores(members: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per test sample: the ensemble mean's relative L2 error and the predicted relative std.

    `predicted_std` is the root-mean-square over the grid of the members' standard
    deviation, divided by the norm of the ensemble mean (so both quantities are relative).
    """
    mean, std = members.mean(axis=0), members.std(axis=0, ddof=1)
    error = relative_l2(mean, truth, axis=1)
    predicted = np.linalg.norm(std, axis=1) / np.linalg.norm(mean, axis=1)
    return dict(mean=mean, std=std, error=error, predicted_std=predicted)


def score(
    samples: np.ndarray, data: dict[str, np.ndarray], config: Config
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, object]]:
    """Every accuracy and uncertainty metric of a set of predictions, for either method.

    `samples` (S, n_train + n_test, n + 2), in units of u, are the training then test
    predictions of the S ensemble members or of the S MC-dropout passes, so both methods
    are scored by one code path. Returns the test `per_sample_scores`, the pointwise PIT
    values on the interior nodes and the metrics (unprefixed names).
    """
    samples_train, samples_test = samples[:, : config.n_train], samples[:, config.n_train :]
    truth = data["u_test"]
    scores = per_sample_scores(samples_test, truth)
    in_range = data["s_test"] <= config.amplitude_train

    def spearman(mask):
        return float(scipy.stats.spearmanr(scores["predicted_std"][mask], scores["error"][mask]).statistic)

    # Pointwise calibration on the interior nodes (the boundary values are exact zeros).
    interior = slice(1, -1)
    mean, std = scores["mean"][:, interior], np.maximum(scores["std"][:, interior], 1e-30)
    pit = scipy.stats.norm.cdf(truth[:, interior], mean, std)
    lower, upper = mean - _Z90 * std, mean + _Z90 * std
    inside = (truth[:, interior] >= lower) & (truth[:, interior] <= upper)
    rho = spearman(np.ones_like(in_range))
    train_error = relative_l2(samples_train.mean(axis=0), data["u_train"], axis=1)
    sample_errors = relative_l2(samples_test, np.broadcast_to(truth, samples_test.shape), axis=2)
    metrics: dict[str, object] = dict(
        test_rel_l2=float(np.mean(scores["error"])),
        test_rel_l2_in_range=float(np.mean(scores["error"][in_range])),
        test_rel_l2_beyond=float(np.mean(scores["error"][~in_range])) if (~in_range).any() else None,
        member_rel_l2=float(np.mean(sample_errors)),
        train_rel_l2=float(np.mean(train_error)),
        spearman_std_error=rho,
        spearman_std_error_in_range=spearman(in_range) if in_range.sum() >= 3 else None,
        spearman_positive=bool(rho > 0),
        coverage_90=float(np.mean(inside)),
        coverage_90_in_range=float(np.mean(inside[in_range])),
        calibration_error=float(uq.calibration_error(jnp.asarray(pit))),
        mean_predicted_std=float(np.mean(scores["predicted_std"])),
    )
    return scores, pit, metrics


def _plot_examples(x, data, scores, members, order, mc_scores) -> Figure:
    fig = Figure(figsize=(10, 6), layout="constrained")
    axes = fig.subplots(2, 3)
    picks = [order[0], order[len(order) // 2], order[-1]]
    for j, i in enumerate(picks):
        ax = axes[0, j]
        mean, std = scores["mean"][i], scores["std"][i]
        ax.fill_between(x, mean - 2 * std, mean + 2 * std, color="C0", alpha=0.3, lw=0, label="ensemble ± 2 std")
        mc_mean, mc_std = mc_scores["mean"][i], mc_scores["std"][i]
        ax.fill_between(
            x, mc_mean - 2 * mc_std, mc_mean + 2 * mc_std, color="C1", alpha=0.25, lw=0, label="MC dropout ± 2 std"
        )
        for m in members[:, i]:
            ax.plot(x, m, color="C0", lw=0.5, alpha=0.5)
        ax.plot(x, data["u_test"][i], "k-", lw=1.2, label="reference")
        ax.plot(x, mean, "C3--", lw=1, label="ensemble mean")
        ax.plot(x, mc_mean, "C1:", lw=1, label="MC dropout mean")
        ax.set_title(
            f"test {i}: error {scores['error'][i]:.2%}, std {scores['predicted_std'][i]:.2%}\n"
            f"MC dropout: error {mc_scores['error'][i]:.2%}, std {mc_scores['predicted_std'][i]:.2%}",
            fontsize=8,
        )
        axes[1, j].plot(x, data["log_k_test"][i], "C2-")
        axes[1, j].set_xlabel("x")
    axes[0, 0].set_ylabel("u")
    axes[1, 0].set_ylabel("log k")
    axes[0, 0].legend(fontsize=6)
    return fig


def _plot_error_vs_std(methods: dict[str, tuple[dict[str, np.ndarray], float]], in_range) -> Figure:
    fig = Figure(figsize=(4.6 * len(methods), 4.4), layout="constrained")
    axes = fig.subplots(1, len(methods), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (name, (scores, rho)) in zip(axes, methods.items()):
        ax.loglog(
            scores["predicted_std"][in_range], scores["error"][in_range], "o", ms=3, label="amplitude in training range"
        )
        ax.loglog(
            scores["predicted_std"][~in_range], scores["error"][~in_range], "s", ms=3, label="beyond training range"
        )
        ax.set_xlabel("predicted relative std")
        ax.set_title(f"{name}: Spearman rank correlation {rho:.2f}", fontsize=9)
    axes[0].set_ylabel("relative L2 error of the predictive mean")
    axes[0].legend(fontsize=8)
    return fig


def run(config: Config, ctx: RunContext) -> dict[str, object]:
    """Generates the data, trains the ensemble and the MC-dropout baseline, scores error bars and
    calibration of both, writes every output."""
    data = make_data(ctx.rng("data"), config)
    u_scale = float(np.sqrt(np.mean(data["u_train"] ** 2)))
    dtype = jnp.zeros(()).dtype
    # Training and test inputs in one call, so each prediction compiles once.
    inputs = jnp.asarray(np.concatenate([data["log_k_train"], data["log_k_test"]])[:, None], dtype)
    # The ensemble keeps the run's root key, so its results are those of the runs made
    # before the baseline existed; the baseline draws from a stream of its own.
    mc_key, mc_pass_key = jr.split(jr.fold_in(ctx.key, 1))

    start = time.perf_counter()
    result = train(config, data, u_scale, ctx.key, ctx)
    ensemble = result.model
    train_time = time.perf_counter() - start
    start = time.perf_counter()
    members_all = np.asarray(_predict(ensemble, inputs), np.float64) * u_scale
    predict_time = time.perf_counter() - start

    start = time.perf_counter()
    mc_result = train_mc_dropout(config, data, u_scale, mc_key, ctx)
    mc_train_time = time.perf_counter() - start
    start = time.perf_counter()
    passes = uq.mc_dropout_predict(mc_result.model, inputs, mc_pass_key, config.mc_samples).means[:, :, 0]
    passes_all = np.asarray(passes, np.float64) * u_scale
    mc_predict_time = time.perf_counter() - start

    scores, pit, metrics = score(members_all, data, config)
    mc_scores, mc_pit, mc_metrics = score(passes_all, data, config)
    metrics.update(
        members=config.members,
        parameters=count_parameters(ensemble.member(0).model)["trainable"],
        train_time_s=train_time,
        predict_time_s=predict_time,
    )
    metrics.update({f"mc_dropout_{k}": v for k, v in mc_metrics.items()})
    metrics.update(
        mc_dropout_samples=config.mc_samples,
        mc_dropout_parameters=count_parameters(mc_result.model)["trainable"],
        mc_dropout_train_time_s=mc_train_time,
        mc_dropout_predict_time_s=mc_predict_time,
    )

    x = np.linspace(0.0, 1.0, config.n + 2)
    members = members_all[:, config.n_train :]
    in_range = data["s_test"] <= config.amplitude_train
    ctx.write_predictions(
        x=x,
        log_k=data["log_k_test"],
        u_true=data["u_test"],
        mean=scores["mean"],
        std=scores["std"],
        member_u=members,
        error=scores["error"],
        predicted_std=scores["predicted_std"],
        mc_dropout_mean=mc_scores["mean"],
        mc_dropout_std=mc_scores["std"],
        mc_dropout_error=mc_scores["error"],
        mc_dropout_predicted_std=mc_scores["predicted_std"],
        amplitude=data["s_test"],
        in_range=in_range,
    )
    ctx.save_model(
        ensemble,
        ensemble=ensemble_spec(config),
        u_scale=u_scale,
        input="log k on the n + 2 grid nodes, shape (1, n + 2)",
        output="per member: u / u_scale on the grid nodes, shape (1, n + 2)",
    )
    order = np.argsort(scores["error"])
    ctx.savefig(_plot_examples(x, data, scores, members, order, mc_scores), "examples.png")
    ctx.savefig(
        _plot_error_vs_std(
            {
                "ensemble": (scores, metrics["spearman_std_error"]),
                "MC dropout": (mc_scores, metrics["mc_dropout_spearman_std_error"]),
            },
            in_range,
        ),
        "error_vs_std.png",
    )
    ctx.savefig(
        uq.plot_calibration(
            {
                "ensemble, all test samples": pit,
                "ensemble, amplitude in training range": pit[in_range],
                "MC dropout, all test samples": mc_pit,
                "MC dropout, amplitude in training range": mc_pit[in_range],
            }
        ),
        "calibration.png",
    )
    ctx.save_training_curves(result.losses / config.members, result.history)
    ctx.savefig(
        plot_history(mc_result.losses, mc_result.history, title=f"{ctx.problem} MC dropout (seed {ctx.seed})"),
        "training_mc_dropout.png",
    )
    return metrics


def replot(ctx: RunContext) -> None:
    """Redraws every plot of a finished run in `ctx.out` from `predictions.npz`, `metrics.json` and the final
    checkpoints of the ensemble and of the MC-dropout network."""
    import json  # here, not at the top: keeps this hook's diff in one place

    record = json.loads((ctx.out / "metrics.json").read_text())
    metrics, members = record["metrics"], record["config"]["members"]
    with np.load(ctx.out / "predictions.npz") as p:
        x, member_u, in_range = p["x"], p["member_u"], p["in_range"]
        data = {"u_test": p["u_true"], "log_k_test": p["log_k"]}
        scores, mc_scores = (
            {k: p[prefix + k] for k in ("mean", "std", "error", "predicted_std")} for prefix in ("", "mc_dropout_")
        )

    def pit(s):  # as `score` computes it, on the interior nodes
        return scipy.stats.norm.cdf(data["u_test"][:, 1:-1], s["mean"][:, 1:-1], np.maximum(s["std"][:, 1:-1], 1e-30))

    order = np.argsort(scores["error"])
    ctx.savefig(_plot_examples(x, data, scores, member_u, order, mc_scores), "examples.png")
    methods = {
        "ensemble": (scores, metrics["spearman_std_error"]),
        "MC dropout": (mc_scores, metrics["mc_dropout_spearman_std_error"]),
    }
    ctx.savefig(_plot_error_vs_std(methods, in_range), "error_vs_std.png")
    ens_pit, mc_pit = pit(scores), pit(mc_scores)
    panels = {
        "ensemble, all test samples": ens_pit,
        "ensemble, amplitude in training range": ens_pit[in_range],
        "MC dropout, all test samples": mc_pit,
        "MC dropout, amplitude in training range": mc_pit[in_range],
    }
    ctx.savefig(uq.plot_calibration(panels), "calibration.png")
    pointer = json.loads((ctx.checkpoint_dir / "checkpoint.json").read_text())
    ctx.save_training_curves(np.asarray(pointer["losses"]) / members, pointer["history"])
    pointer = json.loads((ctx.checkpoint_dir / "mc_dropout" / "checkpoint.json").read_text())
    title = f"{ctx.problem} MC dropout (seed {ctx.seed})"
    ctx.savefig(plot_history(pointer["losses"], pointer["history"], title=title), "training_mc_dropout.png")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.diffusion_ensemble [--quick] [--out DIR] ...`, as `sciml run diffusion_ensemble`."""
    from sciml.study import main as run_main

    return run_main("diffusion_ensemble", argv)


if __name__ == "__main__":
    raise SystemExit(main())
