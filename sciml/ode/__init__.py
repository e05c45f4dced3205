"""Neural and universal (hybrid) ODEs on diffrax: models, vector fields, trajectory losses and data, curricula."""

from .._results import result_message as result_message, RESULTS as RESULTS
from ._curriculum import fit_curriculum as fit_curriculum
from ._data import clip_horizon as clip_horizon, trajectory_data as trajectory_data
from ._hamiltonian import HamiltonianVectorField as HamiltonianVectorField
from ._losses import MultipleShootingLoss as MultipleShootingLoss, TrajectoryLoss as TrajectoryLoss
from ._model import ODEModel as ODEModel, ODESolveError as ODESolveError
from ._physics import PhysicsVectorField as PhysicsVectorField
from ._solution import ODESolution as ODESolution
from ._vector_field import (
    AbstractVectorField as AbstractVectorField,
    HybridVectorField as HybridVectorField,
    NeuralVectorField as NeuralVectorField,
)
