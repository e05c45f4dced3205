"""Small helpers shared across subpackages."""

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file through a temporary sibling and rename it into place.

    A reader never sees a half-written file and a crash mid-write leaves the
    previous version intact: `os.replace` is atomic on POSIX and Windows.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600 files; outputs are meant to be shared like any other file.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj: object) -> None:
    """Write `obj` as indented JSON, atomically."""
    data = json.dumps(obj, indent=2, sort_keys=True, default=_json_default).encode()
    atomic_write(path, lambda f: f.write(data + b"\n"))


def _json_default(obj: object) -> object:
    # numpy / JAX scalars and small arrays turn up in metadata all the time.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")
