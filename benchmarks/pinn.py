"""PINN benchmarks on Burgers' equation (`problems/burgers_pinn.py`).

1. **Derivative strategies.** Wall time of one training step (loss, gradient with
   respect to the parameters, Adam update, one compiled function) of the Burgers
   residual loss, which needs `u, u_t, u_x, u_xx` at every collocation point, with each
   derivative strategy of `sciml.pinn`: forward mode (nested `jax.jvp`), Taylor
   mode (`jax.experimental.jet`), forward-over-reverse and nested reverse mode. The
   strategies are timed in alternation (machine load drifts); the table gives the
   median per step, the ratio to the fastest, and the compile time.

2. **Optimizer schedules.** Wall-clock time (compilation included) to reach a relative
   L2 error of 1e-3 against the Cole-Hopf solution on Raissi's 256 x 100 grid, for
   Adam only, Adam -> L-BFGS, and Adam -> L-BFGS -> Levenberg-Marquardt (the problem's
   default), each from the same initial network and points. Parameters are snapshotted
   during training (every 250 optimizer steps, every 10 least-squares iterations) and
   the errors computed afterwards, outside the timed run.

    python benchmarks/pinn.py [--part derivatives|schedules|both] [--repeats 7] [--budget 600]
                              [--schedule adam|adam-lbfgs|default]

The CPU this project runs on has 2 cores shared with other jobs: expect noise of tens of
per cent between runs; the medians and ratios are what to compare.
"""

import argparse
import dataclasses
import os
import statistics
import time


os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax


jax.config.update("jax_enable_x64", True)

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax

from problems import burgers_pinn
from sciml import pinn
from sciml.train import Execution, fit, Logging


METHODS = {
    "forward": pinn.Forward(),
    "taylor": pinn.Taylor(),
    "forward_over_reverse": pinn.ForwardOverReverse(),
    "reverse": pinn.Reverse(),
}


# ---------------------------------------------------------------- part 1
def _step_function(loss, optim):
    @eqx.filter_jit
    def step(model, state, opt_state, key):
        params, static = eqx.partition(model, eqx.is_inexact_array)

        def f(p):
            return loss(eqx.combine(p, static), state, None, key)

        (value, state), grads = jax.value_and_grad(f, has_aux=True)(params)
        updates, opt_state = optim.update(grads, opt_state, params)
        return eqx.combine(eqx.apply_updates(params, updates), static), state, opt_state, value

    return step


def derivative_strategies(width: int, depth: int, points: int, steps: int, repeats: int) -> None:
    config = burgers_pinn.Config(width=width, depth=depth, points=points)
    optim = optax.adam(1e-3)
    runs = {}
    for name, method in METHODS.items():
        model, loss, state, _ = burgers_pinn.setup(dataclasses.replace(config, method=name), jr.key(0))
        loss = loss.freeze()  # no resampling: the same work at every step
        step = _step_function(loss, optim)
        opt_state = optim.init(eqx.filter(model, eqx.is_inexact_array))
        t0 = time.perf_counter()
        out = step(model, state, opt_state, jr.key(1))
        jax.block_until_ready(out[-1])
        runs[name] = (step, out, time.perf_counter() - t0)
        del method
    times: dict[str, list[float]] = {name: [] for name in METHODS}
    for _ in range(repeats):
        for name, (step, (model, state, opt_state, _), _) in runs.items():
            t0 = time.perf_counter()
            for i in range(steps):
                model, state, opt_state, value = step(model, state, opt_state, jr.key(i))
            jax.block_until_ready(value)
            times[name].append((time.perf_counter() - t0) / steps)
    medians = {name: statistics.median(t) for name, t in times.items()}
    best = min(medians.values())
    print(f"\nBurgers residual training step (Adam), MLP {depth}x{width}, {points} collocation points, float64")
    print(f"{'strategy':<22} {'ms/step':>9} {'ratio':>7} {'compile s':>10}")
    for name in METHODS:
        print(f"{name:<22} {1e3 * medians[name]:>9.2f} {medians[name] / best:>7.2f} {runs[name][2]:>10.1f}")


# ---------------------------------------------------------------- part 2
class _Sink:
    """Where snapshots go: a plain object, hashed by identity, so no two runs share one."""

    def __init__(self, clock: float):
        self.clock = clock
        self.items: list = []

    def add(self, params) -> None:
        self.items.append((time.perf_counter() - self.clock, params))


class _OverBudget(Exception):
    pass


class _Snapshots(eqx.Module):
    """Wraps a PINN loss; every `every` loss steps it copies the parameters to the host."""

    inner: pinn.PINNLoss
    every: int = eqx.field(static=True)
    sink: _Sink = eqx.field(static=True)

    def __call__(self, model, state, batch, key):
        step = self.inner.step(state)
        params = eqx.filter(model, eqx.is_inexact_array)

        def store(params):
            self.sink.add(jax.tree_util.tree_map(np.asarray, params))

        jax.lax.cond(step % self.every == 0, lambda: jax.debug.callback(store, params), lambda: None)
        return self.inner(model, state, batch, key)


def _schedule(stages, config, budget: float) -> dict:
    model, loss, state, _ = burgers_pinn.setup(config, jr.key(0))
    key = jr.key(2)
    clock = time.perf_counter()
    sink = _Sink(clock)
    _, static = eqx.partition(model, eqx.is_inexact_array)

    def check_budget(step, record):
        if time.perf_counter() - clock > budget:
            raise _OverBudget

    try:
        for i, stage in enumerate(stages):
            model, state = _run_stage(model, loss, state, stage, jr.fold_in(key, i), sink, check_budget)
    except _OverBudget:
        pass
    total = time.perf_counter() - clock
    errors = []
    for t, params in sink.items:
        u, exact = burgers_pinn.evaluate(eqx.combine(jax.tree_util.tree_map(jnp.asarray, params), static))
        errors.append((t, float(np.linalg.norm(u - exact) / np.linalg.norm(exact))))
    reached = next((t for t, e in errors if e <= 1e-3), None)
    final = errors[-1][1] if errors else float("nan")
    return {"time_to_1e-3": reached, "final_error": final, "total_s": total, "errors": errors}


def _run_stage(model, loss, state, stage: pinn.AbstractStage, stage_key, sink, check_budget):
    if stage.resample:
        state = loss.resample(model, state, jr.fold_in(stage_key, 1))
    if isinstance(stage, pinn.AbstractLeastSquaresStage):

        def record(step, rec):
            sink.add(eqx.filter(rec["model"], eqx.is_inexact_array))
            check_budget(step, rec)

        out = stage.run(model, loss, state, key=stage_key, quiet=True, callback=record)
        return out.model, out.state
    # The optax stages through `fit` directly, to snapshot the parameters from inside the loss.
    wrapped = _Snapshots(loss if stage.adaptive else loss.freeze(), 250, sink)
    result = fit(
        model,
        wrapped,
        None,
        stage.optimizer,
        steps=stage.steps,
        key=stage_key,
        state=state,
        logging=Logging(quiet=True, callback=check_budget, every=50),
        execution=Execution(on_nonfinite=stage.on_nonfinite),
    )
    return result.model, result.state


def schedules(budget: float, only: str | None = None) -> None:
    config = burgers_pinn.Config()
    default = burgers_pinn.stages(config)
    adam = default[0]
    adam_long = dataclasses.replace(adam, steps=40000, decay_steps=40000)
    lbfgs = pinn.LBFGS(20000, memory_size=config.lbfgs_memory, adaptive=True)
    rows = {
        "Adam only": [adam_long],
        "Adam -> L-BFGS": [adam, lbfgs],
        "Adam -> L-BFGS -> LM (default)": default,
    }
    if only is not None:
        rows = {k: v for k, v in rows.items() if _SCHEDULE_NAMES[only] == k}
    print(f"\nBurgers, MLP {config.depth}x{config.width}, {config.points} RAD points, float64; budget {budget:.0f} s")
    print(f"{'schedule':<34} {'time to 1e-3 (s)':>17} {'final rel. L2':>14} {'wall (s)':>9}")
    for name, stages in rows.items():
        out = _schedule(stages, config, budget)
        reached = "not reached" if out["time_to_1e-3"] is None else f"{out['time_to_1e-3']:.0f}"
        print(f"{name:<34} {reached:>17} {out['final_error']:>14.2e} {out['total_s']:>9.0f}", flush=True)


_SCHEDULE_NAMES = {"adam": "Adam only", "adam-lbfgs": "Adam -> L-BFGS", "default": "Adam -> L-BFGS -> LM (default)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["derivatives", "schedules", "both"], default="both")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20, help="steps per timing repeat")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds per schedule")
    parser.add_argument(
        "--schedule",
        choices=sorted(_SCHEDULE_NAMES),
        default=None,
        help="run one schedule only (to run them side by side on separate cores)",
    )
    args = parser.parse_args()
    if args.part in ("derivatives", "both"):
        derivative_strategies(20, 4, 3000, args.steps, args.repeats)
        derivative_strategies(20, 8, 10000, max(args.steps // 4, 3), args.repeats)
    if args.part in ("schedules", "both"):
        schedules(args.budget, args.schedule)


if __name__ == "__main__":
    main()
