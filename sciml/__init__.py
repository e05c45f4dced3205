"""sciml: physics-informed scientific machine learning on JAX and Equinox."""

import importlib
import importlib.metadata
import typing


if typing.TYPE_CHECKING:
    from . import (
        data as data,
        implicit as implicit,
        nn as nn,
        ode as ode,
        parallel as parallel,
        pde as pde,
        pinn as pinn,
        surrogate as surrogate,
        testing as testing,
        train as train,
        uq as uq,
    )

# The subpackages are imported on first use (PEP 562): `import sciml` stays cheap, so the
# `sciml` console script answers `--help` and `list` without importing JAX (about 2 s).
_SUBPACKAGES = frozenset(
    {"data", "implicit", "nn", "ode", "parallel", "pde", "pinn", "surrogate", "testing", "train", "uq"}
)


def __getattr__(name: str) -> typing.Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'sciml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBPACKAGES})


try:
    __version__ = importlib.metadata.version("sciml")
except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"
