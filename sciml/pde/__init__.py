"""Classical PDE building blocks: differentiable linear elliptic solves and the method of lines."""

from ._diffusion import DiffusionOperator as DiffusionOperator, solve_diffusion as solve_diffusion
from ._diffusion_matrix import diffusion_matrix as diffusion_matrix
from ._method_of_lines import (
    fd_derivative as fd_derivative,
    MethodOfLines as MethodOfLines,
    PeriodicGrid as PeriodicGrid,
    spectral_derivative as spectral_derivative,
    spectral_downsample as spectral_downsample,
)
