"""The training loop: convergence, compilation, freezing, checkpoints, guards, errors."""

import inspect
import json
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from helpers import tree_equal_bytes

import sciml.train as st


QUIET = st.Logging(quiet=True)


def _mse_loss(model, batch, key):
    x, y = batch
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


@pytest.fixture(scope="module")
def sine_data():
    x = jnp.linspace(-jnp.pi, jnp.pi, 256)[:, None]
    return x, jnp.sin(x)


def _mlp(seed=0, width=16):
    return eqx.nn.MLP(1, 1, width, 2, activation=jnp.tanh, key=jr.key(seed))


def test_fits_sine_to_one_percent(sine_data):
    x, y = sine_data
    res = st.fit(
        _mlp(width=32),
        _mse_loss,
        (x, y),
        st.make_optimizer({"name": "adam", "learning_rate": 3e-3, "schedule": "cosine"}, steps=2000),
        steps=2000,
        key=jr.key(1),
        batch_size=64,
        logging=QUIET,
    )
    # Judged on a finer grid than the training points, against the analytic sine.
    xt = jnp.linspace(-jnp.pi, jnp.pi, 1001)[:, None]
    err = st.relative_l2(jax.vmap(res.model)(xt), jnp.sin(xt))
    assert err < 1e-2
    assert res.losses.shape == (2000,)
    assert res.losses[-1] < res.losses[0] / 100


def test_step_compiles_once(sine_data):
    traces = []

    def loss(model, batch, key):
        traces.append(1)
        return _mse_loss(model, batch, key)

    st.fit(
        _mlp(),
        loss,
        sine_data,
        st.make_optimizer({"name": "adam", "learning_rate": 1e-3, "schedule": "cosine", "warmup_steps": 5}, steps=30),
        steps=30,
        key=jr.key(0),
        batch_size=32,
        logging=st.Logging(quiet=True, every=7),
    )
    assert len(traces) == 1


def test_same_seed_same_numbers(sine_data):
    runs = [
        st.fit(
            _mlp(),
            _mse_loss,
            sine_data,
            optax.adam(1e-2),
            steps=20,
            key=jr.key(3),
            batch_size=16,
            logging=QUIET,
        )
        for _ in range(2)
    ]
    assert tree_equal_bytes(runs[0].model, runs[1].model)
    other = st.fit(
        _mlp(),
        _mse_loss,
        sine_data,
        optax.adam(1e-2),
        steps=20,
        key=jr.key(4),
        batch_size=16,
        logging=QUIET,
    )
    assert not tree_equal_bytes(runs[0].model, other.model)


def test_batches_cover_each_epoch_without_replacement():
    key = jr.key(5)
    idx = np.concatenate([np.asarray(st.batch_indices(key, s, 12, 4)) for s in range(3)])
    assert sorted(idx.tolist()) == list(range(12))
    nxt = np.concatenate([np.asarray(st.batch_indices(key, s, 12, 4)) for s in range(3, 6)])
    assert sorted(nxt.tolist()) == list(range(12)) and not np.array_equal(idx, nxt)


class _Killed(Exception):
    pass


@pytest.mark.parametrize("kill_at", [7, 20, 33])
def test_kill_and_resume_is_bit_identical(sine_data, tmp_path, kill_at):
    opt = optax.adam(1e-2)
    common = dict(
        steps=40,
        key=jr.key(7),
        batch_size=48,
        validation=st.Validation(sine_data, every=5, keep_best=True),
    )
    log = st.Logging(every=1, quiet=True)
    full = st.fit(
        _mlp(),
        _mse_loss,
        sine_data,
        opt,
        checkpointing=st.Checkpointing(tmp_path / "a", every=10),
        logging=log,
        **common,
    )

    def kill(step, record):
        if step == kill_at:
            raise _Killed

    with pytest.raises(_Killed):
        st.fit(
            _mlp(),
            _mse_loss,
            sine_data,
            opt,
            checkpointing=st.Checkpointing(tmp_path / "b", every=10),
            logging=st.Logging(every=1, quiet=True, callback=kill),
            **common,
        )
    resumed = st.fit(
        _mlp(),
        _mse_loss,
        sine_data,
        opt,
        checkpointing=st.Checkpointing(tmp_path / "b", every=10, resume=True),
        logging=log,
        **common,
    )
    assert tree_equal_bytes(full.model, resumed.model)
    assert tree_equal_bytes(full.opt_state, resumed.opt_state)
    np.testing.assert_array_equal(full.losses, resumed.losses)
    assert full.best_step == resumed.best_step
    st.save(tmp_path / "a.eqx", full.model)
    st.save(tmp_path / "b.eqx", resumed.model)
    assert (tmp_path / "a.eqx").read_bytes() == (tmp_path / "b.eqx").read_bytes()
    lines = (tmp_path / "b" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(1, 41))


def _run(tmp_path, model=None, opt=None, key=0, resume=False, **kw):
    return st.fit(
        model if model is not None else _mlp(),
        _mse_loss,
        kw.pop("data"),
        opt if opt is not None else optax.sgd(1e-2),
        steps=5,
        key=jr.key(key),
        logging=QUIET,
        checkpointing=st.Checkpointing(tmp_path, resume=resume),
        **kw,
    )


def test_resume_rejects_another_run(sine_data, tmp_path):
    _run(tmp_path, data=sine_data)
    with pytest.raises(ValueError, match="different run: its key"):
        _run(tmp_path, data=sine_data, key=1, resume=True)
    # Settings that change the result but not a single shape are part of the fingerprint too.
    with pytest.raises(ValueError, match=r"its optimizer differs at .*step_size: -0.01 in the checkpoint, -0.02 now"):
        _run(tmp_path, data=sine_data, opt=optax.sgd(2e-2), resume=True)
    with pytest.raises(ValueError, match="its optimizer differs"):
        _run(tmp_path, data=sine_data, opt=optax.adam(1e-2), resume=True)
    relu = eqx.nn.MLP(1, 1, 16, 2, activation=jax.nn.relu, key=jr.key(0))
    with pytest.raises(
        ValueError, match=r"its model differs at \.activation: .*tanh.* in the checkpoint, .*relu.* now"
    ):
        _run(tmp_path, data=sine_data, model=relu, resume=True)
    frozen = st.trainable(_mlp(), freeze="layers[0]")
    with pytest.raises(ValueError, match=r"its filter_spec differs at \.layers\[0\]\.weight"):
        _run(tmp_path, data=sine_data, filter_spec=frozen, resume=True)
    # The same settings resume (and, with the run finished, take no step).
    again = _run(tmp_path, data=sine_data, resume=True)
    assert again.step == 5


class _Scalar(eqx.Module):
    w: jax.Array

    def __call__(self, x):
        return self.w * x


def _exploding_loss(model, batch, key):
    # Plain gradient descent on (w - 10)^2 from w = 0 with rate 0.1 gives
    # w_k = 10 (1 - 0.8^k); the loss turns NaN once w > 5, first at k = 4.
    w = model.w
    return jnp.where(w > 5.0, jnp.nan, (w - 10.0) ** 2)


def test_nonfinite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    model = _Scalar(jnp.array(0.0))
    with pytest.raises(st.NonFiniteError, match="loss at step 4") as info:
        st.fit(
            model,
            _exploding_loss,
            None,
            optax.sgd(0.1),
            steps=10,
            key=jr.key(0),
            checkpointing=st.Checkpointing(tmp_path, every=2),
            logging=st.Logging(every=5, quiet=True),
        )
    pointer = json.loads((tmp_path / "checkpoint.json").read_text())
    assert pointer["step"] == 4
    assert str(tmp_path / "checkpoint-000000004.eqx") in str(info.value)
    res = st.fit(
        model,
        lambda m, b, k: (m.w - 10.0) ** 2,
        None,
        optax.sgd(0.1),
        steps=10,
        key=jr.key(0),
        logging=QUIET,
        checkpointing=st.Checkpointing(tmp_path / "fresh"),
    )
    assert np.isfinite(float(res.model.w))


def _checkpoint_leaves(directory):
    # `eqx.tree_serialise_leaves` writes one `np.save` record per leaf: read them back
    # without knowing the structure.
    pointer = json.loads((directory / "checkpoint.json").read_text())
    path = directory / pointer["file"]
    leaves = []
    with open(path, "rb") as f:
        while f.tell() < path.stat().st_size:
            leaves.append(np.load(f, allow_pickle=False))
    return pointer["step"], leaves


def _steep_loss(model, batch, key):
    # Gradients of order 1e9: SGD at 1e300 overflows the weights in one update while the
    # loss and the gradients of that step are finite.
    return 1e10 * _mse_loss(model, batch, key)


def test_overflowing_update_raises_and_checkpoints_stay_finite(sine_data, tmp_path):
    common = dict(steps=20, key=jr.key(0), batch_size=32, logging=st.Logging(every=1, quiet=True))
    huge = tmp_path / "huge"
    with pytest.raises(st.NonFiniteError, match="non-finite updated parameters") as info:
        st.fit(
            _mlp(), _steep_loss, sine_data, optax.sgd(1e300), checkpointing=st.Checkpointing(huge, every=1), **common
        )
    message = str(info.value)
    assert "at step 0" in message and "no checkpoint was written" in message and "Lower the learning rate" in message
    assert not (huge / "checkpoint.json").exists() and not list(huge.glob("checkpoint-*"))
    # A run that diverges later keeps its last finite checkpoint and names it.
    schedule = lambda count: jnp.where(count < 6, 1e-12, 1e300)
    later = tmp_path / "later"
    with pytest.raises(st.NonFiniteError, match="at step 6") as info:
        st.fit(_mlp(), _steep_loss, sine_data, optax.sgd(schedule), checkpointing=st.Checkpointing(later), **common)
    step, leaves = _checkpoint_leaves(later)
    assert step == 6 and str(later / "checkpoint-000000006.eqx") in str(info.value)
    floats = [a for a in leaves if np.issubdtype(a.dtype, np.floating)]
    assert len(floats) >= 8 and all(np.isfinite(a).all() for a in floats)
    # That checkpoint resumes: every later update overflows and is skipped, so the run
    # ends on the checkpoint's weights, those of a run whose rate drops to zero there.
    resumed = st.fit(
        _mlp(),
        _steep_loss,
        sine_data,
        optax.sgd(schedule),
        checkpointing=st.Checkpointing(later, resume=True),
        execution=st.Execution(on_nonfinite="skip"),
        **common,
    )
    assert resumed.skipped_steps == 14
    stopped = st.fit(_mlp(), _steep_loss, sine_data, optax.sgd(lambda c: jnp.where(c < 6, 1e-12, 0.0)), **common)
    leaves = lambda m: jax.tree_util.tree_leaves(eqx.filter(m, eqx.is_array))
    for a, b in zip(leaves(resumed.model), leaves(stopped.model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_nonfinite_skip_drops_updates():
    res = st.fit(
        _Scalar(jnp.array(0.0)),
        _exploding_loss,
        None,
        optax.sgd(0.1),
        steps=10,
        key=jr.key(0),
        logging=QUIET,
        execution=st.Execution(on_nonfinite="skip"),
    )
    assert res.skipped_steps == 6
    np.testing.assert_allclose(float(res.model.w), 10 * (1 - 0.8**4), rtol=1e-12)


def test_frozen_parameters_stay_bit_identical(sine_data):
    model = _mlp()
    spec = st.trainable(model, freeze="layers[0]")
    counts = st.count_parameters(model, spec)
    assert counts == {"trainable": 16 * 16 + 16 + 16 + 1, "frozen": 16 + 16, "total": 16 * 16 + 16 * 3 + 17}
    res = st.fit(
        model,
        _mse_loss,
        sine_data,
        optax.adam(1e-2),
        steps=10,
        key=jr.key(0),
        logging=QUIET,
        filter_spec=spec,
    )
    assert tree_equal_bytes(model.layers[0], res.model.layers[0])
    assert not tree_equal_bytes(model.layers[1], res.model.layers[1])
    mu = res.opt_state[0].mu
    assert sum(x.size for x in jax.tree_util.tree_leaves(mu)) == counts["trainable"]
    same = st.trainable(model, freeze=lambda m: m.layers[0])
    assert jax.tree_util.tree_leaves(same) == jax.tree_util.tree_leaves(spec)
    only = st.trainable(model, only="layers[2]")
    assert st.count_parameters(model, only)["trainable"] == 17
    with pytest.raises(ValueError, match="top-level fields are: "):
        st.trainable(model, freeze="encoder")


@pytest.mark.parametrize(
    "config",
    [
        {"name": "adam", "learning_rate": 0.1},
        {"name": "adamw", "learning_rate": 0.1, "weight_decay": 0.0},
        {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
        {"name": "sgd", "learning_rate": 0.1, "clip_norm": 1.0},
        {"name": "lbfgs"},
    ],
)
def test_optimizers_solve_least_squares(config):
    a = jr.normal(jr.key(0), (40, 3))
    b = jr.normal(jr.key(1), (40,))
    exact = np.linalg.lstsq(np.asarray(a), np.asarray(b), rcond=None)[0]

    def loss(model, batch, key):
        return jnp.mean((batch[0] @ model.w - batch[1]) ** 2)

    steps = 30 if config["name"] == "lbfgs" else 600
    optimizer = st.make_optimizer(config, steps=steps)
    res = st.fit(_Scalar(jnp.zeros(3)), loss, (a, b), optimizer, steps=steps, key=jr.key(0), logging=QUIET)
    np.testing.assert_allclose(res.model.w, exact, atol=2e-3)


def test_schedules_match_their_formulas():
    cos = st.make_schedule({"learning_rate": 1.0, "schedule": "cosine", "decay_steps": 100})
    np.testing.assert_allclose(cos(50), 0.5 * (1 + np.cos(np.pi * 0.5)), rtol=1e-6)
    warm = st.make_schedule({"learning_rate": 2.0, "warmup_steps": 10})
    np.testing.assert_allclose([warm(0), warm(5), warm(10), warm(500)], [0.0, 1.0, 2.0, 2.0], rtol=1e-6)
    exp = st.make_schedule({"learning_rate": 1.0, "schedule": "exponential", "decay_steps": 10, "decay_rate": 0.5})
    np.testing.assert_allclose(exp(20), 0.25, rtol=1e-6)


def test_validation_early_stopping_and_best_model(sine_data):
    x, y = sine_data

    def metrics(model, batch):
        return {"mse": st.mse(jax.vmap(model)(batch[0]), batch[1])}

    # A rate this high makes the validation error bounce, so patience must trigger.
    res = st.fit(
        _mlp(),
        _mse_loss,
        (x, y),
        optax.sgd(2.0),
        steps=400,
        key=jr.key(0),
        logging=QUIET,
        validation=st.Validation((x, y), every=5, metrics=metrics, patience=3, keep_best=True),
        execution=st.Execution(on_nonfinite="skip"),
    )
    assert res.stopped_early and res.step < 400
    best = st.evaluate(metrics, res.model, (x, y))["mse"]
    np.testing.assert_allclose(best, res.best_metric, rtol=1e-10)
    vals = [h["val_mse"] for h in res.history if "val_mse" in h]
    np.testing.assert_allclose(min(vals), best, rtol=1e-10)


class _BNNet(eqx.Module):
    lin: eqx.nn.Linear
    bn: eqx.nn.BatchNorm

    def __init__(self, key):
        self.lin = eqx.nn.Linear(1, 4, key=key)
        self.bn = eqx.nn.BatchNorm(4, "batch", mode="ema")

    def __call__(self, x, state):
        h, state = self.bn(self.lin(x), state)
        return jnp.sum(jnp.tanh(h)), state


def test_stateful_loss_updates_batchnorm_state(sine_data, tmp_path):
    model, state = eqx.nn.make_with_state(_BNNet)(jr.key(0))

    def loss(model, state, batch, key):
        x, y = batch
        pred, state = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)
        return jnp.mean((pred - y[:, 0]) ** 2), state

    res = st.fit(
        model,
        loss,
        sine_data,
        optax.adam(1e-2),
        steps=10,
        key=jr.key(0),
        state=state,
        batch_size=32,
        logging=QUIET,
        checkpointing=st.Checkpointing(tmp_path),
        validation=st.Validation(sine_data),
    )
    assert not tree_equal_bytes(state, res.state)
    st.save(tmp_path / "model.eqx", (res.model, res.state))
    m2, s2 = st.load(tmp_path / "model.eqx", like=(model, state))
    assert tree_equal_bytes((m2, s2), (res.model, res.state))
    assert st.load_metadata(tmp_path / "model.eqx")["has_state"] is True


def test_save_load_roundtrip_and_structure_errors(tmp_path):
    model = _mlp()
    st.save(tmp_path / "m.eqx", model, note="hello")
    assert tree_equal_bytes(st.load(tmp_path / "m.eqx", like=_mlp(seed=1)), model)
    assert st.load_metadata(tmp_path / "m.eqx")["note"] == "hello"
    with pytest.raises(ValueError, match=r"expected .*\[8,1\], the file has .*\[16,1\]"):
        st.load(tmp_path / "m.eqx", like=_mlp(width=8))
    with pytest.raises(ValueError, match="holds 6 arrays but the given structure has 2"):
        st.load(tmp_path / "m.eqx", like=eqx.nn.Linear(1, 1, key=jr.key(0)))
    with pytest.raises(ValueError, match="without 'architecture'"):
        st.load(tmp_path / "m.eqx")
    with pytest.raises(FileNotFoundError):
        st.load(tmp_path / "missing.eqx", like=model)
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(data=(jnp.zeros((10, 1)), jnp.zeros((9, 1)))), "different lengths"),
        (dict(data=(jnp.zeros((10, 1)).at[3, 0].set(jnp.nan), jnp.zeros((10, 1)))), "non-finite .* first at index 3"),
        (dict(steps=0), "'steps' must be a positive integer"),
        (dict(batch_size=11), "batch_size 11 exceeds the number of training samples 10"),
        (
            dict(validation=st.Validation((jnp.zeros((4, 1)), jnp.zeros((3, 1))))),
            "validation data arrays have different lengths",
        ),
    ],
)
def test_bad_input_names_the_problem(kwargs, match):
    args = dict(data=(jnp.zeros((10, 1)), jnp.zeros((10, 1))), optimizer=optax.adam(1e-3), steps=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        st.fit(_mlp(), _mse_loss, args.pop("data"), args.pop("optimizer"), key=jr.key(0), logging=QUIET, **args)


@pytest.mark.parametrize(
    "build, error, match",
    [
        (
            lambda: st.make_optimizer({"name": "adagrad", "learning_rate": 1.0}),
            ValueError,
            "unknown optimizer 'adagrad'",
        ),
        (
            lambda: st.make_optimizer({"name": "adam", "learning_rate": -1.0}),
            ValueError,
            "learning_rate' must be a pos",
        ),
        (
            lambda: st.make_optimizer({"name": "adam", "learning_rate": 1e-3, "lr": 1}),
            ValueError,
            r"unknown optimizer config key\(s\) \['lr'\]",
        ),
        (
            lambda: st.Execution(on_nonfinite="ignore"),
            ValueError,
            "Execution: 'on_nonfinite' must be 'raise' or 'skip'",
        ),
        (lambda: st.Validation(None), ValueError, "Validation: 'data' is required"),
        (lambda: st.Validation(jnp.zeros(3), every=0), ValueError, "Validation: 'every' must be a positive integer"),
        (lambda: st.Validation(jnp.zeros(3), mode="best"), ValueError, "Validation: 'mode' must be 'min' or 'max'"),
        (lambda: st.Validation(jnp.zeros(3), patience=True), ValueError, "'patience' must be a positive integer"),
        (lambda: st.Validation(jnp.zeros(3), metrics="mse"), TypeError, "metrics"),
        (lambda: st.Checkpointing(""), ValueError, "Checkpointing: 'directory' must be a folder path"),
        (lambda: st.Checkpointing("out", every=-1), ValueError, "Checkpointing: 'every' must be a positive"),
        (lambda: st.Checkpointing("out", resume="yes"), TypeError, "resume"),
        (lambda: st.Logging(every=0), ValueError, "Logging: 'every' must be a positive integer"),
        (lambda: st.Logging(callback=3), TypeError, "callback"),
    ],
)
def test_option_objects_check_their_arguments(build, error, match):
    # A wrong type is caught by the annotations' runtime check under pytest and by the
    # constructor's own check otherwise; both name the argument.
    with pytest.raises(error, match=match):
        build()


def test_fit_takes_objects_not_configs(sine_data):
    # Under pytest the annotations are checked first; `fit`'s own checks, which give the
    # advice, run without that hook, as in production.
    raw_fit = inspect.unwrap(st.fit)
    config = {"name": "adam", "learning_rate": 1e-3}
    for fn in (st.fit, raw_fit):
        with pytest.raises(TypeError, match="optimizer"):
            fn(_mlp(), _mse_loss, sine_data, config, steps=2, key=jr.key(0), logging=QUIET)
    with pytest.raises(TypeError, match=r"got a config mapping: build the optimizer with sciml.train.make_optimizer"):
        raw_fit(_mlp(), _mse_loss, sine_data, config, steps=2, key=jr.key(0), logging=QUIET)
    with pytest.raises(TypeError, match=r"'validation' must be a sciml.train.Validation, got tuple"):
        raw_fit(_mlp(), _mse_loss, sine_data, optax.adam(1e-3), steps=2, key=jr.key(0), validation=sine_data)


def test_loss_must_be_scalar(sine_data):
    with pytest.raises(ValueError, match=r"floating-point scalar, got .* shape \(256, 1\)"):
        st.fit(
            _mlp(),
            lambda m, b, k: jax.vmap(m)(b[0]) - b[1],
            sine_data,
            optax.sgd(1.0),
            steps=2,
            key=jr.key(0),
            logging=QUIET,
        )


_MULTI_DEVICE = textwrap.dedent(
    """
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    os.environ["JAX_PLATFORMS"] = "cpu"
    import jax, jax.numpy as jnp, jax.random as jr, equinox as eqx, numpy as np
    jax.config.update("jax_enable_x64", True)
    import sciml.train as st, sciml.parallel as sp
    assert len(jax.devices()) == 4
    x = jnp.linspace(-3, 3, 64)[:, None]
    data = (x, jnp.sin(x))
    def loss(m, b, k):
        return jnp.mean((jax.vmap(m)(b[0]) - b[1]) ** 2)
    model = eqx.nn.MLP(1, 1, 16, 2, activation=jnp.tanh, key=jr.key(0))
    kw = dict(steps=25, key=jr.key(1), batch_size=32, logging=st.Logging(quiet=True, every=1))
    one = st.fit(model, loss, data, st.make_optimizer({"name": "adam", "learning_rate": 1e-2}), **kw)
    mesh = st.Execution(mesh=sp.data_mesh())
    four = st.fit(model, loss, data, st.make_optimizer({"name": "adam", "learning_rate": 1e-2}), execution=mesh, **kw)
    np.testing.assert_allclose(one.losses, four.losses, rtol=1e-9, atol=1e-12)
    w = four.model.layers[0].weight
    assert len(w.sharding.device_set) == 4 and w.sharding.is_fully_replicated
    try:
        st.fit(model, loss, data, st.make_optimizer({"name": "adam", "learning_rate": 1e-2}), execution=mesh, steps=2,
               key=jr.key(1), batch_size=30, logging=st.Logging(quiet=True))
    except ValueError as e:
        assert "divisible by 4" in str(e)
    else:
        raise AssertionError("indivisible batch accepted")
    print("OK", one.losses[-1], four.losses[-1])
    """
)


def test_data_parallel_matches_single_device():
    out = subprocess.run([sys.executable, "-c", _MULTI_DEVICE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("OK")


def test_fixed_buffers_are_not_trained():
    import sciml.nn

    model = sciml.nn.build(
        "mlp",
        key=jr.key(0),
        in_size=2,
        out_size=1,
        width=8,
        depth=1,
        fourier_features=4,
        input_mean=[0.0, 1.0],
        input_std=[1.0, 2.0],
    )
    size = lambda tree: sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_inexact_array)))
    fixed = size(model.features) + size(model.input_normaliser)
    assert fixed == 4 * 2 + 2 + 2
    assert st.count_parameters(model) == {"trainable": size(model) - fixed, "frozen": 0, "total": size(model) - fixed}
    x = jr.normal(jr.key(1), (32, 2))
    res = st.fit(
        model,
        lambda m, b, k: jnp.mean((jax.vmap(m)(b[0]) - b[1]) ** 2),
        (x, x[:, :1]),
        optax.adamw(1e-2, weight_decay=0.5),
        steps=3,
        key=jr.key(0),
        logging=QUIET,
    )
    # Decoupled weight decay would shrink them if the optimizer saw them.
    assert tree_equal_bytes(model.features, res.model.features)
    assert tree_equal_bytes(model.input_normaliser, res.model.input_normaliser)
    assert not tree_equal_bytes(model, res.model)


def test_wrong_sample_shape_says_expected_and_given():
    import sciml.nn

    model = sciml.nn.build("mlp", key=jr.key(0), in_size=3, out_size=1, width=4, depth=1)
    x = jnp.zeros((8, 4))
    with pytest.raises(ValueError, match=r"expected .*\(3,\).*\(4,\)"):
        st.fit(
            model,
            _mse_loss,
            (x, jnp.zeros((8, 1))),
            optax.sgd(1.0),
            steps=1,
            key=jr.key(0),
            logging=QUIET,
        )


def test_load_rebuilds_from_registry_metadata_in_saved_dtype(tmp_path):
    import sciml.nn

    config = dict(in_size=2, out_size=1, width=4, depth=1)
    model = sciml.nn.build("mlp", key=jr.key(0), **config)
    model32 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float32) if eqx.is_inexact_array(x) else x, model)
    st.save(tmp_path / "model.eqx", model32, architecture="mlp", config=config)
    back = st.load(tmp_path / "model.eqx")
    assert tree_equal_bytes(back, model32)
    assert (tmp_path / "model.eqx").stat().st_mode & 0o044  # readable by others, as usual files
