"""Implicit layers and deep equilibrium models, differentiated by the implicit function theorem."""

from .._results import result_message as result_message, RESULTS as RESULTS
from ._implicit import (
    DEQ as DEQ,
    implicit_solve as implicit_solve,
    ImplicitLayer as ImplicitLayer,
    ImplicitSolution as ImplicitSolution,
)
