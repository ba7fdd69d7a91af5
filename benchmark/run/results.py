"""The run directory: the contract later tools rely on.

    <out>/suite.yaml  meta.json  results.jsonl  report.md  splits.csv
    <out>/<detector>/train-<Class>/seed-<s>/run.log, checkpoint_epoch_<k>.pth, final_model.pth
    <out>/<detector>/train-<Class>/seed-<s>/test-<Class>/test_predictions.csv, test_metrics.json, roc_curve.png

Every file is written atomically (temp file + rename) and each finished cell is appended to
results.jsonl at once, so an interrupted run keeps everything it finished and can resume.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from benchmark.files import atomic_write, to_json

RESULTS = "results.jsonl"
CELL_KEYS = ("detector", "train", "test", "seed", "perturbation")
CLEAN = "none"  # the perturbation of an undegraded test set (rows written before perturbations existed)


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
    return tuple(row.get(k, CLEAN) if k == "perturbation" else row[k] for k in CELL_KEYS)


def train_dir(out: Path, detector: str, train: str, seed: int) -> Path:
    return out / detector / f"train-{train}" / f"seed-{seed}"


def cell_dir(out: Path, detector: str, train: str, seed: int, test: str, perturbation: str = CLEAN) -> Path:
    """``test-<T>`` for the clean test set, ``test-<T>__<perturbation>`` (``:`` as ``-``) for a degraded one."""
    suffix = "" if perturbation == CLEAN else "__" + perturbation.replace(":", "-")
    return train_dir(out, detector, train, seed) / f"test-{test}{suffix}"
