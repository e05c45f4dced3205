"""sciml: physics-informed scientific machine learning on JAX and Equinox."""

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


__version__ = "0.1.0"
