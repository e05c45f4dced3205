"""Per-step cost of a vmapped K-member ensemble against one member and a Python loop.

Three contenders train the same architecture on the same data with Adam through
`sciml.train.fit` (the ensemble through `sciml.uq.fit_ensemble`, i.e. one compiled
step with a vmapped loss and a member-wise optimizer):

- `one member`: a single model;
- `vmapped K`: all K members in one step;
- `loop of K`: K separate `fit` runs one after the other (they share one compiled
  step, so this is the cost of the loop itself, not of K compilations).

The time per step is read from `fit`'s own history (`time_s` at its logging points,
where it synchronises with the device): the slope between the first and the last
logging point, so compilation and per-run setup are excluded whether or not `fit`'s
step cache reuses a compiled step; compile times (the first, 2-step run of each
contender) are reported in their own column. The contenders alternate over the
repeats so that drifting machine load hits all alike. The table gives median
milliseconds per step (for the loop: one step of every member) and the ratios to one
member. Target on CPU: vmapped K=16 at most 3x one member, where the loop costs about
16x. Small networks, whose steps are dominated by per-step overhead, meet it; once a
step is compute-bound the vmapped ensemble approaches the K-fold arithmetic.

    python benchmarks/ensemble.py [--members 16] [--steps 200] [--repeats 5] [--case "neural ODE"]

Measured on an idle 2-core CPU (Xeon, AVX-512; jax 0.10.2), K = 16, 200 steps x 5
repeats, float32, medians in ms per step (ratio to one member; compile s):

| case | one member | vmapped 16 | loop of 16 |
|---|---|---|---|
| mlp 32x2, batch 64 | 0.40 (1; 1.4) | 0.83 (2.06; 1.7) | 5.8 (14.3) |
| mlp 64x3, batch 64 | 0.43 (1; 1.5) | 1.85 (4.27; 1.9) | 7.0 (16.2) |
| neural ODE 32x2, 4 traj | 2.25 (1; 8.2) | 8.62 (3.83; 8.2) | 35.4 (15.7) |

An earlier run on the same idle machine an hour before (the host's speed varies by
tens of per cent) gave ratios 2.07, 5.05 and 4.95 (loops 14.3, 16.7, 17.9).

The small MLP meets the 3x target; the larger MLP and the neural ODE do not, although
the vmapped ensemble is 3.8x and 4.1x cheaper than the loop. Both are no longer
overhead-bound at K = 16: one member of the MLP 64x3 step is mostly dispatch, sixteen
are 51 MFLOP of small matrix products (about 28 GFLOP/s). For the neural ODE the adaptive
solves are *not* the cause: every member takes 4 Tsit5 steps at the initial parameters
and 6-8 after 600 Adam steps, and a constant step size gives the same ratio. The neural
ODE case also times its gradient written with diffrax and equinox alone (no `fit`, no
optimizer; the contenders `diffrax grad 1` and `diffrax grad K`, ratio to the former).
In one idle run, neural ODE case only: one member 1.49 ms, vmapped 16 5.69 ms (3.82x),
loop 22.9 ms (15.4x); diffrax gradient of one member 1.02 ms, of 16 vmapped members
3.41 ms (3.36x). The bare solver's gradient vmapped over 16 members already costs more
than 3x one, so the 3x target lies below what diffrax on XLA's CPU backend reaches for
this model; other hand-written variants were no better (one `diffeqsolve` of the
stacked state 3.30x, `RecursiveCheckpointAdjoint(checkpoints=16)` 3.65x,
`DirectAdjoint` 9.7x). A profile of the gradient shows why: the
trajectories of a member are solved by `vmap` over `diffeqsolve` (each on its own time
grid), so the reverse pass of the checkpointed solve accumulates a parameter cotangent
per member *and per trajectory* (a `[16, 4, 32, 32]` multiply-add at every stage) and
selects it under the batched loop condition, the largest single cost of the step; that
elementwise work grows with K while one member's step is dominated by per-operation
overhead. Solving all members and trajectories as one stacked state in a single
`diffeqsolve` (one shared step size) was tried by hand and is slower still (5.8 ms for
sixteen members against 1.3 ms for one).

Cases live in `_CASES` (name -> builder of a `_Case`): two MLP regressors and a neural
ODE, an MLP vector field (width 32, depth 2, softplus) integrated by Tsit5 with a PID
controller (rtol 1e-3, atol 1e-6) over 4 spirals of 20 save times each, trained on the
trajectory MSE (`sciml.ode.TrajectoryLoss`). The vmapped ensemble's adaptive solves
run in one `while` loop, so each step lasts as long as its slowest member's solve.
"""

import argparse
import os
import statistics
import time
from collections.abc import Callable


os.environ.setdefault("JAX_PLATFORMS", "cpu")

import dataclasses

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from scipy.linalg import expm

import sciml.nn
import sciml.train
import sciml.uq as uq
from sciml.ode import NeuralVectorField, ODEModel, trajectory_data, TrajectoryLoss


@dataclasses.dataclass(frozen=True)
class _Case:
    make_model: Callable
    member_loss: Callable  # loss of one EnsembleMember
    single_loss: Callable  # the same loss of a bare model: the honest single-network baseline
    data: dict
    batch_size: int


def _mlp_case(width: int, depth: int, n: int = 512, batch_size: int = 64) -> _Case:
    x = jnp.linspace(-3.0, 3.0, n)[:, None]
    data = {"x": x, "y": jnp.sin(x)}

    def make_model(key):
        return sciml.nn.build("mlp", key=key, in_size=1, out_size=1, width=width, depth=depth)

    return _Case(make_model, uq.squared_error_loss, uq.squared_error_loss, data, batch_size)


_TRAJECTORY_LOSS = TrajectoryLoss()


def _ode_member_loss(member, batch, key):
    # The member's model is the ODEModel; a prior or Gaussian head would not apply to a trajectory.
    return _TRAJECTORY_LOSS(member.model, batch, key)


def _spirals(trajectories: int, saves: int) -> tuple[np.ndarray, np.ndarray]:
    # Spirals of a damped linear oscillator, exact by the matrix exponential.
    a = np.array([[-0.1, 2.0], [-2.0, -0.1]])
    ts = np.linspace(0.0, 2.0, saves)
    y0 = np.random.default_rng(0).uniform(-2.0, 2.0, (trajectories, 2))
    return ts, np.einsum("tij,bj->bti", np.stack([expm(a * t) for t in ts]), y0)


def _neural_ode_case(width: int = 32, trajectories: int = 4, saves: int = 20) -> _Case:
    ts, ys = _spirals(trajectories, saves)
    controller = diffrax.PIDController(rtol=1e-3, atol=1e-6)

    def make_model(key):
        net = sciml.nn.build("mlp", key=key, in_size=2, out_size=2, width=width, depth=2, activation="softplus")
        return ODEModel(NeuralVectorField(net), diffrax.Tsit5(), controller)

    return _Case(make_model, _ode_member_loss, _TRAJECTORY_LOSS, trajectory_data(ts, ys), trajectories)


def _diffrax_floor(members: int, width: int = 32, trajectories: int = 4, saves: int = 20) -> dict[str, Callable]:
    """The neural ODE case's gradient written with diffrax and equinox alone, for 1 and K members.

    No `fit`, no optimizer, no data pipeline: the ratio of these two is what the solver
    itself costs when vmapped over members, the floor for the ensemble's ratio.
    """
    ts, ys = (jnp.asarray(a, jnp.float32) for a in _spirals(trajectories, saves))
    controller = diffrax.PIDController(rtol=1e-3, atol=1e-6)

    def make(key):
        return sciml.nn.build("mlp", key=key, in_size=2, out_size=2, width=width, depth=2, activation="softplus")

    def loss(net):
        def solve(y0):
            return diffrax.diffeqsolve(
                diffrax.ODETerm(lambda t, y, args: net(y)),
                diffrax.Tsit5(),
                ts[0],
                ts[-1],
                None,
                y0,
                saveat=diffrax.SaveAt(ts=ts),
                stepsize_controller=controller,
                max_steps=4096,
                throw=False,
            ).ys

        return jnp.mean((jax.vmap(solve)(ys[:, 0]) - ys) ** 2)

    one_net, nets = make(jr.key(0)), eqx.filter_vmap(make)(jr.split(jr.key(0), members))
    grad_one = eqx.filter_jit(eqx.filter_grad(loss))
    grad_all = eqx.filter_jit(eqx.filter_vmap(eqx.filter_grad(loss)))

    def timed(grad, net):
        def fn(steps, key):
            del key
            jax.block_until_ready(grad(net))
            t = time.perf_counter()
            for _ in range(steps):
                out = grad(net)
            jax.block_until_ready(out)
            return (time.perf_counter() - t) / steps

        return fn

    return {"diffrax grad 1": timed(grad_one, one_net), f"diffrax grad {members}": timed(grad_all, nets)}


_CASES: dict[str, Callable[[], _Case]] = {
    "mlp 32x2, batch 64": lambda: _mlp_case(32, 2),
    "mlp 64x3, batch 64": lambda: _mlp_case(64, 3),
    "neural ODE 32x2, 4 traj": _neural_ode_case,
}


def _per_step(result: sciml.train.FitResult) -> float:
    """Seconds per step between the first and the last logging point of a run."""
    first, last = result.history[0], result.history[-1]
    return (last["time_s"] - first["time_s"]) / (last["step"] - first["step"])


def _contenders(case: _Case, members: int):
    optimizer = optax.adam(1e-3)
    ensemble = uq.Ensemble(case.make_model, members, key=jr.key(0))
    loss = uq.EnsembleLoss(case.member_loss)
    singles = [case.make_model(k) for k in jr.split(jr.key(0), members)]
    data, batch_size = case.data, case.batch_size

    def run_one(model, steps, key):
        return sciml.train.fit(
            model,
            case.single_loss,
            data,
            optimizer,
            steps=steps,
            key=key,
            batch_size=batch_size,
            logging=sciml.train.Logging(every=max(steps // 10, 1), quiet=True),
        )

    def one(steps, key):
        return _per_step(run_one(singles[0], steps, key))

    def vmapped(steps, key):
        res = uq.fit_ensemble(
            ensemble,
            loss,
            data,
            optimizer,
            steps=steps,
            key=key,
            batch_size=batch_size,
            logging=sciml.train.Logging(every=max(steps // 10, 1), quiet=True),
        )
        return _per_step(res)

    def loop(steps, key):
        return sum(_per_step(run_one(model, steps, key)) for model in singles)

    return {"one member": one, f"vmapped {members}": vmapped, f"loop of {members}": loop}


def _time(fns: dict[str, Callable], steps: int, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    compile_s = {}
    for name, fn in fns.items():
        t = time.perf_counter()
        fn(2, jr.key(1))  # compile (fresh for the ensemble, cached for the others)
        compile_s[name] = time.perf_counter() - t
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(fn(steps, jr.key(1)))
    return {name: statistics.median(ts) for name, ts in times.items()}, compile_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--case", default="", help="run only the cases whose name contains this text")
    args = parser.parse_args()
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform} ({os.cpu_count()} cores), "
        f"K={args.members}, {args.steps} steps x {args.repeats} repeats, medians"
    )
    header = f"{'case':24s} {'contender':16s} {'ms/step':>9s} {'x one':>7s} {'compile s':>10s}"
    print(header)
    print("-" * len(header))
    for case, build in _CASES.items():
        if args.case not in case:
            continue
        fns = _contenders(build(), args.members)
        if "neural ODE" in case:
            fns.update(_diffrax_floor(args.members))
        medians, compile_s = _time(fns, args.steps, args.repeats)
        for name, t in medians.items():
            base = medians["diffrax grad 1" if name.startswith("diffrax") else "one member"]
            print(f"{case:24s} {name:16s} {1e3 * t:9.3f} {t / base:7.2f} {compile_s[name]:10.2f}")


if __name__ == "__main__":
    main()
