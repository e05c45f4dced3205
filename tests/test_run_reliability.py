"""Bad input to `sciml run` gets a clean answer and never costs the user a file.

Each case goes through the real entry point, `sciml.cli.main`, in-process, and asserts the
exit code (2: usage or input, refused before anything is touched; 1: the run failed; 130:
interrupted), that no traceback reaches the user, that the message names the culprit, and
that every file in the output folder before is unchanged (SHA-256). The folder holds a
finished run of `field_regimes --quick --steps 2` (run once, copied per case) or, for cases
that let a run start, of a tiny fake problem registered for the test.
"""

import dataclasses
import errno
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from test_cli import register

import sciml.train
from sciml.cli import main


REAL = ["field_regimes", "--quick", "--steps", "2", "--quiet"]


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(autouse=True)
def _no_compilation_cache(monkeypatch):
    monkeypatch.setenv("SCIML_NO_COMPILATION_CACHE", "1")


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished real run, written once for the module."""
    out = tmp_path_factory.mktemp("finished") / "run"
    os.environ["SCIML_NO_COMPILATION_CACHE"] = "1"
    assert main(["run", *REAL, "--out", str(out)]) == 0
    assert (out / "checkpoints" / "checkpoint.json").exists()
    return out


# --- a fake problem whose run takes about a second ------------------------------------


@dataclasses.dataclass(frozen=True)
class _FakeConfig:
    steps: int = 3
    learning_rate: float = 0.1
    mode: str = "ok"  # ok, diverge, bug, interrupt


def _fake_run(config, ctx):
    if config.mode == "interrupt":
        raise KeyboardInterrupt
    if config.mode == "bug":
        raise IndexError("list index out of range")
    model = eqx.nn.Linear(2, 1, key=ctx.key)

    def loss(model, batch, key):
        error = jnp.mean((eqx.filter_vmap(model)(batch[0]) - batch[1]) ** 2)
        return jnp.sqrt(-1.0 - error) if config.mode == "diverge" else error  # NaN from the first step

    data = (jnp.ones((8, 2)), jnp.zeros((8, 1)))
    result = sciml.train.fit(
        model,
        loss,
        data,
        optax.sgd(config.learning_rate),
        steps=config.steps,
        key=ctx.key,
        checkpointing=sciml.train.Checkpointing(ctx.checkpoint_dir, resume=ctx.resume),
        logging=sciml.train.Logging(quiet=True),
    )
    ctx.write_predictions(x=np.zeros(3))
    ctx.save_model(result.model)
    ctx.save_training_curves(result.losses)
    return {"loss": float(result.losses[-1])}


@pytest.fixture
def fake(monkeypatch, tmp_path) -> Path:
    """A finished run of the fake problem `tiny` in a fresh folder."""
    module = types.ModuleType("_sciml_tiny_problem", "A tiny problem.\n\nNames: x.")
    module.Config, module.QUICK, module.DESCRIPTION, module.run = _FakeConfig, {}, "tiny", _fake_run
    module.main = lambda argv=None: 0
    monkeypatch.setitem(sys.modules, module.__name__, module)
    register(monkeypatch, "tiny", module.__name__)
    out = tmp_path / "tiny"
    assert main(["run", "tiny", "--quiet", "--out", str(out)]) == 0
    return out


# --- preparations: each edits the copied folder or patches the process ---------------


def _write(name: str, data: bytes) -> Callable:
    return lambda out, mp: (out / name).write_bytes(data)


def _truncate_checkpoint(keep: float) -> Callable:
    def prepare(out, mp):
        path = next((out / "checkpoints").glob("checkpoint-*.eqx"))
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])

    return prepare


def _random_checkpoint(out, mp):
    path = next((out / "checkpoints").glob("checkpoint-*.eqx"))
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


def _delete_checkpoint(out, mp):
    next((out / "checkpoints").glob("checkpoint-*.eqx")).unlink()


def _lock(pid: Callable[[], int]) -> Callable:
    def prepare(out, mp):
        (out / ".sciml-run.lock").write_text(json.dumps({"pid": pid(), "host": socket.gethostname()}))

    return prepare


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _fail_mkdir(code: int) -> Callable:
    real = os.mkdir

    def prepare(out, mp):
        def mkdir(path, *args, **kwargs):
            if "new" in str(path):
                raise OSError(code, os.strerror(code), str(path))
            return real(path, *args, **kwargs)

        mp.setattr(os, "mkdir", mkdir)

    return prepare


def _fail_lock(code: int) -> Callable:
    real = os.open

    def prepare(out, mp):
        def open_(path, *args, **kwargs):
            if str(path).endswith(".sciml-run.lock"):
                raise OSError(code, os.strerror(code), str(path))
            return real(path, *args, **kwargs)

        mp.setattr(os, "open", open_)

    return prepare


def _full_disk(out, mp):
    def mkstemp(*args, dir=None, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dir))

    mp.setattr(tempfile, "mkstemp", mkstemp)


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[Path], list[str]]
    code: int
    fragments: tuple[str, ...]
    prepare: Callable | None = None
    folder: str = "real"  # "real" (field_regimes) or "fake" (tiny)


def _real(*extra: str, out: str = "") -> Callable[[Path], list[str]]:
    return lambda o: ["run", *REAL, "--out", str(o / out if out else o), *extra]


def _tiny(*extra: str) -> Callable[[Path], list[str]]:
    return lambda o: ["run", "tiny", "--quiet", "--out", str(o), *extra]


CASES = [
    # Usage and input, refused before the folder is touched (exit 2).
    Case("misspelt problem", lambda o: ["run", "field_regime", "--out", str(o)], 2, ("did you mean 'field_regimes'",)),
    Case("misspelt key", _real("--set", "learning_rat=1"), 2, ("'learning_rat'", "did you mean 'learning_rate'")),
    Case("bad value", _real("--set", "steps=many"), 2, ("bad value 'many' for steps",)),
    Case("zero learning rate", _real("--set", "learning_rate=0"), 2, ("learning_rate must be a positive",)),
    Case("negative learning rate", _real("--set", "learning_rate=-1e-3"), 2, ("learning_rate must be a positive",)),
    Case("nan learning rate", _real("--set", "learning_rate=nan"), 2, ("learning_rate must be a positive",)),
    Case("negative warm-up", _real("--set", "warmup_steps=-5"), 2, ("warmup_steps must be >= 0",)),
    Case(
        "unknown activation",
        lambda o: ["run", "poisson_pinn", "--quick", "--out", str(o), "--set", "activation=tanhh"],
        2,
        ("unknown activation 'tanhh'", "did you mean 'tanh'"),
    ),
    Case("zero steps", _real("--steps", "0"), 2, ("--steps",)),
    Case("negative seed", _real("--seed", "-1"), 2, ("--seed",)),
    Case("seed beyond 64 bits", _real("--seed", str(2**64)), 2, ("--seed", "2**63")),
    Case("infinite learning rate", _real("--set", "learning_rate=inf"), 2, ("learning_rate must be a positive",)),
    Case("empty --out", lambda o: ["run", *REAL, "--out", ""], 2, ("--out", "non-empty")),
    Case("out is a file", _real(out="metrics.json"), 2, ("metrics.json is an existing file",)),
    Case("out under a file", _real(out="metrics.json/sub"), 2, ("metrics.json is a file",)),
    Case("read-only place", _real(out="new"), 2, ("new", "Read-only file system"), _fail_mkdir(errno.EROFS)),
    Case("full disk at start", _real(), 2, (".sciml-run.lock", "No space left"), _fail_lock(errno.ENOSPC)),
    Case("folder in use", _real(), 2, ("another run (pid", "is writing to"), _lock(os.getpid)),
    # --resume refusals change nothing, run.json included (exit 2).
    Case("resume other seed", _real("--resume", "--seed", "1"), 2, ("different settings", "seed")),
    Case(
        "resume other learning rate",
        _real("--resume", "--set", "learning_rate=0.01"),
        2,
        ("different settings", "config.learning_rate"),
    ),
    Case(
        "resume without --quick",
        lambda o: ["run", "field_regimes", "--steps", "2", "--resume", "--out", str(o)],
        2,
        ("different settings", "quick"),
    ),
    Case(
        "resume corrupt pointer",
        _real("--resume"),
        2,
        ("checkpoint.json", "without --resume"),
        _write("checkpoints/checkpoint.json", b'{"file": "checkpoint-0'),
    ),
    Case(
        "resume empty run.json",
        _real("--resume"),
        2,
        ("run.json", "without --resume"),
        _write("checkpoints/run.json", b""),
    ),
    Case(
        "resume truncated checkpoint",
        _real("--resume"),
        2,
        ("checkpoint-000000002.eqx", "corrupt", "without --resume"),
        _truncate_checkpoint(0.5),
    ),
    Case(
        "resume empty checkpoint",
        _real("--resume"),
        2,
        ("checkpoint-000000002.eqx", "corrupt"),
        _truncate_checkpoint(0),
    ),
    Case("resume random checkpoint", _real("--resume"), 2, ("checkpoint-000000002.eqx", "corrupt"), _random_checkpoint),
    Case(
        "resume missing checkpoint", _real("--resume"), 2, ("checkpoint.json points to", "missing"), _delete_checkpoint
    ),
    # Runs that fail keep the finished run's files (exit 1) or are interrupted (130).
    Case(
        "diverging run",
        _tiny("--set", "mode=diverge"),
        1,
        ("NonFiniteError", "at step", "--set learning_rate"),
        folder="fake",
    ),
    Case("full disk mid-run", _tiny(), 1, ("could not write", "partial", "No space left"), _full_disk, "fake"),
    Case("bug in a problem", _tiny("--set", "mode=bug"), 1, ("IndexError", "--debug"), folder="fake"),
    Case("interrupted", _tiny("--set", "mode=interrupt"), 130, ("interrupted", "--resume"), folder="fake"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_run(case, request, tmp_path, monkeypatch, capsys):
    source = request.getfixturevalue("finished" if case.folder == "real" else "fake")
    out = tmp_path / "out"
    shutil.copytree(source, out)
    if case.prepare is not None:
        case.prepare(out, monkeypatch)
    before = _hashes(out)
    capsys.readouterr()

    assert main(case.argv(out)) == case.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    message = captured.err.strip().splitlines()[-1]
    for fragment in case.fragments:
        assert fragment in message, message
    after = _hashes(out)
    if case.code == 2:
        assert after == before, "a refused run must change nothing"
        assert not (out / "new").exists()
    else:
        assert {k: after.get(k) for k in before} == before, "a failed run must keep the finished run's files"
    assert not (out / ".sciml-run.lock").exists() or case.id == "folder in use"


def test_debug_shows_the_traceback(fake):
    with pytest.raises(IndexError):
        main(["run", "tiny", "--quiet", "--out", str(fake), "--set", "mode=bug", "--debug"])


def test_stale_lock_and_temporaries_are_cleaned(fake, capsys):
    _lock(_dead_pid)(fake, None)
    stale = [fake / ".predictions.npz.abcd_123.tmp", fake / "checkpoints" / ".checkpoint.json.x1y2z3w4.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    mine = fake / "notes.tmp"  # a user's file that merely ends in .tmp stays
    mine.write_text("keep")
    assert main(["run", "tiny", "--quiet", "--out", str(fake), "--seed", "1"]) == 0
    assert not (fake / ".sciml-run.lock").exists()
    assert not any(p.exists() for p in stale)
    assert mine.read_text() == "keep"
    assert json.loads((fake / "metrics.json").read_text())["seed"] == 1
    assert not (fake / "partial").exists()


def test_refused_resume_keeps_the_interrupted_run_resumable(fake, capsys):
    assert main(["run", "tiny", "--quiet", "--out", str(fake), "--seed", "2", "--set", "mode=interrupt"]) == 130
    record = fake / "partial" / "checkpoints" / "run.json"
    before = record.read_bytes()
    assert (
        main(["run", "tiny", "--quiet", "--out", str(fake), "--resume", "--seed", "3", "--set", "mode=interrupt"]) == 2
    )
    assert "(seed)" in capsys.readouterr().err
    assert record.read_bytes() == before
    # Still resumable with the original options (it is interrupted again, as configured).
    assert (
        main(["run", "tiny", "--quiet", "--out", str(fake), "--resume", "--seed", "2", "--set", "mode=interrupt"])
        == 130
    )
    assert "resume" in capsys.readouterr().err


def test_a_new_run_replaces_a_finished_run_only_at_the_end(fake):
    old_outputs = json.loads((fake / "metrics.json").read_text())["outputs"]
    extra = fake / "stale_plot.png"
    extra.write_bytes(b"png")
    record = json.loads((fake / "metrics.json").read_text())
    record["outputs"] = [*old_outputs, "stale_plot.png"]
    (fake / "metrics.json").write_text(json.dumps(record))
    assert main(["run", "tiny", "--quiet", "--out", str(fake), "--set", "steps=4"]) == 0
    # The previous run's own outputs that the new one did not write are gone, not mixed in.
    assert not extra.exists()
    assert json.loads((fake / "checkpoints" / "run.json").read_text())["config"]["steps"] == 4
    assert json.loads((fake / "checkpoints" / "checkpoint.json").read_text())["step"] == 4


def test_replot_redraws_from_the_files(finished, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    original = _hashes(out)
    for p in out.glob("*.png"):
        p.unlink()
    assert main(["replot", str(out)]) == 0
    # The same plots, byte for byte, as the run drew them; nothing else touched.
    assert _hashes(out) == original


@pytest.mark.parametrize(
    "prepare, fragments",
    [
        (lambda out: (out / "metrics.json").unlink(), ("holds no finished run",)),
        (lambda out: (out / "predictions.npz").write_bytes(b"PK"), ("cannot redraw", "predictions.npz")),
    ],
    ids=["no metrics.json", "corrupt predictions.npz"],
)
def test_replot_refuses(finished, tmp_path, capsys, prepare, fragments):
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    prepare(out)
    before = _hashes(out)
    assert main(["replot", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert all(f in err for f in fragments), err
    assert _hashes(out) == before


def test_replot_without_a_hook(fake, capsys):
    assert main(["replot", str(fake)]) == 2
    assert "no replot hook" in capsys.readouterr().err
