"""`sciml fit` and `sciml predict` end to end on tiny generated heat-equation files.

The pairs file maps u(x, 0) to the heat-equation solution u(x, T): a linear smoothing
whose exact answer the file holds, so the fitted surrogate's test error can be checked
against the naive identity baseline. The diffusivity is the same in every sample, so
its parameter channel has zero variance and exercises that path of the normalisation.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import sciml.data
import sciml.train
from sciml.cli import main
from sciml.study import fit_surrogate
from sciml.surrogate import load_surrogate


_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "data_format.py"
# An MLP on the flattened field compiles in a fraction of an FNO's time; the heat map is
# linear, so it is learnable by either.
_MODEL = [
    "--model",
    "mlp",
    "--set",
    "width=64",
    "--set",
    "depth=1",
    "--set",
    "activation=gelu",
    "--set",
    "batch_size=8",
    "--set",
    "learning_rate=1e-2",
    "--set",
    "checkpoint_every=20",
    "--set",
    "plot_samples=2",
]
_STEPS = 100


def _example():
    spec = importlib.util.spec_from_file_location("data_format", _EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _one_line_error(capsys, *fragments):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.fixture(scope="module")
def example():
    return _example()


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory, example):
    path = tmp_path_factory.mktemp("data") / "heat.npz"
    np.savez(path, **example.heat_pairs(n=48, size=32, kappa=(1.0, 1.0), seed=0))
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, pairs_file):
    out = tmp_path_factory.mktemp("fit") / "run"
    code = main(["fit", str(pairs_file), "--out", str(out), "--steps", str(_STEPS), "--quiet", *_MODEL])
    assert code == 0
    return out


def test_example_writes_loadable_files(tmp_path, example, capsys):
    example.main([str(tmp_path)])
    assert "pairs: 200 samples on grid (64,)" in capsys.readouterr().out
    with sciml.data.load(tmp_path / "heat_trajectories.h5") as data:
        assert data.layout.kind == "trajectories" and data.layout.num_times == 11


def test_fit_writes_every_output_and_learns_the_map(fitted, pairs_file):
    names = {p.name for p in fitted.iterdir()}
    assert {
        "model.eqx",
        "model.json",
        "metrics.json",
        "predictions.npz",
        "predictions.png",
        "error_map.png",
        "training.png",
    } <= names
    record = json.loads((fitted / "metrics.json").read_text())
    metrics = record["metrics"]
    assert record["model"] == "mlp" and record["split"] == {"train": 38, "val": 5, "test": 5}
    # The identity baseline is ~0.96 here; the surrogate must do far better.
    assert metrics["test_relative_l2"] < 0.25 * metrics["baseline_identity_relative_l2"], metrics
    # predictions.npz alone reproduces the metric, against the file's own outputs.
    with np.load(fitted / "predictions.npz") as pred:
        source = np.load(pairs_file)
        np.testing.assert_array_equal(pred["targets"], source["outputs"][pred["sample_index"]])
        error = np.linalg.norm(pred["predictions"] - pred["targets"]) / np.linalg.norm(pred["targets"])
        assert error == pytest.approx(metrics["test_relative_l2"], rel=1e-6)
    info = sciml.train.load_metadata(fitted / "model.eqx")
    assert info["architecture"] == "mlp"
    surrogate = info["surrogate"]
    assert surrogate["grid"] == [32] and surrogate["model_in_channels"] == 2 and surrogate["model_out_channels"] == 1
    # Normalisation statistics come from the training split only.
    with np.load(fitted / "predictions.npz") as pred, np.load(pairs_file) as source:
        train = pred["train_index"]
        assert len(np.intersect1d(train, pred["sample_index"])) == 0
        std = surrogate["normalisation"]["output"]["std"][0]
        assert std == pytest.approx(source["outputs"][train].std(), rel=1e-6)
        assert std != pytest.approx(source["outputs"].std(), rel=1e-4)
    # Input channels: the field, then the constant diffusivity (zero variance: unit scale).
    assert surrogate["normalisation"]["input"]["std"][1] == 1.0
    assert surrogate["normalisation"]["input"]["mean"][1] == pytest.approx(1.0)
    # The network alone reloads without sciml.surrogate, as every model.eqx does.
    assert sciml.train.load(fitted / "model.eqx").in_size == 2 * 32


def test_predict_matches_fit_and_accepts_files_without_outputs(fitted, pairs_file, tmp_path, capsys):
    out = tmp_path / "pred.npz"
    assert main(["predict", str(fitted), str(pairs_file), "--out", str(out)]) == 0
    assert "relative_l2" in capsys.readouterr().out
    with np.load(fitted / "predictions.npz") as fit_pred, np.load(out) as new:
        np.testing.assert_allclose(new["predictions"][fit_pred["sample_index"]], fit_pred["predictions"], rtol=1e-10)
    inputs_only = tmp_path / "inputs.h5"
    source = dict(np.load(pairs_file))
    sciml.data.save(inputs_only, {"inputs": source["inputs"][:3], "parameters": source["parameters"][:3]})
    assert main(["predict", str(fitted), str(inputs_only), "--out", str(tmp_path / "p2.npz"), "--quiet"]) == 0
    with np.load(tmp_path / "p2.npz") as p2, np.load(out) as p1:
        np.testing.assert_allclose(p2["predictions"], p1["predictions"][:3], rtol=1e-10)


@pytest.mark.parametrize(
    "change, fragments",
    [
        (
            lambda a: {**a, "inputs": a["inputs"][:, :16], "outputs": a["outputs"][:, :16]},
            ["grid (16,) with 1 channel(s)", "trained on grid (32,) with 1"],
        ),
        (lambda a: {**a, "inputs": np.concatenate([a["inputs"]] * 2, -1)}, ["with 2 channel(s)", "with 1 channel(s)"]),
        (lambda a: {"inputs": a["inputs"], "outputs": a["outputs"]}, ["0 parameter(s)", "trained with 1"]),
        (lambda a: {"fields": np.stack([a["inputs"]] * 3, 1)}, ["holds trajectories", "fitted on pairs"]),
        (
            lambda a: {**a, "inputs": np.where(np.arange(32)[:, None] == 5, np.nan, a["inputs"])},
            ["NaN at index (0, 5, 0)"],
        ),
    ],
)
def test_predict_refuses_mismatched_data(fitted, pairs_file, tmp_path, capsys, change, fragments):
    bad = tmp_path / "bad.npz"
    np.savez(bad, **change(dict(np.load(pairs_file))))
    assert main(["predict", str(fitted), str(bad), "--out", str(tmp_path / "p.npz")]) == 2
    _one_line_error(capsys, "sciml predict: error:", *fragments)
    assert not (tmp_path / "p.npz").exists()


def test_resume_equals_uninterrupted(fitted, pairs_file, tmp_path, capsys):
    out = tmp_path / "resumed"
    args = dict(model="mlp", out=out, steps=_STEPS, quiet=True, overrides=[a for a in _MODEL[2:] if a != "--set"])

    def interrupt(step, record):
        if step == 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit_surrogate(pairs_file, callback=interrupt, **args)
    assert not (out / "metrics.json").exists()
    assert json.loads((out / "checkpoints" / "checkpoint.json").read_text())["step"] == 40
    # A resume with other settings is refused before any work.
    argv = ["fit", str(pairs_file), "--out", str(out), "--steps", str(_STEPS), "--quiet", *_MODEL]
    assert main([*argv, "--resume", "--seed", "1"]) == 2
    _one_line_error(capsys, "--resume", "seed")
    assert main([*argv, "--resume"]) == 0
    assert (out / "model.eqx").read_bytes() == (fitted / "model.eqx").read_bytes()
    first, second = (json.loads((d / "metrics.json").read_text())["metrics"] for d in (fitted, out))
    assert first["test_relative_l2"] == second["test_relative_l2"]


def test_trajectories_lazy_with_rollout(tmp_path, example, capsys):
    path = tmp_path / "traj.h5"
    sciml.data.save(path, example.heat_trajectories(n=15, size=16, n_times=7, seed=3))
    out = tmp_path / "traj"
    argv = [
        "fit",
        str(path),
        "--model",
        "mlp",
        "--out",
        str(out),
        "--steps",
        "12",
        "--quiet",
        "--set",
        "max_bytes=0",
        "--set",
        "window=2",
        "--set",
        "horizon=2",
        "--set",
        "width=8",
        "--set",
        "depth=1",
        "--set",
        "val_fraction=0.2",
        "--set",
        "test_fraction=0.2",
        "--set",
        "plot_samples=1",
    ]
    assert main(argv) == 0
    record = json.loads((out / "metrics.json").read_text())
    assert record["lazy"] is True and record["split"] == {"train": 9, "val": 3, "test": 3}
    assert {"test_relative_l2", "test_rollout_relative_l2", "baseline_persistence_relative_l2"} <= set(
        record["metrics"]
    )
    with np.load(out / "predictions.npz") as pred:
        assert pred["one_step"].shape == pred["rollout"].shape == (3, 5, 16, 1)
        assert pred["times"].shape == (3, 7)
    surrogate, _ = load_surrogate(out)
    assert surrogate.window == 2 and surrogate.in_channels == 2 + 1
    assert main(["predict", str(out), str(path), "--out", str(tmp_path / "p.npz"), "--quiet"]) == 0
    with np.load(tmp_path / "p.npz") as p, np.load(out / "predictions.npz") as fit_pred:
        np.testing.assert_allclose(p["rollout"][fit_pred["trajectory_index"]], fit_pred["rollout"], rtol=1e-10)


@pytest.mark.parametrize(
    "extra, fragments",
    [
        (["--model", "cnn"], ["model 'cnn' maps a field to a vector", "fno, mlp, resnet, transformer"]),
        (["--model", "fno", "--set", "in_channels=3"], ["in_channels for 'fno' is set from the data"]),
        (["--model", "fno", "--set", "bogus=1"], ["unknown config key 'bogus'", "training settings: steps (int)"]),
        (["--model", "fno", "--set", "window=2"], ["window and horizon apply to trajectory files"]),
        (["--model", "resnet", "--set", "batch_norm=true"], ["BatchNorm", "batch_norm=False"]),
        (["--model", "fno", "--set", "steps=x"], ["bad value 'x' for steps (int)"]),
    ],
)
def test_fit_usage_errors(pairs_file, tmp_path, capsys, extra, fragments):
    assert main(["fit", str(pairs_file), "--out", str(tmp_path / "o"), "--quiet", *extra]) == 2
    _one_line_error(capsys, "sciml fit", *fragments)


def test_fit_refuses_bad_data(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, inputs=np.zeros((4, 8, 1)), outputs=np.zeros((5, 8, 1)))
    assert main(["fit", str(bad), "--model", "fno", "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, "bad.npz: 'outputs' has 5 samples", "'inputs' has 4")
    assert main(["fit", str(tmp_path / "none.h5"), "--model", "fno", "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, "no data file")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", ["fno", "resnet", "mlp", "transformer"])
def test_every_field_model_fits_the_surrogate_layout(name):
    import equinox as eqx
    import jax.numpy as jnp
    import jax.random as jr

    from sciml.nn import build, Normaliser
    from sciml.surrogate import Surrogate
    from sciml.surrogate._config import model_config

    layout = sciml.data.Layout("trajectories", 4, (6, 5), 2, 2, 9, 1, False)
    window, in_channels = 3, 3 * 2 + 1
    adapter, config = model_config(name, layout, in_channels, 2, {})

    def make(key):
        norm_in = Normaliser(jnp.zeros(in_channels), jnp.ones(in_channels))
        return Surrogate(
            build(name, key=key, **config),
            norm_in,
            Normaliser(jnp.zeros(2), 2 * jnp.ones(2)),
            adapter,
            in_channels,
            2,
            window,
        )

    model = eqx.filter_eval_shape(make, jr.key(0))
    x = jnp.zeros((in_channels, 6, 5))
    assert eqx.filter_eval_shape(model, x).shape == (2, 6, 5)
    assert eqx.filter_eval_shape(lambda m, x: m.rollout(x, 4), model, x).shape == (4, 2, 6, 5)
