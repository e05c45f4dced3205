"""`RunContext`: what a problem's `run(config, ctx)` receives, and its atomic writers."""

import dataclasses
import sys
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax.random as jr
import numpy as np
from jaxtyping import ArrayLike, PRNGKeyArray, PyTree
from matplotlib.figure import Figure

from .._misc import atomic_write, write_json
from ._plots import plot_history


@dataclasses.dataclass(frozen=True)
class RunContext:
    """The run's settings and the only way a problem should write its outputs.

    Every writer goes through a temporary file and `os.replace`, so a run killed at any
    moment leaves either the previous file or the complete new one. The context also
    records what was written, so the harness can check a problem honoured the output
    contract (`predictions.npz`, `model.eqx`, at least one PNG).

    **Attributes:**

    - `out`: the folder the run writes into: the staging area `OUT/partial`, which the
        harness moves into `OUT` once the run has finished (for `replot`, `OUT` itself).
    - `seed`: the run's seed; derive *all* randomness from it (`key`, `rng`), data
        generation included, or `--resume` cannot reproduce an uninterrupted run.
    - `quiet`: suppress progress output.
    - `resume`: continue from the checkpoint in `checkpoint_dir`.
    - `quick`: the `--quick` smoke-test budget is in effect.
    - `problem`: the problem's registry name (recorded in saved metadata).
    - `written`: the names of the files written so far through this context.
    """

    out: Path
    seed: int
    quiet: bool = False
    resume: bool = False
    quick: bool = False
    problem: str = ""
    written: list[str] = dataclasses.field(default_factory=list, compare=False, repr=False)

    @property
    def checkpoint_dir(self) -> Path:
        """Where `sciml.train.fit` keeps its checkpoints.

        Pass it as `sciml.train.Checkpointing(ctx.checkpoint_dir, resume=ctx.resume)`.
        """
        return self.out / "checkpoints"

    @property
    def key(self) -> PRNGKeyArray:
        """The root JAX key of the run, `jax.random.key(seed)`; split it up front."""
        return jr.key(self.seed)

    def rng(self, stream: str) -> np.random.Generator:
        """A NumPy generator for one named stream (e.g. `"data"`), seeded from `seed`.

        Streams are independent of each other and of `key`, and the name is hashed with
        CRC32 (not Python's salted `hash`) so the stream is the same in every process.
        """
        return np.random.default_rng([self.seed, zlib.crc32(stream.encode())])

    def log(self, *parts: object) -> None:
        """Print a progress line unless `quiet`."""
        if not self.quiet:
            print(*parts, flush=True)

    def _record(self, path: Path) -> Path:
        self.written.append(path.name)
        return path

    def write_predictions(self, **arrays: ArrayLike) -> Path:
        """Write `predictions.npz`: the evaluation inputs, predictions and references.

        Use the names the problem's docstring lists, so anyone can recompute the metrics
        from this file alone.

        **Raises:**

        `ValueError` when no arrays are given.
        """
        if not arrays:
            raise ValueError("write_predictions needs at least one named array")
        host = {name: np.asarray(value) for name, value in arrays.items()}
        path = self.out / "predictions.npz"
        atomic_write(path, lambda f: np.savez_compressed(f, **host))
        return self._record(path)

    def save_model(self, model: PyTree, **metadata: Any) -> Path:
        """Write `model.eqx` and `model.json` through `sciml.train.save`.

        Pass `architecture=` and `config=` (the `sciml.nn` registry name and its
        keyword arguments) so `sciml.train.load("model.eqx")` can rebuild the model
        without the problem's code; pass `has_state=True` when saving `(model, state)`.
        The problem name and seed are added to the metadata.
        """
        from ..train import save

        path = self.out / "model.eqx"
        save(path, model, problem=self.problem, seed=self.seed, **metadata)
        self._record(path.with_suffix(".json"))
        return self._record(path)

    def savefig(self, fig: Figure, name: str) -> Path:
        """Write a figure as `name` (`.png` appended if missing) and release its memory."""
        if not name.endswith(".png"):
            name = f"{name}.png"
        path = self.out / name
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
        # A pyplot figure stays in pyplot's registry (and memory) until closed.
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close(fig)
        return self._record(path)

    def save_training_curves(
        self,
        losses: Sequence[float] | np.ndarray,
        history: Sequence[Mapping[str, Any]] = (),
        name: str = "training.png",
    ) -> Path:
        """Write the standard training-curve figure ([`plot_history`][]) as `name`."""
        title = f"{self.problem} (seed {self.seed})" if self.problem else None
        return self.savefig(plot_history(losses, history, title=title), name)

    def write_json(self, name: str, obj: Any) -> Path:
        """Write an extra JSON output (NumPy/JAX values converted) atomically."""
        return self._record(write_json(self.out / name, obj))
