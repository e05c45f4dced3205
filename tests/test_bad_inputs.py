"""Every bad input gets a clean answer, and nothing a user owns is overwritten.

One table of cases, each run in a fresh workspace holding the tiny data file and a copy
of one fitted model folder (fitted once per module, 2 steps). A command-line case calls
`sciml.cli.main` in-process and must exit with 2, print no traceback and name the
culprit; an API case must raise the expected class with a message naming the culprit.
In both, every file in the workspace (the finished run folder included) must be
byte-identical afterwards, and no file may appear.
"""

import dataclasses
import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optimistix as optx
import pytest

import sciml.nn as nn
import sciml.train
from sciml.cli import main
from sciml.data import DataError
from sciml.implicit import DEQ, ImplicitLayer
from sciml.ode import ODEModel
from sciml.study import fit_surrogate
from sciml.surrogate import predict_file, PREDICTIONS_MARK
from sciml.train import CheckpointError, read_checkpoint, write_checkpoint


_SETTINGS = ["--set", "width=8", "--set", "depth=1", "--set", "batch_size=4", "--set", "plot_samples=1"]
_FIT = ["--model", "mlp", "--steps", "2", "--quiet", *_SETTINGS]


def _pairs(n: int = 8, size: int = 8) -> dict[str, np.ndarray]:
    x = np.linspace(0, 1, size, endpoint=False)
    u0 = np.stack([np.sin(2 * np.pi * (k + 1) * x) for k in range(n)])[..., None].astype(np.float32)
    return {"inputs": u0, "outputs": (0.5 * u0).astype(np.float32)}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fitted")
    np.savez(root / "data.npz", **_pairs())
    assert main(["fit", str(root / "data.npz"), "--out", str(root / "run"), *_FIT]) == 0
    return root


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


# ---- helpers that damage a copy of the workspace ------------------------------------


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _flip(path: Path, offset_from_end: int = 40) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) - offset_from_end] ^= 0x10
    path.write_bytes(bytes(data))


def _edit_model_json(ws: Path, edit: Callable[[dict], None]) -> None:
    """Edits model.json by hand, leaving the stored fingerprint as it was."""
    path = ws / "run" / "model.json"
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


def _resave(ws: Path, edit: Callable[[dict], None], network: Any = None) -> None:
    """Rewrites model.eqx / model.json through sciml.train.save: consistent fingerprints."""
    path = ws / "run" / "model.eqx"
    meta = sciml.train.load_metadata(path)
    network = sciml.train.load(path) if network is None else network
    extra = {k: v for k, v in meta.items() if k not in ("format", "versions", "leaves", "fingerprint")}
    edit(extra)
    sciml.train.save(path, network, **extra)


def _other_width(ws: Path) -> Any:
    config = dict(sciml.train.load_metadata(ws / "run" / "model.eqx")["config"], width=16)
    return nn.build("mlp", key=jr.key(1), **config)


def _npz_member_with_bad_header(path: Path) -> Path:
    # A valid zip (CRCs match) whose .npy member has a damaged header.
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("inputs.npy", b"\x93NUMPY\x01\x00" + b"{'descr': '<f4', 'shape': (8,, 'fo" + b"\0" * 40)
    return path


def _overflowing(path: Path, dtype: Any) -> Path:
    # Finite values whose centred form (x - mean) exceeds the largest float of `dtype`.
    big = 0.97 * float(np.finfo(dtype).max)
    field = np.full((8, 8, 1), big, dtype)
    field[:, :3] = -big
    np.savez(path, inputs=field, outputs=_pairs()["outputs"].astype(dtype))
    return path


def _in_float32(call: Callable[[], Any]) -> Callable[[], Any]:
    def run():
        with jax.enable_x64(False):
            return call()

    return run


def _checkpoint(ws: Path) -> Path:
    folder = ws / "ck"
    write_checkpoint(folder, 3, {"w": jnp.arange(3.0)}, {"run": {}})
    return folder


def _damaged_checkpoint(ws: Path, damage: Callable[[Path], None]) -> Callable[[], Any]:
    folder = _checkpoint(ws)
    damage(folder)
    return lambda: read_checkpoint(folder, {"w": jnp.zeros(3)})


def _ckpt_file(folder: Path) -> Path:
    return next(folder.glob("checkpoint-*.eqx"))


def _fit_api(ws: Path, data: str = "data.npz", **kwargs: Any) -> Callable[[], Any]:
    overrides = [s for s in _SETTINGS if s != "--set"]
    args = dict(model="mlp", out=ws / "run", steps=2, quiet=True, overrides=overrides)
    return lambda: fit_surrogate(ws / data, **{**args, **kwargs})


# ---- the table ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    # Prepares the workspace; returns CLI arguments (a list) or an API call (a callable).
    make: Callable[[Path], list[str] | Callable[[], Any]]
    fragments: tuple[str, ...]
    error: type[BaseException] | None = None  # for API calls


def _predict(ws: Path, data: str | Path = "data.npz", out: str | Path = "p.npz", model: str | Path = "run") -> list:
    return ["predict", str(ws / model), str(ws / data), "--out", str(ws / out), "--quiet"]


def _fit(ws: Path, data: str | Path = "data.npz", *extra: str, out: str | Path = "run") -> list:
    return ["fit", str(ws / data), "--out", str(ws / out), *_FIT, *extra]


CASES = [
    # Destructive: predict must not overwrite what it reads, or a file it did not write.
    Case("predict --out DATA", lambda ws: _predict(ws, out="data.npz"), ("data file", "data.npz")),
    Case("predict --out model.eqx", lambda ws: _predict(ws, out="run/model.eqx"), ("model.eqx", ".npz")),
    Case(
        "predict --out symlink to DATA",
        lambda ws: ((ws / "link.npz").symlink_to(ws / "data.npz"), _predict(ws, out="link.npz"))[1],
        ("link.npz", "data file"),
    ),
    Case("predict --out DATA by a relative path", lambda ws: _predict(ws, out="run/../data.npz"), ("data file",)),
    Case(
        "predict --out a user's file",
        lambda ws: (np.savez(ws / "mine.npz", a=np.ones(3)), _predict(ws, out="mine.npz"))[1],
        ("mine.npz", "not a predictions file", "--force"),
    ),
    Case("predict --out fit's predictions.npz", lambda ws: _predict(ws, out="run/predictions.npz"), ("--force",)),
    Case(
        "predict --out a directory", lambda ws: ((ws / "d.npz").mkdir(), _predict(ws, out="d.npz"))[1], ("directory",)
    ),
    Case(
        "predict --out under a file",
        lambda ws: _predict(ws, out="data.npz/p.npz"),
        ("data.npz", "not a directory"),
    ),
    Case(
        "predict_file(out=DATA)",
        lambda ws: lambda: predict_file(ws / "run", ws / "data.npz", ws / "data.npz", force=True),
        ("data file",),
        ValueError,
    ),
    # Model files.
    Case(
        "model.json activation edited",
        lambda ws: (_edit_model_json(ws, lambda m: m["config"].update(activation="relu")), _predict(ws))[1],
        ("model.json", "changed after it was saved"),
    ),
    Case(
        "model.json width edited to a string",
        lambda ws: (_edit_model_json(ws, lambda m: m["config"].update(width="8")), _predict(ws))[1],
        ("model.json", "changed after it was saved"),
    ),
    Case(
        "model.json normalisation removed",
        lambda ws: (_edit_model_json(ws, lambda m: m["surrogate"].pop("normalisation")), _predict(ws))[1],
        ("model.json", "changed after it was saved"),
    ),
    Case(
        "model.json saved without normalisation",
        lambda ws: (_resave(ws, lambda m: m["surrogate"].pop("normalisation")), _predict(ws))[1],
        ("model.json", "surrogate.normalisation", "(missing)"),
    ),
    Case(
        "model.json saved with a string width",
        lambda ws: (_resave(ws, lambda m: m["config"].update(width="8")), _predict(ws))[1],
        ("model.json", "'width'", "must be an integer"),
    ),
    Case(
        "model.eqx of another width, model.json saved with it",
        lambda ws: (_resave(ws, lambda m: None, network=_other_width(ws)), _predict(ws))[1],
        ("model.eqx", "does not match", "[16"),
    ),
    Case(
        "model.eqx swapped for another width's weights",
        lambda ws: (_write(ws / "run/model.eqx", _serialised(_other_width(ws))), _predict(ws))[1],
        ("model.eqx", "not the weights file saved with model.json"),
    ),
    Case("model.eqx empty", lambda ws: (_write(ws / "run/model.eqx", b""), _predict(ws))[1], ("model.eqx", "0 bytes")),
    Case(
        "model.eqx truncated",
        lambda ws: (_write(ws / "run/model.eqx", (ws / "run/model.eqx").read_bytes()[:100]), _predict(ws))[1],
        ("model.eqx", "truncated"),
    ),
    Case(
        "model.eqx random",
        lambda ws: (_write(ws / "run/model.eqx", np.random.default_rng(0).bytes(1000)), _predict(ws))[1],
        ("model.eqx", "sha256"),
    ),
    Case("model.eqx bit-flipped", lambda ws: (_flip(ws / "run/model.eqx"), _predict(ws))[1], ("model.eqx", "corrupt")),
    Case(
        "model.eqx a directory",
        lambda ws: ((ws / "run/model.eqx").unlink(), (ws / "run/model.eqx").mkdir(), _predict(ws))[2],
        ("model.eqx", "is a directory"),
    ),
    Case("model.json not JSON", lambda ws: (_write(ws / "run/model.json", b"{oops"), _predict(ws))[1], ("model.json",)),
    Case(
        "model.json of an older format",
        lambda ws: (_edit_model_json(ws, lambda m: m.update(format="sciml-model-1")), _predict(ws))[1],
        ("model.json", "sciml-model-1", "again"),
    ),
    Case("model.json missing", lambda ws: ((ws / "run/model.json").unlink(), _predict(ws))[1], ("model.json",)),
    Case("model folder missing", lambda ws: _predict(ws, model="nowhere"), ("no fitted model", "nowhere")),
    Case("model folder is a file", lambda ws: _predict(ws, model="data.npz"), ("data.npz", "is a file")),
    Case(
        "load(a directory)",
        lambda ws: lambda: sciml.train.load(ws / "run"),
        ("run", "is a directory"),
        ValueError,
    ),
    # Data files.
    Case("fit empty .npz", lambda ws: (_write(ws / "e.npz", b""), _fit(ws, "e.npz"))[1], ("e.npz", "empty")),
    Case(
        "fit CRC-corrupt .npz",
        lambda ws: (_write(ws / "c.npz", _crc_corrupt(ws / "data.npz")), _fit(ws, "c.npz"))[1],
        ("c.npz", "'inputs'", "damaged"),
    ),
    Case(
        "fit .npz with a corrupt member header",
        lambda ws: (_npz_member_with_bad_header(ws / "h.npz"), _fit(ws, "h.npz"))[1],
        ("h.npz", "'inputs'", "header"),
    ),
    Case(
        "fit truncated .npz",
        lambda ws: (_write(ws / "t.npz", (ws / "data.npz").read_bytes()[:300]), _fit(ws, "t.npz"))[1],
        ("t.npz", "truncated"),
    ),
    Case(
        "fit renamed .npy",
        lambda ws: (np.save(ws / "a.npy", _pairs()["inputs"]), (ws / "a.npy").rename(ws / "a.npz"), _fit(ws, "a.npz"))[
            2
        ],
        ("a.npz", "np.save", "np.savez"),
    ),
    Case(
        "fit text file renamed .npz",
        lambda ws: (_write(ws / "x.npz", b"a,b\n1,2\n"), _fit(ws, "x.npz"))[1],
        ("x.npz", "not a .npz file"),
    ),
    Case(
        "fit a directory as data", lambda ws: ((ws / "dd.npz").mkdir(), _fit(ws, "dd.npz"))[1], ("dd.npz", "directory")
    ),
    Case(
        "predict a directory as data", lambda ws: ((ws / "dd.npz").mkdir(), _predict(ws, "dd.npz"))[1], ("directory",)
    ),
    Case("predict an empty .npz", lambda ws: (_write(ws / "e.npz", b""), _predict(ws, "e.npz"))[1], ("e.npz", "empty")),
    Case(
        "fit float64 data overflowing in normalisation (x64 on)",
        lambda ws: (_overflowing(ws / "big.npz", np.float64), _fit(ws, "big.npz"))[1],
        ("big.npz", "'inputs'", "overflows float64"),
    ),
    Case(
        "fit float32 data overflowing in normalisation (x64 off)",
        lambda ws: (_overflowing(ws / "big.npz", np.float32), _in_float32(_fit_api(ws, "big.npz")))[1],
        ("big.npz", "'inputs'", "overflows float32", "JAX_ENABLE_X64"),
        DataError,
    ),
    Case(
        "fit object array",
        lambda ws: (_write(ws / "o.npz", _object_npz()), _fit(ws, "o.npz"))[1],
        ("o.npz", "'inputs'", "Python objects"),
    ),
    Case(
        "fit NaN values",
        lambda ws: (np.savez(ws / "n.npz", **_with_nan()), _fit(ws, "n.npz"))[1],
        ("n.npz", "non-finite", "sample 2"),
    ),
    Case("fit .csv data", lambda ws: (_write(ws / "d.csv", b"1,2\n"), _fit(ws, "d.csv"))[1], ("d.csv", "unsupported")),
    Case("fit missing data", lambda ws: _fit(ws, "absent.npz"), ("absent.npz", "no data file")),
    Case(
        "predict data on another grid",
        lambda ws: (np.savez(ws / "g.npz", **_pairs(size=16)), _predict(ws, "g.npz"))[1],
        ("g.npz", "grid (16,)", "(8,)"),
    ),
    # Settings of sciml fit (the finished run in --out must survive them).
    Case("fit --out is a file", lambda ws: _fit(ws, out="data.npz"), ("data.npz", "is a file")),
    Case("fit --out under a file", lambda ws: _fit(ws, out="data.npz/run"), ("data.npz/run", "cannot write")),
    Case("fit width=true", lambda ws: _fit(ws, "data.npz", "--set", "width=true"), ("'width'", "integer", "True")),
    Case("fit dropout=1.5", lambda ws: _fit(ws, "data.npz", "--set", "dropout=1.5"), ("dropout", "[0, 1)", "1.5")),
    Case(
        "fit fourier_features=-3",
        lambda ws: _fit(ws, "data.npz", "--set", "fourier_features=-3"),
        ("fourier_features", ">= 0", "-3"),
    ),
    Case(
        "fit FNO modes beyond the grid",
        lambda ws: ["fit", str(ws / "data.npz"), "--out", str(ws / "run"), "--model", "fno", "--set", "modes=9"],
        ("modes=9", "grid (8,)", "at most 5"),
    ),
    Case(
        "fit unknown activation",
        lambda ws: _fit(ws, "data.npz", "--set", "activation=tahn"),
        ("activation", "tahn"),
    ),
    Case("fit learning_rate=0", lambda ws: _fit(ws, "data.npz", "--set", "learning_rate=0"), ("learning_rate",)),
    Case("fit warmup_steps=-1", lambda ws: _fit(ws, "data.npz", "--set", "warmup_steps=-1"), ("warmup_steps", "-1")),
    Case("fit batch_size=abc", lambda ws: _fit(ws, "data.npz", "--set", "batch_size=abc"), ("batch_size", "abc")),
    Case("fit val_fraction=1.5", lambda ws: _fit(ws, "data.npz", "--set", "val_fraction=1.5"), ("val_fraction",)),
    Case("fit misspelt model key", lambda ws: _fit(ws, "data.npz", "--set", "widht=8"), ("'widht'", "width")),
    Case("fit window on a pairs file", lambda ws: _fit(ws, "data.npz", "--set", "window=2"), ("window", "pairs")),
    Case(
        "fit --model cnn",
        lambda ws: ["fit", str(ws / "data.npz"), "--out", str(ws / "run"), "--model", "cnn"],
        ("cnn",),
    ),
    Case(
        "fit --model nope",
        lambda ws: ["fit", str(ws / "data.npz"), "--out", str(ws / "run"), "--model", "nope"],
        ("nope",),
    ),
    Case(
        "fit text file renamed .h5", lambda ws: (_write(ws / "x.h5", b"a,b\n"), _fit(ws, "x.h5"))[1], ("x.h5", "HDF5")
    ),
    Case("fit empty .h5", lambda ws: (_write(ws / "e.h5", b""), _fit(ws, "e.h5"))[1], ("e.h5", "HDF5")),
    Case(
        "fit .npz with a mistyped key",
        lambda ws: (np.savez(ws / "k.npz", inputs=_pairs()["inputs"], output=_pairs()["outputs"]), _fit(ws, "k.npz"))[
            1
        ],
        ("k.npz", "'output'"),
    ),
    Case(
        "fit integer data",
        lambda ws: (
            np.savez(ws / "i.npz", inputs=np.ones((8, 8, 1), int), outputs=np.ones((8, 8, 1))),
            _fit(ws, "i.npz"),
        )[1],
        ("i.npz", "'inputs'"),
    ),
    # Checkpoints.
    Case(
        "checkpoint.json not JSON",
        lambda ws: _damaged_checkpoint(ws, lambda d: _write(d / "checkpoint.json", b"{not json")),
        ("checkpoint.json", "without --resume"),
        CheckpointError,
    ),
    Case(
        "checkpoint.json truncated",
        lambda ws: _damaged_checkpoint(
            ws, lambda d: _write(d / "checkpoint.json", (d / "checkpoint.json").read_bytes()[:30])
        ),
        ("checkpoint.json", "without --resume"),
        CheckpointError,
    ),
    Case(
        "checkpoint pointer to a missing file",
        lambda ws: _damaged_checkpoint(ws, lambda d: _ckpt_file(d).unlink()),
        ("checkpoint-000000003.eqx", "without --resume"),
        CheckpointError,
    ),
    Case(
        "checkpoint pointer outside its folder",
        lambda ws: _damaged_checkpoint(ws, lambda d: _edit_json(d / "checkpoint.json", file="../data.npz")),
        ("checkpoint.json", "damaged"),
        CheckpointError,
    ),
    Case(
        "checkpoint file truncated",
        lambda ws: _damaged_checkpoint(ws, lambda d: _write(_ckpt_file(d), _ckpt_file(d).read_bytes()[:10])),
        ("checkpoint-000000003.eqx", "truncated or corrupt", "without --resume"),
        CheckpointError,
    ),
    Case(
        "checkpoint file empty",
        lambda ws: _damaged_checkpoint(ws, lambda d: _write(_ckpt_file(d), b"")),
        ("checkpoint-000000003.eqx", "0 bytes"),
        CheckpointError,
    ),
    Case(
        "checkpoint file bit-flipped",
        lambda ws: _damaged_checkpoint(ws, lambda d: _flip(_ckpt_file(d), 4)),
        ("checkpoint-000000003.eqx", "corrupt"),
        CheckpointError,
    ),
    Case(
        "fit --resume with a corrupt checkpoint.json",
        lambda ws: (_write(ws / "run/checkpoints/checkpoint.json", b"{"), _fit_api(ws, resume=True))[1],
        ("checkpoint.json", "without --resume"),
        CheckpointError,
    ),
    Case(
        "fit --resume with a corrupt run.json",
        lambda ws: (_write(ws / "run/checkpoints/run.json", b"[1,"), _fit_api(ws, resume=True))[1],
        ("run.json", "without --resume"),
        ValueError,
    ),
    # Model arguments (API): each a ValueError naming the argument.
    *[
        Case(
            f"nn.build mlp width={value!r}",
            lambda ws, v=value: lambda: _mlp(width=v),
            ("'width'", "integer"),
            ValueError,
        )
        for value in ("32", 32.5, None, True)
    ],
    Case("MLP(width=True)", lambda ws: lambda: nn.MLP(2, 1, width=True, key=jr.key(0)), ("width",), ValueError),
    Case("MLP dropout=1.5", lambda ws: lambda: _mlp(dropout=1.5), ("dropout", "[0, 1)"), ValueError),
    Case("MLP dropout=-0.1", lambda ws: lambda: _mlp(dropout=-0.1), ("dropout", "[0, 1)"), ValueError),
    Case("MLP fourier_features=-3", lambda ws: lambda: _mlp(fourier_features=-3), ("fourier_features",), ValueError),
    Case(
        "CNN kernel_size=0",
        lambda ws: lambda: nn.CNN(1, 1, (4,), out_size=2, kernel_size=0, key=jr.key(0)),
        ("kernel_size", ">= 1"),
        ValueError,
    ),
    Case(
        "FieldResNet kernel_size=0",
        lambda ws: lambda: nn.FieldResNet(1, 1, 1, kernel_size=0, key=jr.key(0)),
        ("kernel_size", ">= 1"),
        ValueError,
    ),
    Case(
        "Transformer num_heads=0",
        lambda ws: lambda: nn.Transformer(2, 1, num_heads=0, key=jr.key(0)),
        ("num_heads", ">= 1"),
        ValueError,
    ),
    Case("FNO modes=0", lambda ws: lambda: nn.FNO(1, 1, 1, modes=0, key=jr.key(0)), ("modes", ">= 1"), ValueError),
    Case(
        "ODEModel rtol=-1",
        lambda ws: (
            lambda: ODEModel(lambda t, y, a: -y, stepsize_controller=diffrax.PIDController(rtol=-1.0, atol=1e-6))
        ),
        ("rtol", ">= 0"),
        ValueError,
    ),
    Case(
        "DEQ rtol=-1",
        lambda ws: lambda: DEQ(lambda z, x: 0.5 * z + x, (2,), solver=optx.Newton(rtol=-1.0, atol=1e-6)),
        ("DEQ", "rtol", ">= 0"),
        ValueError,
    ),
    Case(
        "ImplicitLayer atol=-1",
        lambda ws: lambda: ImplicitLayer(lambda z, x: z - x, (2,), solver=optx.Newton(rtol=1e-6, atol=-1.0)),
        ("ImplicitLayer", "atol", ">= 0"),
        ValueError,
    ),
]


def _mlp(**kwargs: Any) -> Any:
    return nn.build("mlp", key=jr.key(0), in_size=2, out_size=1, **kwargs)


def _serialised(model: Any) -> bytes:
    import io

    import equinox as eqx

    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, model)
    return buf.getvalue()


def _crc_corrupt(path: Path) -> bytes:
    data = bytearray(path.read_bytes())
    data[data.find(b"\x93NUMPY") + 150] ^= 0xFF  # inside the first member's values
    return bytes(data)


def _object_npz() -> bytes:
    import io

    ragged = np.empty(8, dtype=object)
    ragged[:] = [np.zeros(3)] * 8
    buf = io.BytesIO()
    np.savez(buf, inputs=ragged, outputs=_pairs()["outputs"])
    return buf.getvalue()


def _with_nan() -> dict[str, np.ndarray]:
    data = _pairs()
    data["inputs"][2, 3, 0] = np.nan
    return data


def _edit_json(path: Path, **changes: Any) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, fitted, tmp_path, capsys):
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(fitted / "data.npz", ws / "data.npz")
    shutil.copytree(fitted / "run", ws / "run")
    action = case.make(ws)
    before = _hashes(ws)
    capsys.readouterr()
    if isinstance(action, list):
        assert case.error is None, "a command-line case is checked by its exit code"
        code = main(action)
        captured = capsys.readouterr()
        assert code == 2, captured.err
        assert "Traceback" not in captured.err + captured.out
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1, captured.err
        message = lines[0]
    else:
        assert case.error is not None
        with pytest.raises(case.error) as info:
            action()
        message = str(info.value)
    for fragment in case.fragments:
        assert fragment in message, message
    assert "allow_pickle" not in message  # never advise loading data unsafely
    assert _hashes(ws) == before, "a refused command changed or created files"


def test_bad_input_table_covers_every_class():
    """The report's count: cases per class (command line / API)."""
    cli = sum(1 for c in CASES if c.error is None)
    assert cli >= 30 and len(CASES) - cli >= 20
    assert len({c.name for c in CASES}) == len(CASES)


def test_predict_replaces_its_own_file_and_a_users_only_with_force(fitted, tmp_path):
    out = tmp_path / "p.npz"
    first = predict_file(fitted / "run", fitted / "data.npz", out)
    with np.load(out) as f:
        assert PREDICTIONS_MARK in f.files and f["predictions"].shape == (8, 8, 1)
    assert predict_file(fitted / "run", fitted / "data.npz", out)["metrics"] == first["metrics"]
    mine = tmp_path / "mine.npz"
    np.savez(mine, a=np.ones(3))
    with pytest.raises(ValueError, match="not a predictions file"):
        predict_file(fitted / "run", fitted / "data.npz", mine)
    predict_file(fitted / "run", fitted / "data.npz", mine, force=True)
    with np.load(mine) as f:
        assert "a" not in f.files and PREDICTIONS_MARK in f.files
