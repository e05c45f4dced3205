"""Per-step cost of `sciml.train.fit` against a hand-written Equinox + optax loop.

Both loops train the same model on the same batches (drawn inside the compiled step
from the same permutations) with the same optimizer; each is compiled once before
timing. The table gives the median over repeats of the wall time per step, and the
ratio fit / hand-written (target: <= 1.02).

    python benchmarks/train_overhead.py [--steps 300] [--repeats 7]
"""

import argparse
import os
import statistics
import time


os.environ.setdefault("JAX_PLATFORMS", "cpu")

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax

import sciml
from sciml.train import batch_indices, take


def _cases():
    key = jr.key(0)
    x = jr.normal(key, (1024, 8))
    mlp = sciml.nn.build("mlp", key=key, in_size=8, out_size=1, width=64, depth=3)
    mlp_data = (x, jnp.sin(x).sum(axis=1, keepdims=True))
    fields = jr.normal(key, (256, 1, 32, 32))
    cnn = sciml.nn.build("cnn", key=key, num_spatial_dims=2, in_channels=1, channels=[8, 16], out_size=1)
    cnn_data = (fields, fields.mean(axis=(1, 2, 3))[:, None])
    return {"mlp 64x3, batch 64": (mlp, mlp_data), "cnn 8-16 on 32x32, batch 64": (cnn, cnn_data)}


def _loss(model, batch, key):
    x, y = batch
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


@eqx.filter_jit
def _hand_step(params, static, opt_state, data, i, key, optim):
    order_key, loss_key = jr.split(key)
    n = jax.tree_util.tree_leaves(data)[0].shape[0]
    batch = take(data, batch_indices(order_key, i, n, 64))

    def f(p):
        return _loss(eqx.combine(p, static), batch, jr.fold_in(loss_key, i))

    value, grads = eqx.filter_value_and_grad(f)(params)
    updates, opt_state = optim.update(grads, opt_state, params)
    return eqx.apply_updates(params, updates), opt_state, i + 1, value


def _hand_written(model, data, optim, steps, key):
    """The loop as the Equinox documentation writes it: one filter_jit around the step."""
    params, static = eqx.partition(model, eqx.is_inexact_array)
    opt_state = optim.init(params)
    i = jnp.asarray(0, jnp.int32)
    for _ in range(steps):
        params, opt_state, i, value = _hand_step(params, static, opt_state, data, i, key, optim)
    jax.block_until_ready(params)
    return eqx.combine(params, static)


_QUIET = sciml.train.Logging(quiet=True)


def _with_fit(model, data, optim, steps, key):
    res = sciml.train.fit(model, _loss, data, optim, steps=steps, key=key, batch_size=64, logging=_QUIET)
    jax.block_until_ready(res.model)
    return res.model


def _median_per_step(fns, *args, steps, repeats):
    """Median seconds per step of each function, timed in alternation."""
    for fn in fns:
        fn(*args, steps=steps, key=jr.key(1))  # compile
    times = [[] for _ in fns]
    # Alternate the contenders so that drifting machine load hits both alike.
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            t = time.perf_counter()
            fn(*args, steps=steps, key=jr.key(1))
            ts.append((time.perf_counter() - t) / steps)
    return [statistics.median(ts) for ts in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    optim = optax.adam(1e-3)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {args.steps} steps x {args.repeats} repeats")
    print(f"{'case':32s} {'hand-written ms':>16s} {'fit ms':>10s} {'ratio':>7s}")
    for name, (model, data) in _cases().items():
        hand = lambda model, data, steps, key: _hand_written(model, data, optim, steps, key)
        ours = lambda model, data, steps, key: _with_fit(model, data, optim, steps, key)
        t_hand, t_fit = _median_per_step((hand, ours), model, data, steps=args.steps, repeats=args.repeats)
        print(f"{name:32s} {1e3 * t_hand:16.3f} {1e3 * t_fit:10.3f} {t_fit / t_hand:7.3f}")


if __name__ == "__main__":
    main()
