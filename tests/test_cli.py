"""The `sciml` command line and the study harness behind it.

Most tests use a tiny fake problem registered for the test only, so the harness
contract (config parsing, output checks, metrics.json, resume guards, exit codes) is
checked in milliseconds without training anything.
"""

import dataclasses
import json
import sys
import types
from typing import Literal

import equinox as eqx
import jax.random as jr
import numpy as np
import pytest

import problems
import sciml.train
from sciml.cli import main
from sciml.study import ConfigError, parse_overrides


@dataclasses.dataclass(frozen=True)
class _FakeConfig:
    steps: int = 3
    width: int = 2
    mode: Literal["ok", "interrupt", "no_outputs"] = "ok"

    def __post_init__(self):
        if self.width < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")


def _fake_run(config, ctx):
    if config.mode == "interrupt":
        raise KeyboardInterrupt
    if config.mode == "ok":
        model = eqx.nn.Linear(config.width, 1, key=ctx.key)
        ctx.write_predictions(x=np.arange(3.0), y=np.zeros(3))
        ctx.save_model(model)
        ctx.save_training_curves(np.linspace(1.0, 0.1, config.steps))
    return {"error": np.float32(0.5), "diverged": float("nan"), "matrix": np.eye(2, dtype=int)}


@pytest.fixture
def fake_problem(monkeypatch):
    """Registers a problem `fake` whose run takes milliseconds."""
    module = types.ModuleType("_sciml_fake_problem", "A fake problem: y = 0.\n\nNames: x, y.")
    module.Config = _FakeConfig
    module.QUICK = {"steps": 2}
    module.DESCRIPTION = "a fake problem for the CLI tests"
    module.run = _fake_run
    module.main = lambda argv=None: main(["run", "fake", *(argv or [])])
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(problems._PROBLEMS, "fake", module.__name__)
    return module


def _one_line_error(capsys, *fragments):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in captured.err
    return lines[0]


def test_list(capsys, fake_problem):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert names == sorted(problems.available())
    assert "field_regimes" in names
    assert any(line.startswith("fake") and line.endswith("a fake problem for the CLI tests") for line in lines)


def test_list_survives_a_broken_problem(capsys, monkeypatch):
    monkeypatch.setitem(problems._PROBLEMS, "broken", "_sciml_no_such_module")
    assert main(["list"]) == 0
    assert "cannot import" in capsys.readouterr().out


def test_unknown_problem(capsys, tmp_path):
    assert main(["run", "no_such_problem", "--out", str(tmp_path / "out")]) == 2
    _one_line_error(capsys, "unknown problem 'no_such_problem'", "field_regimes")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "pair, fragments",
    [
        ("bogus=1", ["unknown config key 'bogus'", "steps (int)", "width (int)"]),
        ("width=abc", ["bad value 'abc' for width (int)"]),
        ("width=2.5", ["bad value '2.5' for width"]),
        ("width", ["--set expects key=value"]),
        ("width=0", ["invalid configuration", "width must be >= 1"]),
        ("mode=fast", ["bad value 'fast' for mode"]),
    ],
)
def test_bad_set(capsys, tmp_path, fake_problem, pair, fragments):
    assert main(["run", "fake", "--out", str(tmp_path / "out"), "--set", pair]) == 2
    _one_line_error(capsys, *fragments)
    # Nothing is created before the configuration is known to be valid.
    assert not (tmp_path / "out").exists()


def test_bad_set_on_a_real_problem(capsys, tmp_path):
    assert main(["run", "field_regimes", "--out", str(tmp_path), "--set", "steps=many"]) == 2
    _one_line_error(capsys, "bad value 'many' for steps (int)")
    assert main(["run", "field_regimes", "--out", str(tmp_path), "--set", "nope=1"]) == 2
    _one_line_error(capsys, "unknown config key 'nope'", "length_edges (tuple[float, ...])")


@pytest.mark.parametrize("argv", [["--seed", "-1"], ["--steps", "0"], ["--seed", "x"], ["--bogus"]])
def test_bad_arguments(capsys, tmp_path, fake_problem, argv):
    assert main(["run", "fake", "--out", str(tmp_path), *argv]) == 2
    _one_line_error(capsys, "error")


def test_missing_command(capsys):
    assert main([]) == 2
    _one_line_error(capsys, "required")


def test_help(capsys):
    assert main(["--help"]) == 0
    assert "run" in capsys.readouterr().out


@dataclasses.dataclass(frozen=True)
class _Types:
    n: int = 1
    x: float = 1.0
    flag: bool = False
    name: str = "a"
    widths: tuple[int, ...] = (1,)
    pair: tuple[float, float] = (0.0, 1.0)
    kind: Literal["max", "avg"] = "max"
    limit: int | None = None


@pytest.mark.parametrize(
    "pair, key, value",
    [
        ("n=3", "n", 3),
        ("n=1e4", "n", 10000),
        ("x=2", "x", 2.0),
        ("x=-1.5e-3", "x", -1.5e-3),
        ("flag=true", "flag", True),
        ("flag=No", "flag", False),
        ("flag=1", "flag", True),
        ("name=a=b", "name", "a=b"),
        ("widths=32,64", "widths", (32, 64)),
        ("widths=[32, 64, 128]", "widths", (32, 64, 128)),
        ("widths=(8)", "widths", (8,)),
        ("widths=[]", "widths", ()),
        ("pair=0.5,2", "pair", (0.5, 2.0)),
        ("kind=avg", "kind", "avg"),
        ("limit=none", "limit", None),
        ("limit=7", "limit", 7),
    ],
)
def test_set_parsing(pair, key, value):
    parsed = parse_overrides(_Types, [pair])
    assert parsed == {key: value}
    assert type(parsed[key]) is type(value)


@pytest.mark.parametrize(
    "pair",
    [
        "n=2.5",
        "n=",
        "x=fast",
        "flag=maybe",
        "widths=1,a",
        "widths=[1.5]",
        "pair=1,2,3",
        "kind=min",
        "limit=x",
        "widths=__import__('os')",
    ],
)
def test_set_parsing_rejects(pair):
    with pytest.raises(ConfigError, match="bad value"):
        parse_overrides(_Types, [pair])


def test_run_writes_metrics(capsys, tmp_path, fake_problem):
    out = tmp_path / "run"
    assert main(["run", "fake", "--out", str(out), "--seed", "3", "--quick", "--set", "width=4"]) == 0
    assert "error = 0.5" in capsys.readouterr().out
    record = json.loads((out / "metrics.json").read_text())
    assert record["problem"] == "fake"
    assert record["seed"] == 3
    assert record["steps"] == 2  # from QUICK
    assert record["quick"] is True
    assert record["config"] == {"steps": 2, "width": 4, "mode": "ok"}
    assert record["metrics"] == {"error": 0.5, "diverged": None, "matrix": [[1, 0], [0, 1]]}
    assert record["wall_time_s"] >= 0
    assert {"jax", "equinox", "sciml", "numpy"} <= set(record["versions"])
    assert record["outputs"] == ["model.eqx", "model.json", "predictions.npz", "training.png"]
    # Atomic writers leave no temporary files behind.
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    loaded = sciml.train.load(out / "model.eqx", like=eqx.nn.Linear(4, 1, key=jr.key(0)))
    assert loaded.weight.shape == (1, 4)
    assert sciml.train.load_metadata(out / "model.eqx")["problem"] == "fake"


def test_steps_and_set_order(tmp_path, fake_problem):
    # --steps overrides QUICK, and --set overrides --steps.
    assert main(["run", "fake", "--out", str(tmp_path), "--quick", "--steps", "5", "--quiet"]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == 5
    assert main(["run", "fake", "--out", str(tmp_path), "--steps", "5", "--set", "steps=7", "--quiet"]) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == 7


def test_missing_outputs_are_an_error(tmp_path, fake_problem):
    with pytest.raises(RuntimeError, match="did not write predictions.npz, model.eqx, a \\*.png plot"):
        main(["run", "fake", "--out", str(tmp_path), "--set", "mode=no_outputs", "--quiet"])
    assert not (tmp_path / "metrics.json").exists()


def test_interrupt_exits_130(capsys, tmp_path, fake_problem):
    assert main(["run", "fake", "--out", str(tmp_path), "--quiet"]) == 0
    assert main(["run", "fake", "--out", str(tmp_path), "--set", "mode=interrupt", "--quiet"]) == 130
    assert "--resume" in capsys.readouterr().err
    # A stale metrics.json must not pass for the interrupted run's result.
    assert not (tmp_path / "metrics.json").exists()


def test_resume_refuses_other_settings(capsys, tmp_path, fake_problem):
    assert main(["run", "fake", "--out", str(tmp_path), "--set", "mode=interrupt", "--quiet"]) == 130
    capsys.readouterr()
    assert main(["run", "fake", "--out", str(tmp_path), "--resume", "--seed", "1", "--quiet"]) == 2
    _one_line_error(capsys, "--resume", "seed", "config.mode")
    assert main(["run", "fake", "--out", str(tmp_path), "--resume", "--quiet", "--set", "mode=interrupt"]) == 130
