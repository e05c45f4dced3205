"""sciml: physics-informed scientific machine learning on JAX and Equinox."""

from . import data as data, nn as nn, parallel as parallel, solvers as solvers, surrogate as surrogate, testing as testing, train as train, uq as uq


__version__ = "0.1.0"
