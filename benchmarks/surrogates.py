"""Surrogate inference against the classical solver, and lazy HDF5 reads against memory.

1. Darcy flow, `-div(a grad u) = 1` with a two-valued random permeability (the data of
   `problems/darcy_surrogate.py`), per sample, at grids of 32, 64 and 128 nodes a side:

   - `direct`: sparse LU (`scipy.sparse.linalg.splu`, minimum-degree ordering), one
     factorisation per sample, assembly included;
   - `cg`: Jacobi-preconditioned `lineax.CG` in float64, all samples in one jitted
     `vmap` (warm), relative tolerance 1e-8;
   - `fno`: the problem's default FNO (4 Fourier layers of width 32, 12 modes, projection
     64), float32, all samples in one jitted `vmap` (warm);
   - `resnet`: the problem's default field ResNet (4 blocks of width 32), likewise.

   The networks are freshly initialised: inference costs the same whatever the weights
   (pass `--model DIR` to time a `sciml fit` output folder instead of the FNO). The
   contenders alternate inside every repeat, so a change of the machine's load reaches
   all of them; medians of the repeats. The speed-up is the faster solver's time over
   the surrogate's; compile times of the first call are listed apart.

2. HDF5 reads: samples per second of `sciml.data.BatchStream` batches (the shuffled order
   of training, no read-ahead) from a file loaded lazily (`max_bytes=0`) and from the
   same file in memory; the ratio is lazy / in memory. The helpers are those of
   `benchmarks/data_loading.py`, which also compares whole training runs.

    python benchmarks/surrogates.py [--sizes 32 64 128] [--samples 16] [--repeats 5]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.random as jr
import numpy as np

import sciml.data as sd
import sciml.nn
from sciml.surrogate import load_surrogate


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_loading import _read_rate, _write  # noqa: E402

from problems import darcy_surrogate as darcy  # noqa: E402


def _networks(model_dir: str | None) -> dict:
    config = darcy.Config()
    key_fno, key_resnet = jr.split(jr.key(0))
    fno = sciml.nn.build(
        "fno",
        key=key_fno,
        num_spatial_dims=2,
        in_channels=1,
        out_channels=1,
        width=config.fno_width,
        modes=config.fno_modes,
        depth=config.fno_depth,
        projection_width=config.fno_projection,
        grid_features=True,
    )
    if model_dir is not None:
        fno, _ = load_surrogate(model_dir)
    resnet = sciml.nn.build(
        "resnet",
        key=key_resnet,
        variant="field",
        num_spatial_dims=2,
        in_channels=1,
        out_channels=1,
        width=config.resnet_width,
        depth=config.resnet_depth,
        padding="zeros",
    )
    return {"fno": fno, "resnet": resnet}


def _compile_seconds(model, x) -> float:
    start = time.perf_counter()
    jax.block_until_ready(darcy.predict_batch(model, x))
    return time.perf_counter() - start


def solver_table(sizes: list[int], samples: int, repeats: int, model_dir: str | None) -> None:
    networks = _networks(model_dir)
    print(
        f"Darcy, ms per sample (median of {repeats} alternating repeats, {samples} samples a batch); "
        f"backend {jax.default_backend()}, {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}"
    )
    names = ["direct", "cg", *networks]
    header = f"{'grid':>9}" + "".join(f"{n + ' ms':>11}" for n in names)
    header += "".join(f"{n + ' speed-up':>17}" for n in networks) + f"{'fno compile s':>15}"
    print(header)
    for size in sizes:
        _, a = darcy.sample_permeability(np.random.default_rng(size), samples, size)
        x = np.asarray(a[:, None], np.float32)
        compile_s = _compile_seconds(networks["fno"], x)
        ms, _ = darcy.speed_comparison(networks, a, repeats=repeats, tolerance=1e-8)
        reference = min(ms["direct"], ms["cg"])
        row = f"{f'{size} x {size}':>9}" + "".join(f"{ms[n]:>11.2f}" for n in names)
        row += "".join(f"{reference / ms[n]:>17.2f}" for n in networks) + f"{compile_s:>15.1f}"
        print(row)


def hdf5_table(samples: int, size: int, repeats: int, batches: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp) / "pairs.h5", samples, size)
        memory, lazy = sd.load(path), sd.load(path, max_bytes=0)
        ids = np.arange(samples)
        print(f"\nHDF5 reads, samples/s ({memory.layout.describe()}; median of {repeats} alternating repeats)")
        print(f"{'batch':>7}{'in memory':>14}{'lazy HDF5':>14}{'ratio':>8}")
        for batch_size in (16, 64):
            streams = [
                sd.BatchStream(sd.Samples(d), ids, batch_size, key=jr.key(0), prefetch=0) for d in (memory, lazy)
            ]
            for s in streams:
                _read_rate(s, 2)
            rates: list[list[float]] = [[], []]
            for _ in range(repeats):
                for i, s in enumerate(streams):
                    rates[i].append(_read_rate(s, batches))
            med = [statistics.median(r) for r in rates]
            print(f"{batch_size:>7}{med[0]:>14,.0f}{med[1]:>14,.0f}{med[1] / med[0]:>8.2f}")
            for s in streams:
                s.close()
        memory.close()
        lazy.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default=None, help="a `sciml fit` output folder to time instead of the FNO")
    parser.add_argument("--hdf5-samples", type=int, default=1024)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    solver_table(args.sizes, args.samples, args.repeats, args.model)
    hdf5_table(args.hdf5_samples, 64, args.repeats, args.batches)


if __name__ == "__main__":
    main()
