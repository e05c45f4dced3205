"""sciml.ode neural/hybrid ODEs: gradients, fitting, errors, result codes, losses."""

import collections
import re

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from helpers import finite_difference_grad
from jax.flatten_util import ravel_pytree
from scipy.linalg import expm

import sciml.nn
import sciml.train
from sciml.nn import Positive
from sciml.ode import (
    clip_horizon,
    fit_curriculum,
    HybridVectorField,
    MultipleShootingLoss,
    NeuralVectorField,
    ODEModel,
    ODESolveError,
    PhysicsVectorField,
    result_message,
    RESULTS,
    trajectory_data,
    TrajectoryLoss,
)


A_TRUE = np.array([[-0.1, 2.0], [-2.0, -0.1]])


def _damping(t, y, p):
    return -p["k"] * y + p["c"] * jnp.roll(y, 1)


def _square(t, y, p):
    return p["k"] * y**2


def _decay(t, y, p):
    return -p["k"] * y


def _linear_data(ts):
    y0s = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, -0.5], [-1.0, 0.3]])
    ys = np.stack([np.stack([expm(A_TRUE * t) @ y0 for t in ts]) for y0 in y0s])
    return trajectory_data(ts, ys)


def _hybrid(key, adjoint=diffrax.RecursiveCheckpointAdjoint(), rtol=1e-10):
    net = sciml.nn.MLP(2, 2, width=3, depth=1, activation="tanh", key=key)
    known = PhysicsVectorField(_damping, {"k": Positive(0.7), "c": jnp.array(0.3)})
    return ODEModel(
        HybridVectorField(known, NeuralVectorField(net)),
        diffrax.Tsit5(),
        diffrax.PIDController(rtol=rtol, atol=rtol),
        adjoint,
        name="hybrid test model",
    )


_EVENTS = collections.defaultdict(list)


class _CountingLoss(eqx.Module):
    """TrajectoryLoss that records its traces (its Python body runs only when traced)."""

    inner: TrajectoryLoss
    name: str = eqx.field(static=True)

    def __call__(self, model, batch, key):
        _EVENTS[self.name].append("trace")
        return self.inner(model, batch, key)


def _record_steps(name):
    return lambda step, record: _EVENTS[name].append(step)


# ---------------------------------------------------------------------------------------
# Gradients against finite differences, for every adjoint.


@pytest.fixture(scope="module")
def grad_problem():
    model = _hybrid(jr.key(0))
    ts = jnp.linspace(0.0, 1.0, 6)
    y0 = jnp.array([0.8, -0.4])
    weights = jr.normal(jr.key(1), (6, 2))
    params, static = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = ravel_pytree((params, y0))

    @jax.jit
    def objective(flat):
        p, y = unravel(flat)
        return jnp.sum(weights * eqx.combine(p, static).solve(ts, y).ys)

    fd = finite_difference_grad(objective, flat, eps=1e-6)
    return model, ts, y0, weights, fd


@pytest.mark.parametrize(
    "adjoint, rtol",
    [
        (diffrax.RecursiveCheckpointAdjoint(), 1e-6),
        # The continuous adjoint is only approximately the gradient of the discrete
        # solve: its error is of the order of the solver tolerance (1e-10 here).
        (diffrax.BacksolveAdjoint(), 1e-4),
    ],
    ids=["recursive_checkpoint", "backsolve"],
)
def test_reverse_gradients_match_finite_differences(grad_problem, adjoint, rtol):
    model, ts, y0, weights, fd = grad_problem
    model = eqx.tree_at(lambda m: m.adjoint, model, adjoint)

    @eqx.filter_jit
    def grads(model, y0):
        return eqx.filter_grad(lambda m, y: jnp.sum(weights * m.solve(ts, y).ys))(model, y0), jax.grad(
            lambda y: jnp.sum(weights * model.solve(ts, y).ys)
        )(y0)

    g_model, g_y0 = grads(model, y0)
    flat, _ = ravel_pytree((eqx.filter(g_model, eqx.is_inexact_array), g_y0))
    assert np.all(np.isfinite(flat))
    np.testing.assert_allclose(flat, fd, rtol=rtol, atol=rtol * np.abs(fd).max())


def test_forward_mode_jacobian_matches_finite_differences(grad_problem):
    model, ts, y0, weights, fd = grad_problem
    model = eqx.tree_at(lambda m: m.adjoint, model, diffrax.ForwardMode())
    params, static = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = ravel_pytree((params, y0))

    @jax.jit
    def objective(flat):
        p, y = unravel(flat)
        return jnp.sum(weights * eqx.combine(p, static).solve(ts, y).ys)

    # ForwardMode supports forward-mode autodiff: a Jacobian-vector product per input.
    jac = jax.jacfwd(objective)(flat)
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())


def test_positive_parametrisations():
    for transform in ("log", "softplus"):
        p = Positive(jnp.array([1e-3, 0.5, 20.0]), transform=transform)
        np.testing.assert_allclose(p.value, [1e-3, 0.5, 20.0], rtol=1e-12)
        # Any unconstrained value maps to a positive one.
        moved = eqx.tree_at(lambda q: q.raw, p, p.raw - 50.0)
        assert np.all(np.asarray(moved.value) > 0)
    assert Positive(2.0).raw.dtype == jnp.result_type(float) and not Positive(2.0).raw.weak_type
    with pytest.raises(ValueError, match="finite and > 0"):
        Positive(0.0)
    with pytest.raises(ValueError, match="transform"):
        Positive(1.0, transform="exp")
    field = PhysicsVectorField(_decay, {"k": Positive(2.0)})
    np.testing.assert_allclose(field.parameters["k"], 2.0)
    np.testing.assert_allclose(field(jnp.array(0.0), jnp.array([3.0]), None), [-6.0])


# ---------------------------------------------------------------------------------------
# Training: recovering a linear system, one compilation per run.


@pytest.fixture(scope="module")
def linear_fit():
    ts = np.linspace(0.0, 1.5, 16)
    data = _linear_data(ts)
    net = sciml.nn.MLP(2, 2, width=1, depth=0, key=jr.key(3))  # depth 0: y -> W y + b
    model = ODEModel(NeuralVectorField(net), stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-8))
    loss = _CountingLoss(TrajectoryLoss(), "linear")
    result = sciml.train.fit(
        model,
        loss,
        data,
        sciml.train.make_optimizer({"name": "lbfgs"}),
        steps=40,
        key=jr.key(4),
        logging=sciml.train.Logging(quiet=True, every=1, callback=_record_steps("linear")),
    )
    return result, _EVENTS["linear"]


def test_neural_ode_recovers_linear_system(linear_fit):
    result, _ = linear_fit
    layer = result.model.vector_field.network.layers[0]
    assert result.losses[-1] < 1e-8
    np.testing.assert_allclose(layer.weight, A_TRUE, atol=2e-3)
    np.testing.assert_allclose(layer.bias, 0.0, atol=2e-3)


def test_fit_compiles_the_step_once(linear_fit):
    result, events = linear_fit
    assert result.step == 40
    # Every trace of the loss (L-BFGS traces it twice: for the gradient and inside its
    # line search) happens before the first step completes; none later, so the step
    # compiled once (a weakly typed scalar turning strong after an update would retrace).
    assert events.count("trace") >= 1
    assert events[: events.count("trace")] == ["trace"] * events.count("trace")
    assert events[events.count("trace") :] == list(range(1, 41))


def test_curriculum_compiles_once_and_clips_horizon():
    ts = np.linspace(0.0, 1.0, 11)
    data = _linear_data(ts)
    clipped = clip_horizon(data, 0.5)
    assert clipped["ts"].shape == data["ts"].shape and clipped["mask"].shape == data["mask"].shape
    np.testing.assert_array_equal(np.asarray(clipped["mask"])[0], ts <= 0.5 + 1e-12)
    # Padding repeats the last kept time, so the solve stops at the horizon.
    np.testing.assert_allclose(np.asarray(clipped["ts"])[0], np.minimum(ts, 0.5))

    net = sciml.nn.MLP(2, 2, width=1, depth=0, key=jr.key(5))
    model = ODEModel(NeuralVectorField(net))
    loss = _CountingLoss(TrajectoryLoss(), "curriculum")
    result = fit_curriculum(
        model,
        loss,
        data,
        optax.adam(1e-2),
        horizons=(0.3, 0.6, 1.0),
        steps=(3, 3, 2),
        key=jr.key(6),
        logging=sciml.train.Logging(quiet=True, every=1),
    )
    assert [(s.name, s.iterations, s.result) for s in result.stages] == [
        ("horizon 0.3", 3, "completed"),
        ("horizon 0.6", 3, "completed"),
        ("horizon 1", 2, "completed"),
    ]
    assert result.step == 8 and result.losses.shape == (8,)
    assert [h["step"] for h in result.history] == list(range(1, 9))
    assert [h["stage"] for h in result.history] == [0, 0, 0, 1, 1, 1, 2, 2]
    assert [s.loss for s in result.stages] == [result.losses[2], result.losses[5], result.losses[7]]
    assert _EVENTS["curriculum"] == ["trace"]  # Adam traces the loss once: one compilation
    with pytest.raises(ValueError, match="increasing"):
        fit_curriculum(model, loss, data, optax.adam(1e-2), horizons=(1.0, 0.5), steps=1, key=jr.key(6))


# ---------------------------------------------------------------------------------------
# Bad inputs fail eagerly with messages naming the problem.


def test_bad_inputs_raise_value_errors():
    model = ODEModel(NeuralVectorField(sciml.nn.MLP(2, 2, width=4, depth=1, key=jr.key(0))), name="shape model")
    ts = jnp.linspace(0.0, 1.0, 5)
    with pytest.raises(ValueError, match=r"shape model.*y0 of shape \(3,\)"):
        model.solve(ts, jnp.ones(3))
    with pytest.raises(ValueError, match=r"increasing.*ts\[2\]"):
        model.solve(jnp.array([0.0, 0.5, 0.4, 1.0]), jnp.ones(2))
    with pytest.raises(ValueError, match="strictly increasing"):
        model.solve(jnp.array([0.0, 0.5, 0.5, 1.0]), jnp.ones(2))
    with pytest.raises(ValueError, match="non-finite"):
        model.solve(ts, jnp.array([1.0, jnp.nan]))
    with pytest.raises(ValueError, match=r"3 time grids.*2 initial states"):
        model.solve_batch(jnp.stack([ts] * 3), jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="needs dt0"):
        ODEModel(model.vector_field, stepsize_controller=diffrax.ConstantStepSize())
    with pytest.raises(ValueError, match="max_steps"):
        ODEModel(model.vector_field, max_steps=0)

    ys = np.ones((2, 5, 2))
    with pytest.raises(ValueError, match=r"trajectory 1.*NaN.*index 3"):
        trajectory_data(ts, np.where(np.arange(5)[None, :, None] == 3, np.array([1.0, np.nan])[:, None, None], ys))
    with pytest.raises(ValueError, match=r"trajectory 0: 5 times but observations of shape \(4, 2\)"):
        trajectory_data([ts, ts], [ys[0, :4], ys[1]])
    with pytest.raises(ValueError, match=r"trajectory 1: times must be strictly increasing"):
        trajectory_data([ts, ts[::-1]], [ys[0], ys[1]])
    with pytest.raises(ValueError, match="2 time grids but 3"):
        trajectory_data([ts, ts], [ys[0], ys[1], ys[1]])
    loss = TrajectoryLoss()
    with pytest.raises(ValueError, match=r"batch\['ys'\].*does not match"):
        loss(model, {"ts": jnp.stack([ts, ts]), "ys": jnp.ones((2, 4, 2))}, None)
    with pytest.raises(ValueError, match="on_failure"):
        TrajectoryLoss(on_failure="ignore")
    with pytest.raises(ValueError, match="segment_length"):
        MultipleShootingLoss(0)


# ---------------------------------------------------------------------------------------
# Failures: messages with throw=True, per-trajectory codes with throw=False.


@pytest.fixture(scope="module")
def blowup():
    # y' = y^2 from y(0) = 1 blows up at t = 1.
    return ODEModel(PhysicsVectorField(_square, {"k": 1.0}), max_steps=64, name="blow-up model")


def test_throw_names_model_and_time_span(blowup):
    ts = jnp.linspace(0.0, 2.0, 5)
    expected = r"'blow-up model'(.|\n)*t in \[0, 2\](.|\n)*maximum number of solver steps"
    with pytest.raises(ODESolveError, match=expected):
        blowup.solve(ts, jnp.ones(1))
    # Inside jit the same words surface through equinox's runtime error.
    with pytest.raises(RuntimeError, match=r"maximum number of solver steps(.|\n)*'blow-up model'"):
        eqx.filter_jit(lambda m: m.solve(ts, jnp.ones(1)).ys)(blowup)


def test_batched_solve_reports_each_failure(blowup):
    ts = jnp.linspace(0.0, 2.0, 5)
    y0 = jnp.array([[0.1], [1.0], [0.2]])  # only y0 = 1 blows up before t = 2
    sol = blowup.solve_batch(ts, y0, throw=False)
    np.testing.assert_array_equal(sol.ok, [True, False, True])
    assert sol.failures() == {1: result_message(RESULTS.max_steps_reached._value)}
    np.testing.assert_allclose(sol.ys[0, :, 0], 0.1 / (1 - 0.1 * np.asarray(ts)), rtol=1e-3)
    with pytest.raises(ODESolveError, match=r"1 of 3 trajectories(.|\n)*trajectory 1"):
        blowup.solve_batch(ts, y0)


def test_vmapped_stiff_member_fails_alone():
    model = ODEModel(
        PhysicsVectorField(_decay, {"k": 1.0}),
        diffrax.Tsit5(),
        diffrax.PIDController(rtol=1e-7, atol=1e-9),
        max_steps=50,
    )

    def solve(k):
        m = eqx.tree_at(lambda m: m.vector_field.leaves[0], model, k)  # the only parameter
        return m.solve(jnp.linspace(0.0, 1.0, 4), jnp.ones(1), throw=False)

    sol = jax.vmap(solve)(jnp.array([1.0, 1e5, 2.0]))  # explicit Tsit5 on a stiff member
    np.testing.assert_array_equal(sol.result._value, [0, RESULTS.max_steps_reached._value, 0])
    np.testing.assert_allclose(sol.ys[2, -1, 0], np.exp(-2.0), rtol=1e-6)


def test_explicit_solver_on_stiff_system_names_the_remedy():
    model = ODEModel(
        PhysicsVectorField(_decay, {"k": 1e5}),
        diffrax.Tsit5(),
        diffrax.PIDController(rtol=1e-7, atol=1e-9),
        max_steps=50,
        name="stiff decay",
    )
    ts = jnp.array([0.0, 1e-5, 1e-4, 1.0])
    with pytest.raises(ODESolveError) as info:
        model.solve(ts, jnp.ones(1))
    message = str(info.value)
    for words in ("'stiff decay'", "max_steps=50", "Kvaerno5"):
        assert words in message, (words, message)
    # Explicit steps are limited to about 3e-5 by stability (k = 1e5), so 50 of them end
    # before t = 1e-3: the message names the last save time passed, 1e-5 or 1e-4.
    assert re.search(r"last save time reached t = (1e-05|0\.0001):", message), message
    # An implicit solver gets no advice to switch solvers.
    implicit = ODEModel(
        PhysicsVectorField(_decay, {"k": 1e5}),
        diffrax.Kvaerno5(),
        diffrax.PIDController(rtol=1e-7, atol=1e-9),
        max_steps=2,
    )
    with pytest.raises(ODESolveError) as info:
        implicit.solve(ts, jnp.ones(1))
    assert "max_steps=2" in str(info.value) and "Kvaerno5()" not in str(info.value)


def test_constant_steps_overflow_is_reported(blowup):
    model = ODEModel(blowup.vector_field, stepsize_controller=diffrax.ConstantStepSize(), dt0=0.25)
    sol = model.solve(jnp.linspace(0.0, 3.0, 4), jnp.ones(1), throw=False)
    assert sol.result == RESULTS.nonfinite_state
    with pytest.raises(ODESolveError, match="non-finite"):
        model.solve(jnp.linspace(0.0, 3.0, 4), jnp.ones(1))


def test_implicit_solver_on_stiff_system():
    def stiff(t, y, p):
        return p["A"] @ y

    a = np.array([[-1000.0, 1.0], [0.0, -1.0]])
    model = ODEModel(
        PhysicsVectorField(stiff, {"A": jnp.asarray(a)}),
        diffrax.Kvaerno5(),
        diffrax.PIDController(rtol=1e-8, atol=1e-8),
        max_steps=200,
    )
    ts = jnp.linspace(0.0, 2.0, 5)
    sol = model.solve(ts, jnp.array([1.0, 1.0]))
    exact = np.stack([expm(a * t) @ np.array([1.0, 1.0]) for t in np.asarray(ts)])
    np.testing.assert_allclose(sol.ys, exact, rtol=1e-5, atol=1e-8)
    assert int(sol.num_steps) < 200
    # The same budget is far too small for an explicit solver on this system.
    explicit = ODEModel(model.vector_field, max_steps=200)
    assert explicit.solve(ts, jnp.array([1.0, 1.0]), throw=False).result == RESULTS.max_steps_reached


# ---------------------------------------------------------------------------------------
# Losses: padded per-trajectory grids and multiple shooting against independent sums.


def _trajectory_sse(model, ts, ys):
    pred = np.asarray(model.solve(jnp.asarray(ts), jnp.asarray(ys[0])).ys)
    return np.sum((pred - ys) ** 2), ys.size


def test_padded_grids_match_separate_trajectories():
    model = _hybrid(jr.key(7), rtol=1e-9)
    rng = np.random.default_rng(0)
    grids = [np.sort(rng.uniform(0, 2, n)) for n in (7, 4)]
    grids[1][0] = 0.3  # different start times too
    obs = [rng.normal(size=(len(g), 2)) for g in grids]
    data = trajectory_data(grids, obs)
    assert data["ts"].shape == (2, 7) and int(data["mask"].sum()) == 11
    np.testing.assert_array_equal(data["ts"][1, 4:], grids[1][-1])  # padded with the last time
    loss = TrajectoryLoss()(model, data, None)
    sse, count = map(sum, zip(*(_trajectory_sse(model, g, y) for g, y in zip(grids, obs))))
    np.testing.assert_allclose(loss, sse / count, rtol=1e-7)
    # A per-state scale divides each component's error.
    scaled = TrajectoryLoss(scale=np.array([2.0, 1.0]))(model, data, None)
    assert scaled < loss


def test_multiple_shooting_equals_single_shooting_when_continuous():
    model = _hybrid(jr.key(8), rtol=1e-10)
    ts = np.linspace(0.0, 2.0, 12)  # 11 intervals: segments of 3 leave a shorter last one
    y0 = np.array([0.5, -0.2])
    exact = np.asarray(model.solve(jnp.asarray(ts), jnp.asarray(y0)).ys)
    rng = np.random.default_rng(1)
    noisy = exact + 0.1 * rng.normal(size=exact.shape)
    nodes = np.arange(0, 12, 3)
    # Observations on the model's own trajectory at the shooting nodes, noise elsewhere:
    # every segment starts where the previous one ends, so the continuity term is zero.
    consistent = noisy.copy()
    consistent[nodes] = exact[nodes]
    data = trajectory_data(ts, consistent[None])
    single = TrajectoryLoss()(model, data, None)
    multiple = MultipleShootingLoss(3, continuity_weight=10.0)(model, data, None)
    assert single > 1e-3
    np.testing.assert_allclose(multiple, single, rtol=1e-6)
    # Noise at the nodes breaks continuity; the penalty is then visible.
    broken = trajectory_data(ts, noisy[None])
    plain = MultipleShootingLoss(3, continuity_weight=0.0)(model, broken, None)
    penalised = MultipleShootingLoss(3, continuity_weight=10.0)(model, broken, None)
    assert penalised > plain + 1e-3
    # The data term, segment by segment: each restarted from its node's observation,
    # each observation after the first counted once.
    sse = 0.0
    for start in nodes:
        seg = slice(start, min(start + 3, 11) + 1)
        pred = np.asarray(model.solve(jnp.asarray(ts[seg]), jnp.asarray(noisy[start])).ys)
        sse += np.sum((pred[1:] - noisy[seg][1:]) ** 2)
    np.testing.assert_allclose(plain, sse / noisy.size, rtol=1e-6)


def test_loss_on_failure_modes(blowup):
    ts = np.linspace(0.0, 2.0, 5)
    y = np.stack([0.1 / (1 - 0.1 * ts), np.ones_like(ts)])[:, :, None]  # second member blows up
    data = trajectory_data(ts, y)
    assert np.isinf(TrajectoryLoss(on_failure="inf")(blowup, data, None))
    dropped = TrajectoryLoss(on_failure="drop")(blowup, data, None)
    np.testing.assert_allclose(dropped, 0.0, atol=1e-8)  # only the exact first member is left
    with pytest.raises(ODESolveError):
        TrajectoryLoss()(blowup, data, None)


def test_save_and_load_roundtrip(tmp_path):
    model = _hybrid(jr.key(9))
    sciml.train.save(tmp_path / "model.eqx", model)
    skeleton = _hybrid(jr.key(10))
    loaded = sciml.train.load(tmp_path / "model.eqx", like=skeleton)
    ts, y0 = jnp.linspace(0.0, 1.0, 3), jnp.array([0.1, 0.2])
    np.testing.assert_array_equal(loaded(ts, y0), model(ts, y0))
