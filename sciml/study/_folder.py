"""The output folder of a run: its lock, its staging area, the checks `--resume` makes, the final swap.

A run never writes into the user's folder until it has finished: it works in `OUT/partial`
(outputs and `checkpoints/`) and, once its `metrics.json` is written, moves everything into
`OUT` in one step, `metrics.json` last, so a finished run's files are replaced only by those
of another finished run. An interrupted run leaves `OUT` as it was, plus `OUT/partial`,
which `--resume` continues.
"""

import contextlib
import json
import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._config import ConfigError


STAGING = "partial"
LOCK = ".sciml-run.lock"
RUN_RECORD = "run.json"
POINTER = "checkpoint.json"  # sciml.train's checkpoint pointer
# The temporaries of `sciml._misc.atomic_write`: `.NAME.XXXXXXXX.tmp` (tempfile.mkstemp's suffix).
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def check_out(out: Path) -> None:
    """Refuses an `--out` that is a file or cannot be created or written, before anything is touched."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is an existing file, not a folder; choose a folder")
    ancestor = out
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"cannot create --out {out}: {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write to {ancestor} (read-only or no permission); choose another --out")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Holds `OUT/.sciml-run.lock` (created with `O_EXCL`, holding the owner's pid) for the block.

    A lock whose process is gone (on this host) is stale and taken over.

    **Raises:**

    `ConfigError` when another live run holds the folder, or the folder cannot be written.
    """
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create --out {out}: {e.strerror or e}") from None
    path = out / LOCK
    owner = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text())
                pid, host = int(holder["pid"]), holder.get("host")
            except (OSError, ValueError, KeyError, TypeError):
                pid, host = None, None  # a lock cut short by a crash: nobody holds it
            if pid is not None and (host != owner["host"] or _pid_alive(pid)):
                raise ConfigError(
                    f"another run (pid {pid} on {host}) is writing to {out}; wait for it to finish or choose "
                    f"another --out (if no such run exists, delete {path})"
                ) from None
            path.unlink(missing_ok=True)
            continue
        except OSError as e:
            raise ConfigError(f"cannot write to --out {out}: {e.strerror or e} ({path})") from None
        with os.fdopen(fd, "w") as f:
            json.dump(owner, f)
        break
    else:
        raise ConfigError(f"could not take the lock {path}; another run may be starting in {out}")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        if created and not any(out.iterdir()):
            out.rmdir()


def clean_temporaries(out: Path) -> list[Path]:
    """Removes the temporaries a killed writer left in `out` (call only while holding the lock)."""
    removed = []
    for path in out.rglob(".*.tmp"):
        if _TEMPORARY.match(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"--resume: {path} is unreadable or corrupt ({type(e).__name__}); run again without --resume to start over"
        ) from None


def _check_npy_stream(path: Path) -> None:
    """Checks that an `.eqx` file is a complete sequence of `.npy` records (equinox's format)."""
    size = path.stat().st_size
    if size == 0:
        raise ValueError("empty file")
    with open(path, "rb") as f:
        while f.tell() < size:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f)
            if dtype.hasobject:
                raise ValueError("object arrays are not written by sciml")
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if f.tell() + nbytes > size:
                raise ValueError(f"truncated: {size - f.tell()} of {nbytes} bytes of an array")
            f.seek(nbytes, os.SEEK_CUR)


def check_checkpoints(directory: Path) -> None:
    """Checks every checkpoint under `directory` can be read: pointer JSON, its file, the file's records.

    **Raises:**

    `ConfigError` naming the first corrupt or missing file and offering to start over.
    """
    for pointer in sorted(directory.rglob(POINTER)):
        meta = _read_json(pointer)
        if not isinstance(meta, dict) or not isinstance(meta.get("file"), str):
            raise ConfigError(
                f"--resume: {pointer} is not a sciml checkpoint pointer; run again without --resume to start over"
            )
        target = pointer.parent / meta["file"]
        if not target.is_file():
            raise ConfigError(
                f"--resume: {pointer} points to {target}, which is missing; run again without --resume to start over"
            )
        try:
            _check_npy_stream(target)
        except (OSError, ValueError, EOFError) as e:
            raise ConfigError(
                f"--resume: checkpoint {target} is corrupt ({' '.join(str(e).split())}); "
                "run again without --resume to start over"
            ) from None


def resume_source(out: Path) -> Path | None:
    """The checkpoint folder `--resume` continues: an interrupted run's, else a finished run's."""
    for candidate in (out / STAGING / "checkpoints", out / "checkpoints"):
        if (candidate / RUN_RECORD).exists() or (candidate / POINTER).exists():
            return candidate
    return None


def check_resumable(source: Path, record: dict[str, Any]) -> None:
    """Refuses to resume checkpoints that a run with other settings wrote; reads only.

    **Raises:**

    `ConfigError` listing the differing settings, or naming a corrupt file.
    """
    path = source / RUN_RECORD
    if path.exists():
        previous = _read_json(path)
        if not isinstance(previous, dict):
            raise ConfigError(f"--resume: {path} is corrupt; run again without --resume to start over")
        differing = sorted(k for k in set(previous) | set(record) if k != "config" and previous.get(k) != record.get(k))
        old_config, new_config = previous.get("config") or {}, record["config"]
        differing += sorted(
            f"config.{k}" for k in set(old_config) | set(new_config) if old_config.get(k) != new_config.get(k)
        )
        if differing:
            raise ConfigError(
                f"--resume: the checkpoint in {source} was written with different settings "
                f"({', '.join(differing)}); repeat the original options or run without --resume"
            )
    check_checkpoints(source)


def _replace(source: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        trash = target.with_name(f".{target.name}.old")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(target, trash)
        os.replace(source, target)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(source, target)


def commit(staging: Path, out: Path, previous_outputs: list[str]) -> None:
    """Moves a finished run's files from `staging` into `out`, `metrics.json` last.

    Files the previous finished run listed as its outputs and this run did not write are
    removed, so the folder never mixes two runs' files.
    """
    (out / "metrics.json").unlink(missing_ok=True)
    new = {p.name for p in staging.iterdir()}
    for path in sorted(staging.iterdir()):
        if path.name != "metrics.json":
            _replace(path, out / path.name)
    for name in previous_outputs:
        stale = out / name
        if name not in new and "/" not in name and stale.is_file():
            stale.unlink()
    os.replace(staging / "metrics.json", out / "metrics.json")
    shutil.rmtree(staging)


def previous_outputs(out: Path) -> list[str]:
    """The outputs a finished run in `out` recorded in its `metrics.json` (empty if none or unreadable)."""
    try:
        outputs = json.loads((out / "metrics.json").read_text()).get("outputs", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [o for o in outputs if isinstance(o, str)]
