"""The Lorenz latent-ODE problem: its scipy reference, metrics, models and saved files."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from problems import lorenz_latent_ode as lz
from sciml.study import RunContext
from sciml.testing import check_grad
from sciml.train import trainable


_TINY = lz.Config(
    **{
        **lz.QUICK,
        "window": 6,
        "horizon": 3,
        "latent_dim": 3,
        "d_model": 4,
        "num_heads": 1,
        "field_width": 4,
        "node_width": 4,
    }
)
_RATE = [5.0, 7.0, 9.0]


def test_reference_converges_and_obeys_the_equations():
    u0 = lz.attractor_states(2, 5.0, np.random.default_rng(0))
    ts = np.linspace(0.0, 10.0, 501)
    coarse, fine, finer = lz.simulate(u0, ts, 1e-10), lz.simulate(u0, ts), lz.simulate(u0, ts, 1e-13)
    assert fine.shape == (2, 501, 3)
    # The default tolerance has converged far below any forecast error (chaos amplifies
    # the solver's error by about exp(0.9 t), yet 1e-12 and 1e-13 agree to 1e-6).
    scale = fine.reshape(-1, 3).std(axis=0)
    assert np.max(np.abs(fine - finer) / scale) < 1e-6
    assert np.max(np.abs(coarse - finer) / scale) > 10 * np.max(np.abs(fine - finer) / scale)
    # Central differences of densely saved states match the right-hand side.
    dense = lz.simulate(u0, np.linspace(0.0, 1.0, 2001))
    fd = (dense[:, 2:] - dense[:, :-2]) / (2 * 5e-4)
    rhs = np.moveaxis(lz.lorenz_rhs(0.0, np.moveaxis(dense[:, 1:-1], -1, 0)), 0, -1)
    assert np.max(np.abs(fd - rhs)) < 1e-4 * np.max(np.abs(rhs))
    # On the attractor: z stays in its known range and the spin-up forgot the start.
    assert 0 < fine[..., 2].min() and fine[..., 2].max() < 50


def test_lyapunov_estimate_near_the_published_exponent():
    assert abs(lz.lyapunov_exponent(60.0) - lz.LYAPUNOV) < 0.15


def test_normalised_error_and_valid_prediction_time():
    scale = np.array([1.0, 2.0, 4.0])
    truth = np.zeros((1, 2, 3))
    pred = np.array([[[0.0, 0.0, 0.0], [1.0, 2.0, 4.0]]])
    np.testing.assert_allclose(lz.normalised_error(pred, truth, scale), [[0.0, 1.0]])

    # Errors growing as e0 exp(lambda t) cross the threshold at log(thr / e0) / lambda.
    t = np.linspace(0.0, 5.0, 5001)
    e0 = np.array([[5e-3], [1e-2], [1e-3]])
    error = e0 * np.exp(lz.LYAPUNOV * t)[None]
    vpt, censored = lz.valid_prediction_time(t, error, 0.4)
    expected = np.log(0.4 / e0[:, 0]) / lz.LYAPUNOV
    np.testing.assert_allclose(vpt[:2], expected[:2], atol=t[1])
    assert vpt[2] == t[-1] and censored.tolist() == [False, False, True]
    # A diverged forecast is invalid from its first NaN on; an error exactly at the threshold is valid.
    err = np.array([[0.1, 0.4, np.nan, 0.1], [0.5, 0.1, 0.1, 0.1]])
    vpt, censored = lz.valid_prediction_time(np.arange(4.0), err, 0.4)
    assert vpt.tolist() == [2.0, 0.0] and not censored.any()
    with pytest.raises(ValueError, match="lead times"):
        lz.valid_prediction_time(np.arange(3.0), err, 0.4)


def _models(dtype=jnp.float64):
    models = lz.build_models(_TINY, _RATE, key=jr.key(0))
    return jax.tree_util.tree_map(lambda x: x.astype(dtype) if eqx.is_inexact_array(x) else x, models)


def _batch(n=2):
    rng = np.random.default_rng(1)
    return {
        "history": jnp.asarray(rng.normal(size=(n, _TINY.window, 3))),
        "future": jnp.asarray(rng.normal(size=(n, _TINY.horizon, 3))),
    }


def test_models_forecast_shapes():
    models = _models()
    history = _batch()["history"]
    ts = jnp.asarray(_TINY.dt * np.arange(7))
    for name, model in models.items():
        out = lz._forecast(model, history, ts)
        assert out.shape == (2, 7, 3), name
        assert np.all(np.isfinite(np.asarray(out)))
    latent = models["latent_ode"]
    assert latent.encoder(history[0]).shape == (_TINY.window, _TINY.latent_dim)
    # The baselines start exactly at the last observation; the latent model decodes its own estimate.
    np.testing.assert_allclose(lz._forecast(models["neural_ode"], history, ts)[:, 0], history[:, -1])
    np.testing.assert_allclose(lz._forecast(models["transformer"], history, ts)[:, 0], history[:, -1])


def test_autoregressive_rollout_matches_stepping_by_hand():
    ar = _models()["transformer"]
    history = _batch()["history"][0]
    window, states = history, []
    for _ in range(4):
        nxt = window[-1] + ar.step.std * ar.network(window)[-1]
        states.append(nxt)
        window = jnp.concatenate([window[1:], nxt[None]])
    np.testing.assert_allclose(ar(history, jnp.zeros(5))[1:], jnp.stack(states), rtol=1e-12)


def test_latent_loss_gradient_matches_finite_differences():
    latent = _models()["latent_ode"]
    loss = lz.ForecastLoss(tuple(_TINY.dt * k for k in range(_TINY.horizon + 1)))
    batch = _batch()
    # The trainable arrays only: normalisation statistics are fixed (stop-gradiented).
    params, static = eqx.partition(latent, trainable(latent))
    value = eqx.filter_jit(lambda p: loss(eqx.combine(p, static), batch, None))
    assert check_grad(value, params, directions=3, key=jr.key(2), rtol=1e-5, atol=1e-9).passed
    # Every component learns: perturbing only the encoder, the latent vector field or the
    # decoder changes the loss (reusing the compiled value; a second gradient would compile again).
    for part in (lambda p: p.encoder, lambda p: p.ode.vector_field.network, lambda p: p.decoder):
        bump = lambda h: eqx.tree_at(part, params, jax.tree_util.tree_map(lambda x: x + h, part(params)))
        assert abs(float(value(bump(1e-4))) - float(value(bump(-1e-4)))) > 1e-9


def test_saved_components_reassemble_the_latent_model(tmp_path):
    models = _models(jnp.zeros(()).dtype)
    ctx = RunContext(out=tmp_path, seed=0, quiet=True, problem="lorenz_latent_ode")
    mean, std = np.zeros(3), np.ones(3)
    lz._save_models(models, _TINY, np.asarray(_RATE), mean, std, ctx)
    reloaded = lz.load_latent_ode(tmp_path)
    history, ts = _batch()["history"], jnp.asarray(_TINY.dt * np.arange(5))
    np.testing.assert_allclose(lz._forecast(reloaded, history, ts), lz._forecast(models["latent_ode"], history, ts))
    for name in ("ar_transformer", "neural_ode", "latent_decoder"):
        assert (tmp_path / f"{name}.json").exists()


@pytest.mark.parametrize(
    "change, match",
    [
        ({"latent_dim": 2}, "latent_dim"),
        ({"window": 1}, "window"),
        ({"d_model": 6, "num_heads": 4}, "divisible"),
        ({"noise": -0.1}, "noise"),
        ({"train_time": 0.1}, "window \\+ horizon"),
        ({"reference_tol": 1e-3}, "reference_tol"),
        ({"threshold": 0.0}, "threshold"),
    ],
)
def test_bad_config_is_refused(change, match):
    with pytest.raises(ValueError, match="lorenz_latent_ode.*" + match):
        dataclasses.replace(lz.Config(), **change)
