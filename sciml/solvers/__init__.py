"""Differential-equation models: neural and universal (hybrid) ODEs on diffrax, implicit layers, PDE solves."""

from . import method_of_lines as method_of_lines, pinn as pinn
from ._fixed_point import DEQ as DEQ
from ._hamiltonian import HamiltonianVectorField as HamiltonianVectorField
from ._implicit import (
    implicit_solve as implicit_solve,
    ImplicitLayer as ImplicitLayer,
    ImplicitSolution as ImplicitSolution,
)
from ._linear_pde import (
    diffusion_matrix as diffusion_matrix,
    DiffusionOperator as DiffusionOperator,
    solve_diffusion as solve_diffusion,
)
from ._ode import ODEModel as ODEModel, ODESolveError as ODESolveError
from ._ode_curriculum import fit_curriculum as fit_curriculum
from ._ode_data import clip_horizon as clip_horizon, trajectory_data as trajectory_data
from ._ode_losses import MultipleShootingLoss as MultipleShootingLoss, TrajectoryLoss as TrajectoryLoss
from ._solution import ODESolution as ODESolution, RESULTS as RESULTS, result_message as result_message
from ._vector_field import (
    AbstractVectorField as AbstractVectorField,
    HybridVectorField as HybridVectorField,
    NeuralVectorField as NeuralVectorField,
)
from ._vector_field_physics import (
    PhysicsVectorField as PhysicsVectorField,
    Positive as Positive,
    resolve_parameters as resolve_parameters,
)
