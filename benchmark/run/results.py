"""The run directory: the contract later tools rely on.

    <out>/suite.yaml  meta.json  results.jsonl  report.md  splits.csv
    <out>/<detector>/train-<Class>/seed-<s>/run.log, epochs.csv, checkpoint_epoch_<k>.pth, final_model.pth
    <out>/<detector>/train-<Class>/seed-<s>/test-<Class>/test_predictions.csv, test_metrics.json, roc_curve.png

Every file is written atomically (temp file + rename) and each finished cell is appended to
results.jsonl at once, so an interrupted run keeps everything it finished and can resume.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from benchmark.files import atomic_write, to_json
from benchmark.suite_sections import check_name

RESULTS = "results.jsonl"
EPOCHS = "epochs.csv"  # per training run: epoch, the detector's stats, val_auc, val_loss, selected
CELL_KEYS = ("detector", "train", "test", "seed", "perturbation")
CLEAN = "none"  # the perturbation of an undegraded test set (rows written before perturbations existed)


def read_results(run_dir: Path) -> list[dict]:
    return read_results_checked(run_dir)[0]


def read_results_checked(run_dir: Path) -> tuple[list[dict], list[str]]:
    """(rows, problems): a line a crash cut short (or a damaged one) is left out and named, never
    glued to another."""
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
                            f"{' (a crash mid-write?)' if last else ''}; rerunning the run moves it to {CORRUPT} "
                            "and scores its cell again")
    return rows, problems


CORRUPT = "results.corrupt.jsonl"  # lines of results.jsonl that were not JSON, kept for the record


def repair_results(run_dir: Path) -> int:
    """Move every line that is not JSON (a half-written last line, a damaged one in the middle) to
    results.corrupt.jsonl, so the rest reads again and those cells are scored again; returns how many."""
    path = Path(run_dir) / RESULTS
    if not path.exists():
        return 0
    good, bad = [], []
    for line in path.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            json.loads(line)
            good.append(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            bad.append(line)
    if bad:
        with open(Path(run_dir) / CORRUPT, "ab") as f:  # first: a crash between the two loses no line
            f.write(b"".join(line + b"\n" for line in bad))
        atomic_write(path, b"".join(line + b"\n" for line in good))
    return len(bad)


def append_result(run_dir: Path, row: dict) -> None:
    with open(Path(run_dir) / RESULTS, "a") as f:
        f.write(to_json(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def cell_key(row: dict) -> tuple:
    return tuple(row.get(k, CLEAN) if k == "perturbation" else row[k] for k in CELL_KEYS)


def train_dir(out: Path, detector: str, train: str, seed: int) -> Path:
    # the last guard: whatever a name came from, it cannot point outside the run dir
    check_name(detector, "detector", str(out))
    check_name(train, "train", str(out))
    return out / detector / f"train-{train}" / f"seed-{seed}"


def cell_dir(out: Path, detector: str, train: str, seed: int, test: str, perturbation: str = CLEAN) -> Path:
    """``test-<T>`` for the clean test set, ``test-<T>__<perturbation>`` (``:`` as ``-``) for a degraded one."""
    check_name(test, "test", str(out))
    suffix = "" if perturbation == CLEAN else "__" + check_name(perturbation, "perturbation", str(out)).replace(":", "-")
    return train_dir(out, detector, train, seed) / f"test-{test}{suffix}"
