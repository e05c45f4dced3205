"""Uncertainty quantification: vmapped Bayesian ensembles, MC dropout, probabilistic metrics."""

from ._bootstrap import bootstrap_weights as bootstrap_weights
from ._build import build_ensemble as build_ensemble, ensemble_skeleton as ensemble_skeleton
from ._ensemble import Ensemble as Ensemble
from ._fit import fit_ensemble as fit_ensemble
from ._loss import EnsembleLoss as EnsembleLoss
from ._mc_dropout import mc_dropout_predict as mc_dropout_predict
from ._member import EnsembleMember as EnsembleMember
from ._member_losses import gaussian_nll_loss as gaussian_nll_loss, squared_error_loss as squared_error_loss
from ._metrics import (
    calibration_curve as calibration_curve,
    calibration_error as calibration_error,
    coverage as coverage,
    crps_gaussian as crps_gaussian,
    crps_mixture as crps_mixture,
    crps_samples as crps_samples,
    gaussian_nll as gaussian_nll,
    interval_width as interval_width,
    predictive_metrics as predictive_metrics,
)
from ._optim import member_optimizer as member_optimizer
from ._plots import plot_bands as plot_bands, plot_calibration as plot_calibration
from ._predictive import Predictive as Predictive
from ._serialise import load_ensemble as load_ensemble, save_ensemble as save_ensemble
from ._sharding import member_mesh as member_mesh, shard_members as shard_members
