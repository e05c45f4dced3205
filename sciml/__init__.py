"""sciml: physics-informed scientific machine learning on JAX and Equinox."""

import importlib.metadata

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


try:
    __version__ = importlib.metadata.version("sciml")
except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"
