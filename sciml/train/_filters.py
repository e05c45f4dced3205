"""Choosing which parameters train: filter specs built from paths or selectors."""

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.tree_util as jtu
import numpy as np
from jaxtyping import PyTree

from ..nn import AbstractBuffer


Selector = str | Callable[[Any], Any]


def _is_param(leaf: Any) -> bool:
    return eqx.is_inexact_array(leaf)


def _fixed_types() -> tuple[type, ...]:
    return (eqx.nn.StateIndex, AbstractBuffer)


def _state_index_mask(model: PyTree) -> PyTree:
    # Initial BatchNorm statistics, Fourier-feature frequencies and normalisation
    # statistics are arrays but not parameters: an optimizer must never see them
    # (decoupled weight decay would shrink them even with a zero gradient).
    fixed = _fixed_types()

    def mark(node):
        if isinstance(node, fixed):
            return jtu.tree_map(lambda _: False, node)
        return True

    return jtu.tree_map(mark, model, is_leaf=lambda n: isinstance(n, fixed))


def _paths(model: PyTree) -> list[str]:
    leaves = jtu.tree_leaves_with_path(model)
    return [jtu.keystr(path) for path, _ in leaves]


def _select_by_path(model: PyTree, prefix: str) -> PyTree:
    """A boolean pytree: True at leaves whose path starts with `prefix`."""
    norm = prefix if prefix.startswith((".", "[")) else "." + prefix
    paths = _paths(model)
    hits = [p == norm or p.startswith(norm + ".") or p.startswith(norm + "[") for p in paths]
    if not any(hits):
        tops = sorted({p.split(".")[1].split("[")[0] for p in paths if p.startswith(".")})
        raise ValueError(f"no parameter matches the path {prefix!r}; top-level fields are: {', '.join(tops)}")
    treedef = jtu.tree_structure(model)
    return jtu.tree_unflatten(treedef, hits)


def _select(model: PyTree, selector: Selector) -> PyTree:
    if isinstance(selector, str):
        return _select_by_path(model, selector)
    if callable(selector):
        # `lambda m: m.encoder` style: mark every leaf of the chosen sub-tree(s).
        false = jtu.tree_map(lambda _: False, model)
        return eqx.tree_at(selector, false, replace_fn=lambda sub: jtu.tree_map(lambda _: True, sub))
    raise TypeError(f"a selector is a path string or a callable, got {type(selector).__name__}")


def trainable(
    model: PyTree,
    *,
    freeze: Sequence[Selector] | Selector = (),
    only: Sequence[Selector] | Selector | None = None,
) -> PyTree:
    """Build the filter spec of trainable parameters.

    Every floating-point array is trainable by default, except fixed buffers: BatchNorm
    state, Fourier-feature frequencies and `Normaliser` statistics. `only` restricts training to
    the chosen sub-trees, then `freeze` removes sub-trees from what remains. A selector
    is a path string as printed by `jax.tree_util.keystr` without the leading dot
    (`"encoder"`, `"blocks[0].conv"`) or a callable picking sub-trees
    (`lambda m: m.encoder`), as in `eqx.tree_at`.

    **Arguments:**

    - `model`: the model pytree.
    - `freeze`: selectors of the sub-trees to keep fixed.
    - `only`: selectors of the sub-trees to train; default all.

    **Returns:**

    A pytree of booleans with the structure of `model`, for `eqx.partition` and
    `sciml.train.fit(..., filter_spec=...)`.

    **Raises:**

    `ValueError` when a path matches nothing (naming the top-level fields).
    """
    freeze = [freeze] if isinstance(freeze, str) or callable(freeze) else list(freeze)
    is_param = jtu.tree_map(_is_param, model)
    spec = jtu.tree_map(lambda a, b: a and b, is_param, _state_index_mask(model))
    if only is not None:
        only = [only] if isinstance(only, str) or callable(only) else list(only)
        chosen = jtu.tree_map(lambda _: False, model)
        for sel in only:
            chosen = jtu.tree_map(lambda a, b: a or b, chosen, _select(model, sel))
        spec = jtu.tree_map(lambda a, b: a and b, spec, chosen)
    for sel in freeze:
        spec = jtu.tree_map(lambda a, b: a and not b, spec, _select(model, sel))
    return spec


def count_parameters(model: PyTree, filter_spec: PyTree | None = None) -> dict[str, int]:
    """Count trainable and frozen scalar parameters.

    **Arguments:**

    - `model`: the model pytree.
    - `filter_spec`: the boolean spec from [`trainable`][]; default everything trainable.

    **Returns:**

    `{"trainable": n, "frozen": m, "total": n + m}`, counting scalar entries of
    floating-point arrays (BatchNorm state excluded).
    """
    if filter_spec is None:
        filter_spec = trainable(model)
    params = jtu.tree_map(lambda a, b: a and b, jtu.tree_map(_is_param, model), _state_index_mask(model))
    counts = {"trainable": 0, "frozen": 0}
    for leaf, is_p, train in zip(jtu.tree_leaves(model), jtu.tree_leaves(params), jtu.tree_leaves(filter_spec)):
        if is_p:
            counts["trainable" if train else "frozen"] += int(np.prod(jax.numpy.shape(leaf)))
    counts["total"] = counts["trainable"] + counts["frozen"]
    return counts
