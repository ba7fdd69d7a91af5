"""Runs -> one study: every cell of every system (a detector in a run) rescored from its predictions,
with bootstrap resamples kept so that summaries and differences get intervals too.

Tidy frames, one row per:
* ``cells``: system x train x test x seed: each column's value, its interval (``<col>_lo``/``_hi``),
  test sizes, threshold, selected epoch.
* ``pooled``: system x train x test: seeds pooled (mean, sd, n) with the interval of the seed mean.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark.metrics import Column, score_cell, test_sizes
from benchmark.perturbations import CLEAN
from benchmark.report.bootstrap import Draws, cell_replicates, interval
from benchmark.report.runs import RunData
from benchmark.run.results import cell_key
from benchmark.suite import ReportConfig

IMBALANCE = 2.0  # a test set with more than twice as many of one class as the other is flagged
PASSTHROUGH = ("oracle_auc",)  # values only results.jsonl has (they need the checkpoints): shown as they are
SIZES = ("n_real", "n_fake", "n_real_videos", "n_fake_videos", "imbalanced", "test_digest")
ROW_FACTS = ("threshold", "selected_epoch", "val_auc", "oracle_epoch")


@dataclass(frozen=True)
class System:
    """One detector of one run; ``label`` names it in tables (detector, plus what differs between runs)."""

    label: str
    run: RunData
    detector: str


@dataclass
class Study:
    systems: list[System]
    columns: list[Column]
    config: ReportConfig
    cells: pd.DataFrame
    pooled: pd.DataFrame
    replicates: dict[tuple, dict[str, np.ndarray]] = field(default_factory=dict)  # (label, train, test) -> seed mean
    predictions: dict[tuple, list[pd.DataFrame]] = field(default_factory=dict)  # (label, train, test) -> per seed
    # degraded test sets: (label, train, test, perturbation) -> seed-mean replicates; pooled like `pooled`
    robust_replicates: dict[tuple, dict[str, np.ndarray]] = field(default_factory=dict)
    robust: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.systems]

    @property
    def headline(self) -> list[str]:
        """The metrics the leaderboard and heatmaps show: AUC (frame and video) when reported."""
        names = [c.name for c in self.columns]
        chosen = [n for n in ("auc", "video_auc") if n in names]
        return chosen or names[:1]

    def system(self, label: str) -> System:
        return next(s for s in self.systems if s.label == label)

    def lower_is_better(self, name: str) -> bool:
        return name in {c.name for c in self.columns if not c.higher_is_better}


def build_study(systems: list[System], columns: list[Column], config: ReportConfig) -> Study:
    draws = Draws(config.bootstrap, config.bootstrap_seed)
    records, seed_reps, tables = [], {}, {}
    for system in systems:
        for row in system.run.rows:
            if row["detector"] != system.detector:
                continue
            predictions = system.run.predictions[cell_key(row)]
            threshold, video_score = float(row["threshold"]), system.run.video_score
            values = score_cell(columns, predictions, threshold, video_score)
            reps = cell_replicates(columns, predictions, threshold, video_score, draws)
            perturbation = row.get("perturbation", CLEAN)
            record = {"system": system.label, "detector": system.detector, "run": str(system.run.path),
                      "train": row["train"], "test": row["test"], "seed": row["seed"], "perturbation": perturbation,
                      **test_sizes(predictions),
                      "test_digest": test_digest(predictions)}
            for column in columns:
                low, high = interval(reps.get(column.name), config.confidence)
                record.update({column.name: values[column.name], f"{column.name}_lo": low, f"{column.name}_hi": high})
            record.update({k: row[k] for k in PASSTHROUGH if k in row})
            record.update({k: row.get(k) for k in ROW_FACTS})
            records.append(record)
            seed_reps.setdefault((system.label, row["train"], row["test"], perturbation), []).append(reps)
            if perturbation == CLEAN:
                tables.setdefault((system.label, row["train"], row["test"]), []).append(predictions)
    cells = pd.DataFrame(records)
    cells["imbalanced"] = _imbalanced(cells)
    means = {key: {name: np.mean([r[name] for r in runs], axis=0) for name in runs[0]}
             for key, runs in seed_reps.items()}
    replicates = {key[:3]: value for key, value in means.items() if key[3] == CLEAN}
    robust = {key: value for key, value in means.items() if key[3] != CLEAN}
    study = Study(systems, columns, config, cells, pd.DataFrame(), replicates, tables, robust)
    study.pooled = _pool(study, cells[cells["perturbation"] == CLEAN], ["system", "train", "test"], replicates)
    degraded = cells[cells["perturbation"] != CLEAN]
    if not degraded.empty:
        study.robust = _pool(study, degraded, ["system", "train", "test", "perturbation"], robust)
    return study


def test_digest(predictions: pd.DataFrame) -> str:
    """Which images a cell was tested on: two cells with the same digest can be compared pairwise."""
    return hashlib.sha256("\n".join(sorted(predictions["path"])).encode()).hexdigest()[:16]


def _imbalanced(cells: pd.DataFrame) -> pd.Series:
    big = cells[["n_real", "n_fake"]].max(axis=1)
    small = cells[["n_real", "n_fake"]].min(axis=1).clip(lower=1)
    return big / small > IMBALANCE


def _pool(study: Study, cells: pd.DataFrame, keys: list[str], replicates: dict) -> pd.DataFrame:
    """Seeds pooled: mean, sd and number of seeds; the interval is that of the mean over seeds."""
    records = []
    names = [c.name for c in study.columns] + [p for p in PASSTHROUGH if p in cells]
    for key, group in cells.groupby(keys, sort=False):
        record = {**dict(zip(keys, key)), "seeds": len(group), **{k: group[k].iloc[0] for k in SIZES}}
        reps = replicates.get(tuple(key), {})
        for name in names:
            values = pd.to_numeric(group[name], errors="coerce")
            low, high = interval(reps.get(name), study.config.confidence)
            record.update({name: values.mean(), f"{name}_sd": values.std(ddof=1) if len(values) > 1 else np.nan,
                           f"{name}_lo": low, f"{name}_hi": high})
        records.append(record)
    return pd.DataFrame(records)


def cell_order(study: Study) -> tuple[list[str], list[str]]:
    """Training sets and test sets in the order the runs list them."""
    return list(dict.fromkeys(study.cells["train"])), list(dict.fromkeys(study.cells["test"]))


def common_cells(study: Study, labels: list[str]) -> list[tuple[str, str]]:
    """(train, test) cells every one of these systems has, so summaries compare like with like."""
    sets = [set(map(tuple, study.pooled.loc[study.pooled["system"] == label, ["train", "test"]].to_numpy()))
            for label in labels]
    shared = set.intersection(*sets) if sets else set()
    return [cell for cell in dict.fromkeys(map(tuple, study.pooled[["train", "test"]].to_numpy())) if cell in shared]
