r"""Lorenz-63 forecasting from a noisy history: Transformer encoder + latent neural ODE.

**Physics.** $\dot x = \sigma (y - x)$, $\dot y = x (\rho - z) - y$, $\dot z = x y - \beta z$ with
$(\sigma, \rho, \beta) = (10, 28, 8/3)$: chaotic, largest Lyapunov exponent $\lambda \approx 0.9056$ (Sprott 2003).

**Data and task.** `n_train` training and `n_test` held-out trajectories on the attractor (after `spinup`),
sampled every `dt`, each component observed with Gaussian noise of `noise` times its attractor deviation.
From a window of `window` noisy observations, forecast the state at lead times $k\,dt$ up to
`forecast_lyapunov` Lyapunov times. Three models with the same data, optimiser, steps and batch size:
- **latent ODE** (Rubanova et al. 2019, Transformer encoder): a `"transformer"` encoder maps the window to a
  latent $z_0$ (`latent_dim`; with `lift`, a correction to the last observation), a neural ODE
  (`sciml.ode.ODEModel`, Tsit5 at step `dt`) carries it forward, a linear decoder maps back;
- **autoregressive Transformer**: the same encoder predicts the next increment, sliding over its own output;
- **neural ODE**: $\dot u = g_\theta(u)$ integrated from the window's last, noisy, observation.
Each is trained by `sciml.train.fit` on the squared error of the `horizon` states after every window
(`sciml.data.make_windows`, `stride`); the Transformer is unrolled over `ar_horizon` steps only.

**Independent reference.** `scipy.integrate.solve_ivp` (DOP853, rtol = atol = `reference_tol`) gives the clean
states; `oracle` is the true equations integrated from the noisy last observation. `lyapunov_estimate` is a
Benettin estimate of $\lambda$ over `lyapunov_time` time units. **Metrics**: the normalised error
$e(t) = (\tfrac13 \sum_c (\hat u_c - u_c)^2 / s_c^2)^{1/2}$ (Vlachas et al. 2020) and the valid prediction time
(VPT), the first lead where $e$ exceeds `threshold` (Pathak et al. 2018), in Lyapunov times.

**Default budget** (float32): 64 trajectories of 12 time units at `dt` = 0.02, noise 5%, 1500 Adam steps of
batch 64 per model, about 20k parameters each. **Expected accuracy**: median VPT about 0.6 Lyapunov times for the
latent ODE, 1.8-2.2 for the autoregressive Transformer, 1.1-1.4 for the neural ODE, 1.4-1.6 for the oracle:
the latent ODE does not win at this budget. Per-seed figures and analysis: `problems/RESULTS.md`.
`--quick`: 6 trajectories, 8 test forecasts over 2 Lyapunov times, tiny networks, 30 steps.

**Outputs.** `metrics.json` metrics, per model `<m>` in `latent_ode`, `transformer`, `neural_ode`, `oracle`:
`vpt_<m>_median`, `vpt_<m>_q25`, `vpt_<m>_q75`, `vpt_<m>_censored`, `nrmse_<m>_at_<L>lt` (`L` in 0, 0.5, 1, 2);
for the trained ones `parameters_<m>`, `loss_<m>`, `train_time_<m>_s`, `skipped_steps_<m>`; and
`lyapunov_estimate`, `lyapunov_time`, `observation_noise_nrmse`. `predictions.npz`: `t` and `lead_lyapunov`
(K+1,), `t_history` (window,), `history` (n_test, window, 3), `truth` (n_test, K+1, 3), `latent_ode`,
`transformer`, `neural_ode`, `oracle` (n_test, K+1, 3), `nrmse_latent_ode`, `nrmse_transformer`,
`nrmse_neural_ode`, `nrmse_oracle` (n_test, K+1), `vpt_latent_ode`, `vpt_transformer`, `vpt_neural_ode`,
`vpt_oracle` (n_test,), `attractor_std` (3,) the $s_c$, `mean`, `std` (3,) the standardisation.
`model.eqx` + `model.json`: the encoder (`"transformer"`); beside it `latent_vector_field.eqx`,
`latent_decoder.eqx`, `ar_transformer.eqx`, `neural_ode.eqx`; `load_latent_ode(folder)` reassembles the model.
Plots: `forecast.png`, `error.png`, `vpt.png`, `training.png`.
"""

import dataclasses
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray
from matplotlib.figure import Figure
from scipy.integrate import solve_ivp

import sciml.nn
import sciml.train
from sciml.data import make_windows
from sciml.nn import Normaliser
from sciml.ode import NeuralVectorField, ODEModel
from sciml.study import RunContext
from sciml.train import Checkpointing, count_parameters, Execution, fit, Logging, make_optimizer


DESCRIPTION = "Lorenz-63 forecasts from noisy windows: Transformer encoder + latent neural ODE vs two baselines"
# The metrics problems/RESULTS.md and the README show.
HEADLINE = ("vpt_latent_ode_median", "vpt_transformer_median", "vpt_neural_ode_median", "vpt_oracle_median")

SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0
LYAPUNOV = 0.9056  # largest Lyapunov exponent of Lorenz-63 at the classic parameters (Sprott 2003)
MODELS = ("latent_ode", "transformer", "neural_ode")


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    dt: float = 0.02  # time step of the observations, the forecasts and the constant-step ODE solves
    spinup: float = 10.0  # time units integrated from the initial states to land on the attractor
    n_train: int = 64  # training trajectories
    train_time: float = 12.0  # time units per training trajectory
    n_test: int = 64  # held-out forecasts (independent initial states)
    noise: float = 0.05  # observation noise std, relative to each component's std on the attractor
    window: int = 32  # noisy observations in each history window
    horizon: int = 20  # lead steps of the training loss (latent ODE and neural ODE)
    ar_horizon: int = 5  # lead steps of the autoregressive Transformer's training loss
    stride: int = 4  # observations between consecutive training windows
    forecast_lyapunov: float = 5.0  # test forecast length, in Lyapunov times
    threshold: float = 0.4  # normalised error at which a forecast stops being valid (VPT)
    latent_dim: int = 8  # latent state size of the latent ODE
    lift: bool = True  # latent state = last observation + the encoder's correction (else the encoder's output)
    d_model: int = 32  # width of the Transformer encoders
    num_heads: int = 4  # attention heads of the Transformer encoders
    depth: int = 2  # pre-norm blocks of the Transformer encoders
    field_width: int = 64  # hidden units per layer of the latent vector field MLP
    field_depth: int = 2  # hidden layers of the latent vector field MLP
    node_width: int = 128  # hidden units per layer of the baseline neural ODE's MLP
    node_depth: int = 2  # hidden layers of the baseline neural ODE's MLP
    steps: int = 1500  # Adam steps per model
    batch_size: int = 64  # windows per step (at most the number of training windows)
    learning_rate: float = 1e-2  # Adam's peak learning rate (warm-up, then cosine decay)
    warmup_steps: int = 100  # steps of linear learning-rate warm-up (0: none)
    clip_norm: float = 1.0  # global gradient-norm clipping threshold
    reference_tol: float = 1e-12  # rtol = atol of scipy's DOP853 reference solves
    lyapunov_time: float = 200.0  # time units of the Benettin Lyapunov estimate (0 skips it)
    checkpoint_every: int = 250  # steps between checkpoints

    def __post_init__(self):
        who = "lorenz_latent_ode"
        if not (self.dt > 0 and self.spinup >= 0 and self.train_time > 0 and self.forecast_lyapunov > 0):
            raise ValueError(f"{who}: need dt > 0, spinup >= 0, train_time > 0 and forecast_lyapunov > 0")
        if self.noise < 0:
            raise ValueError(f"{who}: noise must be >= 0, got {self.noise}")
        if not 0 < self.threshold:
            raise ValueError(f"{who}: threshold must be > 0, got {self.threshold}")
        if min(self.n_train, self.n_test, self.horizon, self.ar_horizon, self.stride, self.steps, self.batch_size) < 1:
            raise ValueError(f"{who}: n_train, n_test, horizon, ar_horizon, stride, steps and batch_size must be >= 1")
        if self.ar_horizon > self.horizon:
            raise ValueError(f"{who}: ar_horizon={self.ar_horizon} must not exceed horizon={self.horizon}")
        if self.window < 2:
            raise ValueError(f"{who}: window must hold at least 2 observations, got {self.window}")
        if self.latent_dim < 3:
            raise ValueError(f"{who}: latent_dim must be >= 3 (the observed state has 3), got {self.latent_dim}")
        if min(self.d_model, self.num_heads, self.depth, self.field_width, self.node_width) < 1:
            raise ValueError(f"{who}: network sizes must be >= 1")
        if min(self.field_depth, self.node_depth) < 0:
            raise ValueError(f"{who}: field_depth and node_depth must be >= 0")
        if self.d_model % self.num_heads:
            raise ValueError(f"{who}: d_model={self.d_model} must be divisible by num_heads={self.num_heads}")
        if round(self.train_time / self.dt) < self.window + self.horizon:
            raise ValueError(f"{who}: train_time / dt must cover window + horizon = {self.window + self.horizon} steps")
        if not (self.learning_rate > 0 and self.clip_norm > 0 and self.warmup_steps >= 0):
            raise ValueError(f"{who}: learning_rate and clip_norm must be > 0, warmup_steps >= 0")
        if not 0 < self.reference_tol <= 1e-6:
            raise ValueError(f"{who}: reference_tol must be in (0, 1e-6] for a reference, got {self.reference_tol}")
        if self.lyapunov_time < 0 or self.checkpoint_every < 1:
            raise ValueError(f"{who}: lyapunov_time must be >= 0 and checkpoint_every >= 1")


QUICK = dict(
    n_train=6,
    train_time=3.0,
    n_test=8,
    forecast_lyapunov=2.0,
    window=16,
    horizon=8,
    ar_horizon=2,
    stride=8,
    latent_dim=4,
    d_model=8,
    num_heads=2,
    depth=1,
    field_width=16,
    field_depth=1,
    node_width=16,
    node_depth=1,
    steps=30,
    batch_size=16,
    warmup_steps=5,
    lyapunov_time=10.0,
    checkpoint_every=10,
)


# --- the reference -------------------------------------------------------------------------


def lorenz_rhs(t: float, u: np.ndarray) -> np.ndarray:
    """The Lorenz-63 right-hand side for states stacked as `(3, ...)` (vectorised for scipy)."""
    x, y, z = u[0], u[1], u[2]
    return np.stack([SIGMA * (y - x), x * (RHO - z) - y, x * y - BETA * z])


def simulate(
    u0: Float[np.ndarray, " n 3"], ts: Float[np.ndarray, " t"], tol: float = 1e-12
) -> Float[np.ndarray, " n t 3"]:
    """Lorenz-63 trajectories from the states `u0` at `ts[0]`, saved at `ts` (scipy DOP853).

    All trajectories are integrated as one system, so the adaptive step size is shared
    (set by the fastest member, which only tightens everyone's error).
    """
    n = u0.shape[0]
    fun = lambda t, v: lorenz_rhs(t, v.reshape(3, n)).reshape(-1)
    sol = solve_ivp(
        fun,
        (float(ts[0]), float(ts[-1])),
        np.asarray(u0, float).T.reshape(-1),
        method="DOP853",
        t_eval=ts,
        rtol=tol,
        atol=tol,
    )
    if not sol.success:
        raise RuntimeError(f"lorenz_latent_ode: the scipy reference failed: {sol.message}")
    return sol.y.reshape(3, n, len(ts)).transpose(1, 2, 0)


def attractor_states(n: int, spinup: float, rng: np.random.Generator, tol: float = 1e-12) -> np.ndarray:
    """`n` states on the attractor: random states near (0, 0, 25) integrated for `spinup`."""
    u0 = rng.normal(0.0, 5.0, (n, 3)) + np.array([0.0, 0.0, 25.0])
    if spinup == 0:
        return u0
    return simulate(u0, np.array([0.0, spinup]), tol)[:, -1]


def lyapunov_exponent(total: float, *, interval: float = 0.5, transient: float = 10.0, seed: int = 0) -> float:
    """The largest Lyapunov exponent by Benettin's method on the tangent dynamics (scipy).

    The state and one tangent vector are integrated together; the tangent is
    renormalised every `interval` time units and the log growth factors are averaged
    over `total` time units after a `transient`.

    ??? cite

        Benettin, Galgani, Giorgilli and Strelcyn, "Lyapunov characteristic exponents
        for smooth dynamical systems and for Hamiltonian systems", Meccanica 15, 1980.
    """

    def fun(t, w):
        x, y, z = w[:3]
        jac = np.array([[-SIGMA, SIGMA, 0.0], [RHO - z, -1.0, -x], [y, x, -BETA]])
        return np.concatenate([lorenz_rhs(t, w[:3]), jac @ w[3:]])

    rng = np.random.default_rng(seed)
    u = attractor_states(1, transient, rng)[0]
    v = rng.normal(size=3)
    v /= np.linalg.norm(v)
    growth, steps = 0.0, max(int(round(total / interval)), 1)
    for _ in range(steps):
        sol = solve_ivp(fun, (0.0, interval), np.concatenate([u, v]), method="DOP853", rtol=1e-9, atol=1e-9)
        u, v = sol.y[:3, -1], sol.y[3:, -1]
        norm = np.linalg.norm(v)
        growth += math.log(norm)
        v /= norm
    return growth / (steps * interval)


# --- metrics -------------------------------------------------------------------------------


def normalised_error(
    pred: Float[np.ndarray, " *batch t 3"], truth: Float[np.ndarray, " *batch t 3"], scale: Float[np.ndarray, " 3"]
) -> Float[np.ndarray, " *batch t"]:
    """`sqrt(mean_c ((pred_c - truth_c) / scale_c)^2)` at every lead time (NaN stays NaN)."""
    return np.sqrt(np.mean(((pred - truth) / scale) ** 2, axis=-1))


def valid_prediction_time(
    lead_time: Float[np.ndarray, " t"], error: Float[np.ndarray, " *batch t"], threshold: float
) -> tuple[Float[np.ndarray, " *batch"], np.ndarray]:
    """The first lead time at which `error` exceeds `threshold`, per forecast.

    A non-finite error (a diverged forecast) counts as exceeding. A forecast that stays
    below the threshold up to the last lead time gets that time, and is flagged.

    **Returns:**

    `(vpt, censored)`: the valid prediction times and whether each one is the horizon
    because the error never exceeded the threshold.
    """
    lead_time = np.asarray(lead_time)
    error = np.asarray(error)
    if error.shape[-1] != lead_time.shape[0]:
        raise ValueError(f"valid_prediction_time: {lead_time.shape[0]} lead times but errors of shape {error.shape}")
    above = ~(error <= threshold)
    first = np.argmax(above, axis=-1)
    censored = ~np.any(above, axis=-1)
    return np.where(censored, lead_time[-1], lead_time[first]), censored


# --- the models ----------------------------------------------------------------------------


class LatentODE(eqx.Module):
    """Transformer encoder -> latent initial state -> neural ODE -> linear decoder.

    The encoder reads the whole window (non-causal attention) and its last token, the
    one at the window's end, gives the latent state there: mean pooling would blur
    which time the state belongs to. With `lift=True` the encoder's output is a
    correction added to the last observation placed in the first three latent
    coordinates (and the decoder starts as the projection back onto them): the encoder
    then learns to denoise that observation and to fill the extra coordinates, rather
    than to reproduce the state from scratch.

    **Reference:** Rubanova, Chen and Duvenaud, "Latent ordinary differential equations
    for irregularly-sampled time series", NeurIPS 2019 (encoder-decoder latent ODEs).
    """

    encoder: sciml.nn.Transformer
    ode: ODEModel
    decoder: sciml.nn.MLP
    lift: bool = eqx.field(static=True)

    def __call__(self, history: Float[Array, " window 3"], ts: Float[Array, " n"]) -> Float[Array, " n 3"]:
        """**Arguments:**

        - `history`: the standardised observations of the window, oldest first.
        - `ts`: lead times from the window's last observation, `ts[0] = 0`.

        **Returns:**

        The standardised forecast at `ts`.
        """
        z0 = self.encoder(history)[-1]
        if self.lift:
            z0 = z0.at[:3].add(history[-1])
        zs = self.ode.solve(ts, z0, throw=False).ys
        return jax.vmap(self.decoder)(zs)


class Autoregressive(eqx.Module):
    """A window-to-next-state Transformer rolled out over its own predictions.

    `u_{k+1} = u_k + step * T(window_k)[-1]`; the window then drops its oldest state and
    appends `u_{k+1}`. `step`, a fixed `Normaliser` (not trained), scales the network's
    O(1) outputs to the typical one-step increment.
    """

    network: sciml.nn.Transformer
    step: Normaliser

    def __call__(self, history: Float[Array, " window 3"], ts: Float[Array, " n"]) -> Float[Array, " n 3"]:
        """**Arguments:**

        - `history`: the standardised observations of the window, oldest first.
        - `ts`: lead times on the training grid (`ts[k] = k dt`); only their number is
            used, one network call per step.

        **Returns:**

        The standardised forecast, starting with the last observation.
        """

        def advance(window, _):
            nxt = window[-1] + self.step.inverse(self.network(window)[-1])
            return jnp.concatenate([window[1:], nxt[None]]), nxt

        _, ys = jax.lax.scan(advance, history, None, length=ts.shape[0] - 1)
        return jnp.concatenate([history[-1:], ys])


class FromLastObservation(eqx.Module):
    """A state-space neural ODE started from the window's last (noisy) observation."""

    ode: ODEModel

    def __call__(self, history: Float[Array, " window 3"], ts: Float[Array, " n"]) -> Float[Array, " n 3"]:
        """As [`LatentODE.__call__`][]."""
        return self.ode.solve(ts, history[-1], throw=False).ys


class ForecastLoss(eqx.Module):
    """Mean squared error of the forecast at the lead times `ts[1:]` (`ts[0] = 0`).

    The lead times are static numbers, so the loss hashes and compares by value and
    `fit` compiles its step once.
    """

    ts: tuple[float, ...] = eqx.field(static=True)

    def __call__(self, model: eqx.Module, batch: dict[str, Array], key: PRNGKeyArray | None) -> Float[Array, ""]:
        """`batch`: `history` (b, window, 3) and `future` (b, h, 3), standardised, with
        `h >= len(ts) - 1`; the first `len(ts) - 1` future states are compared."""
        del key
        ts = jnp.asarray(self.ts, dtype=batch["history"].dtype)
        pred = jax.vmap(model, in_axes=(0, None))(batch["history"], ts)
        return jnp.mean((pred[:, 1:] - batch["future"][:, : len(self.ts) - 1]) ** 2)


def _ode(network: eqx.Module, dt: float, name: str) -> ODEModel:
    # A constant step: every forecast costs the same, and one grid of lead times is one
    # compiled solve; Tsit5 at dt = 0.02 resolves Lorenz-like time scales (0.1 and up).
    return ODEModel(
        NeuralVectorField(network), diffrax.Tsit5(), diffrax.ConstantStepSize(), dt0=dt, max_steps=16384, name=name
    )


def model_configs(config: Config, rate: Sequence[float]) -> dict[str, dict]:
    """The `sciml.nn` registry configurations of every network, keyed by component."""
    encoder = dict(
        d_model=config.d_model,
        num_heads=config.num_heads,
        depth=config.depth,
        ff_size=2 * config.d_model,
        positional="sinusoidal",
        output="sequence",
    )
    latent_rate = float(np.mean(rate))
    return {
        "encoder": dict(in_size=3, out_size=config.latent_dim, **encoder),
        "latent_vector_field": dict(
            in_size=config.latent_dim,
            out_size=config.latent_dim,
            width=config.field_width,
            depth=config.field_depth,
            activation="tanh",
            output_mean=[0.0] * config.latent_dim,
            output_std=[latent_rate] * config.latent_dim,
        ),
        "latent_decoder": dict(in_size=config.latent_dim, out_size=3, depth=0),
        "ar_transformer": dict(in_size=3, out_size=3, **encoder),
        "neural_ode": dict(
            in_size=3,
            out_size=3,
            width=config.node_width,
            depth=config.node_depth,
            activation="tanh",
            output_mean=[0.0] * 3,
            output_std=[float(r) for r in rate],
        ),
    }


def build_models(config: Config, rate: Sequence[float], *, key: PRNGKeyArray) -> dict[str, eqx.Module]:
    """The three untrained forecasters, from registry-built networks.

    `rate` (3,) is the typical rate of change of each standardised component: it scales
    the vector fields' outputs and, times `dt`, the autoregressive increments, so every
    network starts with outputs of the right size.
    """
    cfg = model_configs(config, rate)
    k_enc, k_field, k_dec, k_ar, k_node = jr.split(key, 5)
    decoder = sciml.nn.build("mlp", key=k_dec, **cfg["latent_decoder"])
    if config.lift:
        weight = decoder.layers[0].weight
        decoder = eqx.tree_at(
            lambda d: (d.layers[0].weight, d.layers[0].bias),
            decoder,
            (jnp.eye(*weight.shape, dtype=weight.dtype), jnp.zeros(3, weight.dtype)),
        )
    latent = LatentODE(
        sciml.nn.build("transformer", key=k_enc, **cfg["encoder"]),
        _ode(sciml.nn.build("mlp", key=k_field, **cfg["latent_vector_field"]), config.dt, "Lorenz latent ODE"),
        decoder,
        config.lift,
    )
    step = Normaliser(np.zeros(3), config.dt * np.asarray(rate, float))
    ar = Autoregressive(sciml.nn.build("transformer", key=k_ar, **cfg["ar_transformer"]), step)
    node = FromLastObservation(
        _ode(sciml.nn.build("mlp", key=k_node, **cfg["neural_ode"]), config.dt, "Lorenz neural ODE")
    )
    return {"latent_ode": latent, "transformer": ar, "neural_ode": node}


def load_latent_ode(folder: str | os.PathLike) -> LatentODE:
    """Reassembles the trained latent model from the files a run wrote into `folder`."""
    folder = Path(folder)
    meta = sciml.train.load_metadata(folder / "model.eqx")
    field = sciml.train.load(folder / "latent_vector_field.eqx")
    return LatentODE(
        sciml.train.load(folder / "model.eqx"),
        _ode(field, meta["dt"], "Lorenz latent ODE"),
        sciml.train.load(folder / "latent_decoder.eqx"),
        meta["lift"],
    )


@eqx.filter_jit
def _forecast(
    model: eqx.Module, history: Float[Array, " b window 3"], ts: Float[Array, " n"]
) -> Float[Array, " b n 3"]:
    return jax.vmap(model, in_axes=(0, None))(history, ts)


# --- the study -----------------------------------------------------------------------------


def _data(config: Config, ctx: RunContext) -> dict[str, np.ndarray]:
    rng = ctx.rng("data")
    tol = config.reference_tol
    train_steps = int(round(config.train_time / config.dt))
    lead_steps = int(math.ceil(config.forecast_lyapunov / (LYAPUNOV * config.dt)))
    train_t = config.dt * np.arange(train_steps + 1)
    test_t = config.dt * np.arange(config.window + lead_steps)
    train = simulate(attractor_states(config.n_train, config.spinup, rng, tol), train_t, tol)
    test = simulate(attractor_states(config.n_test, config.spinup, rng, tol), test_t, tol)
    scale = train.reshape(-1, 3).std(axis=0)
    noisy_train = train + config.noise * scale * rng.standard_normal(train.shape)
    noisy_test = test + config.noise * scale * rng.standard_normal(test.shape)
    return {
        "attractor_std": scale,
        "train": noisy_train,
        "history": noisy_test[:, : config.window],
        # The forecast starts at the window's last observation (lead 0).
        "truth": test[:, config.window - 1 :],
        "t": config.dt * np.arange(lead_steps + 1),
    }


def _rate(train: np.ndarray, dt: float) -> np.ndarray:
    # Finite differences over 0.1 time units: long enough that the observation noise
    # does not dominate them, short against the dynamics.
    lag = max(int(round(0.1 / dt)), 1)
    return np.std((train[:, lag:] - train[:, :-lag]) / (lag * dt), axis=(0, 1))


def _plot_forecast(t, t_hist, history, truth, forecasts, index) -> Figure:
    fig = Figure(figsize=(9, 7), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    lt = LYAPUNOV * t
    for c, (ax, name) in enumerate(zip(axes, "xyz")):
        ax.plot(LYAPUNOV * t_hist, history[index, :, c], "k.", ms=3, label="noisy history")
        ax.plot(lt, truth[index, :, c], "k-", lw=2, label="truth (scipy)")
        for (label, pred), style in zip(forecasts.items(), ("C0-", "C1--", "C2-.", "C7:")):
            ax.plot(lt, pred[index, :, c], style, label=label)
        ax.set_ylabel(name)
    axes[0].legend(ncol=3, fontsize=8, loc="upper left")
    axes[-1].set_xlabel("lead time (Lyapunov times)")
    fig.suptitle(f"Lorenz-63: held-out forecast {index}")
    return fig


def _plot_error(t, errors, threshold) -> Figure:
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    lt = LYAPUNOV * t
    for (label, err), color in zip(errors.items(), ("C0", "C1", "C2", "C7")):
        q25, q50, q75 = np.nanquantile(np.where(np.isfinite(err), err, np.inf), [0.25, 0.5, 0.75], axis=0)
        ax.plot(lt, q50, color=color, label=label)
        ax.fill_between(lt, q25, np.minimum(q75, 10.0), color=color, alpha=0.15)
    ax.axhline(threshold, color="k", ls=":", label=f"threshold {threshold:g}")
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 3.0)
    ax.set_xlabel("lead time (Lyapunov times)")
    ax.set_ylabel("normalised error (median, quartiles)")
    ax.legend(fontsize=8)
    return fig


def _plot_vpt(vpts) -> Figure:
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.subplots()
    ax.boxplot(list(vpts.values()), tick_labels=list(vpts), showmeans=True)
    ax.set_ylabel("valid prediction time (Lyapunov times)")
    return fig


def _plot_training(losses) -> Figure:
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    for (label, values), color in zip(losses.items(), ("C0", "C1", "C2")):
        window = max(len(values) // 50, 1)
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.plot(values, color=color, alpha=0.25, lw=0.8)
        ax.plot(np.arange(window - 1, len(values)), smooth, color=color, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (standardised MSE)")
    ax.legend()
    return fig


def run(config: Config, ctx: RunContext) -> dict[str, object]:
    """Generates the data, trains the three forecasters, evaluates them and writes every output."""
    data = _data(config, ctx)
    normaliser = Normaliser.from_data(jnp.asarray(data["train"].reshape(-1, 3)))
    mean, std = np.asarray(normaliser.mean, float), np.asarray(normaliser.std, float)
    train = (data["train"] - mean) / std
    rate = _rate(train, config.dt)
    inputs, targets, _ = make_windows(train, window=config.window, horizon=config.horizon, stride=config.stride)
    dtype = jnp.zeros(()).dtype
    batch = {"history": jnp.asarray(inputs, dtype), "future": jnp.asarray(targets, dtype)}
    if config.batch_size > inputs.shape[0]:
        raise ValueError(
            f"lorenz_latent_ode: batch_size {config.batch_size} exceeds the {inputs.shape[0]} "
            "training windows; lower it or add training data"
        )
    ctx.log(f"{inputs.shape[0]} training windows; typical rates {np.round(rate, 2).tolist()}")

    init_key, *fit_keys = jr.split(ctx.key, 1 + len(MODELS))
    models = build_models(config, rate.tolist(), key=init_key)
    lead = lambda n: ForecastLoss(tuple(config.dt * k for k in range(n + 1)))
    losses = {
        "latent_ode": lead(config.horizon),
        "transformer": lead(config.ar_horizon),
        "neural_ode": lead(config.horizon),
    }
    optimizer = {
        "name": "adam",
        "learning_rate": config.learning_rate,
        "schedule": "warmup_cosine",
        "warmup_steps": config.warmup_steps,
        "clip_norm": config.clip_norm,
    }
    trained, curves, metrics = {}, {}, {}
    for name, key in zip(MODELS, fit_keys):
        start = time.perf_counter()
        result = fit(
            models[name],
            losses[name],
            batch,
            make_optimizer(optimizer, steps=config.steps),
            steps=config.steps,
            batch_size=config.batch_size,
            key=key,
            checkpointing=Checkpointing(ctx.checkpoint_dir / name, every=config.checkpoint_every, resume=ctx.resume),
            logging=Logging(quiet=ctx.quiet, desc=name),
            execution=Execution(on_nonfinite="skip"),
        )
        trained[name], curves[name] = result.model, result.losses
        metrics[f"train_time_{name}_s"] = time.perf_counter() - start
        metrics[f"loss_{name}"] = float(np.mean(result.losses[-max(config.steps // 20, 1) :]))
        metrics[f"parameters_{name}"] = count_parameters(result.model)["trainable"]
        metrics[f"skipped_steps_{name}"] = result.skipped_steps
        ctx.log(
            f"{name}: {metrics[f'parameters_{name}']} parameters, loss {metrics[f'loss_{name}']:.4g}, "
            f"{metrics[f'train_time_{name}_s']:.1f} s"
        )

    t = data["t"]
    history = jnp.asarray((data["history"] - mean) / std, dtype)
    forecasts = {
        name: np.asarray(_forecast(trained[name], history, jnp.asarray(t, dtype)), float) * std + mean
        for name in MODELS
    }
    forecasts["oracle"] = simulate(data["history"][:, -1], t, config.reference_tol)
    scale = data["attractor_std"]
    errors = {name: normalised_error(pred, data["truth"], scale) for name, pred in forecasts.items()}
    lead = LYAPUNOV * t
    vpts = {}
    for name, err in errors.items():
        vpt, censored = valid_prediction_time(t, err, config.threshold)
        vpts[name] = LYAPUNOV * vpt
        q25, q50, q75 = np.quantile(vpts[name], [0.25, 0.5, 0.75])
        metrics.update(
            {
                f"vpt_{name}_median": q50,
                f"vpt_{name}_q25": q25,
                f"vpt_{name}_q75": q75,
                f"vpt_{name}_censored": float(np.mean(censored)),
            }
        )
        for at in (0.0, 0.5, 1.0, 2.0):
            k = int(np.argmin(np.abs(lead - at)))
            if abs(lead[k] - at) <= LYAPUNOV * config.dt:
                metrics[f"nrmse_{name}_at_{at:g}lt"] = float(
                    np.nanmedian(np.where(np.isfinite(err[:, k]), err[:, k], np.inf))
                )
        ctx.log(f"{name}: valid prediction time {q50:.2f} Lyapunov times (quartiles {q25:.2f}, {q75:.2f})")
    metrics["observation_noise_nrmse"] = float(
        np.median(normalised_error(data["history"][:, -1], data["truth"][:, 0], scale))
    )
    metrics["lyapunov_time"] = 1.0 / LYAPUNOV
    metrics["lyapunov_estimate"] = lyapunov_exponent(config.lyapunov_time) if config.lyapunov_time > 0 else None

    t_history = config.dt * np.arange(1 - config.window, 1)
    ctx.write_predictions(
        t=t,
        lead_lyapunov=lead,
        t_history=t_history,
        history=data["history"],
        truth=data["truth"],
        **forecasts,
        **{f"nrmse_{k}": v for k, v in errors.items()},
        **{f"vpt_{k}": v for k, v in vpts.items()},
        attractor_std=scale,
        mean=mean,
        std=std,
    )
    _save_models(trained, config, rate, mean, std, ctx)
    labels = {
        "latent_ode": "latent ODE (Transformer encoder)",
        "transformer": "autoregressive Transformer",
        "neural_ode": "neural ODE from last observation",
        "oracle": "true equations from last observation",
    }
    median_model = int(np.argsort(vpts["latent_ode"])[len(vpts["latent_ode"]) // 2])
    ctx.savefig(
        _plot_forecast(
            t, t_history, data["history"], data["truth"], {labels[k]: v for k, v in forecasts.items()}, median_model
        ),
        "forecast.png",
    )
    ctx.savefig(_plot_error(t, {labels[k]: v for k, v in errors.items()}, config.threshold), "error.png")
    ctx.savefig(_plot_vpt({k.replace("_", " "): v for k, v in vpts.items()}), "vpt.png")
    ctx.savefig(_plot_training({labels[k]: v for k, v in curves.items()}), "training.png")
    return metrics


def _save_models(trained, config: Config, rate, mean, std, ctx: RunContext) -> None:
    cfg = model_configs(config, rate.tolist())
    common = dict(problem=ctx.problem, seed=ctx.seed, dt=config.dt, mean=mean.tolist(), std=std.tolist())
    latent = trained["latent_ode"]
    ctx.save_model(
        latent.encoder,
        architecture="transformer",
        config=cfg["encoder"],
        dt=config.dt,
        lift=config.lift,
        mean=mean.tolist(),
        std=std.tolist(),
        components={"vector_field": "latent_vector_field.eqx", "decoder": "latent_decoder.eqx"},
        call="u = (window - mean) / std; z0 = encoder(u)[-1], plus u[-1] in z0[:3] if lift; "
        "z(t) from dz/dt = vector_field(z) "
        "(Tsit5, constant step dt); forecast = decoder(z(t)) * std + mean",
    )
    sciml.train.save(
        ctx.out / "latent_vector_field.eqx",
        latent.ode.vector_field.network,
        architecture="mlp",
        config=cfg["latent_vector_field"],
        call="dz/dt = network(z)",
        **common,
    )
    sciml.train.save(
        ctx.out / "latent_decoder.eqx",
        latent.decoder,
        architecture="mlp",
        config=cfg["latent_decoder"],
        call="standardised state = network(z)",
        **common,
    )
    sciml.train.save(
        ctx.out / "ar_transformer.eqx",
        trained["transformer"].network,
        architecture="transformer",
        config=cfg["ar_transformer"],
        step=(config.dt * np.asarray(rate)).tolist(),
        call="next = window[-1] + step * network(window)[-1], in standardised units",
        **common,
    )
    sciml.train.save(
        ctx.out / "neural_ode.eqx",
        trained["neural_ode"].ode.vector_field.network,
        architecture="mlp",
        config=cfg["neural_ode"],
        call="du/dt = network(u), u standardised",
        **common,
    )


def replot(ctx: RunContext) -> None:
    """Redraws every plot of a finished run in `ctx.out` from `predictions.npz`, `metrics.json` and the
    final checkpoint of each model."""
    import json  # here, not at the top: keeps this hook's diff in one place

    threshold = json.loads((ctx.out / "metrics.json").read_text())["config"]["threshold"]
    with np.load(ctx.out / "predictions.npz") as p:
        saved = {k: p[k] for k in p.files}
    t, vpts = saved["t"], {k: saved[f"vpt_{k}"] for k in (*MODELS, "oracle")}
    labels = {  # as `run` labels them
        "latent_ode": "latent ODE (Transformer encoder)",
        "transformer": "autoregressive Transformer",
        "neural_ode": "neural ODE from last observation",
        "oracle": "true equations from last observation",
    }
    forecasts = {labels[k]: saved[k] for k in labels}
    median_model = int(np.argsort(vpts["latent_ode"])[len(vpts["latent_ode"]) // 2])
    ctx.savefig(
        _plot_forecast(t, saved["t_history"], saved["history"], saved["truth"], forecasts, median_model), "forecast.png"
    )
    ctx.savefig(_plot_error(t, {labels[k]: saved[f"nrmse_{k}"] for k in labels}, threshold), "error.png")
    ctx.savefig(_plot_vpt({k.replace("_", " "): v for k, v in vpts.items()}), "vpt.png")
    curves = {}
    for name in MODELS:
        curves[labels[name]] = json.loads((ctx.checkpoint_dir / name / "checkpoint.json").read_text())["losses"]
    ctx.savefig(_plot_training(curves), "training.png")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.lorenz_latent_ode [--quick] [--out DIR] ...`, as `sciml run lorenz_latent_ode`."""
    from sciml.study import main as run_main

    return run_main("lorenz_latent_ode", argv)


if __name__ == "__main__":
    raise SystemExit(main())
