r"""Classify 2D Gaussian random fields by their correlation length.

**Physics.** Each sample is a stationary Gaussian random field $f$ on a periodic $N \times N$ grid of unit
spacing with a squared-exponential covariance plus a white-noise nugget,

$$ \operatorname{Cov}[f(x), f(x + r)] = \sigma^2 \left( e^{-|r|^2 / 2\ell^2} + \eta^2 \delta_{r,0} \right), $$

synthesised spectrally (white noise filtered by the square root of the power spectrum, so the covariance is
exactly circulant). The class is the regime of $\ell$: $[1, 2)$, $[2, 4)$ or $[4, 8)$ grid spacings, $\ell$
log-uniform over $[1, 8)$, so samples near a boundary are genuinely ambiguous. The amplitude $\sigma$ is
log-uniform over $[1/3, 3]$ independently of the class, and each field is divided by its own RMS.

**Model.** `sciml.nn.build_with_state("cnn", ...)`: three blocks of circular 3x3 convolution, BatchNorm, ReLU
and 2x average pooling, a global average and a linear head (3 logits), trained by `sciml.train.fit` on the
cross-entropy (Adam, warm-up and cosine decay); the model with the lowest validation cross-entropy (every
`val_every` steps) is kept.

**Independent reference.** The labels come from the generator. A classical baseline that knows the covariance
family and $\eta$ maximises the exact Gaussian likelihood of each test field (diagonal in Fourier space,
$\sigma^2$ profiled out) over 256 values of $\ell$ and classifies $\hat\ell$ by the same edges: close to
Bayes-optimal, it says how much of the network's error is irreducible ambiguity.

**Default budget** (float32): 8000 training, 500 validation and 1000 test fields of 32x32, 2000 steps of batch
64, a 14k-parameter CNN; about a minute. **Expected accuracy**: test accuracy about 0.97 against 0.98-0.99 for
the maximum-likelihood reference. Per-seed figures: `problems/RESULTS.md`. `--quick`: 16x16 fields, 30 steps.

**Outputs.** `metrics.json` metrics: `test_accuracy`, `test_cross_entropy`, `accuracy_class0`,
`accuracy_class1`, `accuracy_class2` (shortest $\ell$ first), `confusion_matrix` (rows true class),
`reference_accuracy`, `reference_confusion_matrix`, `reference_median_log_error` (median
$|\log(\hat\ell / \ell)|$), `best_step`, `steps_run`, `parameters`. `model.eqx` + `model.json`: `(model, state)`
(`architecture="cnn"`, `has_state=True`); call it in `eqx.nn.inference_mode` on RMS-normalised fields of shape
`[1, N, N]`. `predictions.npz`: `fields` (n, N, N) the network's inputs, `labels` (n,), `predicted` (n,),
`probabilities` (n, 3), `correlation_lengths` (n,) true $\ell$, `amplitudes` (n,) true $\sigma$,
`reference_lengths` (n,) $\hat\ell$, `reference_predicted` (n,), `length_edges` (4,) the class edges.
Plots: `examples.png`, `confusion.png`, `probabilities.png`, `training.png`.
"""

import dataclasses
import json
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, Float, Int
from matplotlib.figure import Figure

import sciml.nn
from sciml.study import RunContext
from sciml.train import accuracy, Checkpointing, count_parameters, fit, Logging, make_optimizer, Validation


DESCRIPTION = "CNN (BatchNorm) classifies 2D Gaussian random fields by correlation-length regime"
HEADLINE = ("test_accuracy", "reference_accuracy")  # the metrics problems/RESULTS.md and the README show


@dataclasses.dataclass(frozen=True)
class Config:
    """The default budget; override fields with `--set key=value`."""

    size: int = 32  # grid points per side of each field
    length_edges: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)  # correlation-length bin edges; one class per bin
    amplitude_range: tuple[float, float] = (1 / 3, 3.0)  # range of the amplitudes sigma, drawn log-uniformly
    noise: float = 0.1  # white-noise nugget, relative to the field's standard deviation
    n_train: int = 8000  # training fields
    n_val: int = 500  # validation fields
    n_test: int = 1000  # test fields
    channels: tuple[int, ...] = (16, 32, 32)  # channels of the CNN's convolution blocks
    steps: int = 2000  # training steps
    batch_size: int = 64  # fields per step
    learning_rate: float = 3e-3  # peak learning rate of the warm-up cosine schedule
    warmup_steps: int = 50  # steps of linear learning-rate warm-up (0: none)
    val_every: int = 100  # steps between validations
    checkpoint_every: int = 250  # steps between checkpoints

    def __post_init__(self):
        edges = self.length_edges
        if len(edges) < 3 or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] <= 0:
            raise ValueError(f"length_edges must be >= 3 increasing positive values, got {edges}")
        low, high = self.amplitude_range
        if not 0 < low <= high:
            raise ValueError(f"amplitude_range must satisfy 0 < low <= high, got {self.amplitude_range}")
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise}")
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be a non-empty tuple of positive ints, got {self.channels}")
        if self.size < 2 ** len(self.channels):
            raise ValueError(f"size {self.size} is too small for {len(self.channels)} pooling blocks")
        if min(self.n_train, self.n_val, self.n_test, self.steps, self.val_every, self.checkpoint_every) < 1:
            raise ValueError("n_train, n_val, n_test, steps, val_every and checkpoint_every must be >= 1")
        if not 1 <= self.batch_size <= self.n_train:
            raise ValueError(f"batch_size must be in [1, n_train={self.n_train}], got {self.batch_size}")


QUICK = dict(
    size=16,
    n_train=256,
    n_val=64,
    n_test=128,
    channels=(8, 8),
    steps=30,
    batch_size=32,
    warmup_steps=5,
    val_every=10,
    checkpoint_every=10,
)


def _spectra(lengths: np.ndarray, size: int, noise: float) -> np.ndarray:
    """Power spectra on the FFT grid, normalised so each field has variance 1 + noise^2.

    The continuous spectrum of the Gaussian covariance is $2\\pi\\ell^2 e^{-\\ell^2k^2/2}$;
    dividing by its grid mean instead of using the continuous constant makes the discrete
    variance exactly one even when $\\ell$ is not small against the box.
    """
    k = 2 * np.pi * np.fft.fftfreq(size)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    spectra = np.exp(-0.5 * lengths[:, None, None] ** 2 * k2[None])
    spectra /= spectra.mean(axis=(1, 2), keepdims=True)
    return spectra + noise**2


def synthesise_fields(
    rng: np.random.Generator, lengths: np.ndarray, amplitudes: np.ndarray, size: int, noise: float
) -> np.ndarray:
    """Samples one periodic Gaussian random field per (length, amplitude), shape (n, size, size)."""
    white = rng.standard_normal((len(lengths), size, size))
    filtered = np.fft.ifft2(np.fft.fft2(white) * np.sqrt(_spectra(lengths, size, noise))).real
    return amplitudes[:, None, None] * filtered


def max_likelihood_length(fields: np.ndarray, grid: np.ndarray, noise: float) -> np.ndarray:
    """The maximum-likelihood correlation length of each field over `grid`.

    The synthesis makes every Fourier mode independent with variance $\\sigma^2 S_\\ell(k)$,
    so the negative log-likelihood is $\\sum_k \\log(\\sigma^2 S_\\ell(k)) + I_k/(\\sigma^2
    S_\\ell(k))$ with periodogram $I_k$ (Whittle's likelihood, exact here). Minimising over
    $\\sigma^2$ gives $\\hat\\sigma^2 = \\mathrm{mean}_k(I_k/S_\\ell(k))$ and the profile
    $K\\log\\hat\\sigma^2 + \\sum_k \\log S_\\ell(k)$, minimised over the grid.
    """
    size = fields.shape[-1]
    periodogram = (np.abs(np.fft.fft2(fields)) ** 2 / size**2).reshape(len(fields), -1)
    spectra = _spectra(grid, size, noise).reshape(len(grid), -1)
    sigma2 = periodogram @ (1 / spectra).T / spectra.shape[1]
    profile = spectra.shape[1] * np.log(sigma2) + np.log(spectra).sum(axis=1)[None]
    return grid[np.argmin(profile, axis=1)]


def make_split(rng: np.random.Generator, n: int, config: Config) -> dict[str, np.ndarray]:
    """Draws `n` fields with balanced classes; returns fields, labels, lengths, amplitudes."""
    edges = np.asarray(config.length_edges)
    num_classes = len(edges) - 1
    labels = rng.permutation(np.arange(n) % num_classes)
    log_lengths = rng.uniform(np.log(edges[labels]), np.log(edges[labels + 1]))
    low, high = config.amplitude_range
    amplitudes = np.exp(rng.uniform(np.log(low), np.log(high), n))
    fields = synthesise_fields(rng, np.exp(log_lengths), amplitudes, config.size, config.noise)
    # The class is a property of the covariance's shape: remove each field's own scale.
    normalised = fields / np.sqrt(np.mean(fields**2, axis=(1, 2), keepdims=True))
    return dict(fields=normalised, raw=fields, labels=labels, lengths=np.exp(log_lengths), amplitudes=amplitudes)


def _batched(model, fields: Float[Array, " n 1 h w"], state: eqx.nn.State):
    return jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(fields, state)


def _loss(model, state: eqx.nn.State, batch, key) -> tuple[Float[Array, ""], eqx.nn.State]:
    del key  # no dropout
    fields, labels = batch
    logits, state = _batched(model, fields, state)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), state


def _metrics(model, state: eqx.nn.State, batch) -> dict[str, Float[Array, ""]]:
    fields, labels = batch
    logits, _ = _batched(model, fields, state)
    return {
        "cross_entropy": optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(),
        "accuracy": accuracy(logits, labels),
    }


@eqx.filter_jit
def _predict(model, state: eqx.nn.State, fields: Float[Array, " n 1 h w"]) -> Float[Array, " n classes"]:
    logits, _ = _batched(eqx.nn.inference_mode(model), fields, state)
    return logits


def confusion_matrix(labels: Int[np.ndarray, " n"], predicted: Int[np.ndarray, " n"], k: int) -> np.ndarray:
    """Counts, rows the true class and columns the predicted one."""
    return np.bincount(labels * k + predicted, minlength=k * k).reshape(k, k)


def _class_names(edges: Sequence[float]) -> list[str]:
    return [f"ℓ∈[{a:g},{b:g})" for a, b in zip(edges, edges[1:])]


def _plot_examples(split: dict[str, np.ndarray], names: list[str], per_class: int = 4) -> Figure:
    k = len(names)
    fig = Figure(figsize=(2.2 * per_class, 2.2 * k), layout="constrained")
    axes = fig.subplots(k, per_class, squeeze=False)
    for c in range(k):
        for j, i in enumerate(np.flatnonzero(split["labels"] == c)[:per_class]):
            ax = axes[c, j]
            ax.imshow(split["fields"][i], cmap="RdBu_r", vmin=-3, vmax=3)
            ax.set_title(f"ℓ={split['lengths'][i]:.2f}, σ={split['amplitudes'][i]:.2f}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[c, 0].set_ylabel(names[c])
    fig.suptitle("test fields by regime (RMS-normalised)")
    return fig


def _plot_confusion(matrices: dict[str, np.ndarray], names: list[str]) -> Figure:
    fig = Figure(figsize=(4.5 * len(matrices), 4), layout="constrained")
    for ax, (title, m) in zip(fig.subplots(1, len(matrices), squeeze=False)[0], matrices.items()):
        ax.imshow(m, cmap="Blues")
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(v), ha="center", va="center", color="white" if v > m.max() / 2 else "black")
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{title}: accuracy {np.trace(m) / m.sum():.3f}")
    return fig


def _plot_probabilities(lengths: np.ndarray, probabilities: np.ndarray, edges, names) -> Figure:
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    for c, name in enumerate(names):
        ax.scatter(lengths, probabilities[:, c], s=4, alpha=0.5, label=name)
    for e in edges[1:-1]:
        ax.axvline(e, color="grey", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xticks(edges, [f"{e:g}" for e in edges])
    ax.minorticks_off()
    ax.set_xlabel("true correlation length ℓ (grid spacings)")
    ax.set_ylabel("predicted class probability")
    ax.legend(loc="center right", markerscale=3)
    return fig


def run(config: Config, ctx: RunContext) -> dict[str, object]:
    """Generates the fields, trains the CNN, evaluates it and writes every output."""
    rng = ctx.rng("data")
    splits = {
        name: make_split(rng, n, config)
        for name, n in (("train", config.n_train), ("val", config.n_val), ("test", config.n_test))
    }
    # float32 by default; float64 when JAX runs with x64 enabled (the tests), matching
    # the dtype the model's parameters are created with.
    dtype = jnp.zeros(()).dtype

    def arrays(split):
        return jnp.asarray(split["fields"][:, None], dtype), jnp.asarray(split["labels"], jnp.int32)

    edges = list(config.length_edges)
    num_classes = len(edges) - 1
    names = _class_names(edges)
    model_config = dict(
        num_spatial_dims=2,
        in_channels=1,
        channels=list(config.channels),
        num_classes=num_classes,
        batch_norm=True,
        pooling="avg",
        padding_mode="circular",
    )
    init_key, fit_key = jr.split(ctx.key)
    model, state = sciml.nn.build_with_state("cnn", key=init_key, **model_config)

    optimizer = {
        "name": "adam",
        "learning_rate": config.learning_rate,
        "schedule": "cosine",
        "warmup_steps": config.warmup_steps,
    }
    result = fit(
        model,
        _loss,
        arrays(splits["train"]),
        make_optimizer(optimizer, steps=config.steps),
        steps=config.steps,
        key=fit_key,
        batch_size=config.batch_size,
        state=state,
        validation=Validation(
            arrays(splits["val"]),
            every=config.val_every,
            metrics=_metrics,
            monitor="cross_entropy",
            mode="min",
            keep_best=True,
        ),
        checkpointing=Checkpointing(ctx.checkpoint_dir, every=config.checkpoint_every, resume=ctx.resume),
        logging=Logging(quiet=ctx.quiet, desc="field_regimes"),
    )

    test = splits["test"]
    test_fields, test_labels = arrays(test)
    logits = _predict(result.model, result.state, test_fields)
    probabilities = np.asarray(jax.nn.softmax(logits, axis=-1))
    predicted = probabilities.argmax(axis=1)
    labels = test["labels"]
    cross_entropy = float(optax.softmax_cross_entropy_with_integer_labels(logits, test_labels).mean())
    confusion = confusion_matrix(labels, predicted, num_classes)

    # Classical baseline on the raw fields (the likelihood profiles out the amplitude).
    grid = np.exp(np.linspace(np.log(edges[0] / 2), np.log(edges[-1] * 2), 256))
    reference_lengths = max_likelihood_length(test["raw"], grid, config.noise)
    reference_predicted = np.clip(np.searchsorted(edges, reference_lengths, side="right") - 1, 0, num_classes - 1)
    reference_confusion = confusion_matrix(labels, reference_predicted, num_classes)

    ctx.write_predictions(
        fields=test["fields"].astype(np.float32),
        labels=labels,
        predicted=predicted,
        probabilities=probabilities,
        correlation_lengths=test["lengths"],
        amplitudes=test["amplitudes"],
        reference_lengths=reference_lengths,
        reference_predicted=reference_predicted,
        length_edges=np.asarray(edges),
    )
    ctx.save_model(
        (result.model, result.state),
        architecture="cnn",
        config=model_config,
        has_state=True,
        classes=names,
        length_edges=edges,
        input="one field [1, size, size] divided by its RMS; size " + str(config.size),
    )
    ctx.savefig(_plot_examples(test, names), "examples.png")
    ctx.savefig(_plot_confusion({"CNN": confusion, "max. likelihood": reference_confusion}, names), "confusion.png")
    ctx.savefig(_plot_probabilities(test["lengths"], probabilities, edges, names), "probabilities.png")
    ctx.save_training_curves(result.losses, result.history)

    metrics: dict[str, object] = {
        "test_accuracy": float(np.mean(predicted == labels)),
        "test_cross_entropy": cross_entropy,
    }
    for c in range(num_classes):
        metrics[f"accuracy_class{c}"] = float(confusion[c, c] / confusion[c].sum())
    metrics.update(
        confusion_matrix=confusion.tolist(),
        reference_accuracy=float(np.mean(reference_predicted == labels)),
        reference_confusion_matrix=reference_confusion.tolist(),
        reference_median_log_error=float(np.median(np.abs(np.log(reference_lengths / test["lengths"])))),
        best_step=result.best_step,
        steps_run=result.step,
        parameters=count_parameters(result.model)["trainable"],
    )
    return metrics


def replot(ctx: RunContext) -> None:
    """Redraws every plot of a finished run in `ctx.out` from `predictions.npz` and its final checkpoint."""
    with np.load(ctx.out / "predictions.npz") as p:
        test = {k: p[k] for k in p.files}
    edges = test["length_edges"]
    names, k = _class_names(edges), len(edges) - 1
    split = dict(fields=test["fields"], labels=test["labels"], lengths=test["correlation_lengths"])
    split["amplitudes"] = test["amplitudes"]
    matrices = {
        "CNN": confusion_matrix(test["labels"], test["predicted"], k),
        "max. likelihood": confusion_matrix(test["labels"], test["reference_predicted"], k),
    }
    ctx.savefig(_plot_examples(split, names), "examples.png")
    ctx.savefig(_plot_confusion(matrices, names), "confusion.png")
    ctx.savefig(
        _plot_probabilities(test["correlation_lengths"], test["probabilities"], edges, names), "probabilities.png"
    )
    # The final checkpoint's pointer keeps the whole loss curve and validation history.
    pointer = json.loads((ctx.checkpoint_dir / "checkpoint.json").read_text())
    ctx.save_training_curves(pointer["losses"], pointer["history"])


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m problems.field_regimes [--quick] [--out DIR] ...`, as `sciml run field_regimes`."""
    from sciml.study import main as run_main

    return run_main("field_regimes", argv)


if __name__ == "__main__":
    raise SystemExit(main())
