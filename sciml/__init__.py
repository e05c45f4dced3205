"""sciml: physics-informed scientific machine learning on JAX and Equinox."""

from . import nn as nn, parallel as parallel, train as train


__version__ = "0.1.0"
