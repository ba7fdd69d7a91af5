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


def atomic_write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save, atomically."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    path = Path(run_dir) / RESULTS
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash mid-write; its cell is simply run again
    return rows


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
