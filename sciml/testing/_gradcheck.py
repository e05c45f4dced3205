"""Gradient checks: automatic derivatives against central finite differences in float64."""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import PRNGKeyArray, PyTree


class GradientCheckError(AssertionError):
    """An automatic derivative disagrees with finite differences beyond the tolerance."""


@dataclasses.dataclass(frozen=True)
class GradCheckReport:
    """What [`check_grad`][] returns (and what its error message prints).

    **Attributes:**

    - `passed`: whether every checked entry is within `atol + rtol * |fd|`.
    - `max_abs_error`: the largest `|ad - fd|` over entries and modes.
    - `max_rel_error`: the largest `|ad - fd| / max(|ad|, |fd|)` (0 where both are 0).
    - `worst_entry`: the entry that violates the tolerance most (or comes closest), e.g.
        `"args[0].layers[1].weight[2, 0]"`, or `"direction 3"` for directional checks.
    - `worst_mode`: `"rev"` or `"fwd"`, the mode of `worst_entry`.
    - `worst_autodiff`, `worst_finite_difference`: the two values at `worst_entry`.
    - `num_checked`: the number of entries (or directions) checked per mode.
    - `value`: the function's value at the arguments.
    """

    passed: bool
    max_abs_error: float
    max_rel_error: float
    worst_entry: str
    worst_mode: str
    worst_autodiff: float
    worst_finite_difference: float
    num_checked: int
    value: float

    def __str__(self) -> str:
        status = "passed" if self.passed else "FAILED"
        return (
            f"gradient check {status} over {self.num_checked} entries: max abs error "
            f"{self.max_abs_error:.3e}, max rel error {self.max_rel_error:.3e}; worst entry "
            f"{self.worst_entry} ({self.worst_mode} mode): autodiff {self.worst_autodiff!r} vs "
            f"finite difference {self.worst_finite_difference!r} (f = {self.value!r})"
        )


def _check_x64() -> None:
    if jnp.zeros((), float).dtype != jnp.float64:
        raise ValueError(
            "finite-difference gradient checks need float64: call "
            "jax.config.update('jax_enable_x64', True) before creating the arguments"
        )


def _selected(args: tuple, argnums: int | Sequence[int] | None) -> tuple[bool, ...]:
    if argnums is None:
        return (True,) * len(args)
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not -len(args) <= n < len(args):
            raise ValueError(f"argnums {argnums!r} is out of range for {len(args)} argument(s)")
    nums = {n % len(args) for n in nums}
    return tuple(i in nums for i in range(len(args)))


class _Flat(eqx.Module):
    # `fn` as a function of one float64 vector, holding everything else fixed.
    fn: Callable
    unravel: Callable
    static: PyTree

    def __call__(self, v):
        out = self.fn(*eqx.combine(self.unravel(v), self.static))
        out = jnp.asarray(out)
        if out.shape != () or not jnp.issubdtype(out.dtype, jnp.floating):
            raise ValueError(
                f"gradient checks need fn to return a real scalar, got dtype {out.dtype} and shape {out.shape}"
            )
        return out


@eqx.filter_jit
def _value(f: _Flat, v):
    return f(v)


@eqx.filter_jit
def _reverse_grad(f: _Flat, v):
    return jax.grad(f)(v)


@eqx.filter_jit
def _forward_grad(f: _Flat, v):
    return jax.jacfwd(f)(v)


def _flatten(fn: Callable, args: tuple, argnums: int | Sequence[int] | None):
    _check_x64()
    if not args:
        raise ValueError("gradient checks need at least one argument to differentiate")
    selected = _selected(args, argnums)
    spec = tuple(
        jtu.tree_map(eqx.is_inexact_array, a) if s else jtu.tree_map(lambda _: False, a) for a, s in zip(args, selected)
    )
    diff, static = eqx.partition(args, spec)
    names = []
    for path, leaf in jtu.tree_flatten_with_path(diff)[0]:
        name = "args" + jtu.keystr(path)
        if leaf.dtype != jnp.float64:
            raise ValueError(f"gradient checks need float64 arrays, got {leaf.dtype} at {name}")
        names.append((name, leaf.shape))
    if not names:
        raise ValueError("gradient checks found no floating-point array to differentiate in the arguments")
    flat, unravel = ravel_pytree(diff)
    return _Flat(fn, unravel, static), flat, names, unravel


def _entry_name(names: list[tuple[str, tuple[int, ...]]], index: int) -> str:
    for name, shape in names:
        size = int(np.prod(shape, dtype=int))
        if index < size:
            return name if shape == () else f"{name}[{', '.join(map(str, np.unravel_index(index, shape)))}]"
        index -= size
    raise AssertionError("unreachable: flat index past the last leaf")


def _central_differences(f: _Flat, flat: np.ndarray, directions: np.ndarray | None, steps: np.ndarray) -> np.ndarray:
    # (f(x + t d) - f(x - t d)) / 2t = <grad f, d> + O(t^2): one compiled function,
    # evaluated twice per direction. `directions=None` means the unit vectors, made one
    # at a time rather than as an N x N identity.
    out = np.empty(len(steps))
    for i, t in enumerate(steps):
        if directions is None:
            d = np.zeros_like(flat)
            d[i] = 1.0
        else:
            d = directions[i]
        forward = float(_value(f, jnp.asarray(flat + t * d)))
        backward = float(_value(f, jnp.asarray(flat - t * d)))
        out[i] = (forward - backward) / (2 * t)
    return out


def _entry_steps(flat: np.ndarray, eps: float) -> np.ndarray:
    # The step scales with the entry's magnitude so that large entries are not perturbed
    # below their rounding level (Nocedal & Wright 2006, Numerical Optimization, sec. 8.1).
    return eps * np.maximum(1.0, np.abs(flat))


def finite_difference_grad(
    fn: Callable[..., Any],
    *args: Any,
    eps: float = 1e-6,
    argnums: int | Sequence[int] = 0,
) -> PyTree:
    """The central finite-difference gradient of a scalar function of pytree arguments.

    Each floating-point array entry `x_i` of the selected arguments is perturbed by
    `h_i = eps * max(1, |x_i|)` and `(f(x + h_i e_i) - f(x - h_i e_i)) / (2 h_i)` is taken,
    an `O(h^2)` approximation (Nocedal & Wright 2006, *Numerical Optimization*, sec.
    8.1). `fn` is compiled once with `eqx.filter_jit` and evaluated `2 N` times for `N`
    entries.

    **Arguments:**

    - `fn`: `fn(*args) -> scalar`.
    - `args`: its arguments, any pytrees (e.g. `eqx.Module`s); their float64 arrays are
        differentiated, everything else is held fixed.
    - `eps`: the relative step.
    - `argnums`: as in `jax.grad`: which argument(s) to differentiate.

    **Returns:**

    As `eqx.filter_grad`: for an int `argnums` a pytree like that argument with the
    gradient on its floating-point arrays and `None` elsewhere; for a sequence, a tuple
    of them.

    **Raises:**

    A `ValueError` when x64 is off, a differentiated array is not float64, there is
    nothing to differentiate, or `fn` does not return a real scalar.
    """
    flat_fn, flat, _, unravel = _flatten(fn, args, argnums)
    flat = np.asarray(flat)
    grad = _central_differences(flat_fn, flat, None, _entry_steps(flat, eps))
    tree = unravel(jnp.asarray(grad))
    if isinstance(argnums, int):
        return tree[argnums]
    return tuple(tree[n] for n in argnums)


def check_grad(
    fn: Callable[..., Any],
    *args: Any,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    argnums: int | Sequence[int] | None = None,
    modes: Sequence[Literal["rev", "fwd"]] = ("rev",),
    directions: int | None = None,
    key: PRNGKeyArray | None = None,
    throw: bool = True,
) -> GradCheckReport:
    """Check `jax.grad` (and optionally forward mode) of a scalar function against finite differences.

    Use this in the tests of every custom derivative rule (`jax.custom_vjp`,
    `jax.custom_jvp`, implicit and adjoint gradients). The derivatives of `fn` with
    respect to every float64 array in the selected arguments are computed by reverse
    mode (`"rev"`, `jax.grad`) and/or forward mode (`"fwd"`, `jax.jacfwd`) and compared
    entry by entry with central finite differences (see
    [`finite_difference_grad`][]). An entry passes when `|ad - fd| <= atol + rtol * |fd|`.
    For large pytrees, `directions=m` instead compares `m` random directional
    derivatives `<grad f, v>` with `(f(x + h v) - f(x - h v)) / 2`, `v` scaled per
    entry, for `2 m` evaluations.

    **Arguments:**

    - `fn`: `fn(*args) -> scalar`.
    - `args`: its arguments, any pytrees; their float64 arrays are differentiated.
    - `eps`: the relative finite-difference step.
    - `rtol`, `atol`: the tolerance. The finite-difference error is about
        `eps^2 |f'''| + 1e-16 |f| / eps`, so with the default `eps` keep `atol`
        above about `1e-10 * |f|`.
    - `argnums`: which arguments to differentiate (default all).
    - `modes`: `"rev"`, `"fwd"` or both. Functions with a `jax.custom_vjp` support
        `"rev"` only.
    - `directions`: check this many random directions instead of every entry.
    - `key`: the PRNG key for `directions` (default `jax.random.key(0)`).
    - `throw`: raise [`GradientCheckError`][] on failure (default); otherwise return
        the failed report.

    **Returns:**

    A [`GradCheckReport`][] (printable).

    **Raises:**

    - [`GradientCheckError`][] (an `AssertionError`) when the check fails and
        `throw=True`; its message is the report.
    - `ValueError` when x64 is off, an argument array is not float64, there is nothing
        to differentiate, `fn` is not scalar-valued, or `modes`/`directions` are invalid.
    """
    modes = tuple(modes)
    if not modes or any(m not in ("rev", "fwd") for m in modes):
        raise ValueError(f"modes must be a non-empty sequence of 'rev' and 'fwd', got {modes!r}")
    if directions is not None and (isinstance(directions, bool) or directions < 1):
        raise ValueError(f"directions must be a positive int or None, got {directions!r}")
    flat_fn, flat, names, _ = _flatten(fn, args, argnums)
    flat_np = np.asarray(flat)
    value = float(_value(flat_fn, flat))

    if directions is None:
        basis = None
        steps = _entry_steps(flat_np, eps)
        labels = [_entry_name(names, i) for i in range(flat.size)]
    else:
        key = jr.key(0) if key is None else key
        # Random directions scaled per entry like the entry-wise steps, so that large
        # entries are perturbed in proportion.
        basis = np.asarray(jr.normal(key, (directions, flat.size), jnp.float64))
        basis = basis * np.maximum(1.0, np.abs(flat_np)) / np.sqrt(flat.size)
        steps = np.full(directions, eps)
        labels = [f"direction {i}" for i in range(directions)]
    fd = _central_differences(flat_fn, flat_np, basis, steps)

    worst = None
    max_abs = max_rel = 0.0
    for mode in modes:
        if mode == "rev":
            grad = np.asarray(_reverse_grad(flat_fn, flat))
        else:
            grad = np.asarray(_forward_grad(flat_fn, flat))
        ad = grad if basis is None else basis @ grad
        err = np.abs(ad - fd)
        denom = np.maximum(np.abs(ad), np.abs(fd))
        rel = np.divide(err, denom, out=np.zeros_like(err), where=denom > 0)
        ratio = err / (atol + rtol * np.abs(fd))
        i = int(np.argmax(ratio))
        max_abs, max_rel = max(max_abs, float(err.max())), max(max_rel, float(rel.max()))
        if worst is None or ratio[i] > worst[0]:
            worst = (float(ratio[i]), labels[i], mode, float(ad[i]), float(fd[i]))
    report = GradCheckReport(
        passed=worst[0] <= 1.0,
        max_abs_error=max_abs,
        max_rel_error=max_rel,
        worst_entry=worst[1],
        worst_mode=worst[2],
        worst_autodiff=worst[3],
        worst_finite_difference=worst[4],
        num_checked=len(labels),
        value=value,
    )
    if throw and not report.passed:
        raise GradientCheckError(str(report))
    return report
