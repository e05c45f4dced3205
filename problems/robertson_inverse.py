r"""Robertson kinetics, inverse problem: recover three stiff rate constants from noisy data.

**Physics.** The chemical kinetics of Robertson (1966), the classic stiff test problem:

$$ \dot y_1 = -k_1 y_1 + k_3 y_2 y_3, \qquad
   \dot y_2 = k_1 y_1 - k_2 y_2^2 - k_3 y_2 y_3, \qquad
   \dot y_3 = k_2 y_2^2, $$

$(k_1, k_2, k_3) = (0.04, 3 \cdot 10^7, 10^4)$, $y(0) = (1, 0, 0)$, on $t \in [0, 10^5]$: the rates span eleven
orders of magnitude and an explicit solver needs of the order of $10^8$ steps.

**Data.** 41 times log-spaced on $[10^{-5}, 10^5]$, multiplicative Gaussian noise of 1%,
$y^{obs} = y (1 + 0.01 \varepsilon)$.

**Model.** `sciml.ode.ODEModel` of a `sciml.ode.PhysicsVectorField` with `sciml.nn.Positive` rates (stored as
$\log k_i$), integrated by `diffrax.Kvaerno5` with a PID controller (rtol 1e-6, atol 1e-12), forward-mode
derivatives, float64. Levenberg-Marquardt (`optimistix.least_squares`) minimises the noise-weighted log
residuals $(\log y_j(t_i) - \log y^{obs}_{ij}) / 0.01$, starting with every constant off by a factor of 10
(`start_signs="-+-"`: $k_1 / 10$, $10\,k_2$, $k_3 / 10$). Success: every constant within 5% of the truth.
**Explicit solver**: the same model with `diffrax.Tsit5`, capped at `explicit_max_steps`, raises
`sciml.ode.ODESolveError`; its message, the time reached and the wall time are recorded.

**Independent references.** `scipy.integrate.solve_ivp` with Radau (rtol 1e-12), cross-checked against LSODA
(`reference_agreement`); the noise-limited estimate `oracle_rates`: scipy's `least_squares` of the same
residuals started from the truth, which the fit must reproduce (`rates_vs_oracle`).

**Default budget** (float64): at most 100 Levenberg-Marquardt steps; about a minute, mostly compilation.
**Expected accuracy**: every constant within 0.5% of the truth (`success`), equal to scipy's estimate to about
5e-6, in 7-15 steps, from any of the eight 10x-off starts; Tsit5 stops at its cap near $t = 12.6$.
Per-seed figures: `problems/RESULTS.md`. `--quick`: at most 20 LM steps, 2000 explicit steps, no scipy estimate.

**Outputs.** `metrics.json` metrics: `rates_true`, `rates_start`, `rates_fit`, `relative_errors`,
`max_relative_error`, `success`, `oracle_rates`, `oracle_relative_errors`, `rates_vs_oracle`,
`chi2_per_residual` (about 1 at the noise level), `lm_steps`, `lm_result`, `lm_wall_time_s`,
`fit_max_relative_error`, `solver_max_relative_error` (Kvaerno5 against Radau), `reference_agreement`,
`solver_steps`, `explicit_solver` (`solver`, `max_steps`, `raised`, `message`, `t_reached`, `num_steps`,
`wall_time_s`). `model.eqx` + `model.json`: the fitted rate law in log form, an affine MLP
(`architecture="mlp"`, depth 0; weight: reaction orders, bias: $\log k$), $\dot y = S \exp(\text{network}(\log
y))$ with the stoichiometric matrix $S$ in the metadata. `predictions.npz`: `t` (m,) the evaluation grid, `y_fit`
(m, 3), `y_true` (m, 3), `y_start` (m, 3) at the starting constants, `y_explicit` (m, 3) the Tsit5 attempt (NaN
beyond the time it reached); `t_obs` (41,), `y_obs` (41, 3). Plots: `species.png`, `residuals.png`.
"""

import dataclasses
import math
import time
from collections.abc import Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, ArrayLike, Float, Int, PyTree
from matplotlib.figure import Figure
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares

import sciml.nn
from sciml.nn import Positive
from sciml.ode import ODEModel, ODESolveError, PhysicsVectorField
from sciml.study import precision, RunContext


DESCRIPTION = "Robertson stiff kinetics: recover three rate constants from noisy data with an implicit solver"
HEADLINE = ("relative_errors", "rates_vs_oracle", "success")  # the metrics problems/RESULTS.md and the README show

TRUE = {"k1": 0.04, "k2": 3e7, "k3": 1e4}
NAMES = ("k1", "k2", "k3")
Y0 = (1.0, 0.0, 0.0)
# Reactions A -> B (k1), 2B -> B + C (k2), B + C -> A + C (k3): their orders in
# (y1, y2, y3) and each one's effect on the species (columns).
ORDERS = ((1, 0, 0), (0, 2, 0), (0, 1, 1))
STOICHIOMETRY = ((-1, 0, 1), (1, -1, -1), (0, 1, 0))
# Logarithms of predictions are taken above this floor; a failed solve's residuals are
# replaced by this misfit.
_FLOOR = 1e-300
_FAILED = 1e6


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    n_obs: int = 41  # observation times, log-spaced on [t_first, t_end]
    t_first: float = 1e-5  # first observation time (> 0; the initial state at t = 0 is known)
    t_end: float = 1e5  # last observation time
    noise: float = 0.01  # relative (multiplicative) noise std of every observed concentration
    start_factor: float = 10.0  # factor by which each starting rate constant is off (times or divided)
    start_signs: str = "-+-"  # per constant k1 k2 k3: + starts at k * start_factor, - at k / start_factor
    steps: int = 100  # Levenberg-Marquardt steps at most
    rtol: float = 1e-6  # relative tolerance of the Kvaerno5 solves
    atol: float = 1e-12  # absolute tolerance of the Kvaerno5 solves
    max_steps: int = 16384  # step limit of each Kvaerno5 solve
    lm_tol: float = 1e-8  # Levenberg-Marquardt convergence tolerance
    refine: int = 5  # evaluation-grid points per observation interval (the grid the plots and errors use)
    explicit_max_steps: int = 10000  # step cap of the explicit Tsit5 solve, which is expected to hit it
    oracle: bool = True  # also compute scipy's least-squares estimate from the true constants (oracle_rates)

    def __post_init__(self):
        who = "robertson_inverse"
        if self.n_obs < 4:
            raise ValueError(f"{who}: n_obs must be >= 4 (three rate constants), got {self.n_obs}")
        if not 0 < self.t_first < self.t_end:
            raise ValueError(f"{who}: need 0 < t_first < t_end, got t_first={self.t_first}, t_end={self.t_end}")
        # Larger relative noise would make negative observations likely, which have no
        # logarithm.
        if not 0 < self.noise <= 0.1:
            raise ValueError(f"{who}: noise is a relative standard deviation in (0, 0.1], got {self.noise}")
        if not self.start_factor >= 1:
            raise ValueError(f"{who}: start_factor must be >= 1, got {self.start_factor}")
        if len(self.start_signs) != 3 or set(self.start_signs) - {"+", "-"}:
            raise ValueError(f"{who}: start_signs must be three of '+' / '-' (k1, k2, k3), got {self.start_signs!r}")
        if min(self.steps, self.max_steps, self.explicit_max_steps, self.refine) < 1:
            raise ValueError(f"{who}: steps, max_steps, explicit_max_steps and refine must be >= 1")
        if not (0 < self.rtol < 1 and 0 < self.atol < 1 and 0 < self.lm_tol < 1):
            raise ValueError(f"{who}: rtol, atol and lm_tol must be in (0, 1)")


QUICK = dict(steps=20, explicit_max_steps=2000, oracle=False)


def robertson(t: Float[Array, ""], y: Float[Array, " 3"], k: dict) -> Float[Array, " 3"]:
    """The Robertson right-hand side for `PhysicsVectorField` (`k` holds `k1`, `k2`, `k3`)."""
    del t
    r1 = k["k1"] * y[0]
    r2 = k["k2"] * y[1] ** 2
    r3 = k["k3"] * y[1] * y[2]
    return jnp.stack([-r1 + r3, r1 - r2 - r3, r2])


def _rhs(t: float, y: np.ndarray, k1: float, k2: float, k3: float) -> list[float]:
    y1, y2, y3 = y
    return [-k1 * y1 + k3 * y2 * y3, k1 * y1 - k2 * y2**2 - k3 * y2 * y3, k2 * y2**2]


def _jac(t: float, y: np.ndarray, k1: float, k2: float, k3: float) -> list[list[float]]:
    y1, y2, y3 = y
    return [[-k1, k3 * y3, k3 * y2], [k1, -2 * k2 * y2 - k3 * y3, -k3 * y2], [0.0, 2 * k2 * y2, 0.0]]


def reference(ts: Float[np.ndarray, " n"], rates: Sequence[float], method: str = "Radau") -> Float[np.ndarray, " n 3"]:
    """The solution at `ts` (from `t = 0`) by scipy at tight tolerances, shape (n, 3).

    **Raises:**

    `RuntimeError` when scipy's solve fails.
    """
    atol = [1e-16, 1e-22, 1e-16] if method != "LSODA" else 1e-22
    sol = solve_ivp(
        _rhs,
        (0.0, float(ts[-1])),
        Y0,
        method=method,
        t_eval=ts,
        args=tuple(rates),
        jac=_jac,
        rtol=1e-12 if method != "LSODA" else 1e-10,
        atol=atol,
    )
    if sol.status != 0:
        raise RuntimeError(f"robertson_inverse: the scipy reference ({method}) failed: {sol.message}")
    return sol.y.T


def oracle_fit(t_obs: Float[np.ndarray, " n"], y_obs: Float[np.ndarray, " n 3"], noise: float) -> list[float]:
    """The weighted least-squares rate constants by scipy, started from the true ones.

    The best estimate these observations allow, computed independently of the model
    (scipy `least_squares` of the same log residuals as the fit, over LSODA solves).
    """

    def residuals(log_k):
        y = reference(t_obs, np.exp(log_k), "LSODA")
        return (np.log(np.maximum(y, _FLOOR) / y_obs) / noise).ravel()

    start = np.log([TRUE[n] for n in NAMES])
    fitted = least_squares(residuals, start, diff_step=1e-7, xtol=1e-12, ftol=1e-12, gtol=1e-12)
    return [float(v) for v in np.exp(fitted.x)]


def make_model(
    rates: Sequence[float],
    config: Config,
    solver: diffrax.AbstractSolver | None = None,
    max_steps: int | None = None,
    name: str = "Robertson (Kvaerno5)",
) -> ODEModel:
    """The Robertson `ODEModel` with positive (log-parametrised) rate constants."""
    params = {n: Positive(float(k)) for n, k in zip(NAMES, rates)}
    controller = diffrax.PIDController(rtol=config.rtol, atol=config.atol, pcoeff=0.3, icoeff=0.4)
    return ODEModel(
        PhysicsVectorField(robertson, params),
        diffrax.Kvaerno5() if solver is None else solver,
        controller,
        diffrax.ForwardMode(),
        max_steps=config.max_steps if max_steps is None else max_steps,
        name=name,
    )


def rates_of(model: ODEModel) -> list[float]:
    """The model's rate constants (k1, k2, k3)."""
    p = model.vector_field.parameters
    return [float(p[n]) for n in NAMES]


def _residuals(params: PyTree, args: tuple) -> Float[Array, " r"]:
    static, t, y0, obs_index, log_obs, noise = args
    model = eqx.combine(params, static)
    sol = model.solve(t, y0, throw=False)
    r = (jnp.log(jnp.maximum(sol.ys[obs_index], _FLOOR)) - log_obs) / noise
    # A failed solve (inf states) gets a large finite misfit: Levenberg-Marquardt rejects
    # that trial step and shrinks its trust region, where an inf would poison the
    # linear solve.
    return jnp.ravel(jnp.where(sol.ok, r, _FAILED))


@eqx.filter_jit
def _least_squares(model: ODEModel, t, y0, obs_index, log_obs, noise, tol: float, steps: int):
    params, static = eqx.partition(model, eqx.is_inexact_array)
    args = (static, t, y0, obs_index, log_obs, noise)
    solver = optx.LevenbergMarquardt(rtol=tol, atol=tol)
    sol = optx.least_squares(_residuals, solver, params, args=args, max_steps=steps, throw=False)
    return eqx.combine(sol.value, static), sol.result, sol.stats["num_steps"]


def fit_rates(
    model: ODEModel,
    t: Float[ArrayLike, " m"],
    obs_index: Int[ArrayLike, " n"],
    y_obs: Float[ArrayLike, " n 3"],
    noise: float,
    config: Config,
) -> tuple[ODEModel, str, int, Float[np.ndarray, " r"]]:
    """Levenberg-Marquardt on the model's log-rates against the noise-weighted log residuals.

    With multiplicative noise of relative size `noise`, `log y_obs = log y + noise * eps`
    to first order, so the residuals are `(log y(t[obs_index]) - log y_obs) / noise`,
    solved from `Y0` at `t[0]`. In log space a prediction 10x too high and one 10x too
    low are equally far from the data, which keeps the fit from a 10x-off start from
    being drawn towards vanishing concentrations. The trainable arrays of `model` (the
    `Positive` log-rates) are the unknowns of `optimistix.least_squares`, whose Jacobian
    is taken in forward mode through the solve; at most `config.steps` steps, to the
    tolerance `config.lm_tol`.

    **Returns:**

    The fitted model, optimistix's result message ("" for success), the number of
    steps and the final weighted residuals.

    **Raises:**

    `ValueError` when an observation is not positive.
    """
    y_obs = np.asarray(y_obs, dtype=float)
    if not np.all(y_obs > 0):
        raise ValueError("robertson_inverse: the observations must be positive (the fit compares logarithms)")
    args = (jnp.asarray(t), jnp.asarray(Y0), jnp.asarray(obs_index), jnp.log(jnp.asarray(y_obs)), float(noise))
    fitted, result, steps = _least_squares(model, *args, config.lm_tol, config.steps)
    message = optx.RESULTS[result] if result != optx.RESULTS.successful else ""
    # Outside the compiled fit: this solve is compiled once and shared with every other
    # evaluation of the model.
    params, static = eqx.partition(fitted, eqx.is_inexact_array)
    residuals = _residuals(params, (static, *args))
    return fitted, message, int(steps), np.asarray(residuals)


def explicit_attempt(t: Float[np.ndarray, " m"], config: Config) -> dict[str, object]:
    """Solve the true system with `diffrax.Tsit5` under a step cap; record how it fails.

    **Returns:**

    The solver's name and step cap, whether `ODESolveError` was raised and its message,
    the last save time reached, the steps taken, the wall time (compilation included)
    and `y`, the states at `t` (NaN beyond the time reached).
    """
    model = make_model(
        [TRUE[n] for n in NAMES], config, diffrax.Tsit5(), config.explicit_max_steps, name="Robertson (explicit Tsit5)"
    )
    start = time.perf_counter()
    message = None
    try:
        model.solve(t, np.asarray(Y0))
    except ODESolveError as e:
        message = str(e)
    sol = model.solve(t, np.asarray(Y0), throw=False)
    elapsed = time.perf_counter() - start
    ys = np.asarray(sol.ys)
    finite = np.all(np.isfinite(ys), axis=1)
    reached = float(t[np.flatnonzero(finite)[-1]]) if finite.any() else float(t[0])
    return {
        "solver": "Tsit5",
        "max_steps": config.explicit_max_steps,
        "raised": message is not None,
        "message": message,
        "t_reached": reached,
        "num_steps": int(sol.num_steps),
        "wall_time_s": elapsed,
        "y": np.where(finite[:, None], ys, np.nan),
    }


def rate_law_network(rates: Sequence[float]) -> tuple[eqx.Module, dict]:
    """The mass-action rate law in log form as an affine `sciml.nn` MLP, with its config.

    `network(log y) = ORDERS @ log y + log k`, the logarithms of the three reaction
    rates, so `dy/dt = STOICHIOMETRY @ exp(network(log y))` for positive `y`.
    """
    config = dict(in_size=3, out_size=3, width=1, depth=0, activation="identity")
    network = sciml.nn.build("mlp", key=jax.random.key(0), **config)
    dtype = network.layers[0].weight.dtype
    network = eqx.tree_at(
        lambda m: (m.layers[0].weight, m.layers[0].bias),
        network,
        (jnp.asarray(ORDERS, dtype), jnp.log(jnp.asarray(rates, dtype))),
    )
    return network, config


def _relative(a: np.ndarray, b: np.ndarray) -> list[float]:
    """The largest relative difference per species over the rows where `b` is nonzero."""
    keep = np.all(b != 0, axis=1)
    return [float(v) for v in np.max(np.abs(a[keep] / b[keep] - 1), axis=0)]


def _plot_species(t, y_true, y_fit, y_start, y_explicit, t_obs, y_obs, factor, t_reached) -> Figure:
    fig = Figure(figsize=(12, 4), layout="constrained")
    positive = t > 0
    for i, ax in enumerate(fig.subplots(1, 3)):
        ax.plot(t[positive], y_explicit[positive, i], "C3-", lw=5, alpha=0.35, label="explicit Tsit5")
        ax.axvline(t_reached, color="C3", lw=1, ls="--", label="Tsit5 stopped (step cap)")
        ax.plot(t[positive], y_true[positive, i], "k-", lw=2, label="truth (scipy Radau)")
        ax.plot(t[positive], y_start[positive, i], "C1:", label=f"start ({factor:g}x off)")
        ax.plot(t[positive], y_fit[positive, i], "C0--", lw=2, label="fit (Kvaerno5)")
        ax.plot(t_obs, y_obs[:, i], "ko", ms=3, label="observations")
        ax.set_xscale("log")
        if i > 0:
            ax.set_yscale("log")
        ax.set_xlabel("t")
        ax.set_title(f"y{i + 1}")
    fig.axes[0].legend(fontsize=8)
    fig.suptitle("Robertson kinetics: data, start and fitted model")
    return fig


def _plot_residuals(t_obs, residuals) -> Figure:
    fig = Figure(figsize=(8, 3.5), layout="constrained")
    ax = fig.subplots()
    for i in range(3):
        ax.plot(t_obs, residuals[:, i], "o", ms=3, label=f"y{i + 1}")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("(log fit - log data) / noise")
    ax.set_title(f"weighted residuals of the fit (mean square {np.mean(residuals**2):.2f})")
    ax.legend()
    return fig


def run(config: Config, ctx: RunContext) -> dict[str, object]:
    """Generates the data, fits the rate constants, tries an explicit solver, writes every output."""
    # The residuals span eleven orders of magnitude in the state and tolerances of
    # 1e-12: float64 whatever the global setting.
    with precision("float64") as ambient:
        out = _run(config, ctx)
    network, network_config = rate_law_network(out["rates_fit"])
    network = sciml.nn.cast(network, ambient)
    ctx.save_model(
        network,
        architecture="mlp",
        config=network_config,
        rates=dict(zip(NAMES, out["rates_fit"])),
        stoichiometry=STOICHIOMETRY,
        orders=ORDERS,
        call="network(log y) = log reaction rates; dy/dt = stoichiometry @ exp(network(log y))",
    )
    return out


def _run(config: Config, ctx: RunContext) -> dict[str, object]:
    # The evaluation grid holds the observation times (every `refine`-th point), so the
    # fit and the evaluation share one compiled solve.
    t_log = np.logspace(math.log10(config.t_first), math.log10(config.t_end), (config.n_obs - 1) * config.refine + 1)
    t = np.concatenate([[0.0], t_log])
    obs_index = 1 + config.refine * np.arange(config.n_obs)
    t_obs = t[obs_index]
    true_rates = [TRUE[n] for n in NAMES]
    y_true = reference(t, true_rates)
    agreement = _relative(reference(t, true_rates, "LSODA")[1:], y_true[1:])
    truth_obs = y_true[obs_index]
    y_obs = truth_obs * (1 + config.noise * ctx.rng("data").standard_normal(truth_obs.shape))

    start = [
        k * (config.start_factor if s == "+" else 1 / config.start_factor)
        for k, s in zip(true_rates, config.start_signs)
    ]
    model = make_model(start, config)
    y_start = np.asarray(model.solve(t, np.asarray(Y0), throw=False).ys)
    clock = time.perf_counter()
    fitted, lm_result, lm_steps, residuals = fit_rates(model, t, obs_index, y_obs, config.noise, config)
    fit_time = time.perf_counter() - clock
    rates = rates_of(fitted)
    errors = [abs(k / k0 - 1) for k, k0 in zip(rates, true_rates)]
    ctx.log(
        "fitted "
        + ", ".join(f"{n} = {k:.6g} ({e:.2%} off)" for n, k, e in zip(NAMES, rates, errors))
        + f" in {lm_steps} Levenberg-Marquardt steps, {fit_time:.1f} s"
    )
    solution = fitted.solve(t, np.asarray(Y0))
    y_fit = np.asarray(solution.ys)

    oracle = oracle_errors = vs_oracle = None
    if config.oracle:
        oracle = oracle_fit(t_obs, y_obs, config.noise)
        oracle_errors = [abs(k / k0 - 1) for k, k0 in zip(oracle, true_rates)]
        vs_oracle = max(abs(k / k0 - 1) for k, k0 in zip(rates, oracle))

    explicit = explicit_attempt(t, config)
    ctx.log(
        f"explicit Tsit5 stopped at t = {explicit['t_reached']:.3g} after {explicit['num_steps']} steps "
        f"({explicit['wall_time_s']:.1f} s): {'raised ODESolveError' if explicit['raised'] else 'no error'}"
    )
    y_explicit = explicit.pop("y")

    residuals = residuals.reshape(y_obs.shape)
    ctx.write_predictions(
        t=t, y_fit=y_fit, y_true=y_true, y_start=y_start, y_explicit=y_explicit, t_obs=t_obs, y_obs=y_obs
    )
    ctx.savefig(
        _plot_species(t, y_true, y_fit, y_start, y_explicit, t_obs, y_obs, config.start_factor, explicit["t_reached"]),
        "species.png",
    )
    ctx.savefig(_plot_residuals(t_obs, residuals), "residuals.png")

    return {
        "rates_true": true_rates,
        "rates_start": start,
        "rates_fit": rates,
        "relative_errors": dict(zip(NAMES, errors)),
        "max_relative_error": max(errors),
        "success": bool(max(errors) <= 0.05),
        "oracle_rates": oracle,
        "oracle_relative_errors": None if oracle_errors is None else dict(zip(NAMES, oracle_errors)),
        "rates_vs_oracle": vs_oracle,
        "chi2_per_residual": float(np.mean(residuals**2)),
        "lm_steps": lm_steps,
        "lm_result": lm_result or "successful",
        "lm_wall_time_s": fit_time,
        "fit_max_relative_error": _relative(y_fit[1:], y_true[1:]),
        "solver_max_relative_error": _relative(y_fit[1:], reference(t, rates)[1:]),
        "reference_agreement": agreement,
        "solver_steps": int(solution.num_steps),
        "explicit_solver": explicit,
    }


def replot(ctx: RunContext) -> None:
    """Redraws `species.png` of a finished run in `ctx.out` from `predictions.npz` and `metrics.json`.

    `residuals.png` is not redrawn: the fit's weighted residuals are not kept in the run's files.
    """
    import json  # here, not at the top: keeps this hook's diff in one place

    record = json.loads((ctx.out / "metrics.json").read_text())
    t_reached = record["metrics"]["explicit_solver"]["t_reached"]
    with np.load(ctx.out / "predictions.npz") as p:
        curves = [p[k] for k in ("t", "y_true", "y_fit", "y_start", "y_explicit", "t_obs", "y_obs")]
    ctx.savefig(_plot_species(*curves, record["config"]["start_factor"], t_reached), "species.png")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.robertson_inverse [--quick] [--out DIR] ...`, as `sciml run robertson_inverse`."""
    from sciml.study import main as run_main

    return run_main("robertson_inverse", argv)


if __name__ == "__main__":
    raise SystemExit(main())
