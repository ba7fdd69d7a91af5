"""Bootstrap resamples of test sets: by video, stratified by class, the same for every cell.

What is resampled: the *groups* of a test set, i.e. videos (an image is its own group when the data
has no videos), within each class separately, so every resample keeps each class's number of videos
(frames of one video are near-duplicates: resampling frames would pretend they were independent).

The resample counts of a class depend only on the bootstrap seed, the class name and its list of
test videos. Hence every cell that tests on a class sees the *same* resamples of it: the real test
videos are resampled alike in all cells of a run, two detectors on one test set are paired
automatically, and two runs on the same test images get identical resamples (so identical runs
differ by exactly 0). Means over cells (the leaderboard) are taken per resample, which keeps the
real videos shared between cells counted coherently.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from benchmark.metrics import Column, video_table
from benchmark.weighted import Resamples


class Draws:
    """Resample counts per (class, its test videos), drawn once and memoised."""

    def __init__(self, iterations: int, seed: int = 0):
        self.iterations = iterations
        self.seed = seed
        self._memo: dict[tuple[str, str], np.ndarray] = {}

    def counts(self, cls: str, groups: list[str]) -> np.ndarray:
        """B x len(groups) int32: how often each group appears in each resample."""
        digest = hashlib.sha256("\0".join([cls, *groups]).encode()).hexdigest()
        key = (cls, digest)
        if key not in self._memo:
            rng = np.random.default_rng([self.seed, int(digest[:15], 16)])
            n, b = len(groups), self.iterations
            picks = rng.integers(0, n, size=(b, n)) + np.arange(b)[:, None] * n  # one row per resample
            self._memo[key] = np.bincount(picks.ravel(), minlength=b * n).reshape(b, n).astype(np.int32)
        return self._memo[key]

    def groups(self, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(B x G counts of every video of the table's classes, each row's column in them)."""
        blocks, group = [], np.empty(len(table), dtype=np.int64)
        offset = 0
        videos = table["video"].to_numpy().astype(str)
        for cls, rows in table.groupby("class", sort=False).indices.items():
            names, index = np.unique(videos[rows], return_inverse=True)
            blocks.append(self.counts(str(cls), list(names)))
            group[rows] = offset + index
            offset += len(names)
        return np.hstack(blocks).astype(np.float32), group


def cell_replicates(columns: list[Column], predictions: pd.DataFrame, threshold: float, video_score: str,
                    draws: Draws) -> dict[str, np.ndarray]:
    """Each column's value under every resample of this cell's test set (B values per column)."""
    if draws.iterations == 0:
        return {}
    out = {}
    levels = {False: predictions}
    if any(c.video for c in columns):
        levels[True] = video_table(predictions, video_score)
    for video, table in levels.items():
        counts, group = draws.groups(table)
        labels, scores = table["label"].to_numpy(int), table["score"].to_numpy(float)
        by_score = Resamples(labels, scores, counts, group)
        by_cut: dict[float, Resamples] = {}
        for column in (c for c in columns if c.video == video):
            if column.metric.thresholded:
                cut = threshold if column.fixed_threshold is None else column.fixed_threshold
                if cut not in by_cut:
                    by_cut[cut] = Resamples(labels, (scores >= cut).astype(int), counts, group)
                resamples = by_cut[cut]
            else:
                resamples = by_score
            with np.errstate(invalid="ignore", divide="ignore"):
                out[column.name] = np.asarray(column.metric.under(resamples), dtype=float)
    return out


def interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile interval; NaN when there are no (finite) resamples."""
    finite = replicates[np.isfinite(replicates)] if replicates is not None else np.array([])
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)

