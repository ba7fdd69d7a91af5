"""The run directory: the contract later tools rely on.

    <out>/suite.yaml  meta.json  results.jsonl  report.md  splits.csv
    <out>/<detector>/train-<Class>/seed-<s>/run.log, checkpoint_epoch_<k>.pth, final_model.pth
    <out>/<detector>/train-<Class>/seed-<s>/test-<Class>/test_predictions.csv, test_metrics.json, roc_curve.png

Every file is written atomically (temp file + rename) and each finished cell is appended to
results.jsonl at once, so an interrupted run keeps everything it finished and can resume.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

RESULTS = "results.jsonl"
CELL_KEYS = ("detector", "train", "test", "seed")


def _file_mode() -> int:
    """What a plain open() would give: 0666 less the user's umask (mkstemp alone gives 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _atomic(path: Path, write) -> None:
    """``write(tmp_path)`` then rename over ``path``: readers see the old file or the new, never
    half of one, and a failure (disk full, kill) leaves no temporary file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, _file_mode())
        os.close(fd)
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: str | bytes) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
    _atomic(path, write)


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save, atomically."""
    _atomic(path, lambda tmp: torch.save(obj, tmp))


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


def read_results(run_dir: Path) -> list[dict]:
    return read_results_checked(run_dir)[0]


def read_results_checked(run_dir: Path) -> tuple[list[dict], list[str]]:
    """(rows, problems): a line a crash cut short is left out and named, never glued to another."""
    path = Path(run_dir) / RESULTS
    if not path.exists():
        return [], []
    rows, problems = [], []
    lines = path.read_text(errors="replace").split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            last = number == len(lines)
            problems.append(f"{path}: line {number} is {'a half-written last line' if last else 'not valid JSON'}"
                            f" (a crash mid-write?); its cell is run again on resume")
    return rows, problems


def repair_results(run_dir: Path) -> bool:
    """Cut a half-written last line (no newline after it) so the next row starts on its own line."""
    path = Path(run_dir) / RESULTS
    if not path.exists():
        return False
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return False
    atomic_write(path, data[: data.rfind(b"\n") + 1])
    return True


def append_result(run_dir: Path, row: dict) -> None:
    with open(Path(run_dir) / RESULTS, "a") as f:
        f.write(to_json(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def cell_key(row: dict) -> tuple:
    return tuple(row[k] for k in CELL_KEYS)


def train_dir(out: Path, detector: str, train: str, seed: int) -> Path:
    return out / detector / f"train-{train}" / f"seed-{seed}"


def cell_dir(out: Path, detector: str, train: str, seed: int, test: str) -> Path:
    return train_dir(out, detector, train, seed) / f"test-{test}"
