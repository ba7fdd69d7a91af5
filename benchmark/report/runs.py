"""Reading a finished run for a report: results, meta, settings and every cell's predictions,
checked to belong together. Reads only; a problem is one BenchmarkError naming the file and the fix."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from benchmark.errors import BenchmarkError
from benchmark.run.results import CELL_KEYS, CLEAN, CORRUPT, RESULTS, cell_dir, cell_key, read_results_checked
from benchmark.yaml_input import parse_yaml

PREDICTIONS = "test_predictions.csv"
MATCH_TOLERANCE = 1e-6  # AUC recomputed from a predictions file vs the value results.jsonl holds


@dataclass(eq=False)  # one object per run folder: hashed and compared by identity
class RunData:
    path: Path
    meta: dict
    rows: list[dict]  # results.jsonl, in order
    suite: dict  # the run's suite.yaml as saved (resolved), {} when unreadable
    splits: pd.DataFrame | None  # splits.csv: path, class, video, unit, split, sha256
    predictions: dict[tuple, pd.DataFrame] = field(default_factory=dict)  # cell key -> table

    @property
    def report_settings(self) -> dict:
        return self.suite.get("report") or {}

    @property
    def video_score(self) -> str:
        return self.meta.get("video_score", "mean")  # runs before the choice existed used the mean

    @property
    def has_videos(self) -> bool:
        return any(str(name).startswith("video_") for name in self.meta.get("metrics", ()))

    def predictions_classes(self, test: str) -> list[str]:
        """The classes (real and fake) of test set ``test``, as its predictions list them."""
        for key, table in self.predictions.items():
            if key[CELL_KEYS.index("test")] == test:
                return list(table["class"].unique())
        return []

    def test_fingerprint(self, classes: list[str]) -> str | None:
        """sha256 of the sorted (path, sha256) of the test images of these classes; None without splits.csv."""
        if self.splits is None or "sha256" not in self.splits:
            return None
        test = self.splits[(self.splits["split"] == "test") & self.splits["class"].isin(classes)]
        text = "\n".join(sorted(test["path"] + "\t" + test["sha256"]))
        return hashlib.sha256(text.encode()).hexdigest()


def load_run_data(run_dir: str | Path) -> RunData:
    path = Path(run_dir)
    if not path.is_dir():
        raise BenchmarkError(f"{path} does not exist or is not a folder; pass the --output-dir of a run")
    meta_path = path / "meta.json"
    if not meta_path.exists():
        raise BenchmarkError(f"{path} is not a run directory (no meta.json); pass the --output-dir of a run")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BenchmarkError(f"{meta_path} is damaged (not JSON); rerun `benchmark run {path / 'suite.yaml'}` "
                             "to rewrite it") from None
    rows, problems = read_results_checked(path)
    if problems:
        raise BenchmarkError(f"{problems[0].split(';')[0]}; run `benchmark run {path / 'suite.yaml'}` to repair the "
                             f"run (it moves that line to {CORRUPT} and scores its cell again), then report")
    if not rows:
        raise BenchmarkError(f"{path / RESULTS}: the run has no finished cells yet; run "
                             f"`benchmark run {path / 'suite.yaml'}` to finish it")
    suite = _suite(path)
    data = RunData(path, meta, in_suite_order(rows, suite), suite, _splits(path))
    for row in rows:
        data.predictions[cell_key(row)] = _predictions(data, row)
    return data


def in_suite_order(rows: list[dict], suite: dict) -> list[dict]:
    """Rows in the suite's order of detectors, training sets, tests, seeds and perturbations, as a
    local run writes them: a Ray run finishes cells in any order, and its report must not differ."""
    pairings = [p for p in suite.get("pairings") or [] if isinstance(p, dict)]
    tests = [t for p in pairings for t in (p.get("test") if isinstance(p.get("test"), list) else [p.get("test")])]
    orders = {"detector": list(suite.get("detectors") or []), "train": [p.get("train") for p in pairings],
              "test": tests, "seed": list(suite.get("seeds") or []), "perturbation": list(suite.get("perturbations") or [])}

    def position(row: dict) -> tuple:
        key = dict(zip(CELL_KEYS, cell_key(row)))
        return tuple(orders[k].index(key[k]) if key[k] in orders[k] else len(orders[k]) for k in CELL_KEYS)

    return sorted(rows, key=position)  # stable: what the suite does not order stays as written


def _suite(path: Path) -> dict:
    suite = path / "suite.yaml"
    try:
        raw = parse_yaml(suite.read_text(), str(suite))
    except (OSError, BenchmarkError):
        return {}  # settings fall back to defaults; the results are what matters here
    return raw if isinstance(raw, dict) else {}


def _splits(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path / "splits.csv", dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError):
        return None


def _predictions(data: RunData, row: dict) -> pd.DataFrame:
    """A cell's predictions with class and video (older runs: looked up in splits.csv), checked
    against its results row so a report never mixes a replaced file with old results."""
    file = cell_dir(data.path, row["detector"], row["train"], row["seed"], row["test"],
                    row.get("perturbation", CLEAN)) / PREDICTIONS
    fix = (f"restore it, or delete that cell's line from {data.path / RESULTS} and run "
           f"`benchmark run {data.path / 'suite.yaml'}` to score the cell again")
    try:
        table = pd.read_csv(file, dtype={"path": str, "class": str, "video": str}, keep_default_na=False)
    except FileNotFoundError:
        raise BenchmarkError(f"{file} is missing; {fix}") from None
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise BenchmarkError(f"{file} cannot be read ({str(e).splitlines()[0]}); {fix}") from None
    missing = {"path", "label", "score"} - set(table.columns)
    if missing:
        raise BenchmarkError(f"{file} lacks the column(s) {', '.join(sorted(missing))}; {fix}")
    if not {"class", "video"} <= set(table.columns):
        table = _with_groups(table, data, file, fix)
    table["label"] = pd.to_numeric(table["label"], errors="coerce")
    table["score"] = pd.to_numeric(table["score"], errors="coerce")
    if table[["label", "score"]].isna().any().any():
        raise BenchmarkError(f"{file} has empty or non-numeric labels or scores; {fix}")
    table["label"] = table["label"].astype(int)
    counts = (int((table["label"] == 0).sum()), int((table["label"] == 1).sum()))
    if "n_real" in row and counts != (row["n_real"], row["n_fake"]):
        raise BenchmarkError(f"{file} no longer matches results.jsonl: {counts[0]} real / {counts[1]} fake images, "
                             f"results say {row['n_real']} / {row['n_fake']}; {fix}")
    recorded = row.get("auc")
    if isinstance(recorded, (int, float)) and np.isfinite(recorded) and table["label"].nunique() == 2:
        again = roc_auc_score(table["label"], table["score"])
        if abs(again - recorded) > MATCH_TOLERANCE:
            raise BenchmarkError(f"{file} no longer matches results.jsonl: its scores give AUC {again:.4f}, "
                                 f"results say {recorded:.4f}; {fix}")
    return table


def _with_groups(table: pd.DataFrame, data: RunData, file: Path, fix: str) -> pd.DataFrame:
    """Runs before predictions carried class and video: class from splits.csv, video from it too or,
    in the oldest runs, from the path (a frame's folder is its video; a loose image is its own)."""
    if data.splits is None or not {"path", "class"} <= set(data.splits.columns):
        raise BenchmarkError(f"{file} has no class/video columns and {data.path / 'splits.csv'} is missing "
                             f"or damaged; {fix}")
    groups = data.splits.drop_duplicates("path")[[c for c in ("path", "class", "video") if c in data.splits]]
    joined = table.drop(columns=["class", "video"], errors="ignore").merge(groups, on="path", how="left")
    if joined["class"].isna().any():
        raise BenchmarkError(f"{file} lists images that splits.csv does not; {fix}")
    if "video" not in joined:
        paths = joined["path"].map(Path)
        joined["video"] = [p.name if p.parent.name == cls else p.parent.name for p, cls in zip(paths, joined["class"])]
    return joined
