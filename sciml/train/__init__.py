"""One filtered training loop, its option objects, optimizers, parameter filters, metrics and serialisation."""

from ._checkpoint import (
    CheckpointError as CheckpointError,
    read_checkpoint as read_checkpoint,
    write_checkpoint as write_checkpoint,
)
from ._data import batch_indices as batch_indices, check_data as check_data, take as take
from ._filters import count_parameters as count_parameters, trainable as trainable
from ._fit import fit as fit
from ._metrics import accuracy as accuracy, evaluate as evaluate, mse as mse, relative_l2 as relative_l2
from ._optim import make_optimizer as make_optimizer, make_schedule as make_schedule
from ._options import (
    Checkpointing as Checkpointing,
    Execution as Execution,
    Logging as Logging,
    Validation as Validation,
)
from ._result import FitResult as FitResult, NonFiniteError as NonFiniteError, Stage as Stage
from ._serialise import load as load, load_metadata as load_metadata, save as save
