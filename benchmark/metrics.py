"""Metric records and computing a cell's metrics from labels and scores."""

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Metric:
    """``fn(labels, values) -> float``; labels are 1 for fake.

    ``thresholded`` metrics get hard predictions (score >= threshold), the others get scores.
    """

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool = True
    thresholded: bool = False


def compute_metrics(metrics, labels, scores, threshold=0.5, prefix="", suffix="") -> dict[str, float]:
    """Every metric on one set of scores, named ``prefix + name + suffix``; NaN where a metric is
    undefined (e.g. one class only)."""
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=float)
    predictions = (scores >= threshold).astype(int)
    out = {}
    for metric in metrics:
        values = predictions if metric.thresholded else scores
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # undefined metrics are reported as NaN instead
                out[prefix + metric.name + suffix] = float(metric.fn(labels, values))
        except ValueError:  # sklearn refuses e.g. AUC with a single class present
            out[prefix + metric.name + suffix] = float("nan")
    return out


def video_level(keys: list[tuple[str, str]], labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """Frame scores -> video scores: the mean over each video's frames, keyed by (class, video id)
    so that two manipulations of the same source pair stay two videos."""
    sums: dict[tuple[str, str], list] = {}
    for key, label, score in zip(keys, labels, scores):
        entry = sums.setdefault(key, [label, 0.0, 0])
        entry[1] += float(score)
        entry[2] += 1
    video_labels = np.array([v[0] for v in sums.values()], dtype=int)
    video_scores = np.array([v[1] / v[2] for v in sums.values()], dtype=float)
    return video_labels, video_scores
