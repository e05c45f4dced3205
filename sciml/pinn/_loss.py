"""`PINNLoss`: the physics-informed loss for `sciml.train.fit`, with its points and weights as state."""

from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
from jax.typing import DTypeLike
from jaxtyping import Array, Float, Int, PRNGKeyArray, PyTree

from ..train import trainable
from ._causal import CausalWeighting
from ._conditions import stack_residuals
from ._derivatives import AbstractDerivativeMethod, DEFAULT_METHOD, TrialFunction
from ._model import PINN
from ._problem import PDEProblem, RESIDUAL
from ._resampling import AbstractResampling, FixedPoints
from ._sampling import check_sampler
from ._space_time import SpaceTime
from ._weighting import AbstractWeighting, FixedWeighting


def _stop_gradient(model: PyTree) -> PyTree:
    params, static = eqx.partition(model, eqx.is_array)
    return eqx.combine(jax.lax.stop_gradient(params), static)


def _fresh(state: eqx.nn.State) -> eqx.nn.State:
    # `State.set` invalidates the object it is called on; `fit` still needs the state it
    # passed in (to roll back a non-finite step), so work on a structural copy.
    leaves, treedef = jtu.tree_flatten(state)
    return jtu.tree_unflatten(treedef, leaves)


class PINNLoss(eqx.Module):
    """The loss `sum_i lambda_i mean_points |r_i|^2` of a [`sciml.pinn.PDEProblem`][].

    Term 0 is the PDE residual at collocation points inside the domain; then one term
    per soft condition (hard ones are built into the model). The collocation points,
    the weights `lambda_i` and a step counter are the loss's *state* (an
    `eqx.nn.State`), so that residual-based resampling and adaptive weighting happen
    inside the one compiled training step and are checkpointed with it: resuming a run
    continues with the same points and weights, bit for bit. Build it with its state as
    any Equinox stateful layer, and train with [`sciml.train.fit`][]'s stateful form:

    ```python
    loss, state = eqx.nn.make_with_state(pinn.PINNLoss)(problem, {"residual": 8192}, key=k1)
    result = sciml.train.fit(model, loss, None, optax.adam(1e-3), steps=5000, key=k2, state=state)
    ```

    or run a schedule of optimizers with [`sciml.pinn.train`][].
    """

    problem: PDEProblem
    num_points: tuple[tuple[str, int], ...] = eqx.field(static=True)
    sampler: str = eqx.field(static=True)
    resampling: AbstractResampling
    weighting: AbstractWeighting
    method: AbstractDerivativeMethod
    causal: CausalWeighting | None
    index: eqx.nn.StateIndex

    def __init__(
        self,
        problem: PDEProblem,
        num_points: Mapping[str, int],
        *,
        sampler: str = "sobol",
        resampling: AbstractResampling = FixedPoints(),
        weighting: AbstractWeighting = FixedWeighting(),
        weights: Mapping[str, float | int] | None = None,
        method: AbstractDerivativeMethod = DEFAULT_METHOD,
        causal: CausalWeighting | None = None,
        dtype: DTypeLike | None = None,
        key: PRNGKeyArray,
    ):
        """**Arguments:**

        - `problem`: the [`sciml.pinn.PDEProblem`][].
        - `num_points`: points per term: `"residual"` and every soft condition by name
            (data conditions bring their own points and need none).
        - `sampler`: `"uniform"`, `"lhs"` or `"sobol"` (default: low discrepancy).
        - `resampling`: [`sciml.pinn.FixedPoints`][] (default),
            [`sciml.pinn.Resample`][] or [`sciml.pinn.RAD`][].
        - `weighting`: [`sciml.pinn.FixedWeighting`][] (default) or
            [`sciml.pinn.GradNormWeighting`][].
        - `weights`: initial weights by term name (default 1 each).
        - `method`: the derivative strategy the residual's helpers use.
        - `causal`: a [`sciml.pinn.CausalWeighting`][] of the PDE residual in
            time (space-time domains only), or None (default) for the plain mean.
        - `dtype`: the points' floating-point type (match the model's); default JAX's
            default float.
        - `key`: draws the initial points.

        **Raises:**

        `ValueError` naming a missing, unknown or non-positive point count, an unknown
        sampler or weight name, a negative weight, or causal weighting off a space-time
        domain.
        """
        if not isinstance(problem, PDEProblem):
            raise TypeError(f"PINNLoss: problem must be a PDEProblem, got {type(problem).__name__}")
        check_sampler(sampler, "PINNLoss")
        names = problem.terms
        data = {c.name for c in problem.soft_conditions if not c.resampled}
        needed = [n for n in names if n not in data]
        if not isinstance(num_points, Mapping):
            raise TypeError(f"PINNLoss: num_points must be a mapping term -> count, got {type(num_points).__name__}")
        unknown = sorted(set(num_points) - set(needed))
        missing = [n for n in needed if n not in num_points]
        if unknown or missing:
            raise ValueError(
                f"PINNLoss: num_points needs a count for each of {needed} (data terms bring their own points); "
                f"missing {missing}, unknown {unknown}"
            )
        for name in needed:
            n = num_points[name]
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"PINNLoss: num_points[{name!r}] must be a positive int, got {n!r}")
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ValueError(f"PINNLoss: weights given for unknown term(s) {unknown}; the terms are {list(names)}")
        if any(not w >= 0 for w in weights.values()):
            raise ValueError(f"PINNLoss: weights must be >= 0, got {weights}")
        if not isinstance(resampling, AbstractResampling):
            raise TypeError(
                f"PINNLoss: resampling must be FixedPoints, Resample or RAD, got {type(resampling).__name__}"
            )
        if not isinstance(weighting, AbstractWeighting):
            raise TypeError(
                f"PINNLoss: weighting must be FixedWeighting or GradNormWeighting, got {type(weighting).__name__}"
            )
        if not isinstance(method, AbstractDerivativeMethod):
            raise TypeError(f"PINNLoss: method must be a derivative method, got {type(method).__name__}")
        if causal is not None:
            if not isinstance(causal, CausalWeighting):
                raise TypeError(f"PINNLoss: causal must be a CausalWeighting or None, got {type(causal).__name__}")
            if not isinstance(problem.domain, SpaceTime):
                raise ValueError(
                    "PINNLoss: causal weighting needs a SpaceTime domain (points (t, x)), "
                    f"got {type(problem.domain).__name__}"
                )
        dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
        self.problem = problem
        self.causal = causal
        self.num_points = tuple((n, int(num_points[n])) for n in needed)
        self.sampler = sampler
        self.resampling = resampling
        self.weighting = weighting
        self.method = method
        init = {
            "step": jnp.array(0, jnp.int32),
            "points": self._draw_all(key, dtype),
            "weights": jnp.asarray([float(weights.get(n, 1.0)) for n in names], dtype),
        }
        self.index = eqx.nn.StateIndex(init)

    # ----------------------------------------------------------------- points
    def _counts(self) -> dict[str, int]:
        return dict(self.num_points)

    def _draw_all(self, key: PRNGKeyArray, dtype) -> dict[str, dict[str, Array]]:
        counts = self._counts()
        domain = self.problem.domain
        keys = jr.split(key, 1 + len(self.problem.soft_conditions))
        points = {RESIDUAL: {"x": domain.sample_interior(keys[0], counts[RESIDUAL], self.sampler, dtype)}}
        for k, c in zip(keys[1:], self.problem.soft_conditions):
            points[c.name] = c.sample(domain, k, counts.get(c.name, 0), self.sampler, dtype)
        return points

    def _resample(self, model: PINN, points: dict, key: PRNGKeyArray) -> dict:
        counts = self._counts()
        domain = self.problem.domain
        dtype = points[RESIDUAL]["x"].dtype
        keys = jr.split(key, 1 + len(self.problem.soft_conditions))

        def residual_norm(x):
            r = self._residuals_at(model, x)
            return jnp.sqrt(jnp.sum(r**2, axis=1))

        new = dict(points)
        new[RESIDUAL] = {
            "x": self.resampling.draw(keys[0], domain, counts[RESIDUAL], self.sampler, residual_norm, dtype)
        }
        for k, c in zip(keys[1:], self.problem.soft_conditions):
            if c.resampled:
                new[c.name] = c.sample(domain, k, counts[c.name], self.sampler, dtype)
        return new

    # ---------------------------------------------------------------- residuals
    def _check_model(self, model: PINN, dtype) -> None:
        if not isinstance(model, PINN):
            raise TypeError(f"PINNLoss: the model must be a sciml.pinn.PINN, got {type(model).__name__}")
        domain = self.problem.domain
        try:
            jax.eval_shape(model, jax.ShapeDtypeStruct((domain.dim,), dtype))
        except ValueError as e:
            raise ValueError(
                f"PINNLoss: the model cannot be evaluated at a point of the {type(domain).__name__}, "
                f"which has shape ({domain.dim},): {e}"
            ) from None

    def _trial(self, model: PINN) -> TrialFunction:
        return TrialFunction(model, self.method)

    def _residuals_at(self, model: PINN, x: Float[Array, " n d"]) -> Float[Array, " n k"]:
        u = self._trial(model)
        args = model.merge_args(self.problem.args)
        return jax.vmap(lambda p: jnp.reshape(self.problem.residual(u, p, args), (-1,)))(x)

    def _term_residuals(self, model: PINN, points: dict, i: int) -> Float[Array, " n k"]:
        if i == 0:
            return self._residuals_at(model, points[RESIDUAL]["x"])
        c = self.problem.soft_conditions[i - 1]
        return stack_residuals(c, self._trial(model), points[c.name], self.method)

    def _all_residuals(self, model: PINN, points: dict) -> list[Array]:
        return [self._term_residuals(model, points, i) for i in range(len(self.problem.terms))]

    def _scaled_time(self, points: dict) -> Float[Array, " n"]:
        return jax.vmap(self.problem.domain.time_distance)(points[RESIDUAL]["x"])

    def _terms(self, model: PINN, points: dict) -> Float[Array, " terms"]:
        out = []
        for i, r in enumerate(self._all_residuals(model, points)):
            squared = jnp.sum(r**2, axis=1)
            if i == 0 and self.causal is not None:
                out.append(self.causal(squared, self._scaled_time(points)))
            else:
                out.append(jnp.mean(squared))
        return jnp.stack(out)

    def _reweight(self, model: PINN, points: dict, weights: Array) -> Array:
        diff, static = eqx.partition(model, trainable(model))
        grads = []
        for i in range(len(self.problem.terms)):
            # One backward pass per term: the unweighted gradient of term i alone.
            def term(d, i=i):
                r = self._term_residuals(eqx.combine(d, static), points, i)
                return jnp.mean(jnp.sum(r**2, axis=1))

            grads.append(jax.grad(term)(diff))
        return self.weighting.update(weights, grads).astype(weights.dtype)

    # -------------------------------------------------------------- interface
    def __call__(
        self, model: PINN, state: eqx.nn.State, batch: None, key: PRNGKeyArray
    ) -> tuple[Float[Array, ""], eqx.nn.State]:
        """The weighted loss, after resampling / reweighting when due.

        **Arguments:**

        - `model`: the [`sciml.pinn.PINN`][].
        - `state`: the loss state (points, weights, step).
        - `batch`: must be None: the loss makes its own batches (`fit(..., data=None)`).
        - `key`: the step's key (used when resampling).

        **Returns:**

        `(loss, new_state)`.

        **Raises:**

        `ValueError` (at trace time) when data are passed or the model does not fit the domain.
        """
        if batch is not None:
            raise ValueError("PINNLoss makes its own collocation batches: call fit with data=None")
        state = _fresh(state)
        current = state.get(self.index)
        step, points, weights = current["step"], current["points"], current["weights"]
        self._check_model(model, points[RESIDUAL]["x"].dtype)
        fixed = _stop_gradient(model)
        every = self.resampling.every
        if every is not None:
            points = jax.lax.cond(
                (step > 0) & (step % every == 0),
                lambda: self._resample(fixed, points, key),
                lambda: points,
            )
        every = self.weighting.every
        if every is not None:
            weights = jax.lax.cond(step % every == 0, lambda: self._reweight(fixed, points, weights), lambda: weights)
        value = jnp.sum(weights * self._terms(model, points))
        state = state.set(self.index, {"step": step + 1, "points": points, "weights": weights})
        return value, state

    def residuals(self, model: PINN, state: eqx.nn.State) -> Float[Array, " m"]:
        """All residuals as one vector `v` with `|v|^2` equal to the loss.

        Entry `j` of term `i` is `sqrt(lambda_i / n_i) r_ij`: the least-squares form that
        Gauss-Newton and Levenberg-Marquardt solvers take.

        **Arguments:**

        - `model`: the [`sciml.pinn.PINN`][].
        - `state`: the loss state.

        **Returns:**

        The residual vector.
        """
        current = _fresh(state).get(self.index)
        points, weights = current["points"], current["weights"]
        self._check_model(model, points[RESIDUAL]["x"].dtype)
        parts = []
        for i, r in enumerate(self._all_residuals(model, points)):
            if i == 0 and self.causal is not None:
                factors = self.causal.point_factors(jnp.sum(r**2, axis=1), self._scaled_time(points))
                parts.append(jnp.ravel(r * jnp.sqrt(weights[i] * factors)[:, None]))
            else:
                parts.append(jnp.ravel(r) * jnp.sqrt(weights[i] / r.shape[0]))
        return jnp.concatenate(parts)

    def terms(self, model: PINN, state: eqx.nn.State) -> dict[str, Float[Array, ""]]:
        """The unweighted loss terms (mean squared residual of each) by name.

        **Arguments:**

        - `model`: the [`sciml.pinn.PINN`][].
        - `state`: the loss state.

        **Returns:**

        `{term name: value}`.
        """
        current = _fresh(state).get(self.index)
        values = self._terms(model, current["points"])
        return dict(zip(self.problem.terms, values))

    def weights(self, state: eqx.nn.State) -> dict[str, Float[Array, ""]]:
        """The current weights by term name.

        **Arguments:**

        - `state`: the loss state.

        **Returns:**

        `{term name: weight}`.
        """
        return dict(zip(self.problem.terms, _fresh(state).get(self.index)["weights"]))

    def points(self, state: eqx.nn.State) -> dict[str, dict[str, Array]]:
        """The current point sets by term name (each a dict with at least `"x"`).

        **Arguments:**

        - `state`: the loss state.

        **Returns:**

        `{term name: {"x": points, ...}}`.
        """
        return _fresh(state).get(self.index)["points"]

    def step(self, state: eqx.nn.State) -> Int[Array, ""]:
        """How many times the loss has been evaluated in training (its update clock).

        **Arguments:**

        - `state`: the loss state.

        **Returns:**

        The step counter.
        """
        return _fresh(state).get(self.index)["step"]

    def resample(self, model: PINN, state: eqx.nn.State, key: PRNGKeyArray) -> eqx.nn.State:
        """Redraws the points now, with the loss's resampling strategy and the given model.

        What the loss does by itself every `resampling.every` steps, callable between
        training stages (e.g. fresh residual-based points before a least-squares stage).

        **Arguments:**

        - `model`: the current model (RAD draws where its residual is large).
        - `state`: the loss state.
        - `key`: the PRNG key of the draw.

        **Returns:**

        The state with new points (weights and step unchanged).

        **Raises:**

        `ValueError` when the loss's resampling is [`sciml.pinn.FixedPoints`][].
        """
        if self.resampling.every is None:
            raise ValueError(
                "PINNLoss.resample: the loss has FixedPoints; build it with resampling=Resample(...) or RAD(...)"
            )
        state = _fresh(state)
        current = state.get(self.index)
        points = _resample_jit(self, _stop_gradient(model), current["points"], key)
        return state.set(self.index, {**current, "points": points})

    def freeze(self) -> "PINNLoss":
        """The same loss with fixed points and weights, for L-BFGS and least-squares stages.

        **Returns:**

        A copy with [`sciml.pinn.FixedPoints`][] and
        [`sciml.pinn.FixedWeighting`][], and without causal weighting (its
        weights follow the parameters, and a line search or trust region needs one
        fixed objective; by the end of a causal first-order stage they are near one);
        it uses the same state.
        """
        is_strategy = lambda x: isinstance(x, (AbstractResampling, AbstractWeighting, CausalWeighting))  # noqa: E731
        frozen = eqx.tree_at(
            lambda loss: (loss.resampling, loss.weighting),
            self,
            (FixedPoints(), FixedWeighting()),
            is_leaf=is_strategy,
        )
        if self.causal is None:
            return frozen
        return eqx.tree_at(lambda loss: loss.causal, frozen, None, is_leaf=is_strategy)


@eqx.filter_jit
def _resample_jit(loss: PINNLoss, model: PINN, points: dict, key: PRNGKeyArray) -> dict:
    return loss._resample(model, points, key)


def make_loss(
    problem: PDEProblem, num_points: Mapping[str, int], *, key: PRNGKeyArray, **kwargs: Any
) -> tuple[PINNLoss, eqx.nn.State]:
    """`eqx.nn.make_with_state(PINNLoss)(problem, num_points, key=key, **kwargs)`.

    **Arguments:**

    - `problem`, `num_points`, `key`, `**kwargs`: as [`sciml.pinn.PINNLoss`][].

    **Returns:**

    `(loss, state)`.
    """
    return eqx.nn.make_with_state(PINNLoss)(problem, num_points, key=key, **kwargs)
