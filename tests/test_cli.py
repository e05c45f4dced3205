"""The `sciml` command line and the study harness behind it.

Most tests use a tiny fake problem registered for the test only, so the harness
contract (config parsing, output checks, metrics.json, resume guards, exit codes) is
checked in milliseconds without training anything.
"""

import dataclasses
import importlib.metadata
import json
import subprocess
import sys
import time
import types
from typing import Literal

import equinox as eqx
import jax.random as jr
import numpy as np
import pytest

import sciml.train
from sciml.cli import main
from sciml.study import ConfigError, parse_overrides, problem_names


@pytest.fixture(autouse=True)
def _no_compilation_cache(monkeypatch):
    # In-process runs would otherwise turn on JAX's persistent cache for the whole session.
    monkeypatch.setenv("SCIML_NO_COMPILATION_CACHE", "1")


def register(monkeypatch, name: str, module_name: str) -> None:
    """Adds `name -> module_name` to the `sciml.problems` entry points for one test."""
    real = importlib.metadata.entry_points
    extra = importlib.metadata.EntryPoint(name=name, value=module_name, group="sciml.problems")

    def entry_points(**params):
        found = real(**params)
        if params.get("group") == "sciml.problems":
            return importlib.metadata.EntryPoints([*found, extra])
        return found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


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
    module.main = lambda argv=None: sciml.study.main("fake", argv)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    register(monkeypatch, "fake", module.__name__)
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
    assert names == sorted(problem_names())
    assert "field_regimes" in names
    assert any(line.startswith("fake") and line.endswith("a fake problem for the CLI tests") for line in lines)


def test_list_survives_a_broken_problem(capsys, monkeypatch):
    register(monkeypatch, "broken", "_sciml_no_such_module")
    assert main(["list"]) == 0
    assert "cannot read" in capsys.readouterr().out


def test_unknown_problem(capsys, tmp_path):
    assert main(["run", "no_such_problem", "--out", str(tmp_path / "out")]) == 2
    _one_line_error(capsys, "unknown problem 'no_such_problem'", "field_regimes")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["run"], ["show"]])
def test_misspelt_problem(capsys, command):
    assert main([*command, "burgers_pin"]) == 2
    _one_line_error(capsys, "unknown problem 'burgers_pin'", "did you mean 'burgers_pinn'?")


def test_misspelt_key(capsys, tmp_path):
    assert main(["run", "field_regimes", "--out", str(tmp_path / "out"), "--set", "learning_rat=1"]) == 2
    _one_line_error(capsys, "unknown config key 'learning_rat'", "did you mean 'learning_rate'?")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["show", "burgers_pinn"]])
def test_help_and_list_do_not_import_jax(argv):
    # A fresh interpreter, as the console script: the answer must not wait for JAX (about 2 s).
    code = f"import sys, sciml.cli; rc = sciml.cli.main({argv!r}); assert 'jax' not in sys.modules; sys.exit(rc)"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    assert done.stdout
    assert elapsed < 5, f"{argv} took {elapsed:.1f} s"  # loose: CI machines are shared; < 1 s idle


def test_show(capsys):
    assert main(["show", "burgers_pinn"]) == 0
    out = capsys.readouterr().out
    assert "Cole-Hopf" in out and "sciml run burgers_pinn --help" in out


def test_run_help_lists_config_keys(capsys):
    assert main(["run", "poisson_pinn", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--set KEY=VALUE" in out
    # key, type, default, quick value and meaning from the field's comment
    assert any(
        line.split()[:4] == ["width", "int", "20", "(quick"] and "hidden units" in line for line in out.splitlines()
    ), out
    assert "predictions.npz" in out and "u_exact" in out


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


def test_missing_outputs_are_an_error(capsys, tmp_path, fake_problem):
    assert main(["run", "fake", "--out", str(tmp_path), "--set", "mode=no_outputs", "--quiet"]) == 1
    _one_line_error(capsys, "did not write predictions.npz, model.eqx, a *.png plot")
    assert not (tmp_path / "metrics.json").exists()
    with pytest.raises(RuntimeError, match="did not write predictions.npz"):
        main(["run", "fake", "--out", str(tmp_path), "--set", "mode=no_outputs", "--quiet", "--debug"])


def test_quiet_prints_only_the_final_metrics(capsys, tmp_path, fake_problem):
    assert main(["run", "fake", "--out", str(tmp_path), "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == ["fake (seed 0):", "  error = 0.5", f"done in {lines[-1].split()[2]} s; outputs in {tmp_path}"]


def test_interrupt_exits_130(capsys, tmp_path, fake_problem):
    assert main(["run", "fake", "--out", str(tmp_path), "--quiet"]) == 0
    finished = json.loads((tmp_path / "metrics.json").read_text())
    assert main(["run", "fake", "--out", str(tmp_path), "--set", "mode=interrupt", "--quiet"]) == 130
    assert "--resume" in capsys.readouterr().err
    # The interrupted run left the finished one untouched: its metrics.json still describes
    # the files beside it, and the interrupted run's own files wait in partial/.
    assert json.loads((tmp_path / "metrics.json").read_text()) == finished
    assert json.loads((tmp_path / "partial" / "checkpoints" / "run.json").read_text())["config"]["mode"] == "interrupt"


def test_resume_refuses_other_settings(capsys, tmp_path, fake_problem):
    assert main(["run", "fake", "--out", str(tmp_path), "--set", "mode=interrupt", "--quiet"]) == 130
    capsys.readouterr()
    assert main(["run", "fake", "--out", str(tmp_path), "--resume", "--seed", "1", "--quiet"]) == 2
    _one_line_error(capsys, "--resume", "seed", "config.mode")
    assert not (tmp_path / "metrics.json").exists()
    assert main(["run", "fake", "--out", str(tmp_path), "--resume", "--quiet", "--set", "mode=interrupt"]) == 130


def test_problem_main_shares_the_run_options(capsys):
    # `python -m problems.poisson_pinn --help` is `sciml run poisson_pinn --help`.
    from problems import poisson_pinn

    assert poisson_pinn.main(["--help"]) == 0
    own = capsys.readouterr().out
    assert main(["run", "poisson_pinn", "--help"]) == 0
    assert capsys.readouterr().out == own
    assert poisson_pinn.main(["--set", "widht=3"]) == 2
    _one_line_error(capsys, "sciml run poisson_pinn", "did you mean 'width'?")


def test_run_without_a_problem(capsys):
    assert main(["run"]) == 2
    _one_line_error(capsys, "PROBLEM")
    assert main(["run", "--help"]) == 0
    assert "field_regimes" in capsys.readouterr().out


@pytest.mark.parametrize("name", problem_names())
def test_run_help_explains_every_config_key(capsys, name):
    from sciml.study import load_problem

    assert main(["run", name, "--help"]) == 0
    out = capsys.readouterr().out
    section = out.split("config keys", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    meanings = {line.split()[0]: line.partition("  -- ")[2].strip() for line in section if line.strip()}
    keys = [f.name for f in dataclasses.fields(load_problem(name).Config) if f.init]
    assert set(meanings) == set(keys), out
    unexplained = [key for key in keys if not meanings[key]]
    assert not unexplained, f"config keys of {name} without a meaning in --help: {unexplained}"
