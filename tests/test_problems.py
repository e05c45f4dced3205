"""Every registered problem runs end to end with `--quick` and honours the output contract."""

import dataclasses
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_allen_cahn import check_allen_cahn_quick_run
from test_burgers_pinn import check_burgers_quick_run
from test_ensemble_problems import check_diffusion_quick_run
from test_pinn_problems import check_heat_inverse_quick_run, check_poisson_quick_run

import sciml.train
import sciml.uq
from problems import field_regimes
from sciml.cli import main
from sciml.study import check_problem, load_problem, problem_names


_REQUIRED_KEYS = {"problem", "seed", "steps", "wall_time_s", "config", "metrics", "versions"}
# Problem-specific checks of the one `--quick` run of each problem (so none is run twice).
_QUICK_CHECKS = {
    "allen_cahn_pinn": check_allen_cahn_quick_run,
    "burgers_pinn": check_burgers_quick_run,
    "diffusion_ensemble": check_diffusion_quick_run,
    "heat_inverse": check_heat_inverse_quick_run,
    "poisson_pinn": check_poisson_quick_run,
}


@pytest.mark.parametrize("name", problem_names())
def test_quick_run(name, tmp_path):
    module = load_problem(name)
    check_problem(module)
    assert main(["run", name, "--quick", "--quiet", "--out", str(tmp_path)]) == 0

    record = json.loads((tmp_path / "metrics.json").read_text())
    assert _REQUIRED_KEYS <= set(record)
    assert record["problem"] == name
    assert record["metrics"], "a problem must report at least one metric"
    # RESULTS.md and the README show these: they must be metrics the run reports.
    assert set(getattr(module, "HEADLINE", ())) <= set(record["metrics"])

    with np.load(tmp_path / "predictions.npz") as predictions:
        assert predictions.files
        # The docstring must document every name in predictions.npz.
        undocumented = [k for k in predictions.files if f"`{k}`" not in module.__doc__]
        assert not undocumented, f"names missing from {name}'s docstring: {undocumented}"

    assert (tmp_path / "model.json").exists()
    assert list(tmp_path.glob("*.png"))
    if hasattr(module, "replot"):
        _check_replot(tmp_path)
    # Reloadable without the problem's code: the skeleton comes from the metadata.
    # Ensembles rebuild their member axis through sciml.uq, single models through sciml.train.
    if "ensemble" in sciml.train.load_metadata(tmp_path / "model.eqx"):
        reloaded = sciml.uq.load_ensemble(tmp_path / "model.eqx")
    else:
        reloaded = sciml.train.load(tmp_path / "model.eqx")
    assert reloaded is not None
    if name in _QUICK_CHECKS:
        _QUICK_CHECKS[name](record, tmp_path)


def _check_replot(out):
    """`sciml replot` redraws, byte for byte, the plots the run drew, from the run's files alone."""
    drawn = {p.name: p.read_bytes() for p in out.glob("*.png")}
    for p in out.glob("*.png"):
        p.unlink()
    assert main(["replot", str(out)]) == 0
    redrawn = {p.name: p.read_bytes() for p in out.glob("*.png")}
    assert redrawn, "a replot hook must redraw at least one plot"
    assert set(redrawn) <= set(drawn), f"replot drew plots the run did not: {set(redrawn) - set(drawn)}"
    changed = [n for n in redrawn if redrawn[n] != drawn[n]]
    assert not changed, f"replot drew these plots differently from the run: {changed}"
    for name in set(drawn) - set(redrawn):  # the ones the hook cannot redraw, for the checks that follow
        (out / name).write_bytes(drawn[name])


_REAL_FIT = field_regimes.fit


class _Killed(Exception):
    pass


def _fit_with_callback(callback):
    """`field_regimes.fit` with a `callback(step, record)` at every logging point."""

    def fit(*args, logging, **kwargs):
        assert logging.callback is None
        return _REAL_FIT(*args, **kwargs, logging=dataclasses.replace(logging, callback=callback))

    return fit


def test_field_regimes_resume_is_exact(tmp_path, monkeypatch):
    steps = field_regimes.QUICK["steps"]
    every = field_regimes.QUICK["checkpoint_every"]
    assert steps > 2 * every, "the quick budget must checkpoint more than once for this test"
    args = ["--quick", "--quiet", "--seed", "1"]

    full = tmp_path / "full"
    assert field_regimes.main([*args, "--out", str(full)]) == 0

    # Die between two checkpoints, as a run killed by the OS would: the work since the
    # last checkpoint is lost and must be redone identically.
    resumed = tmp_path / "resumed"

    def kill(step, record):
        if step >= every + every // 2:
            raise _Killed(f"killed at step {step}")

    monkeypatch.setattr(field_regimes, "fit", _fit_with_callback(kill))
    with pytest.raises(_Killed):  # --debug lets the exception through, as a kill would stop the run
        main(["run", "field_regimes", *args, "--out", str(resumed), "--debug"])
    assert not (resumed / "metrics.json").exists()
    # The interrupted run's checkpoints wait in its staging folder until it finishes.
    pointer = json.loads((resumed / "partial" / "checkpoints" / "checkpoint.json").read_text())
    assert pointer["step"] == every

    seen = []
    monkeypatch.setattr(field_regimes, "fit", _fit_with_callback(lambda step, record: seen.append(step)))
    assert main(["run", "field_regimes", *args, "--out", str(resumed), "--resume"]) == 0
    assert seen[0] == every + 1 and seen[-1] == steps, "the resumed run must start from the checkpoint"

    assert (resumed / "model.eqx").read_bytes() == (full / "model.eqx").read_bytes()
    with np.load(full / "predictions.npz") as a, np.load(resumed / "predictions.npz") as b:
        assert a.files == b.files
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
    record_full = json.loads((full / "metrics.json").read_text())
    record_resumed = json.loads((resumed / "metrics.json").read_text())
    assert record_resumed["metrics"] == record_full["metrics"]


def test_field_regimes_outputs_recompute(tmp_path):
    """The reloaded model reproduces `predicted` from the `fields` in predictions.npz."""
    assert main(["run", "field_regimes", "--quick", "--quiet", "--out", str(tmp_path)]) == 0
    model, state = sciml.train.load(tmp_path / "model.eqx")
    with np.load(tmp_path / "predictions.npz") as p:
        fields, predicted, labels = p["fields"], p["predicted"], p["labels"]
        confusion = field_regimes.confusion_matrix(labels, predicted, len(p["length_edges"]) - 1)
    model = eqx.nn.inference_mode(model)
    batched = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))
    logits, _ = batched(jnp.asarray(fields[:, None], dtype=jnp.zeros(()).dtype), state)
    np.testing.assert_array_equal(np.asarray(logits).argmax(axis=1), predicted)
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert metrics["confusion_matrix"] == confusion.tolist()
    assert metrics["test_accuracy"] == pytest.approx(np.mean(predicted == labels))


@pytest.mark.slow
def test_field_regimes_default_budget(tmp_path):
    """The accuracy the module docstring promises (about two minutes on two CPU cores)."""
    assert main(["run", "field_regimes", "--quiet", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert metrics["test_accuracy"] >= 0.95
