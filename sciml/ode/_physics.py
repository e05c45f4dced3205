"""Known physics with learnable parameters (positive ones through `sciml.nn.Positive`)."""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import jax.tree_util as jtu
from jaxtyping import Array, ArrayLike, Float, PyTree

from ..nn import Positive, resolve_parameters
from ._vector_field import AbstractVectorField


def _float_array(value: ArrayLike) -> Float[Array, " *shape"]:
    # An explicit dtype makes the array strongly typed: a weakly typed leaf would come
    # back strongly typed from the first optimizer update and compile the step twice.
    return jnp.asarray(value, dtype=jnp.result_type(float))


class PhysicsVectorField(AbstractVectorField):
    """Known equations `fn(t, y, params)` whose parameters are part of the model.

    Array and [`sciml.nn.Positive`][] entries of `params` are trainable; plain
    Python numbers are constants (`sciml.train.fit` trains floating-point arrays only),
    so a known coefficient is written as a float and a learnable one as an array.
    `fn` receives the parameters with every `Positive` resolved to its value.

    Example (the known part of the Lotka-Volterra UDE, with `a` learnable and `d` known):

    ```python
    def growth_and_decay(t, y, p):
        return jnp.stack([p["a"] * y[0], -p["d"] * y[1]])

    known = PhysicsVectorField(growth_and_decay, {"a": Positive(1.0), "d": 1.8})
    ```

    The solve's `args` are not forwarded to `fn`; write an `eqx.Module` with
    `__call__(t, y, args)` for physics that depends on them.
    """

    fn: Callable[[Any, Any, Any], Any]
    # Flattened, so that the model's static part (functions, numbers, the structure) is
    # hashable: `sciml.train.fit` then reuses a compiled step across runs of the same model.
    leaves: tuple[Any, ...]
    treedef: jtu.PyTreeDef = eqx.field(static=True)

    def __init__(self, fn: Callable[[Any, Any, Any], Any], params: PyTree):
        """**Arguments:**

        - `fn`: the equations `fn(t, y, params) -> dy/dt`. Pass a module-level function,
            not a fresh lambda per model, so that equal models compare equal and a
            compiled step is reused.
        - `params`: a pytree (usually a dict) of arrays, numbers and `Positive`s.

        **Raises:**

        `TypeError` when `fn` is not callable.
        """
        if not callable(fn):
            raise TypeError(f"PhysicsVectorField: fn must be callable, got {type(fn).__name__}")
        self.fn = fn
        leaves, self.treedef = jtu.tree_flatten(params, is_leaf=lambda p: isinstance(p, Positive))
        self.leaves = tuple(_float_array(p) if eqx.is_array(p) else p for p in leaves)

    @property
    def params(self) -> PyTree:
        """The parameters as given (arrays, numbers and `Positive`s)."""
        return jtu.tree_unflatten(self.treedef, self.leaves)

    @property
    def parameters(self) -> PyTree:
        """The parameters with positive ones resolved to their values."""
        return resolve_parameters(self.params)

    def __call__(self, t: Float[Array, ""], y: Float[Array, " *state"], args: PyTree) -> Float[Array, " *state"]:
        del args
        return self.fn(t, y, self.parameters)
