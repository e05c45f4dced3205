"""`BatchStream`: host batches in `sciml.train.fit`'s order, read ahead on a thread."""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Int, PRNGKeyArray

from ..train import batch_indices
from ._samples import Samples


_indices = jax.jit(batch_indices, static_argnums=(2, 3))


def _host_device() -> jax.Device:
    try:
        return jax.devices("cpu")[0]
    except RuntimeError:  # a JAX restricted to an accelerator platform
        return jax.devices()[0]


class BatchStream:
    """Training batches read from host data (e.g. a lazy HDF5 file) in `fit`'s order.

    Batch `step` holds the samples `ids[batch_indices(order_key, step, len(ids),
    batch_size)]`, with `order_key = jax.random.split(key)[0]`: exactly the batch that
    `sciml.train.fit(..., key=key, batch_size=batch_size)` gathers from in-memory
    arrays `samples.read(ids)`. Because the order is a pure function of `(key, step)`,
    a background thread reads the next `prefetch` batches while the device trains on
    the current one.

    Two ways to use it, both through the one training loop:

    - [`fit_stream`][] (or by hand: `fit(model, stream.loss(loss), stream.train_ids,
        ..., key=stream.key, batch_size=stream.batch_size)`): `fit` gathers batches of
        *sample ids*, and the wrapped loss exchanges them for the host batch through
        `jax.pure_callback`, inside the same compiled step.
    - `for batch in stream.batches(start, stop)`: the host batches themselves, e.g. for
        a custom loop or to inspect what training sees.

    **Attributes:**

    - `samples`, `batch_size`, `key`, `prefetch`, `dtype`: as given.
    - `train_ids`: the sample ids batches are drawn from (int32).
    - `hits`, `misses`: requests served from the read-ahead queue, and those read on
        demand (validation reads, or a step it did not expect).
    """

    def __init__(
        self,
        samples: Samples,
        ids: Int[np.ndarray, " n"],
        batch_size: int,
        *,
        key: PRNGKeyArray,
        prefetch: int = 2,
        dtype: Any = None,
    ):
        """**Arguments:**

        - `samples`: the dataset's [`Samples`][].
        - `ids`: the training sample ids (e.g. `samples.ids(train_trajectories)`).
        - `batch_size`: samples per batch, at most `len(ids)`.
        - `key`: the key passed to `sciml.train.fit`.
        - `prefetch`: batches read ahead on the background thread (0: each batch is
            read when the step asks for it).
        - `dtype`: the floating dtype of the batches; default JAX's default float
            (float32, or float64 with x64 enabled). The conversion happens on the
            reading thread, so the device receives arrays ready to use.

        **Raises:**

        `ValueError` for an empty `ids`, a batch size out of range or a negative
        `prefetch`.
        """
        ids = np.asarray(ids)
        if ids.size == 0:
            raise ValueError("BatchStream needs at least one training sample id, got none")
        if not 1 <= batch_size <= ids.size:
            raise ValueError(f"batch_size must be in [1, {ids.size}] (the number of ids), got {batch_size}")
        if prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        self.samples = samples
        self.train_ids = ids.astype(np.int32)
        self.batch_size = batch_size
        self.key = key
        self.prefetch = prefetch
        self.dtype = np.dtype(jnp.zeros(()).dtype if dtype is None else dtype)
        # The same split `fit` makes: one key for the data order, one for the losses.
        # The order is computed on the host CPU, off the accelerator: the training step
        # waits inside its callback for these reads, so they must not queue behind it.
        self._order_key = jax.device_put(jr.split(key)[0], _host_device())
        # One worker does every read and every order computation, so the callback
        # itself never calls into JAX (which may deadlock an accelerator stream).
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sciml-prefetch")
        self._pending: dict[int, Future] = {}
        self._next = 0
        self._last: tuple[np.ndarray, dict[str, np.ndarray]] | None = None
        self._lock = threading.Lock()
        self._wrapped: dict[tuple[str, Callable], Callable] = {}
        self.hits = 0
        self.misses = 0

    def indices(self, step: int) -> Int[np.ndarray, " batch"]:
        """The sample ids of batch `step` (through `sciml.train.batch_indices`)."""
        positions = np.asarray(_indices(self._order_key, step, self.train_ids.size, self.batch_size))
        return self.train_ids[positions]

    def read(self, ids: Int[np.ndarray, " k"]) -> dict[str, np.ndarray]:
        """Reads the samples `ids` now, converted to `dtype`."""
        return {k: v.astype(self.dtype, copy=False) for k, v in self.samples.read(ids).items()}

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """Reads batch `step` now, without the read-ahead queue."""
        return self.read(self.indices(step))

    def start_at(self, step: int) -> None:
        """Tells the read-ahead where training starts (a resumed run's first step)."""
        with self._lock:
            self._cancel_all()
            self._next = step
            self._last = None

    def _cancel_all(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()

    def _load(self, step: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        ids = self.indices(step)
        return ids, self.read(ids)

    def _schedule(self, first: int, count: int) -> None:
        for s in range(first, first + count):
            if s not in self._pending:
                self._pending[s] = self._pool.submit(self._load, s)

    def serve(self, ids: Int[np.ndarray | Array, " k"]) -> dict[str, np.ndarray]:
        """The host side of [`BatchStream.device_batch`][]: the batch of `ids`.

        Served from the read-ahead queue when `ids` are the next expected step's (which
        then advances and schedules the following reads), otherwise read on demand.
        """
        ids = np.asarray(ids)
        with self._lock:
            if self._last is not None and np.array_equal(self._last[0], ids):
                return self._last[1]  # the same batch asked twice within one step
            step = self._next
            self._schedule(step, 1)
            expected, batch = self._pending[step].result()
            if np.array_equal(expected, ids):
                del self._pending[step]
                self.hits += 1
                self._next = step + 1
                self._schedule(step + 1, self.prefetch)
            else:
                batch = self.read(ids)
                self.misses += 1
            self._last = (ids, batch)
            return batch

    def batches(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, np.ndarray]]:
        """Yields the host batches of steps `start, start + 1, ...` (up to `stop`), read ahead.

        **Arguments:**

        - `start`: the first step.
        - `stop`: the step to stop before; default never.

        **Returns:**

        An iterator of dicts of NumPy arrays (see [`Samples`][]).
        """
        self.start_at(start)
        step = start
        while stop is None or step < stop:
            yield self.serve(self.indices(step))
            step += 1

    def device_batch(self, ids: Int[Array, " k"]) -> dict[str, Array]:
        """The batch of `ids` as device arrays, fetched through `jax.pure_callback`.

        Usable inside `jax.jit`: the host read happens at run time. `ids` must not
        depend on traced floating-point values (there is nothing to differentiate).
        """
        shapes = self.samples.shapes(ids.shape[0])
        structs = {k: jax.ShapeDtypeStruct(shape, self.dtype) for k, (shape, _) in shapes.items()}
        return jax.pure_callback(self.serve, structs, ids)

    def loss(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Wraps `loss(model, batch, key)` (or `loss(model, state, batch, key)`) to take ids.

        The wrapped loss is what `sciml.train.fit` receives together with
        `data=stream.train_ids`: `fit` draws the ids of each batch, the wrapper fetches
        their samples. The same `fn` gets the same wrapper back, so repeated runs on
        one stream reuse `fit`'s compiled step.
        """

        def wrapped(*args):
            *head, ids, key = args
            return fn(*head, self.device_batch(ids), key)

        return self._wrapped.setdefault(("loss", fn), wrapped)

    def metrics(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Wraps `metrics(model, batch)` (or `metrics(model, state, batch)`) to take ids."""

        def wrapped(*args):
            *head, ids = args
            return fn(*head, self.device_batch(ids))

        return self._wrapped.setdefault(("metrics", fn), wrapped)

    def close(self) -> None:
        """Stops the read-ahead thread."""
        with self._lock:
            self._cancel_all()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "BatchStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
