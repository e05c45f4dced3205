"""Field-to-field surrogates fitted to a user's data file: what `sciml fit` and
`sciml predict` run.

The data layout is documented in `sciml.data`. [`fit_surrogate`][] splits, normalises,
trains through `sciml.train.fit` and writes `model.eqx`, `model.json`, `metrics.json`,
`predictions.npz` and plots; [`load_surrogate`][] and [`predict_file`][] use the result.
"""

from ._config import FitConfig as FitConfig
from ._evaluate import loss as loss, metrics as metrics
from ._fit import fit_surrogate as fit_surrogate
from ._model import Surrogate as Surrogate
from ._predict import load_surrogate as load_surrogate, predict_file as predict_file
