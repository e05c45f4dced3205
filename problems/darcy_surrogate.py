r"""Darcy flow surrogates: a Fourier neural operator against a field ResNet, and both against the solver.

**Physics.** Steady Darcy flow on the unit square with zero Dirichlet boundary,

$$ -\nabla \cdot \big(a(x)\, \nabla u(x)\big) = 1, \quad x \in (0, 1)^2, \qquad u = 0 \ \text{on}\ \partial(0, 1)^2, $$

with $a = 12$ where $\psi \ge 0$ and $a = 3$ elsewhere, $\psi \sim N(0, (-\Delta + \tau^2)^{-\alpha})$
($\alpha = 2$, $\tau = 3$, Neumann; its cosine series, as the FNO and PDEBench data), on the `size` x `size`
nodes of a uniform grid, boundary nodes included.

**Reference solver.** The 5-point finite-volume stencil of [`sciml.pde.DiffusionOperator`][] solved by
`lineax.CG` (Jacobi preconditioner, batched, float64) to `cg_tolerance`; every target is such a converged
solve. The speed comparison adds a sparse direct solve (`scipy.sparse.linalg.splu`) of the same matrix.

**Models.** Both fitted by `sciml.study.fit_surrogate` (the path of `sciml fit`) on the same seeded split:
`fno`, a `sciml.nn.FNO` (4 Fourier layers of width 32, 12 modes per axis); `resnet`, a `sciml.nn.FieldResNet`
(4 blocks of 3x3 convolutions, width 32). **Speed**: per grid of `speed_sizes`, `n_speed` new permeabilities
solved by `splu` and by batched CG and predicted by each surrogate in one jitted batch, timed alternately,
medians of `speed_repeats`; the FNO trained at `size` is also evaluated zero-shot on the finer grids.

**Default budget** (float32 networks): 1000 training, 100 validation and 200 test samples on a 32 x 32 grid,
2500 Adam steps of batch 10 per model. **Expected accuracy**: FNO test relative L2 about 1.6% (within the 2%
acceptance), field ResNet about 9%; the surrogates are roughly as fast as the sparse direct solve on a CPU.
Per-seed figures, zero-shot errors and timings: `problems/RESULTS.md`.

**Outputs.** `metrics.json` metrics: `fno_test_relative_l2`, `resnet_test_relative_l2` (mean over test samples
of $\|\hat u - u\|_2 / \|u\|_2$), `fno_test_relative_l2_max`, `resnet_test_relative_l2_max`, `best_model`,
`best_test_relative_l2`, `meets_2_percent`; per speed grid $s$: `direct_ms_<s>`, `cg_ms_<s>`, `fno_ms_<s>`,
`resnet_ms_<s>`, `reference_solver_<s>`, `fno_speedup_<s>`, `resnet_speedup_<s>`, `fno_relative_l2_<s>`,
`solver_agreement_<s>`; `data_time_s`, `fno_train_time_s`, `resnet_train_time_s`, `fno_parameters`,
`resnet_parameters`, `fno_best_step`, `resnet_best_step`. Subfolders `fno/` and `resnet/` hold each model's
`sciml fit` outputs; `darcy.npz` the data (`inputs` = $a$, `outputs` = $u$). `model.eqx` + `model.json`: the
better network, with normalisation under `surrogate` (`sciml.surrogate.load_surrogate(out)`).
`predictions.npz`: `a` (n, s, s) test permeabilities, `u` (n, s, s) references, `fno` and `resnet` (n, s, s),
`test_index` (n,); per speed grid $s$: `a_<s>`, `u_<s>` (direct solutions), `fno_<s>` (zero-shot) (e.g. `a_64`,
`u_64`, `fno_64`, `a_128`, `u_128`, `fno_128`; `a_16`, `u_16`, `fno_16` with `--quick`).
Plots: `fields.png`, `training.png`, `speed.png`.
"""

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import scipy.fft
import scipy.sparse.linalg
from jaxtyping import Array, Float
from matplotlib.figure import Figure

import sciml.data
from sciml.pde import diffusion_matrix, solve_diffusion
from sciml.study import fit_surrogate, precision, RunContext
from sciml.surrogate import load_surrogate
from sciml.train import count_parameters


DESCRIPTION = "FNO vs field ResNet surrogates of 2D Darcy flow (thresholded GRF), timed against sparse direct and CG"
# The metrics problems/RESULTS.md and the README show.
HEADLINE = ("fno_test_relative_l2", "resnet_test_relative_l2", "meets_2_percent")


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    size: int = 32  # grid nodes per side, boundary included (h = 1 / (size - 1))
    n_train: int = 1000  # training samples
    n_val: int = 100  # validation samples (the best validation relative L2 is kept)
    n_test: int = 200  # test samples
    alpha: float = 2.0  # exponent alpha of the Gaussian random field's covariance (smoothness)
    tau: float = 3.0  # inverse length scale tau of the Gaussian random field
    a_high: float = 12.0  # permeability where the random field is >= 0
    a_low: float = 3.0  # permeability where the random field is < 0
    cg_tolerance: float = 1e-8  # relative tolerance of the reference CG solves
    fno_width: int = 32  # channels of the FNO's Fourier layers
    fno_modes: int = 12  # Fourier modes kept per axis in each FNO layer
    fno_depth: int = 4  # Fourier layers of the FNO
    fno_projection: int = 64  # width of the FNO's output projection
    resnet_width: int = 32  # channels of the field ResNet
    resnet_depth: int = 4  # residual blocks of the field ResNet
    steps: int = 2500  # Adam steps for each model (cosine decay)
    batch_size: int = 10  # samples per step
    learning_rate: float = 2e-3  # Adam's peak learning rate
    speed_sizes: tuple[int, ...] = (64, 128)  # finer grid sizes of the speed and zero-shot comparison
    n_speed: int = 16  # new permeabilities solved and predicted per speed grid
    speed_repeats: int = 5  # timing repeats per speed grid (median taken)
    plot_samples: int = 3  # test samples drawn in the prediction plots

    def __post_init__(self):
        if self.size < 8:
            raise ValueError(f"darcy_surrogate: size must be >= 8 grid nodes, got {self.size}")
        if (
            min(
                self.n_train,
                self.n_val,
                self.n_test,
                self.steps,
                self.batch_size,
                self.n_speed,
                self.speed_repeats,
                self.plot_samples,
            )
            < 1
        ):
            raise ValueError(
                "darcy_surrogate: n_train, n_val, n_test, steps, batch_size, n_speed, "
                "speed_repeats and plot_samples must be >= 1"
            )
        if not (self.alpha > 1 and self.tau > 0):
            raise ValueError(f"darcy_surrogate: need alpha > 1 and tau > 0, got {self.alpha}, {self.tau}")
        if not 0 < self.a_low < self.a_high:
            raise ValueError(f"darcy_surrogate: need 0 < a_low < a_high, got {self.a_low}, {self.a_high}")
        if not 0 < self.cg_tolerance < 1e-3:
            raise ValueError(f"darcy_surrogate: cg_tolerance must be in (0, 1e-3), got {self.cg_tolerance}")
        if not 1 <= self.fno_modes <= self.size // 2:
            raise ValueError(
                f"darcy_surrogate: fno_modes must be in [1, size // 2 = {self.size // 2}], got {self.fno_modes}"
            )
        if min(self.fno_width, self.fno_depth, self.fno_projection, self.resnet_width, self.resnet_depth) < 1:
            raise ValueError("darcy_surrogate: network widths and depths must be >= 1")
        if not self.learning_rate > 0:
            raise ValueError(f"darcy_surrogate: learning_rate must be > 0, got {self.learning_rate}")
        if not self.speed_sizes or min(self.speed_sizes) < 8:
            raise ValueError(f"darcy_surrogate: speed_sizes must be grid sizes >= 8, got {self.speed_sizes}")


QUICK = dict(
    size=16,
    n_train=32,
    n_val=8,
    n_test=8,
    fno_width=8,
    fno_modes=4,
    fno_depth=2,
    fno_projection=8,
    resnet_width=8,
    resnet_depth=1,
    steps=20,
    batch_size=8,
    speed_sizes=(16,),
    n_speed=8,
    speed_repeats=2,
    plot_samples=1,
)


def sample_permeability(
    rng: np.random.Generator,
    n: int,
    size: int,
    *,
    alpha: float = 2.0,
    tau: float = 3.0,
    high: float = 12.0,
    low: float = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """`n` Gaussian random fields on a `size` x `size` grid and their two-valued thresholds.

    The field has covariance $(-\\Delta + \\tau^2)^{-\\alpha}$ with Neumann boundaries on
    the unit square: white noise times the square root of the eigenvalues in the cosine
    basis, transformed by an inverse orthonormal DCT, the constant mode removed (Li et al.
    2021's `GRF.m`). The permeability is `high` where the field is >= 0, else `low`.

    **Returns:**

    `(psi, a)`, both `(n, size, size)` float64.
    """
    k = np.arange(size)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    coefficient = tau ** (alpha - 1) * (np.pi**2 * k2 + tau**2) ** (-alpha / 2)
    modes = size * coefficient * rng.standard_normal((n, size, size))
    modes[:, 0, 0] = 0.0
    psi = scipy.fft.idctn(modes, axes=(1, 2), norm="ortho")
    return psi, np.where(psi >= 0, high, low)


@eqx.filter_jit
def _cg_batch(a: Float[Array, " n s s"], f: Float[Array, " n m m"], solver: lx.CG):
    # throw=False: a member that fails returns NaN alone instead of failing the batch.
    return jax.vmap(lambda k, g: solve_diffusion(k, g, solver=solver, throw=False))(a, f)


def _source(f: float | np.ndarray, n: int, size: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(f, np.float64), (n, size - 2, size - 2))


def _embed(u_interior: np.ndarray) -> np.ndarray:
    return np.pad(u_interior, ((0, 0), (1, 1), (1, 1)))


def solve_cg(
    a: Float[np.ndarray, " n s s"],
    f: float | Float[np.ndarray, " n m m"] = 1.0,
    *,
    tolerance: float = 1e-8,
    max_steps: int | None = None,
) -> Float[np.ndarray, " n s s"]:
    """Solves `-div(a grad u) = f`, `u = 0` on the boundary, for a batch of permeabilities.

    Jacobi-preconditioned `lineax.CG` on the finite-volume stencil of
    `sciml.pde.solve_diffusion`, one jitted `vmap` over the batch, in float64
    whatever JAX's default precision (float32 rounding in the stencil stalls CG
    before 1e-4 relative on 64 x 64 grids with a contrast of 4).

    **Arguments:**

    - `a`: permeabilities on the full grid, boundary nodes included, `(n, s, s)`.
    - `f`: the source, a scalar or `(n, s - 2, s - 2)` at the interior nodes.
    - `tolerance`: CG's relative and absolute tolerance.
    - `max_steps`: CG's step limit (default lineax's, ten times the unknowns).

    **Returns:**

    The solutions on the full grid (zero boundary), `(n, s, s)` float64.

    **Raises:**

    `RuntimeError` naming the failed samples when CG does not converge.
    """
    a = np.asarray(a, np.float64)
    if a.ndim != 3 or a.shape[1] != a.shape[2] or a.shape[1] < 3:
        raise ValueError(f"darcy_surrogate: permeabilities must have shape (n, s, s) with s >= 3, got {a.shape}")
    solver = lx.CG(rtol=tolerance, atol=tolerance, max_steps=max_steps)
    with precision("float64"):
        u = np.asarray(_cg_batch(jnp.asarray(a), jnp.asarray(_source(f, *a.shape[:2])), solver))
    failed = np.flatnonzero(~np.isfinite(u).all(axis=(1, 2)))
    if failed.size:
        raise RuntimeError(f"darcy_surrogate: CG did not converge for samples {failed.tolist()}")
    return _embed(u)


def solve_direct(a: Float[np.ndarray, " n s s"], f: float | Float[np.ndarray, " n m m"] = 1.0) -> np.ndarray:
    """The same problems as [`solve_cg`][] by a sparse direct solve per sample.

    Assembles [`sciml.pde.diffusion_matrix`][] and factorises it with SuperLU
    (`scipy.sparse.linalg.splu`) under a minimum-degree ordering of $A^T + A$, the
    fastest of scipy's orderings for this symmetric 5-point matrix.

    **Returns:**

    The solutions on the full grid (zero boundary), `(n, s, s)` float64.
    """
    a = np.asarray(a, np.float64)
    f = _source(f, *a.shape[:2])
    m = a.shape[1] - 2
    out = np.empty((len(a), m, m))
    for i, (k, g) in enumerate(zip(a, f)):
        lu = scipy.sparse.linalg.splu(diffusion_matrix(k).tocsc(), permc_spec="MMD_AT_PLUS_A")
        out[i] = lu.solve(np.ascontiguousarray(g).ravel()).reshape(m, m)
    return _embed(out)


def relative_errors(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-sample $\\|\\hat u - u\\|_2 / \\|u\\|_2$ over the grid, in float64."""
    pred, truth = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    axes = tuple(range(1, truth.ndim))
    return np.sqrt(np.sum((pred - truth) ** 2, axis=axes) / np.sum(truth**2, axis=axes))


@eqx.filter_jit
def predict_batch(model: eqx.Module, x: Float[Array, " n c s s"]) -> Float[Array, " n d s s"]:
    """A model applied to a batch of fields in one compiled `vmap` (the timed inference)."""
    return jax.vmap(model)(x)


def _fit_overrides(config: Config, n_total: int, name: str) -> list[str]:
    common = [
        f"steps={config.steps}",
        f"batch_size={config.batch_size}",
        f"learning_rate={config.learning_rate}",
        "schedule=cosine",
        f"val_fraction={config.n_val / n_total!r}",
        f"test_fraction={config.n_test / n_total!r}",
        f"plot_samples={config.plot_samples}",
    ]
    if name == "fno":
        return common + [
            f"width={config.fno_width}",
            f"modes={config.fno_modes}",
            f"depth={config.fno_depth}",
            f"projection_width={config.fno_projection}",
            "grid_features=true",
        ]
    return common + ["variant=field", f"width={config.resnet_width}", f"depth={config.resnet_depth}", "padding=zeros"]


def _fit(config: Config, ctx: RunContext, data_path, name: str, n_total: int):
    history: list[dict] = []
    record = fit_surrogate(
        data_path,
        model=name,
        out=ctx.out / name,
        seed=ctx.seed,
        quiet=ctx.quiet,
        resume=ctx.resume,
        overrides=_fit_overrides(config, n_total, name),
        callback=lambda step, r: history.append(dict(r)),
    )
    surrogate, meta = load_surrogate(ctx.out / name)
    return surrogate, meta, record, history


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def speed_comparison(
    surrogates: dict[str, eqx.Module], a: Float[np.ndarray, " n s s"], *, repeats: int, tolerance: float
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Per-sample wall times of the two classical solvers and of each surrogate on `a`.

    Each contender runs once to compile (and warm caches), then all are timed in turn
    within every repeat, so a change of the machine's load reaches all of them.

    **Returns:**

    `(ms, outputs)`: the median milliseconds per sample of `"direct"`, `"cg"` and each
    surrogate, and the `(n, s, s)` outputs of each.
    """
    n = len(a)
    dtype = jnp.zeros(()).dtype
    x = jnp.asarray(a[:, None], dtype)
    contenders: dict[str, Callable[[], object]] = {
        "direct": lambda: solve_direct(a),
        "cg": lambda: solve_cg(a, tolerance=tolerance),
        **{name: (lambda m=m: predict_batch(m, x)) for name, m in surrogates.items()},
    }
    outputs = {name: np.asarray(fn(), np.float64) for name, fn in contenders.items()}
    for name in surrogates:
        outputs[name] = outputs[name][:, 0]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(_timed(fn))
    ms = {name: 1e3 * statistics.median(t) / n for name, t in times.items()}
    return ms, outputs


def _plot_fields(a, u, preds: dict[str, np.ndarray], k: int) -> Figure:
    names = list(preds)
    columns = ["permeability a", "reference u"] + [f"{n}" for n in names] + [f"|{n} - u|" for n in names]
    fig = Figure(figsize=(2.6 * len(columns), 2.4 * k), layout="constrained")
    axes = fig.subplots(k, len(columns), squeeze=False)
    for i in range(k):
        vmax = float(np.max(u[i]))
        panels = [(a[i], "viridis", None, None), (u[i], "magma", 0.0, vmax)]
        panels += [(preds[n][i], "magma", 0.0, vmax) for n in names]
        err_max = max(float(np.max(np.abs(preds[n][i] - u[i]))) for n in names)
        panels += [(np.abs(preds[n][i] - u[i]), "Reds", 0.0, err_max) for n in names]
        for j, (field, cmap, lo, hi) in enumerate(panels):
            ax = axes[i, j]
            im = ax.imshow(field.T, origin="lower", extent=(0, 1, 0, 1), cmap=cmap, vmin=lo, vmax=hi)
            fig.colorbar(im, ax=ax, shrink=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(columns[j], fontsize=9)
    return fig


def _plot_training(histories: dict[str, list[dict]], title: str) -> Figure:
    fig = Figure(figsize=(9.5, 3.6), layout="constrained")
    ax_loss, ax_val = fig.subplots(1, 2)
    for name, history in histories.items():
        steps = [r["step"] for r in history]
        ax_loss.plot(steps, [r["loss"] for r in history], label=name)
        val = [(r["step"], r["val_relative_l2"]) for r in history if "val_relative_l2" in r]
        if val:
            ax_val.plot(*zip(*val), marker="o", ms=3, label=name)
    ax_loss.set(xlabel="step", ylabel="training loss (normalised MSE)", yscale="log")
    ax_val.set(xlabel="step", ylabel="validation relative L2", yscale="log")
    for ax in (ax_loss, ax_val):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


def _plot_speed(speed: dict[int, dict[str, float]]) -> Figure:
    sizes = sorted(speed)
    names = list(speed[sizes[0]])
    fig = Figure(figsize=(6.0, 3.8), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        ax.bar(np.arange(len(sizes)) + j * width, [speed[s][name] for s in sizes], width, label=name)
    ax.set_xticks(np.arange(len(sizes)) + 0.4 - width / 2, [f"{s} x {s}" for s in sizes])
    ax.set(ylabel="ms per sample (median)", yscale="log", title="classical solvers vs batched surrogates")
    ax.legend()
    return fig


def run(config: Config, ctx: RunContext) -> dict[str, object]:
    """Generates and solves the data, fits both surrogates, scores and times them, writes every output."""
    n_total = config.n_train + config.n_val + config.n_test
    start = time.perf_counter()
    _, a = sample_permeability(
        ctx.rng("data"), n_total, config.size, alpha=config.alpha, tau=config.tau, high=config.a_high, low=config.a_low
    )
    u = solve_cg(a, tolerance=config.cg_tolerance)
    data_time = time.perf_counter() - start
    ctx.log(f"solved {n_total} Darcy problems on {config.size} x {config.size} in {data_time:.1f} s")
    data_path = ctx.out / "darcy.npz"
    sciml.data.save(data_path, {"inputs": a[..., None].astype(np.float32), "outputs": u[..., None].astype(np.float32)})

    models, metas, records, histories = {}, {}, {}, {}
    for name in ("fno", "resnet"):
        models[name], metas[name], records[name], histories[name] = _fit(config, ctx, data_path, name, n_total)
    with np.load(ctx.out / "fno" / "predictions.npz") as sub:
        test = sub["sample_index"]
    x_test = jnp.asarray(a[test, None], jnp.zeros(()).dtype)
    preds = {name: np.asarray(predict_batch(m, x_test))[:, 0].astype(np.float64) for name, m in models.items()}
    errors = {name: relative_errors(p, u[test]) for name, p in preds.items()}

    metrics: dict[str, object] = {}
    for name in models:
        metrics[f"{name}_test_relative_l2"] = float(np.mean(errors[name]))
        metrics[f"{name}_test_relative_l2_max"] = float(np.max(errors[name]))
    best = min(models, key=lambda name: metrics[f"{name}_test_relative_l2"])
    metrics.update(best_model=best, best_test_relative_l2=metrics[f"{best}_test_relative_l2"])
    metrics["meets_2_percent"] = bool(metrics["best_test_relative_l2"] <= 0.02)

    arrays = dict(a=a[test], u=u[test], test_index=test, **preds)
    speed: dict[int, dict[str, float]] = {}
    for s in config.speed_sizes:
        _, a_s = sample_permeability(
            ctx.rng(f"speed{s}"),
            config.n_speed,
            s,
            alpha=config.alpha,
            tau=config.tau,
            high=config.a_high,
            low=config.a_low,
        )
        ms, outputs = speed_comparison(models, a_s, repeats=config.speed_repeats, tolerance=config.cg_tolerance)
        speed[s] = ms
        reference = min(("direct", "cg"), key=ms.get)
        metrics.update({f"{name}_ms_{s}": value for name, value in ms.items()})
        metrics[f"reference_solver_{s}"] = reference
        for name in models:
            metrics[f"{name}_speedup_{s}"] = ms[reference] / ms[name]
        metrics[f"fno_relative_l2_{s}"] = float(np.mean(relative_errors(outputs["fno"], outputs["direct"])))
        metrics[f"solver_agreement_{s}"] = float(np.max(relative_errors(outputs["cg"], outputs["direct"])))
        arrays.update({f"a_{s}": a_s, f"u_{s}": outputs["direct"], f"fno_{s}": outputs["fno"]})
        ctx.log(f"{s} x {s}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in ms.items()))

    ctx.write_predictions(**arrays)
    meta = metas[best]
    ctx.save_model(
        models[best].network, architecture=meta["architecture"], config=meta["config"], surrogate=meta["surrogate"]
    )
    k = min(config.plot_samples, len(test))
    ctx.savefig(_plot_fields(a[test], u[test], preds, k), "fields.png")
    ctx.savefig(_plot_training(histories, f"{ctx.problem} (seed {ctx.seed})"), "training.png")
    ctx.savefig(_plot_speed(speed), "speed.png")
    for name in models:
        metrics[f"{name}_train_time_s"] = records[name]["metrics"]["train_time_s"]
        metrics[f"{name}_parameters"] = count_parameters(models[name].network)["total"]
        metrics[f"{name}_best_step"] = records[name]["metrics"]["best_step"]
    metrics["data_time_s"] = data_time
    return metrics


def replot(ctx: RunContext) -> None:
    """Redraws every plot of a finished run in `ctx.out` from `predictions.npz`, `metrics.json` and the final
    checkpoints of the two surrogate fits (in `fno/` and `resnet/`)."""
    import json  # here, not at the top: keeps this hook's diff in one place

    record = json.loads((ctx.out / "metrics.json").read_text())
    metrics, config = record["metrics"], record["config"]
    names = ("fno", "resnet")
    with np.load(ctx.out / "predictions.npz") as p:
        a, u, preds = p["a"], p["u"], {name: p[name] for name in names}
    ctx.savefig(_plot_fields(a, u, preds, min(config["plot_samples"], len(a))), "fields.png")
    histories = {
        name: json.loads((ctx.out / name / "checkpoints" / "checkpoint.json").read_text())["history"] for name in names
    }
    ctx.savefig(_plot_training(histories, f"{ctx.problem} (seed {ctx.seed})"), "training.png")
    speed = {}
    for s in config["speed_sizes"]:  # `{solver}_ms_{size}`, in the order the run timed them
        suffix = f"_ms_{s}"
        speed[s] = {k[: -len(suffix)]: v for k, v in metrics.items() if k.endswith(suffix)}
    ctx.savefig(_plot_speed(speed), "speed.png")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.darcy_surrogate [--quick] [--out DIR] ...`, as `sciml run darcy_surrogate`."""
    from sciml.study import main as run_main

    return run_main("darcy_surrogate", argv)


if __name__ == "__main__":
    raise SystemExit(main())
