"""`sciml.data`: validation on load, splits, windows, normalisation, lazy HDF5 batches."""

import h5py
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import tree_equal_bytes

import sciml.data as sd
import sciml.nn
import sciml.train


def _trajectories(n=6, t=5, grid=(8,), c=2, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "fields": rng.standard_normal((n, t, *grid, c)),
        "times": np.linspace(0.0, 1.0, t),
        "parameters": rng.standard_normal((n, 3)),
    }


def _pairs(n=10, grid=(4, 4), c_in=2, c_out=1, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "inputs": rng.standard_normal((n, *grid, c_in)),
        "outputs": rng.standard_normal((n, *grid, c_out)),
    }


def _write(path, arrays):
    if path.suffix == ".npz":
        np.savez(path, **arrays)
    else:
        with h5py.File(path, "w") as f:
            for k, v in arrays.items():
                f.create_dataset(k, data=v)
    return path


# --- validation ------------------------------------------------------------------


def _nan_at(arrays, name, index, value=np.nan):
    arrays[name][index] = value
    return arrays


_BAD = {
    "missing key": (lambda: {"outputs": _pairs()["outputs"]}, ["missing key", "'inputs'", "'fields'"]),
    "missing outputs": (lambda: {"inputs": _pairs()["inputs"]}, ["missing key 'outputs'"]),
    "unknown key": (lambda: {**_pairs(), "extra": np.zeros(10)}, ["unknown key(s) 'extra'"]),
    "both layouts": (lambda: {**_pairs(), "fields": _trajectories()["fields"]}, ["both 'fields'", "'inputs'"]),
    "mismatched lengths": (
        lambda: {**_trajectories(), "parameters": np.zeros((5, 3))},
        ["'parameters' has 5 samples", "'fields' has 6"],
    ),
    "wrong rank": (lambda: {"fields": np.zeros((6, 5, 2))}, ["'fields' has shape (6, 5, 2) (rank 3)", "rank 4 to 6"]),
    "parameters rank": (
        lambda: {**_pairs(), "parameters": np.zeros(10)},
        ["'parameters' has shape (10,)", "[n_samples, 1]"],
    ),
    "grid mismatch": (
        lambda: {"inputs": np.zeros((3, 4, 1)), "outputs": np.zeros((3, 5, 1))},
        ["'outputs' has shape (3, 5, 1)", "same grid (4,)"],
    ),
    "times length": (lambda: {**_trajectories(), "times": np.arange(4.0)}, ["'times' has shape (4,)", "[5]"]),
    "times order": (
        lambda: {**_trajectories(), "times": np.array([0.0, 1, 1, 2, 3])},
        ["increase strictly", "index 2"],
    ),
    "integer dtype": (lambda: {**_pairs(), "outputs": np.ones((10, 4, 4, 1), int)}, ["dtype int64", "floating-point"]),
    "nan": (
        lambda: _nan_at(_trajectories(), "fields", (3, 2, 5, 1)),
        ["'fields' holds 1 non-finite", "NaN at index (3, 2, 5, 1)", "sample 3, time 2"],
    ),
    "inf": (lambda: _nan_at(_pairs(), "inputs", (7, 0, 1, 0), np.inf), ["Inf at index (7, 0, 1, 0)", "sample 7"]),
}


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
@pytest.mark.parametrize("case", sorted(_BAD))
def test_validation_errors(tmp_path, case, suffix):
    make, fragments = _BAD[case]
    path = _write(tmp_path / f"bad{suffix}", make())
    with pytest.raises(sd.DataError) as info:
        sd.load(path)
    message = str(info.value)
    assert message.startswith(f"bad{suffix}:"), message
    for fragment in fragments:
        assert fragment in message, message


def test_validation_in_memory_and_lazy_agree_on_the_index(tmp_path):
    arrays = _nan_at(_trajectories(n=40), "fields", (31, 4, 0, 0), np.inf)
    path = _write(tmp_path / "big.h5", arrays)
    for max_bytes in (None, 0):  # 0: lazy, checked in a streaming pass of tiny chunks
        with pytest.raises(sd.DataError, match=r"Inf at index \(31, 4, 0, 0\)"):
            sd.load(path, max_bytes=max_bytes, chunk_bytes=1000)
    with pytest.raises(sd.DataError, match="arrays: 'fields' holds 1 non-finite"):
        sd.from_arrays(arrays)


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "objects.npz"
    ragged = np.empty(2, dtype=object)
    ragged[:] = [np.zeros(3), np.zeros(4)]
    np.savez(path, inputs=ragged, outputs=np.zeros((2, 3, 1)))
    with pytest.raises(sd.DataError, match="'inputs' holds Python objects") as info:
        sd.load(path)
    assert "allow_pickle" not in str(info.value)  # never advise loading it unsafely
    with pytest.raises(sd.DataError, match="'inputs' holds Python objects"):
        sd.from_arrays({"inputs": ragged, "outputs": np.zeros((2, 3, 1))})
    with h5py.File(tmp_path / "strings.h5", "w") as f:
        f.create_dataset("inputs", data=np.array([b"a", b"b"]))
    with pytest.raises(sd.DataError, match="'inputs' has dtype"):
        sd.load(tmp_path / "strings.h5")


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        sd.load(tmp_path / "missing.npz")
    (tmp_path / "data.csv").write_text("1,2")
    with pytest.raises(sd.DataError, match="unsupported file type '.csv'"):
        sd.load(tmp_path / "data.csv")
    npz = _write(tmp_path / "pairs.npz", _pairs())
    with pytest.raises(sd.DataError, match="cannot be read lazily"):
        sd.load(npz, max_bytes=10)
    with h5py.File(tmp_path / "group.h5", "w") as f:
        f.create_group("inputs")
    with pytest.raises(sd.DataError, match="'inputs' is an HDF5 group"):
        sd.load(tmp_path / "group.h5")


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_load_keeps_values_and_dtypes(tmp_path, suffix):
    arrays = _trajectories()
    arrays["fields"] = arrays["fields"].astype(np.float32)
    path = sd.save(tmp_path / f"ok{suffix}", arrays)
    with sd.load(path) as data:
        assert not data.lazy
        assert data.layout == sd.Layout("trajectories", 6, (8,), 2, 2, 5, 3, True)
        for k, v in arrays.items():
            assert data[k].dtype == v.dtype
            np.testing.assert_array_equal(data[k], v)
    with pytest.raises(sd.DataError):
        sd.save(tmp_path / "bad.npz", {"fields": np.zeros((2, 3))})
    assert not (tmp_path / "bad.npz").exists()


# --- splits and windows ---------------------------------------------------------------


def test_split_by_whole_trajectories():
    train, val, test = sd.split_indices(50, (0.7, 0.1, 0.2), key=jr.key(3))
    assert (len(train), len(val), len(test)) == (35, 5, 10)
    joined = np.concatenate([train, val, test])
    assert sorted(joined.tolist()) == list(range(50))
    again = sd.split_indices(50, (0.7, 0.1, 0.2), key=jr.key(3))
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again))
    other = sd.split_indices(50, (0.7, 0.1, 0.2), key=jr.key(4))
    assert not np.array_equal(test, other[2])
    # Every split asked for gets a sample; too few samples is an error, not an empty split.
    assert [len(s) for s in sd.split_indices(3, (0.9, 0.05, 0.05), key=jr.key(0))] == [1, 1, 1]
    with pytest.raises(sd.DataError, match="cannot split 2 sample"):
        sd.split_indices(2, (0.8, 0.1, 0.1), key=jr.key(0))
    with pytest.raises(sd.DataError, match="sum to 1"):
        sd.split_indices(10, (0.8, 0.1), key=jr.key(0))


def _labelled_trajectories(n=7, t=9, grid=(3,)):
    # Each value encodes its trajectory and time, so a window crossing two trajectories
    # or skipping a time would show.
    j = np.arange(n)[:, None, None, None]
    time = np.arange(t)[None, :, None, None]
    return (1000.0 * j + time + np.zeros((n, t, *grid, 1))).astype(np.float64)


def test_windows_stay_inside_trajectories():
    fields = _labelled_trajectories()
    inputs, targets, index = sd.make_windows(fields, window=3, horizon=2, stride=2)
    per = sd.windows_per_trajectory(9, 3, 2, 2)
    assert per == 3 and inputs.shape == (7 * per, 3, 3, 1) and targets.shape == (7 * per, 2, 3, 1)
    span = np.concatenate([inputs, targets], axis=1)[:, :, 0, 0]
    assert np.all(span // 1000 == index[:, :1])  # one trajectory per window
    assert np.all(span % 1000 == index[:, 1:] + np.arange(5))  # consecutive times
    with pytest.raises(sd.DataError, match="too short for window 5 \\+ horizon 5"):
        sd.make_windows(fields, window=5, horizon=5)


def test_window_samples_of_a_split_never_leak():
    data = sd.from_arrays({"fields": _labelled_trajectories()})
    samples = sd.Samples(data, window=2, horizon=3)
    train, test = sd.split_indices(7, (0.6, 0.4), key=jr.key(0))
    train_ids, test_ids = samples.ids(train), samples.ids(test)
    assert not set(train_ids) & set(test_ids)
    for ids, members in ((train_ids, train), (test_ids, test)):
        batch = samples.read(ids)
        owners = np.concatenate([batch["inputs"], batch["targets"]], axis=1)[:, :, 0, 0] // 1000
        assert set(owners.ravel().tolist()) == set(members.tolist())
        assert np.array_equal(samples.owner(ids), owners[:, 0])
    # The in-memory windows and the sample reader agree.
    inputs, targets, _ = sd.make_windows(data["fields"][train], window=2, horizon=3)
    np.testing.assert_array_equal(samples.read(train_ids)["inputs"], inputs)
    np.testing.assert_array_equal(samples.read(train_ids)["targets"], targets)


# --- normalisation -------------------------------------------------------------------


def test_normaliser_fitted_on_the_training_split_only():
    arrays = _trajectories(n=20, c=3)
    arrays["fields"][..., 1] = 4.25  # a constant channel: zero variance
    data = sd.from_arrays(arrays)
    train = np.arange(0, 20, 2)
    norm = sd.fit_normaliser(data, "fields", train, chunk_bytes=500)  # many chunks
    channels_first = np.moveaxis(arrays["fields"][train], -1, 1)  # [n, c, t, x]
    reference = sciml.nn.Normaliser.from_data(jnp.asarray(channels_first))
    np.testing.assert_allclose(norm.mean, reference.mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(norm.std, reference.std, rtol=1e-12)
    everything = sd.fit_normaliser(data, "fields")
    assert not np.allclose(everything.mean, norm.mean)
    # The constant channel is shifted to zero, never divided by a zero std.
    assert norm.std[1] == 1.0 and norm.mean[1] == 4.25
    sample = jnp.asarray(np.moveaxis(arrays["fields"][0], -1, 0))  # one sample [c, t, x]
    z = norm(sample)
    assert jnp.all(jnp.isfinite(z)) and jnp.all(z[1] == 0)
    np.testing.assert_allclose(norm.inverse(z), sample, rtol=1e-12, atol=1e-12)
    params = sd.fit_normaliser(data, "parameters", train)
    np.testing.assert_allclose(params.mean, arrays["parameters"][train].mean(axis=0), rtol=1e-12)


# --- lazy HDF5 ------------------------------------------------------------------------


@pytest.fixture
def h5_pairs(tmp_path):
    arrays = _pairs(n=37, grid=(6,), c_in=2, c_out=1)
    arrays["parameters"] = np.random.default_rng(1).standard_normal((37, 2))
    return _write(tmp_path / "pairs.h5", arrays)


@pytest.mark.parametrize("kind", ["pairs", "trajectories"])
def test_lazy_batches_equal_in_memory_batches(tmp_path, h5_pairs, kind):
    path = h5_pairs if kind == "pairs" else _write(tmp_path / "traj.h5", _trajectories(n=9, t=6))
    options = {} if kind == "pairs" else {"window": 2, "horizon": 2}
    memory = sd.load(path)
    lazy = sd.load(path, max_bytes=memory.nbytes - 1)  # just over the limit: lazy
    assert lazy.lazy and not memory.lazy and lazy.layout == memory.layout
    train, _ = sd.split_indices(memory.layout.num_samples, (0.7, 0.3), key=jr.key(0))
    mem_samples, lazy_samples = sd.Samples(memory, **options), sd.Samples(lazy, **options)
    ids = mem_samples.ids(train)
    key, batch_size = jr.key(5), 4
    in_memory = {k: jnp.asarray(v) for k, v in mem_samples.read(ids).items()}
    order_key = jr.split(key)[0]  # as sciml.train.fit splits its key
    with sd.BatchStream(lazy_samples, ids, batch_size, key=key, prefetch=2) as stream:
        steps = 3 * (len(ids) // batch_size) + 1  # several epochs
        for step, batch in enumerate(stream.batches(0, steps)):
            expected = sciml.train.take(in_memory, sciml.train.batch_indices(order_key, step, len(ids), batch_size))
            assert batch.keys() == expected.keys()
            for k in batch:
                np.testing.assert_array_equal(batch[k], expected[k])
        assert stream.hits == steps and stream.misses == 0
    lazy.close()


def _linear_model(key, d_in, d_out):
    return jnp.zeros(()) + 0.1 * jr.normal(key, (d_out, d_in))


def _flat_loss(w, batch, key):
    x = jnp.concatenate([batch["inputs"].reshape(batch["inputs"].shape[0], -1), batch["parameters"]], axis=1)
    y = batch["targets"].reshape(batch["targets"].shape[0], -1)
    return jnp.mean((x @ w.T - y) ** 2)


def _flat_metrics(w, batch):
    return {"mse": _flat_loss(w, batch, None)}


def test_fit_stream_equals_fit_in_memory(tmp_path, h5_pairs):
    memory, lazy = sd.load(h5_pairs), sd.load(h5_pairs, max_bytes=0)
    train, val = sd.split_indices(37, (0.8, 0.2), key=jr.key(0))
    samples = sd.Samples(lazy)
    train_ids, val_ids = samples.ids(train), samples.ids(val)
    model = _linear_model(jr.key(1), 6 * 2 + 2, 6)
    key, optimizer = jr.key(2), sciml.train.make_optimizer({"name": "adam", "learning_rate": 1e-2})
    quiet = sciml.train.Logging(quiet=True)
    validation = sciml.train.Validation(val_ids, every=10, metrics=_flat_metrics)
    host = {k: jnp.asarray(v) for k, v in sd.Samples(memory).read(train).items()}
    val_host = {k: jnp.asarray(v) for k, v in sd.Samples(memory).read(val).items()}
    reference = sciml.train.fit(
        model,
        _flat_loss,
        host,
        optimizer,
        steps=40,
        key=key,
        batch_size=8,
        validation=sciml.train.Validation(val_host, every=10, batch_size=8, metrics=_flat_metrics),
        logging=quiet,
    )
    with sd.BatchStream(samples, train_ids, 8, key=key) as stream:
        streamed = sd.fit_stream(model, _flat_loss, stream, optimizer, steps=40, validation=validation, logging=quiet)
        assert stream.hits == 40  # every training batch came from the read-ahead
    np.testing.assert_allclose(streamed.losses, reference.losses, rtol=1e-12)
    np.testing.assert_allclose(streamed.model, reference.model, rtol=1e-12)
    assert [h.get("val_mse") for h in streamed.history] == pytest.approx([h.get("val_mse") for h in reference.history])

    # An interrupted streamed run resumes to the uninterrupted end.
    ckpt = tmp_path / "ckpt"

    def interrupt(step, record):
        if step == 20:
            raise KeyboardInterrupt

    with sd.BatchStream(samples, train_ids, 8, key=key) as stream:
        with pytest.raises(KeyboardInterrupt):
            sd.fit_stream(
                model,
                _flat_loss,
                stream,
                optimizer,
                steps=40,
                validation=validation,
                checkpointing=sciml.train.Checkpointing(ckpt, every=10),
                logging=sciml.train.Logging(quiet=True, callback=interrupt),
            )
    with sd.BatchStream(samples, train_ids, 8, key=key) as stream:
        resumed = sd.fit_stream(
            model,
            _flat_loss,
            stream,
            optimizer,
            steps=40,
            validation=validation,
            checkpointing=sciml.train.Checkpointing(ckpt, every=10, resume=True),
            logging=quiet,
        )
        assert stream.hits == 20  # the read-ahead started at step 20
        assert stream.misses == 2 * -(-len(val_ids) // 8)  # validation reads at steps 30 and 40
    assert tree_equal_bytes(resumed.model, streamed.model)
    lazy.close()


def test_stream_device_batch_inside_jit(h5_pairs):
    with sd.load(h5_pairs, max_bytes=0) as lazy:
        samples = sd.Samples(lazy)
        stream = sd.BatchStream(samples, np.arange(37), 5, key=jr.key(0), prefetch=0)
        ids = np.array([30, 2, 2, 11])
        batch = jax.jit(stream.device_batch)(jnp.asarray(ids))
        expected = samples.read(ids)
        for k in expected:
            np.testing.assert_array_equal(batch[k], expected[k].astype(batch[k].dtype))
        with pytest.raises(ValueError, match="batch_size must be in \\[1, 37\\]"):
            sd.BatchStream(samples, np.arange(37), 38, key=jr.key(0))
        stream.close()
