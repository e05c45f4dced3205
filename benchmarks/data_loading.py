"""Lazy HDF5 loading against in-memory data: host read throughput and training speed.

Writes a pairs file (`inputs` [n, 64, 64, 3], `outputs` [n, 64, 64, 1], float32) in the
`sciml.data` layout, then measures, side by side in one run:

1. host reads: samples/s of `BatchStream` batches in `fit`'s shuffled order, from
   arrays in memory and from the file read lazily (`load(..., max_bytes=0)`), without
   read-ahead (the raw cost of a batch);
2. training: samples/s of `sciml.train.fit` on in-memory arrays against `fit_stream`
   on the lazy file, without and with the background read-ahead (`prefetch`), for a
   compute-bound case (a small field ResNet) and a read-bound one (a one-parameter
   model). This says how much of the read cost the read-ahead hides.

Medians of alternating repeats; ratios are lazy / in-memory (1.0 = no slowdown). The
file is freshly written, so it sits in the operating system's page cache: the figures
measure HDF5 and copying overhead, not a cold disk.

    python benchmarks/data_loading.py [--samples 2048] [--repeats 5] [--steps 60]
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

import sciml.data as sd
import sciml.nn
import sciml.train


def _write(path: Path, n: int, size: int) -> Path:
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((n, size, size, 3), dtype=np.float32)
    outputs = inputs[..., :1] * 0.5
    return sd.save(path, {"inputs": inputs, "outputs": outputs})


def _read_rate(stream: sd.BatchStream, batches: int) -> float:
    start = time.perf_counter()
    for step in range(batches):
        stream.batch(step)
    return batches * stream.batch_size / (time.perf_counter() - start)


def _loss(model, batch, key):
    x = jnp.moveaxis(batch["inputs"], -1, 1)
    y = jnp.moveaxis(batch["targets"], -1, 1)
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def _scalar_loss(w, batch, key):
    return jnp.mean((w * batch["inputs"][..., 0] - batch["targets"][..., 0]) ** 2)


def _train_rate(run, steps: int, batch_size: int) -> float:
    start = time.perf_counter()
    result = run()
    jax.block_until_ready(result.model)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp) / "pairs.h5", args.samples, args.size)
        size_mb = path.stat().st_size / 2**20
        memory, lazy = sd.load(path), sd.load(path, max_bytes=0)
        ids = np.arange(args.samples)
        key = jr.key(0)
        print(
            f"{path.name}: {memory.layout.describe()}, {size_mb:.0f} MiB; backend {jax.default_backend()}, "
            f"{os.cpu_count()} CPU(s); medians of {args.repeats} alternating repeats\n"
        )

        print(f"{'host reads (no read-ahead)':<34}{'in memory':>14}{'lazy HDF5':>14}{'ratio':>8}")
        for batch_size in (16, 64, 256):
            streams = [sd.BatchStream(sd.Samples(d), ids, batch_size, key=key, prefetch=0) for d in (memory, lazy)]
            for s in streams:
                _read_rate(s, 2)  # warm the jitted batch_indices
            rates = [[], []]
            for _ in range(args.repeats):
                for i, s in enumerate(streams):
                    rates[i].append(_read_rate(s, args.batches))
            med = [statistics.median(r) for r in rates]
            print(f"{f'batch {batch_size}, samples/s':<34}{med[0]:>14,.0f}{med[1]:>14,.0f}{med[1] / med[0]:>8.2f}")
            for s in streams:
                s.close()

        resnet = sciml.nn.build(
            "resnet",
            key=jr.key(1),
            variant="field",
            num_spatial_dims=2,
            in_channels=3,
            out_channels=1,
            width=8,
            depth=1,
        )
        cases = [
            # Compute-bound: a field ResNet step takes far longer than reading its batch.
            ("field ResNet, batch 32", resnet, _loss, 32, args.steps),
            # Read-bound: a one-parameter model, so the step is almost only the data.
            ("1-parameter model, batch 8", jnp.zeros(()), _scalar_loss, 8, 10 * args.steps),
        ]
        optimizer = sciml.train.make_optimizer({"name": "adam", "learning_rate": 1e-3})
        samples = sd.Samples(lazy)
        host = {k: jnp.asarray(v) for k, v in sd.Samples(memory).read(ids).items()}
        for title, model, loss, batch_size, steps in cases:
            common = dict(steps=steps, logging=sciml.train.Logging(quiet=True, every=steps))

            def in_memory():
                return sciml.train.fit(model, loss, host, optimizer, key=key, batch_size=batch_size, **common)

            # One stream per contender for all repeats: its wrapped loss is then the same
            # object every time, so `fit` reuses its compiled step, as it does in memory.
            streams = {p: sd.BatchStream(samples, ids, batch_size, key=key, prefetch=p) for p in (0, 2)}

            def streamed(prefetch):
                return lambda: sd.fit_stream(model, loss, streams[prefetch], optimizer, **common)

            contenders = {
                "in memory (fit)": in_memory,
                "lazy, no read-ahead": streamed(0),
                "lazy, read-ahead 2": streamed(2),
            }
            for run in contenders.values():
                run()  # compile
            rates = {name: [] for name in contenders}
            for _ in range(args.repeats):
                for name, run in contenders.items():
                    rates[name].append(_train_rate(run, steps, batch_size))
            base = statistics.median(rates["in memory (fit)"])
            print(f"\n{f'training: {title}':<34}{'samples/s':>14}{'ratio':>8}")
            for name, values in rates.items():
                med = statistics.median(values)
                print(f"{name:<34}{med:>14,.0f}{med / base:>8.2f}")
            for stream in streams.values():
                stream.close()
        lazy.close()


if __name__ == "__main__":
    main()
