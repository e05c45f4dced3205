"""Physics-informed neural networks: problems, domains, conditions, losses and training schedules."""

from .._results import RESULTS as RESULTS
from ._box import Box as Box, Interval as Interval
from ._causal import CausalWeighting as CausalWeighting
from ._conditions import (
    AbstractCondition as AbstractCondition,
    Constant as Constant,
    Dirichlet as Dirichlet,
    Initial as Initial,
    Neumann as Neumann,
    Observations as Observations,
    Periodic as Periodic,
)
from ._constraints import HardConstraint as HardConstraint
from ._csg import Difference as Difference, Intersection as Intersection, Union as Union
from ._derivatives import (
    AbstractDerivativeMethod as AbstractDerivativeMethod,
    Forward as Forward,
    ForwardOverReverse as ForwardOverReverse,
    Reverse as Reverse,
    Taylor as Taylor,
    TrialFunction as TrialFunction,
)
from ._disk import Disk as Disk
from ._domain import AbstractDomain as AbstractDomain, AbstractShape as AbstractShape
from ._least_squares import (
    AbstractLeastSquaresStage as AbstractLeastSquaresStage,
    GaussNewton as GaussNewton,
    LevenbergMarquardt as LevenbergMarquardt,
    subset_points as subset_points,
)
from ._loss import make_loss as make_loss, PINNLoss as PINNLoss
from ._mesh import MeshBoundaryPart as MeshBoundaryPart, MeshDomain as MeshDomain
from ._model import PINN as PINN
from ._operators import (
    derivative as derivative,
    derivatives as derivatives,
    grad as grad,
    hessian as hessian,
    laplacian as laplacian,
)
from ._optax_stages import (
    AbstractOptaxStage as AbstractOptaxStage,
    Adam as Adam,
    LBFGS as LBFGS,
    OptaxStage as OptaxStage,
)
from ._polygon import Polygon as Polygon
from ._problem import PDEProblem as PDEProblem
from ._resampling import (
    AbstractResampling as AbstractResampling,
    FixedPoints as FixedPoints,
    RAD as RAD,
    Resample as Resample,
)
from ._sampling import unit_cube as unit_cube
from ._shapes import Ball as Ball, Cylinder as Cylinder, polygon_with_holes as polygon_with_holes
from ._space_time import SpaceTime as SpaceTime
from ._stage import AbstractStage as AbstractStage, StageOutput as StageOutput
from ._stage_config import stage_from_config as stage_from_config
from ._train import PINNSolution as PINNSolution, StageRecord as StageRecord, train as train
from ._weighting import (
    AbstractWeighting as AbstractWeighting,
    FixedWeighting as FixedWeighting,
    GradNormWeighting as GradNormWeighting,
)
