"""`sciml.uq.Ensemble`: vmapped construction, independent training, Bayesian options, any model."""

import json
import subprocess
import sys
import textwrap

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import numpy as np
import optax
import pytest
from helpers import tree_allclose, tree_equal_bytes

import sciml.nn
import sciml.train
import sciml.uq as uq


def _mlp(out_size=2, width=8, **kw):
    return lambda k: sciml.nn.build("mlp", key=k, in_size=1, out_size=out_size, width=width, depth=1, **kw)


def _bayesian(k=3, **kw):
    return uq.Ensemble(
        _mlp(),
        k,
        key=jr.key(0),
        make_prior=_mlp(out_size=1),
        prior_scale=0.7,
        anchored=True,
        heteroscedastic=True,
        **kw,
    )


@pytest.fixture(scope="module")
def sine():
    x = jnp.linspace(-1, 1, 32)[:, None]
    return {"x": x, "y": jnp.sin(3 * x)}


def _max_diff(a, b):
    a, b = eqx.filter(a, eqx.is_inexact_array), eqx.filter(b, eqx.is_inexact_array)
    return max(float(jnp.max(jnp.abs(u - v))) for u, v in zip(jtu.tree_leaves(a), jtu.tree_leaves(b)))


def test_construction_stacks_members_and_calls_like_one_model():
    ens = _bayesian(k=3)
    assert ens.num_members == 3
    for leaf in jtu.tree_leaves(eqx.filter(ens, eqx.is_array)):
        assert leaf.shape[0] == 3
    x = jnp.array([0.4])

    @eqx.filter_jit
    def evaluate(ens, x):
        members = [ens.member(k) for k in range(ens.num_members)]
        singles = [(m(x), m.model(x), m.prior(x)) for m in members]
        return ens.distribution(x), ens(x), singles

    (means, variances), called, singles = evaluate(ens, x)
    assert means.shape == variances.shape == (3, 1)
    assert bool(jnp.all(variances > 0))
    for k, (mean, raw, prior) in enumerate(singles):
        np.testing.assert_allclose(means[k], mean, rtol=1e-12)
        # The prior is added to the mean half of the model's output.
        np.testing.assert_allclose(means[k], raw[:1] + 0.7 * prior, rtol=1e-12)
        np.testing.assert_allclose(variances[k], jax.nn.softplus(raw[1:]) + 1e-6, rtol=1e-12)
    np.testing.assert_array_equal(called, means)
    # Members differ: independent initialisations and priors.
    assert float(jnp.std(means)) > 1e-3
    with pytest.raises(ValueError, match="num_members"):
        uq.Ensemble(_mlp(), 0, key=jr.key(0))
    stateful = lambda k: sciml.nn.build_with_state(
        "cnn", key=k, num_spatial_dims=1, in_channels=1, out_size=1, channels=[2], batch_norm=True
    )
    with pytest.raises(ValueError, match="BatchNorm"):
        uq.Ensemble(stateful, 2, key=jr.key(0))


def test_filter_spec_freezes_priors_anchors_and_ids(sine):
    ens = _bayesian(k=3)
    spec = ens.filter_spec
    assert all(jtu.tree_leaves(spec.members.model.layers))
    assert not any(jtu.tree_leaves(spec.members.prior))
    assert not any(jtu.tree_leaves((spec.anchors, spec.anchor_variances, spec.ids)))
    loss = uq.EnsembleLoss(uq.gaussian_nll_loss, data_size=32)
    res = uq.fit_ensemble(
        ens,
        loss,
        sine,
        optax.adamw(1e-2, weight_decay=0.5),
        steps=5,
        key=jr.key(1),
        logging=sciml.train.Logging(quiet=True),
    )
    assert tree_equal_bytes(res.model.members.prior, ens.members.prior)
    assert tree_equal_bytes((res.model.anchors, res.model.anchor_variances), (ens.anchors, ens.anchor_variances))
    assert _max_diff(res.model.members.model, ens.members.model) > 1e-3


def _fit_kw():
    return dict(steps=40, key=jr.key(2), batch_size=16, logging=sciml.train.Logging(quiet=True, every=1))


def test_member_trajectory_is_the_same_alone_and_in_the_ensemble(sine):
    ens = _bayesian(k=3)
    data = {**sine, "weights": uq.bootstrap_weights(jr.key(1), 32, 3, kind="multinomial")}
    loss = uq.EnsembleLoss(uq.gaussian_nll_loss, data_size=32)
    # Global-norm clipping is active at this threshold: it is what would couple members.
    optimizer = sciml.train.make_optimizer({"name": "adam", "learning_rate": 1e-2, "clip_norm": 0.1})
    full = uq.fit_ensemble(ens, loss, data, optimizer, **_fit_kw())

    # Member 2 trained alone, without the ensemble machinery: one EnsembleMember, plain
    # fit, plain optax, its id's key, its weight column and its anchor term by hand.
    k = 2
    member = ens.member(k)
    anchor = jtu.tree_map(lambda a: a[k], ens.anchors)
    variance = jtu.tree_map(lambda v: v[k], ens.anchor_variances)

    def alone_loss(m, batch, key):
        nll = uq.gaussian_nll_loss(m, {**batch, "weights": batch["weights"][:, k]}, jr.fold_in(key, k))
        params = jtu.tree_leaves(eqx.filter(m.model, eqx.is_inexact_array))
        penalty = sum(
            jnp.sum((p - a) ** 2) / v for p, a, v in zip(params, jtu.tree_leaves(anchor), jtu.tree_leaves(variance))
        )
        return nll + penalty / (2 * 32)

    spec = jtu.tree_map(eqx.is_inexact_array, member)
    spec = eqx.tree_at(lambda m: m.prior, spec, replace_fn=lambda p: jtu.tree_map(lambda _: False, p))
    alone = sciml.train.fit(
        member,
        alone_loss,
        data,
        optax.chain(optax.clip_by_global_norm(0.1), optax.adam(1e-2)),
        filter_spec=spec,
        **_fit_kw(),
    )
    assert _max_diff(full.model.member(k), alone.model) < 1e-12
    # The same member selected out of the ensemble trains to the same place too.
    np.testing.assert_allclose(jax.vmap(full.model.member(k))(sine["x"]), jax.vmap(alone.model)(sine["x"]), atol=1e-12)
    # Control: the same step with the optimizer applied to the whole ensemble (one global
    # norm for all members) moves the member elsewhere, so the check above can fail.
    coupled = sciml.train.fit(ens, loss, data, optimizer, filter_spec=ens.filter_spec, **_fit_kw())
    assert _max_diff(coupled.model.member(k), alone.model) > 1e-3


def test_select_keeps_ids_anchors_and_priors():
    ens = _bayesian(k=3)
    sub = ens.select([2, 0])
    np.testing.assert_array_equal(sub.ids, [2, 0])
    assert tree_equal_bytes(sub.member(0), ens.member(2))
    np.testing.assert_array_equal(sub.anchors.layers[0].weight, ens.anchors.layers[0].weight[jnp.array([2, 0])])
    assert ens.select(np.array([False, True, True])).num_members == 2
    with pytest.raises(ValueError, match="at least one"):
        ens.select([])
    with pytest.raises(ValueError, match="out of range"):
        ens.select([3])


def test_member_optimizer_refuses_line_searches():
    with pytest.raises(ValueError, match="couple"):
        uq.member_optimizer({"name": "lbfgs"})
    # One wrapper per optimizer object, so `fit`'s step cache sees the same transformation.
    adam = optax.adam(1e-3)
    assert uq.member_optimizer(adam) is uq.member_optimizer(adam)


def test_loss_errors(sine):
    ens = _bayesian(k=3)
    with pytest.raises(ValueError, match="data_size"):
        uq.EnsembleLoss(uq.gaussian_nll_loss)(ens, sine, jr.key(0))
    bad = {**sine, "weights": jnp.ones((32, 2))}
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        uq.EnsembleLoss(uq.gaussian_nll_loss, data_size=32)(ens, bad, jr.key(0))
    plain = uq.Ensemble(_mlp(out_size=1), 2, key=jr.key(0))
    with pytest.raises(ValueError, match="heteroscedastic"):
        uq.EnsembleLoss(uq.gaussian_nll_loss)(plain, sine, jr.key(0))
    with pytest.raises(TypeError, match="EnsembleLoss"):
        uq.fit_ensemble(plain, uq.squared_error_loss, sine, optax.adam(1e-3), steps=1, key=jr.key(0))
    with pytest.raises(TypeError, match="optimizer"):
        uq.fit_ensemble(plain, uq.EnsembleLoss(uq.squared_error_loss), sine, {"name": "adam"}, steps=1, key=jr.key(0))


def test_anchoring_pulls_members_toward_their_initial_draw(sine):
    ens = uq.Ensemble(_mlp(out_size=1), 2, key=jr.key(0), anchored=True)
    opt = optax.adam(3e-2)
    kw = dict(steps=150, key=jr.key(1), logging=sciml.train.Logging(quiet=True))
    free = uq.fit_ensemble(
        ens, uq.EnsembleLoss(uq.squared_error_loss, data_size=32, anchor_weight=0.0), sine, opt, **kw
    )
    tied = uq.fit_ensemble(
        ens, uq.EnsembleLoss(uq.squared_error_loss, data_size=32, anchor_weight=50.0), sine, opt, **kw
    )
    dist = lambda e: sum(
        float(jnp.sum((a - b) ** 2))
        for a, b in zip(jtu.tree_leaves(eqx.filter(e.members.model, eqx.is_inexact_array)), jtu.tree_leaves(e.anchors))
    )
    assert dist(tied.model) < 0.2 * dist(free.model)
    # The prior variance per array is the spread of the initial draws (fan-in scaled).
    first = ens.anchor_variances.layers[0].weight
    np.testing.assert_allclose(first, jnp.var(ens.anchors.layers[0].weight), rtol=1e-12)
    assert first.shape == (2,)


@pytest.mark.parametrize("kind", ["multinomial", "poisson", "bayesian"])
def test_bootstrap_weights(kind):
    w = uq.bootstrap_weights(jr.key(0), 500, 4, kind=kind)
    assert w.shape == (500, 4)
    assert bool(jnp.all(w >= 0))
    sums = jnp.sum(w, axis=0)
    if kind == "poisson":
        assert bool(jnp.all(jnp.abs(sums - 500) < 5 * jnp.sqrt(500.0)))
    else:
        np.testing.assert_allclose(sums, 500.0, rtol=1e-10)
    if kind == "bayesian":
        assert bool(jnp.all(w > 0))
    else:
        np.testing.assert_array_equal(w, jnp.round(w))
        assert 0.3 < float(jnp.mean(w == 0)) < 0.45  # e^-1 of the samples are left out
    # Columns are independent resamples.
    assert float(jnp.max(jnp.abs(w[:, 0] - w[:, 1]))) > 0
    with pytest.raises(ValueError, match="kind"):
        uq.bootstrap_weights(jr.key(0), 5, 2, kind="jackknife")


def test_mc_dropout_predict(sine):
    mlp = sciml.nn.build("mlp", key=jr.key(0), in_size=1, out_size=1, width=16, depth=2, dropout=0.2)
    p = uq.mc_dropout_predict(mlp, sine["x"], jr.key(1), 30)
    assert p.means.shape == (30, 32, 1)
    assert float(jnp.min(p.epistemic_std)) > 0
    np.testing.assert_array_equal(p.aleatoric_std, 0.0)
    # Inference mode at save time does not matter: dropout is switched back on.
    again = uq.mc_dropout_predict(eqx.nn.inference_mode(mlp), sine["x"], jr.key(1), 30)
    np.testing.assert_array_equal(again.means, p.means)
    # A heteroscedastic member gives a Gaussian mixture.
    het = uq.EnsembleMember(
        sciml.nn.build("mlp", key=jr.key(0), in_size=1, out_size=2, width=16, depth=2, dropout=0.2),
        heteroscedastic=True,
    )
    assert float(jnp.min(uq.mc_dropout_predict(het, sine["x"], jr.key(1), 4).aleatoric_std)) > 0


def test_fno_surrogate_ensemble():
    make = lambda k: sciml.nn.build(
        "fno", key=k, num_spatial_dims=1, in_channels=1, out_channels=1, modes=4, width=4, depth=1, projection_width=4
    )
    ens = uq.Ensemble(make, 3, key=jr.key(0))
    u = jnp.sin(jnp.linspace(0, 2 * jnp.pi, 16))[None]
    out, single, p = eqx.filter_jit(lambda e, u: (e(u), e.member(2)(u), e.predict(u[None])))(ens, u)
    assert out.shape == (3, 1, 16)
    np.testing.assert_allclose(out[2], single, rtol=1e-12)
    assert p.mean.shape == (1, 1, 16) and float(jnp.min(p.epistemic_std)) > 0


def test_pinn_trial_function_ensemble():
    # u'' = -pi^2 sin(pi x) on (0, 1), u(0) = u(1) = 0; each member is a trial function.
    ens = uq.Ensemble(
        lambda k: sciml.nn.build("mlp", key=k, in_size="scalar", out_size="scalar", width=16, depth=2), 2, key=jr.key(0)
    )
    xs = jnp.linspace(0.0, 1.0, 24)

    def residual_loss(member, batch, key):
        u_xx = jax.vmap(jax.grad(jax.grad(lambda x: member(x))))(xs)
        boundary = member(jnp.array(0.0)) ** 2 + member(jnp.array(1.0)) ** 2
        return jnp.mean((u_xx + jnp.pi**2 * jnp.sin(jnp.pi * xs)) ** 2) + boundary

    res = uq.fit_ensemble(
        ens,
        uq.EnsembleLoss(residual_loss),
        None,
        optax.adam(1e-2),
        steps=300,
        key=jr.key(1),
        logging=sciml.train.Logging(quiet=True),
    )
    assert res.losses[-1] < 0.05 * res.losses[0]
    # Per-member second derivatives through `map`, as a PINN residual would use them.
    u_xx = res.model.map(lambda m, x: jax.grad(jax.grad(lambda z: m(z)))(x), jnp.array(0.5))
    assert u_xx.shape == (2,)
    np.testing.assert_allclose(u_xx, -(jnp.pi**2), rtol=0.2)


def test_neural_ode_member_failure_is_reported_not_fatal():
    ens = uq.Ensemble(
        lambda k: sciml.nn.build("mlp", key=k, in_size=2, out_size=2, width=8, depth=1, activation="sin"),
        3,
        key=jr.key(0),
    )
    # Member 1 becomes a fast oscillator that cannot be resolved in max_steps.
    ens = eqx.tree_at(
        lambda e: e.members.model.layers[-1].weight, ens, ens.members.model.layers[-1].weight.at[1].multiply(1e3)
    )

    def solve(member, y0):
        term = diffrax.ODETerm(lambda t, y, args: member(y))
        return diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            0.0,
            1.0,
            0.1,
            y0,
            max_steps=64,
            throw=False,
            stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-6),
            saveat=diffrax.SaveAt(ts=jnp.linspace(0, 1, 5)),
        )

    sol = eqx.filter_jit(ens.map)(solve, jnp.array([0.5, -0.3]))
    ok = np.asarray(sol.result == diffrax.RESULTS.successful)
    np.testing.assert_array_equal(ok, [True, False, True])
    assert sol.ys.shape == (3, 5, 2)
    # Drop the failed member by its result code ...
    kept = ens.select(ok)
    assert kept.num_members == 2
    again = eqx.filter_jit(kept.map)(solve, jnp.array([0.5, -0.3]))
    assert bool(jnp.all(again.result == diffrax.RESULTS.successful))
    np.testing.assert_allclose(again.ys, sol.ys[ok], rtol=1e-12)
    # ... or mask it inside jit: a zero weight ignores whatever it produced.
    p = uq.Predictive(sol.ys, weights=jnp.asarray(ok, sol.ys.dtype))
    np.testing.assert_allclose(p.mean, jnp.mean(sol.ys[ok], axis=0), rtol=1e-12)
    with pytest.raises(ValueError, match="mask"):
        ens.select([True, False])


def test_save_and_load_through_the_spec(tmp_path):
    spec = dict(
        num_members=3,
        architecture="mlp",
        config=dict(in_size=1, out_size=2, width=8, depth=1),
        prior={"architecture": "mlp", "config": dict(in_size=1, out_size=1, width=8, depth=1)},
        prior_scale=0.5,
        anchored=True,
        heteroscedastic=True,
    )
    ens = uq.build_ensemble(spec, key=jr.key(3))
    sciml.train.save(tmp_path / "model.eqx", ens, ensemble=spec)
    meta = json.loads((tmp_path / "model.json").read_text())
    loaded = sciml.train.load(tmp_path / "model.eqx", like=uq.ensemble_skeleton(meta["ensemble"]))
    assert tree_allclose(eqx.filter(loaded, eqx.is_array), eqx.filter(ens, eqx.is_array), rtol=0, atol=0)
    x = jnp.array([0.2])
    np.testing.assert_array_equal(loaded(x), ens(x))
    with pytest.raises(ValueError, match="unknown ensemble spec"):
        uq.build_ensemble({**spec, "members": 3}, key=jr.key(0))


_SHARDED = textwrap.dedent(
    """
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    os.environ["JAX_PLATFORMS"] = "cpu"
    import jax, jax.numpy as jnp, jax.random as jr, numpy as np
    jax.config.update("jax_enable_x64", True)
    import sciml.nn, sciml.uq as uq
    assert len(jax.devices()) == 4
    make = lambda k: sciml.nn.build("mlp", key=k, in_size=1, out_size=2, width=8, depth=1)
    ens = uq.Ensemble(make, 8, key=jr.key(0), anchored=True, heteroscedastic=True)
    x = jnp.linspace(-1, 1, 32)[:, None]
    data = {"x": x, "y": jnp.sin(3 * x), "weights": uq.bootstrap_weights(jr.key(1), 32, 8)}
    loss = uq.EnsembleLoss(uq.gaussian_nll_loss, data_size=32)
    kw = dict(steps=6, key=jr.key(2), batch_size=16, logging=sciml.train.Logging(quiet=True, every=1))
    opt = sciml.train.make_optimizer({"name": "adam", "learning_rate": 1e-2, "clip_norm": 1.0})
    one = uq.fit_ensemble(ens, loss, data, opt, **kw)
    sharded = uq.shard_members(ens, uq.member_mesh())
    four = uq.fit_ensemble(sharded, loss, data, opt, **kw)
    np.testing.assert_allclose(one.losses, four.losses, rtol=1e-10)
    w = four.model.members.model.layers[0].weight
    assert len(w.sharding.device_set) == 4 and not w.sharding.is_fully_replicated
    assert w.sharding.shard_shape(w.shape)[0] == 2
    for a, b in zip(jax.tree_util.tree_leaves(four.model), jax.tree_util.tree_leaves(one.model)):
        if isinstance(a, jax.Array):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    try:
        uq.shard_members(ens.select([0, 1, 2]), uq.member_mesh())
    except ValueError as e:
        assert "divisible by 4" in str(e)
    else:
        raise AssertionError("3 members accepted on 4 devices")
    print("OK")
    """
)


def test_member_axis_sharding_matches_single_device():
    out = subprocess.run([sys.executable, "-c", _SHARDED], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("OK")


def test_epistemic_std_grows_in_the_gap_and_outside_the_data():
    from problems import ensemble_regression as er

    config = er.Config(n_train=200, n_test=1000, members=4, width=32, steps=1500)
    data = er.make_data(np.random.default_rng(0), config)
    result = er.train_ensemble(config, data, jr.key(0))
    p = result.model.predict(jnp.asarray(data["x_test"][:, None]))
    ratios = er.epistemic_ratios(np.asarray(p.epistemic_std[:, 0]), data["in_gap"], data["outside"])
    assert ratios["gap_ratio"] > 2 and ratios["outside_ratio"] > 2, ratios


@pytest.mark.slow
def test_ensemble_regression_default_budget(tmp_path):
    """The calibration and epistemic growth the module docstring promises (about a minute)."""
    from problems import ensemble_regression as er
    from sciml.study import run_problem

    metrics = run_problem(er, name="ensemble_regression", out=tmp_path, quiet=True)["metrics"]
    assert 0.85 <= metrics["coverage_90"] <= 0.95
    assert metrics["epistemic_grows"] and metrics["epistemic_gap_ratio"] > 2
