"""Field-to-field surrogates fitted to a user's data file: the library behind `sciml fit`
and `sciml predict`.

The data layout is documented in `sciml.data`. [`plan_surrogate`][] splits the samples,
fits the normalisers on the training split and builds the model; [`train_surrogate`][]
trains it through `sciml.train.fit`; [`evaluate_test`][] scores it against the test
split; [`load_surrogate`][] and [`predict_file`][] use a fitted model. The run itself
(output folder, `metrics.json`, plots) is `sciml.study.fit_surrogate`.
"""

from ._config import FitConfig as FitConfig, parse_settings as parse_settings
from ._evaluate import evaluate_test as evaluate_test, loss as loss, metrics as metrics
from ._fit import (
    plan_surrogate as plan_surrogate,
    surrogate_metadata as surrogate_metadata,
    SurrogatePlan as SurrogatePlan,
    train_surrogate as train_surrogate,
)
from ._model import Surrogate as Surrogate
from ._plots import (
    plot_error_map as plot_error_map,
    plot_predictions as plot_predictions,
    plot_rollout_error as plot_rollout_error,
)
from ._predict import (
    load_surrogate as load_surrogate,
    predict_file as predict_file,
    PREDICTIONS_MARK as PREDICTIONS_MARK,
)
