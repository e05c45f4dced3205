"""Tests for sciml.nn: shapes, state, dropout, masks, invariances and the registry.

Every network is tiny (widths 2-8, one or two blocks) so the whole file compiles in
seconds on a 2-core CPU; models are built once per module where they are reused.
"""

import io
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import finite_difference_grad, tree_allclose

import sciml.nn as nn


# (id, registry name, config, one input sample's shape, one output's shape). One entry
# per architecture and dimension; `test_registry_covers_every_name` keeps it complete.
ARCHITECTURES = [
    ("mlp-vector", "mlp", dict(in_size=3, out_size=2, width=8, depth=2), (3,), (2,)),
    (
        "mlp-scalar-fourier",
        "mlp",
        dict(in_size="scalar", out_size="scalar", width=8, depth=1, fourier_features=4),
        (),
        (),
    ),
    (
        "cnn-1d",
        "cnn",
        dict(num_spatial_dims=1, in_channels=2, channels=[4, 4], out_size=3, dropout=0.1),
        (2, 8),
        (3,),
    ),
    (
        "cnn-2d-bn-classes",
        "cnn",
        dict(
            num_spatial_dims=2,
            in_channels=1,
            channels=[4],
            num_classes=5,
            batch_norm=True,
            pooling="avg",
        ),
        (1, 6, 6),
        (5,),
    ),
    (
        "cnn-3d-scalar",
        "cnn",
        dict(num_spatial_dims=3, in_channels=1, channels=[2], out_size="scalar"),
        (1, 4, 4, 4),
        (),
    ),
    (
        "resnet18-2d-bn",
        "resnet",
        dict(variant="resnet18", num_spatial_dims=2, in_channels=1, num_classes=3, width=2),
        (1, 8, 8),
        (3,),
    ),
    (
        "resnet34-1d",
        "resnet",
        dict(
            variant="resnet34",
            num_spatial_dims=1,
            in_channels=2,
            out_size=2,
            width=2,
            batch_norm=False,
        ),
        (2, 9),
        (2,),
    ),
    (
        "resnet-field-2d",
        "resnet",
        dict(variant="field", num_spatial_dims=2, in_channels=2, out_channels=1, width=4, depth=2),
        (2, 8, 6),
        (1, 8, 6),
    ),
    (
        "transformer-sequence",
        "transformer",
        dict(in_size=3, out_size=2, d_model=8, num_heads=2, depth=2),
        (5, 3),
        (5, 2),
    ),
    (
        "transformer-vector-learned",
        "transformer",
        dict(
            in_size=3,
            out_size="scalar",
            d_model=8,
            num_heads=2,
            depth=1,
            output="vector",
            positional="learned",
            max_len=8,
        ),
        (5, 3),
        (),
    ),
    (
        "fno-1d",
        "fno",
        dict(
            num_spatial_dims=1,
            in_channels=1,
            out_channels=2,
            modes=4,
            width=8,
            depth=2,
            projection_width=8,
            dropout=0.1,
        ),
        (1, 16),
        (2, 16),
    ),
    (
        "fno-2d-grid",
        "fno",
        dict(
            num_spatial_dims=2,
            in_channels=2,
            out_channels=1,
            modes=[3, 2],
            width=4,
            depth=2,
            projection_width=4,
            grid_features=True,
        ),
        (2, 8, 6),
        (1, 8, 6),
    ),
]


@pytest.fixture
def getkey():
    """Fresh deterministic keys, using the "rbg" generator.

    Overrides the conftest fixture for this file only: on CPU, XLA compiles threefry
    for every new weight shape in 0.3-0.4 s, which dominated these tests; rbg compiles
    in a third of that. The models accept any key type.
    """
    counter = iter(range(10**9))
    return lambda: jr.key(next(counter), impl="rbg")


def _batched(model, xs, state, key=None):
    """Calls one model on a batch the documented way, with one dropout key per sample."""
    keys = None if key is None else jr.split(key, xs.shape[0])
    return jax.vmap(
        lambda x, s, k: model(x, s, key=k),
        axis_name="batch",
        in_axes=(0, None, 0),
        out_axes=(0, None),
    )(xs, state, keys)


@pytest.mark.parametrize(
    "name, config, in_shape, out_shape", [a[1:] for a in ARCHITECTURES], ids=[a[0] for a in ARCHITECTURES]
)
def test_architecture_shapes(name, config, in_shape, out_shape, getkey):
    # Abstract evaluation runs all the Python (construction, shape checks, state
    # threading, vmap with the batch axis name) but compiles nothing; the numerical
    # behaviour of each architecture is tested below on real arrays.
    def run(key, xs):
        model, state = nn.build_with_state(name, key=key, **config)
        ys, new_state = _batched(model, xs, state, key)
        return model, ys, new_state

    xs = jax.ShapeDtypeStruct((2, *in_shape), jnp.float64)
    model, ys, new_state = eqx.filter_eval_shape(run, getkey(), xs)
    assert ys.shape == (2, *out_shape)
    assert ys.dtype == jnp.float64
    assert isinstance(new_state, eqx.nn.State)
    if not nn.is_stateful(model):
        # Stateless models are also plain functions of one sample.
        x = jax.ShapeDtypeStruct(in_shape, jnp.float64)
        y = eqx.filter_eval_shape(lambda m, x: eqx.nn.inference_mode(m)(x), model, x)
        assert y.shape == out_shape


def test_registry_covers_every_name():
    assert {a[1] for a in ARCHITECTURES} == set(nn.available())
    assert nn.available() == ("cnn", "fno", "mlp", "resnet", "transformer")


def test_registry_every_resnet_variant_builds(getkey):
    base = dict(num_spatial_dims=1, in_channels=1, num_classes=2, width=1)
    for variant, blocks in (("resnet18", 8), ("resnet34", 16), ("resnet50", 16)):
        # Abstract construction runs all the Python but compiles nothing.
        model, state = eqx.filter_eval_shape(
            lambda k: nn.build_with_state("resnet", key=k, variant=variant, **base), getkey()
        )
        assert isinstance(model, nn.ResNet) and len(model.blocks) == blocks
        assert nn.is_stateful(model)
    block = nn.BottleneckBlock if variant == "resnet50" else nn.BasicBlock
    assert isinstance(model.blocks[0], block)
    field = eqx.filter_eval_shape(
        lambda k: nn.build("resnet", key=k, variant="field", num_spatial_dims=1, in_channels=1, out_channels=1),
        getkey(),
    )
    assert isinstance(field, nn.FieldResNet) and not nn.is_stateful(field)


def test_registry_errors(getkey):
    with pytest.raises(ValueError, match="unknown model 'mpl'; available: cnn, fno, mlp"):
        nn.build("mpl", key=getkey(), in_size=1, out_size=1)
    with pytest.raises(ValueError, match=r"unknown config key 'widht' for 'mlp'; accepted: .*depth.*width"):
        nn.build("mlp", key=getkey(), in_size=1, out_size=1, widht=3)
    with pytest.raises(ValueError, match="missing required config key.*in_size, out_size"):
        nn.build("mlp", key=getkey())
    with pytest.raises(ValueError, match="missing required config key.*out_channels"):
        nn.build("fno", key=getkey(), num_spatial_dims=1, in_channels=1)
    with pytest.raises(ValueError, match="unknown variant 'resnet19'.*resnet18, resnet34, resnet50, field"):
        nn.build("resnet", key=getkey(), variant="resnet19")
    with pytest.raises(ValueError, match="unknown config key 'out_channels' for 'resnet'.*variant"):
        nn.build("resnet", key=getkey(), num_spatial_dims=1, in_channels=1, out_channels=1)
    with pytest.raises(TypeError, match="JSON"):
        nn.build("mlp", key=getkey(), in_size=1, out_size=1, input_mean=jnp.zeros(1), input_std=jnp.ones(1))
    with pytest.raises(ValueError, match="build_with_state"):
        nn.build("resnet", key=getkey(), num_spatial_dims=1, in_channels=1, out_size=1, width=1)
    with pytest.raises(ValueError, match="exactly one of out_size"):
        nn.build("cnn", key=getkey(), num_spatial_dims=1, in_channels=1)
    with pytest.raises(ValueError, match="unknown activation 'tahn'"):
        nn.build("mlp", key=getkey(), in_size=1, out_size=1, activation="tahn")


def test_registry_json_roundtrip(getkey):
    config = dict(in_size=2, out_size=1, width=4, depth=1, input_mean=[0.5, 1.0], input_std=[2.0, 0.0])
    key = getkey()
    model = nn.build("mlp", key=key, **config)
    saved = json.dumps({"name": "mlp", "config": config})
    loaded = json.loads(saved)
    skeleton = nn.build(loaded["name"], key=jr.key(123), **loaded["config"])
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, model)
    buffer.seek(0)
    restored = eqx.tree_deserialise_leaves(buffer, skeleton)
    assert tree_allclose(restored, model, rtol=0, atol=0)
    # The stateless build_with_state gives an empty state.
    _, state = nn.build_with_state("mlp", key=key, **config)
    assert jax.tree_util.tree_leaves(state) == []


@pytest.mark.parametrize(
    "model_fn, bad_shape, message",
    [
        (lambda k: nn.MLP(3, 2, 4, 1, key=k), (4,), r"MLP expected input of shape \(3,\), got \(4,\)"),
        (lambda k: nn.MLP("scalar", 2, 4, 1, key=k), (1,), r"MLP expected input of shape \(\), got \(1,\)"),
        (
            lambda k: nn.CNN(2, 3, [2], out_size=1, key=k),
            (2, 8, 8),
            r"CNN expected input of shape \(3, n1, n2\), got \(2, 8, 8\)",
        ),
        (lambda k: nn.CNN(2, 1, [2, 2], out_size=1, key=k), (1, 8, 3), r"spatial sizes >= 4"),
        (
            lambda k: nn.ResNet(1, 1, "basic", (1,), out_size=1, width=2, batch_norm=False, key=k),
            (1, 4, 4),
            r"ResNet expected input of shape \(1, n1\)",
        ),
        (
            lambda k: nn.FieldResNet(2, 1, 1, width=2, depth=1, key=k),
            (1, 8),
            r"FieldResNet expected input of shape \(1, n1, n2\), got \(1, 8\)",
        ),
        (
            lambda k: nn.FNO(1, 2, 1, modes=2, width=2, depth=1, projection_width=2, key=k),
            (1, 8),
            r"FNO expected input of shape \(2, n1\), got \(1, 8\)",
        ),
        (
            lambda k: nn.Transformer(3, 1, d_model=4, num_heads=1, depth=1, key=k),
            (5, 2),
            r"Transformer expected input of shape \(seq, 3\), got \(5, 2\)",
        ),
    ],
)
def test_wrong_input_shape(model_fn, bad_shape, message, getkey):
    model = eqx.filter_eval_shape(model_fn, getkey())
    x = jax.ShapeDtypeStruct(bad_shape, jnp.float64)
    with pytest.raises(ValueError, match=message):
        # Raised while tracing, before anything is compiled.
        eqx.filter_eval_shape(lambda m, x: m(x), model, x)


def test_transformer_wrong_mask_shape(transformers):
    x = jax.ShapeDtypeStruct((5, 3), jnp.float64)
    mask = jax.ShapeDtypeStruct((4,), jnp.bool_)
    # The runtime type checker (on in the tests) catches the mismatch first.
    with pytest.raises((ValueError, TypeError), match="mask"):
        eqx.filter_eval_shape(lambda m, x, k: m(x, mask=k), transformers["full"], x, mask)


def test_batch_norm_model_needs_state(getkey):
    model, _ = eqx.nn.make_with_state(nn.CNN)(1, 1, [2], out_size=1, batch_norm=True, key=getkey())
    with pytest.raises(ValueError, match="BatchNorm.*model\\(x, state\\)"):
        model(jnp.zeros((1, 8)))


# --------------------------------------------------------------------------- BatchNorm


def _bn_call(bn, xs, state):
    return jax.vmap(bn, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(xs, state)


def test_batch_norm_train_and_inference(getkey):
    bn, state0 = eqx.nn.make_with_state(nn.BatchNorm)(2, momentum=0.9)
    # Channel 0: mean 3, std 2; channel 1: mean -1, std 0.5.
    xs = jnp.array([3.0, -1.0])[None, :, None] + jnp.array([2.0, 0.5])[None, :, None] * jr.normal(getkey(), (64, 2, 5))
    step = eqx.filter_jit(_bn_call)
    # Training: batch statistics normalise exactly, and the state moves.
    ys, state = step(bn, xs, state0)
    assert np.allclose(ys.mean(axis=(0, 2)), 0, atol=1e-12)
    assert np.allclose(ys.std(axis=(0, 2)), 1, atol=1e-4)
    assert not tree_allclose(state, state0)
    for _ in range(2):
        ys, state = step(bn, xs, state)
    # Inference: the state is frozen and the output uses the running statistics.
    ibn = eqx.nn.inference_mode(bn)
    yi, state_after = step(ibn, xs, state)
    assert tree_allclose(state_after, state, rtol=0, atol=0)
    counter = state.get(bn.norm.batch_counter)
    avg_mean, avg_var = state.get(bn.norm.batch_state_index)
    assert counter == 3
    mean = avg_mean / (1 - 0.9**3)
    var = avg_var / (1 - 0.9**3)
    expected = (xs - mean[None, :, None]) / np.sqrt(var[None, :, None] + 1e-5)
    assert np.allclose(yi, expected, rtol=1e-10, atol=1e-10)
    # Trained three times on the same batch, the debiased running statistics are that
    # batch's statistics, so inference reproduces training. (equinox's own "batch" mode
    # inflates the variance here by 0.9^3 / (1 - 0.9^3) and fails this.)
    assert np.allclose(yi, ys, rtol=1e-8, atol=1e-8)
    # Before any training step, inference is the identity.
    y0, _ = step(ibn, xs, state0)
    assert np.allclose(y0, xs / np.sqrt(1 + 1e-5))


@pytest.mark.parametrize(
    "name, config",
    [
        ("cnn", dict(num_spatial_dims=1, in_channels=1, channels=[2, 2], out_size=2, batch_norm=True)),
        ("resnet", dict(num_spatial_dims=1, in_channels=1, out_size=2, width=2)),
    ],
)
def test_batch_norm_model_state_threading(name, config, getkey):
    if name == "resnet":
        # A two-stage ResNet: same code path as resnet18, a fraction of the compile time.
        model, state0 = eqx.nn.make_with_state(nn.ResNet)(1, 1, "basic", (1, 1), out_size=2, width=2, key=getkey())
    else:
        model, state0 = nn.build_with_state(name, key=getkey(), **config)
    norms = [
        x
        for x in jax.tree_util.tree_leaves(model, is_leaf=lambda x: isinstance(x, nn.BatchNorm))
        if isinstance(x, nn.BatchNorm)
    ]
    assert len(norms) == (2 if name == "cnn" else 6)  # resnet: stem, 2 + 2, shortcut
    xs = 2.0 + jr.normal(getkey(), (4, 1, 8))
    step = eqx.filter_jit(_batched)
    y_train, state1 = step(model, xs, state0)
    assert np.all(np.isfinite(y_train))
    # Every BatchNorm layer saw the batch exactly once.
    for norm in norms:
        assert state1.get(norm.norm.batch_counter) == 1
        assert not np.allclose(state1.get(norm.norm.batch_state_index)[0], 0)
    imodel = eqx.nn.inference_mode(model)
    yi, state2 = step(imodel, xs, state1)
    assert tree_allclose(state2, state1, rtol=0, atol=0)
    # Inference uses no batch statistics: a sample's output does not depend on the
    # rest of its batch, whereas in training it does.
    y_alone, _ = step(imodel, xs[:2], state1)
    assert np.allclose(y_alone[0], yi[0], rtol=1e-12, atol=1e-12)
    y_train_alone, _ = step(model, xs[:2], state1)
    assert not np.allclose(y_train_alone[0], y_train[0])


# ----------------------------------------------------------------------------- dropout


def test_dropout_keys_and_inference(getkey):
    model = nn.MLP(3, 4, 16, 2, dropout=0.5, key=getkey())
    x = jr.normal(getkey(), (3,))
    k1, k2 = getkey(), getkey()
    assert not np.allclose(model(x, key=k1), model(x, key=k2))
    assert np.array_equal(model(x, key=k1), model(x, key=k1))
    with pytest.raises(RuntimeError, match="requires a key"):
        model(x)
    imodel = eqx.nn.inference_mode(model)
    y_inf = imodel(x, key=k1)
    assert np.array_equal(y_inf, imodel(x, key=k2))
    # In inference the dropout layers are the identity: same as a model without dropout.
    no_dropout = eqx.tree_at(lambda m: m.dropout, model, eqx.nn.Dropout(0.0))
    assert np.allclose(y_inf, no_dropout(x))


def test_transformer_dropout(transformers, getkey):
    model = transformers["dropout"]
    x = jr.normal(getkey(), (6, 3))
    k1, k2 = getkey(), getkey()

    @eqx.filter_jit
    def outputs(model, x):
        imodel = eqx.nn.inference_mode(model)
        return model(x, key=k1), model(x, key=k2), imodel(x, key=k1), imodel(x, key=k2), imodel(x)

    train1, train2, inf1, inf2, inf_nokey = outputs(model, x)
    assert not np.allclose(train1, train2)
    assert np.array_equal(inf1, inf2) and np.array_equal(inf1, inf_nokey)
    # With dropout off, the model is the deterministic "full" one (same weights).
    assert np.allclose(inf1, eqx.filter_jit(transformers["full"])(x), rtol=1e-12)


# ----------------------------------------------------------------------- transformer


@pytest.fixture(scope="module")
def transformers():
    # Same sizes as the registry entry above, so weight initialisation is not recompiled.
    key = jr.key(7, impl="rbg")
    kw = dict(d_model=8, num_heads=2, depth=2)
    return {
        "causal": nn.Transformer(3, 2, causal=True, key=key, **kw),
        "full": nn.Transformer(3, 2, key=key, **kw),
        "vector": nn.Transformer(3, 2, output="vector", key=key, **kw),
        "dropout": nn.Transformer(3, 2, dropout=0.3, key=key, **kw),
    }


@eqx.filter_jit
def _transformer_batch(model, xs, masks):
    """A batch of sequences with per-sequence masks: one compilation per model."""
    return jax.vmap(lambda x, mask: model(x, mask=mask))(xs, masks)


def test_transformer_causal_mask(transformers, getkey):
    x = jr.normal(getkey(), (6, 3))
    xs = jnp.stack([x, x.at[4].add(1.0)])
    masks = jnp.ones((2, 6), dtype=bool)
    y, y_late = _transformer_batch(transformers["causal"], xs, masks)
    assert np.allclose(y[:4], y_late[:4], rtol=1e-12, atol=1e-12)
    assert not np.allclose(y[4:], y_late[4:])
    # The same perturbation does reach earlier tokens without the causal mask.
    y, y_late = _transformer_batch(transformers["full"], xs, masks)
    assert not np.allclose(y[:4], y_late[:4])


@pytest.mark.parametrize("which", ["full", "causal", "vector"])
def test_transformer_padding_mask(transformers, which, getkey):
    model = transformers[which]
    x = jr.normal(getkey(), (6, 3))
    junk = x.at[4:].set(100.0)
    valid = jnp.array([True, True, True, True, False, False])
    every = jnp.ones(6, dtype=bool)
    y, y_junk, y_unmasked, y_junk_unmasked = _transformer_batch(
        model, jnp.stack([x, junk, x, junk]), jnp.stack([valid, valid, every, every])
    )
    # Padded tokens are ignored: changing them changes nothing ...
    assert np.allclose(y, y_junk, rtol=1e-12, atol=1e-12)
    # ... (whereas without the mask they matter) ...
    assert not np.allclose(y_unmasked, y_junk_unmasked)
    # ... and the result equals running on the unpadded sequence alone.
    y_short = eqx.filter_jit(model)(x[:4])
    if which == "vector":
        assert y.shape == (2,)
        assert np.allclose(y, y_short, rtol=1e-10, atol=1e-10)
    else:
        assert np.allclose(y[:4], y_short, rtol=1e-10, atol=1e-10)
        assert np.all(y[4:] == 0)


# -------------------------------------------------------------------------------- FNO


def test_spectral_conv_2d_matches_reference(getkey):
    layer = nn.SpectralConv(2, 2, 3, (3, 2), key=getkey())
    x = jr.normal(getkey(), (2, 8, 10))
    y = layer(x)
    # Li et al.'s two-corner formulation, written out with numpy.
    w = np.asarray(layer.weight_real) + 1j * np.asarray(layer.weight_imag)
    x_ft = np.fft.rfft2(np.asarray(x))
    out_ft = np.zeros((3, 8, 6), dtype=complex)
    out_ft[:, :3, :2] = np.einsum("ixy,ioxy->oxy", x_ft[:, :3, :2], w[:, :, :3])
    out_ft[:, -3:, :2] = np.einsum("ixy,ioxy->oxy", x_ft[:, -3:, :2], w[:, :, 3:])
    expected = np.fft.irfft2(out_ft, s=(8, 10))
    assert np.allclose(y, expected, rtol=1e-10, atol=1e-12)


def test_spectral_conv_discretisation_invariance(getkey):
    layer = nn.SpectralConv(1, 1, 2, 5, key=getkey())

    def field(n):
        s = jnp.arange(n) / n
        return (jnp.sin(2 * jnp.pi * s) + 0.5 * jnp.cos(6 * jnp.pi * s) + 0.2 * jnp.sin(14 * jnp.pi * s))[None]

    coarse, fine = layer(field(16)), layer(field(64))
    # A band-limited input gives the same function on both grids (to round-off); the
    # frequency-7 component is above the kept modes and filtered out on both grids.
    assert np.allclose(coarse, fine[:, ::4], rtol=1e-10, atol=1e-12)
    # On a grid too coarse for all modes, the modes above Nyquist are dropped.
    assert layer(field(6)).shape == (2, 6)


def test_fno_resolution_invariance(getkey):
    model = nn.FNO(1, 1, 1, modes=6, width=8, depth=3, projection_width=16, key=getkey())

    def field(n):
        s = jnp.arange(n) / n
        return (jnp.sin(2 * jnp.pi * s) + 0.5 * jnp.cos(4 * jnp.pi * s))[None]

    run = eqx.filter_jit(model)
    coarse, fine = run(field(64)), run(field(128))
    assert coarse.shape == (1, 64) and fine.shape == (1, 128)
    # Pointwise layers commute with sub-sampling; only the harmonics the nonlinearities
    # create above the coarse grid's Nyquist frequency alias differently, so agreement
    # is close but not exact (about 1e-16 here, for this smooth input).
    error = np.max(np.abs(coarse - fine[:, ::2])) / np.max(np.abs(fine))
    assert error < 1e-5
    # And the comparison is meaningful: a different input disagrees far more.
    assert np.max(np.abs(coarse - run(-field(64)))) / np.max(np.abs(fine)) > 0.1


def test_fno_weights_are_real_arrays(getkey):
    model = nn.FNO(2, 1, 1, modes=2, width=2, depth=3, projection_width=2, key=getkey())
    leaves = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))
    assert all(jnp.issubdtype(leaf.dtype, jnp.floating) for leaf in leaves)
    # Stacked for the scan over layers.
    assert model.layers.spectral.weight_real.shape == (3, 2, 2, 4, 2)


def _fno_reference(model, x, key=None):
    """The FNO written out layer by layer (no scan), with the documented dropout masks:
    `key` split into one key per Fourier layer plus one for the projection, inverted
    dropout after every activation."""
    p = 0.0 if model.dropout is None else model.dropout.p
    keys = None if key is None else jr.split(key, model.depth + 1)

    def drop(h, k):
        if k is None or p == 0:
            return h
        return jnp.where(jr.bernoulli(k, 1 - p, h.shape), h / (1 - p), 0)

    dynamic, static = eqx.partition(model.layers, eqx.is_array)
    h = model.lift(x)
    for i in range(model.depth):
        layer = eqx.combine(jax.tree_util.tree_map(lambda a: a[i], dynamic), static)
        h = layer.spectral(h) + layer.pointwise(h)
        if i < model.depth - 1:
            h = drop(model.activation(h), None if keys is None else keys[i])
    h = drop(model.activation(model.project_hidden(h)), None if keys is None else keys[-1])
    return model.project_out(h)


def test_fno_without_dropout_is_unchanged(getkey):
    key, x = getkey(), jr.normal(getkey(), (1, 16))
    kw = dict(modes=4, width=4, depth=3, projection_width=4, key=key)
    plain, zero, dropout = nn.FNO(1, 1, 1, **kw), nn.FNO(1, 1, 1, dropout=0.0, **kw), nn.FNO(1, 1, 1, dropout=0.3, **kw)
    y = plain(x)
    assert np.allclose(y, _fno_reference(plain, x), rtol=1e-12, atol=1e-14)
    # Dropout takes no initialisation key, so the weights, and the outputs without
    # active dropout, are bit for bit those of the plain FNO.
    assert np.array_equal(zero(x, key=getkey()), y)
    assert np.array_equal(eqx.nn.inference_mode(dropout)(x), y)
    # Rate 0 adds no leaf at all: the model serialises exactly its arrays, as FNOs saved
    # before the option existed do, so their files keep loading.
    assert zero.dropout is None
    full, arrays = io.BytesIO(), io.BytesIO()
    eqx.tree_serialise_leaves(full, zero)
    eqx.tree_serialise_leaves(arrays, eqx.filter(zero, eqx.is_array))
    assert full.getvalue() == arrays.getvalue()


def test_fno_dropout_masks(getkey):
    model = nn.FNO(1, 1, 1, modes=4, width=4, depth=3, projection_width=4, dropout=0.3, key=getkey())
    x, k1, k2 = jr.normal(getkey(), (1, 16)), getkey(), getkey()
    y1 = model(x, key=k1)
    assert np.array_equal(y1, model(x, key=k1))
    assert not np.allclose(y1, model(x, key=k2))
    # One key per Fourier layer and one for the projection, split from the call's key.
    assert np.allclose(y1, _fno_reference(model, x, k1), rtol=1e-12, atol=1e-14)
    # In inference mode the key is irrelevant and may be omitted.
    imodel = eqx.nn.inference_mode(model)
    assert np.array_equal(imodel(x, key=k1), imodel(x, key=k2))
    assert np.array_equal(imodel(x, key=k1), imodel(x))
    with pytest.raises(ValueError, match=r"FNO has dropout 0.3 in training mode and needs a `key`"):
        model(x)
    with pytest.raises(ValueError, match=r"dropout rate in \[0, 1\), got 1.0"):
        nn.FNO(1, 1, 1, dropout=1.0, key=getkey())


def test_fno_dropout_mean_is_the_inference_output(getkey):
    # With depth 1 the only dropout (after the projection's hidden activation) is
    # followed by the linear output layer, so inverted dropout (kept units scaled by
    # 1 / (1 - p)) makes the mean over masks equal the inference output exactly; deeper
    # models' nonlinearities make it only approximately so.
    p, n = 0.5, 4000
    model = nn.FNO(1, 1, 1, modes=4, width=4, depth=1, projection_width=8, dropout=p, key=getkey())
    x = jr.normal(getkey(), (1, 16))
    samples = eqx.filter_jit(eqx.filter_vmap(lambda k: model(x, key=k)))(jr.split(getkey(), n))
    mean, stderr = np.mean(samples, axis=0), np.std(samples, axis=0) / np.sqrt(n)
    y_inf = np.asarray(eqx.nn.inference_mode(model)(x))
    assert np.all(np.abs(mean - y_inf) < 5 * stderr + 1e-12)
    # The test has power: without the 1 / (1 - p) scaling the mean would be
    # b + (1 - p) (y - b), many standard errors away.
    bias = np.asarray(model.project_out.bias)
    unscaled = bias + (1 - p) * (y_inf - bias)
    assert np.max(np.abs(unscaled - y_inf) / stderr) > 20


def test_fno_dropout_through_the_registry(getkey):
    config = dict(
        num_spatial_dims=1, in_channels=1, out_channels=1, modes=2, width=2, depth=2, projection_width=2, dropout=0.1
    )
    model = nn.build("fno", key=getkey(), **config)
    assert model.dropout.p == 0.1
    # A saved (name, config) pair rebuilds the skeleton, dropout included.
    skeleton = nn.build("fno", key=jr.key(123), **json.loads(json.dumps(config)))
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, model)
    buffer.seek(0)
    assert tree_allclose(eqx.tree_deserialise_leaves(buffer, skeleton), model, rtol=0, atol=0)
    with pytest.raises(ValueError, match="dropout rate"):
        nn.build("fno", key=getkey(), **{**config, "dropout": -0.1})


# --------------------------------------------------------------------- ResNet blocks


def test_residual_blocks_and_projection_shortcuts(getkey):
    shape = lambda f, *args: eqx.filter_eval_shape(f, *args)  # noqa: E731
    block = shape(lambda k: nn.BasicBlock(1, 2, 4, stride=2, batch_norm=False, key=k), getkey())
    assert block.shortcut is not None
    y, state = shape(lambda b, x: b(x), block, jax.ShapeDtypeStruct((2, 7), jnp.float64))
    assert y.shape == (4, 4) and state is None  # ceil(7 / 2) on both branches
    assert shape(lambda k: nn.BasicBlock(1, 4, 4, key=k), getkey()).shortcut is None
    bottleneck = shape(lambda k: nn.BottleneckBlock(2, 8, 2, batch_norm=False, key=k), getkey())
    assert bottleneck.shortcut is None  # 4 * 2 == 8 channels, stride 1
    y, _ = shape(lambda b, x: b(x), bottleneck, jax.ShapeDtypeStruct((8, 5, 5), jnp.float64))
    assert y.shape == (8, 5, 5)
    projected = shape(lambda k: nn.BottleneckBlock(2, 4, 2, stride=2, key=k), getkey())
    assert projected.shortcut is not None and projected.shortcut.norm is not None


def test_field_resnet_circular_equivariance(getkey):
    key = getkey()
    periodic = nn.FieldResNet(1, 1, 1, width=4, depth=2, padding="circular", key=key)
    zeros = nn.FieldResNet(1, 1, 1, width=4, depth=2, padding="zeros", key=key)
    x = jr.normal(getkey(), (1, 12))
    # Both inputs in one compiled call per model.
    run = eqx.filter_jit(lambda m, x: (m(x), m(jnp.roll(x, 3, axis=1))))
    for model, equivariant in ((periodic, True), (zeros, False)):
        y, y_shifted_input = run(model, x)
        assert np.allclose(y_shifted_input, jnp.roll(y, 3, axis=1)) == equivariant


# ------------------------------------------------------------------ MLP and features


def test_mlp_pinn_gradients_and_fixed_features(getkey):
    model = nn.MLP(2, "scalar", 8, 2, fourier_features=3, fourier_sigma=2.0, key=getkey())
    x = jnp.array([0.3, -0.2])
    grad = eqx.filter_jit(lambda m, x: jax.grad(m)(x))(model, x)
    u = eqx.filter_jit(model)
    assert np.allclose(grad, finite_difference_grad(lambda z: float(u(z)), x), rtol=1e-6, atol=1e-8)
    # The Fourier frequencies are fixed: their gradient is exactly zero.
    grads = eqx.filter_grad(lambda m: m(x))(model)
    assert np.all(grads.features.frequencies == 0)
    assert np.any(grads.layers[0].weight != 0)
    features = model.features(x)
    phase = 2 * np.pi * np.asarray(model.features.frequencies) @ np.asarray(x)
    assert np.allclose(features, np.concatenate([np.cos(phase), np.sin(phase)]))


def test_mlp_as_diffrax_vector_field(getkey):
    diffrax = pytest.importorskip("diffrax")
    model = nn.MLP(2, 2, 4, 1, key=getkey())
    term = diffrax.ODETerm(lambda t, y, args: model(y))
    y0 = jnp.array([1.0, 0.0])
    sol = diffrax.diffeqsolve(term, diffrax.Euler(), 0.0, 0.1, 0.05, y0)
    expected = y0 + 0.05 * model(y0)
    expected = expected + 0.05 * model(expected)
    assert np.allclose(sol.ys[-1], expected)


def test_normaliser_zero_std_and_output_scaling(getkey):
    data = jnp.stack([jr.normal(getkey(), (50,)), jnp.full((50,), 4.0)], axis=1)
    norm = nn.Normaliser.from_data(data)
    assert np.allclose(norm.std[1], 1.0)  # a constant channel is not divided by ~0
    z = norm(data[0])
    assert np.all(np.isfinite(z))
    assert np.allclose(z[1], 0.0)
    assert np.allclose(z[0], (data[0, 0] - data[:, 0].mean()) / data[:, 0].std())
    assert np.allclose(norm.inverse(z), data[0])
    # Per-channel statistics broadcast over a field's grid.
    field = nn.Normaliser([1.0, 2.0], [2.0, 0.0])
    assert np.allclose(field(jnp.ones((2, 3))), jnp.array([[0.0] * 3, [-1.0] * 3]))
    model = nn.MLP(
        2, 1, 4, 1, input_mean=[0.0, 4.0], input_std=[1.0, 0.0], output_mean=[10.0], output_std=[0.0], key=getkey()
    )
    assert np.all(np.isfinite(jax.vmap(model)(data)))
    with pytest.raises(ValueError, match="both input_mean and input_std"):
        nn.MLP(2, 1, 4, 1, input_mean=[0.0, 0.0], key=getkey())


def test_activations_by_name_match_their_formulas():
    x = jnp.linspace(-2.0, 2.0, 9)
    np.testing.assert_allclose(nn.get_activation("rbf")(x), np.exp(-(np.asarray(x) ** 2)), rtol=1e-12)
    np.testing.assert_allclose(nn.get_activation("tanh")(x), np.tanh(np.asarray(x)), rtol=1e-12)
    np.testing.assert_allclose(nn.get_activation("softplus")(x), np.log1p(np.exp(np.asarray(x))), rtol=1e-12)


def test_resnet_depths_follow_the_paper_table(getkey):
    # He et al. 2016, Table 1: blocks per stage (basic for 18/34, bottleneck from 50 on).
    for depth, blocks, kind in ((18, 8, nn.BasicBlock), (101, 33, nn.BottleneckBlock), (152, 50, nn.BottleneckBlock)):
        model, _ = eqx.filter_eval_shape(
            lambda k, d=depth: eqx.nn.make_with_state(nn.resnet)(d, 1, 1, num_classes=2, width=1, key=k), getkey()
        )
        assert len(model.blocks) == blocks and isinstance(model.blocks[0], kind)
    with pytest.raises(ValueError, match=r"depth must be one of \[18, 34, 50, 101, 152\], got 19"):
        nn.resnet(19, 1, 1, num_classes=2, key=getkey())


_MINIMAL_CONFIGS = {
    "mlp": dict(in_size=2, out_size=1),
    "cnn": dict(num_spatial_dims=1, in_channels=1, out_size=2),
    "resnet": dict(num_spatial_dims=1, in_channels=1, out_size=2, batch_norm=False),
    "resnet-field": dict(variant="field", num_spatial_dims=1, in_channels=1, out_channels=1),
    "transformer": dict(in_size=2, out_size=1),
    "fno": dict(num_spatial_dims=1, in_channels=1, out_channels=1),
}
# Every integer setting of every architecture, as the JSON edge (model.json, --set) gives them.
_INTEGER_KEYS = {
    "mlp": ("in_size", "out_size", "width", "depth", "fourier_features"),
    "cnn": ("num_spatial_dims", "in_channels", "kernel_size", "out_size"),
    "resnet": ("num_spatial_dims", "in_channels", "width", "out_size"),
    "resnet-field": ("num_spatial_dims", "in_channels", "out_channels", "width", "depth", "kernel_size"),
    "transformer": ("in_size", "out_size", "d_model", "num_heads", "depth", "max_len"),
    "fno": ("num_spatial_dims", "in_channels", "out_channels", "modes", "width", "depth", "projection_width"),
}


@pytest.mark.parametrize("arch", sorted(_MINIMAL_CONFIGS))
def test_integer_settings_refuse_other_kinds_by_name(arch):
    name = arch.split("-")[0]
    base = _MINIMAL_CONFIGS[arch]
    eqx.filter_eval_shape(lambda k: nn.build(name, key=k, **base), jr.key(0))  # the base is valid
    for key in _INTEGER_KEYS[arch]:
        for bad in (True, "3", 2.5, -1):
            with pytest.raises(ValueError, match=key) as info:
                eqx.filter_eval_shape(lambda k: nn.build(name, key=k, **{**base, key: bad}), jr.key(0))
            assert repr(bad) in str(info.value), str(info.value)
    # Rates: dropout in [0, 1), as a number.
    if arch not in ("resnet-field",):
        for bad in (1.5, -0.1, 1, "0.1", True):
            with pytest.raises(ValueError, match="dropout"):
                eqx.filter_eval_shape(lambda k: nn.build(name, key=k, **{**base, "dropout": bad}), jr.key(0))
