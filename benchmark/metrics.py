"""Metric records, the report's metric columns, and scoring one test cell from its predictions.

Scoring reads only a predictions table (path, label, score, class, video): the run uses it when a
cell finishes, and ``benchmark report --metrics`` uses it again on the saved test_predictions.csv,
so a metric added later never needs a rerun.
"""

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from benchmark.weighted import Resamples, one_by_one

FIXED_THRESHOLD = 0.5  # thresholded metrics are also reported here, as <metric>@0.5
VIDEO_SCORES = ("mean", "median", "max")  # data.video_score: frame scores -> one video score


@dataclass(frozen=True)
class Metric:
    """``fn(labels, values) -> float``; labels are 1 for fake.

    ``thresholded`` metrics get hard predictions (score >= threshold), the others get scores.
    ``higher_is_better`` is the metric's direction wherever it is shown, whatever its name.
    ``batch(resamples) -> B values`` is the same metric under B bootstrap weightings at once
    (see :mod:`benchmark.weighted`); without it the bootstrap calls ``fn`` once per resample.
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool = True
    thresholded: bool = False
    batch: Callable[[Resamples], np.ndarray] | None = None

    def under(self, resamples: Resamples) -> np.ndarray:
        return self.batch(resamples) if self.batch else one_by_one(self.fn, resamples)


@dataclass(frozen=True)
class Column:
    """One reported number: a metric at frame or video level, at the val threshold or a fixed one."""

    metric: Metric
    video: bool = False
    fixed_threshold: float | None = None

    @property
    def name(self) -> str:
        suffix = f"@{self.fixed_threshold:g}" if self.fixed_threshold is not None else ""
        return ("video_" if self.video else "") + self.metric.name + suffix

    @property
    def higher_is_better(self) -> bool:
        return self.metric.higher_is_better


def report_columns(metrics, has_videos: bool) -> list[Column]:
    """Frame metrics, thresholded ones also at 0.5, then video metrics where the data has videos."""
    columns = [Column(m) for m in metrics]
    columns += [Column(m, fixed_threshold=FIXED_THRESHOLD) for m in metrics if m.thresholded]
    if has_videos:
        columns += [Column(m, video=True) for m in metrics]
    return columns


def metric_value(metric: Metric, labels, scores, threshold: float = 0.5) -> float:
    """One metric on one set of scores; NaN where it is undefined (e.g. one class only)."""
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=float)
    values = (scores >= threshold).astype(int) if metric.thresholded else scores
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # undefined metrics are reported as NaN instead
            return float(metric.fn(labels, values))
    except ValueError:  # sklearn refuses e.g. AUC with a single class present
        return float("nan")


def compute_metrics(metrics, labels, scores, threshold=0.5) -> dict[str, float]:
    """Every metric on one set of scores, by name."""
    return {metric.name: metric_value(metric, labels, scores, threshold) for metric in metrics}


def video_table(predictions: pd.DataFrame, how: str = "mean") -> pd.DataFrame:
    """Frame rows -> one row per video (class, video, label, score), the frame scores aggregated by
    ``how``. Keyed by (class, video) so two manipulations of one source pair stay two videos."""
    if how not in VIDEO_SCORES:
        raise ValueError(f"video score must be one of {', '.join(VIDEO_SCORES)}, got {how!r}")
    grouped = predictions.groupby(["class", "video"], sort=False)
    return pd.DataFrame({"label": grouped["label"].first(), "score": grouped["score"].agg(how)}).reset_index()


def score_cell(columns: list[Column], predictions: pd.DataFrame, threshold: float, video_score: str = "mean") -> dict:
    """Every column's value for one cell's predictions (label, score, class, video)."""
    labels, scores = predictions["label"].to_numpy(int), predictions["score"].to_numpy(float)
    videos = video_table(predictions, video_score) if any(c.video for c in columns) else None
    out = {}
    for column in columns:
        y, s = (videos["label"].to_numpy(int), videos["score"].to_numpy(float)) if column.video else (labels, scores)
        cut = threshold if column.fixed_threshold is None else column.fixed_threshold
        out[column.name] = metric_value(column.metric, y, s, cut)
    return out


def test_sizes(predictions: pd.DataFrame) -> dict[str, int]:
    """Real and fake images, and videos, in one cell's predictions."""
    videos = predictions.drop_duplicates(["class", "video"])
    return {"n_real": int((predictions["label"] == 0).sum()), "n_fake": int((predictions["label"] == 1).sum()),
            "n_real_videos": int((videos["label"] == 0).sum()), "n_fake_videos": int((videos["label"] == 1).sum())}
