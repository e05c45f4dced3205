"""Test utilities for users of sciml: gradient checks for custom derivative rules."""

from ._gradcheck import (
    check_grad as check_grad,
    finite_difference_grad as finite_difference_grad,
    GradCheckReport as GradCheckReport,
    GradientCheckError as GradientCheckError,
)
