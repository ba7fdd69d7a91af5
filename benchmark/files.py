"""Files written so that readers never see half of one: write to a temporary file in the same
folder, then rename. Created with the user's umask, like a plain open() would."""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def _file_mode() -> int:
    """What a plain open() would give: 0666 less the user's umask (mkstemp alone gives 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _write_bytes(tmp: str, data: bytes) -> None:
    with open(tmp, "wb") as f:
        f.write(data)


def atomic_write(path: Path, data: str | bytes | memoryview) -> None:
    """Write ``data`` to a temporary file, then rename it over ``path``: readers see the old file or
    the new, never half of one, and a failure (disk full, kill) leaves no temporary file behind.
    An OSError names ``path`` (a full disk reports no file name of its own)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, _file_mode())
        os.close(fd)
        _write_bytes(tmp, data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save, atomically. Serialised in memory first: torch's own file writer reports a full
    disk as "[enforce fail at inline_container.cc] unexpected pos", a plain write as ENOSPC."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, buffer.getbuffer())


def to_json(obj: Any) -> str:
    """JSON with NaN written as null (strict JSON readers reject NaN)."""
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(obj), indent=None, sort_keys=False)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(json.loads(to_json(obj)), indent=2) + "\n")
