"""Metric records and computing a cell's metrics from labels and scores."""

from dataclasses import dataclass
from typing import Callable

import warnings

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


def compute_metrics(metrics, labels, scores, threshold=0.5) -> dict[str, float]:
    """Every metric on one set of scores; NaN where a metric is undefined (e.g. one class only)."""
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=float)
    predictions = (scores >= threshold).astype(int)
    out = {}
    for metric in metrics:
        values = predictions if metric.thresholded else scores
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # undefined metrics are reported as NaN instead
                out[metric.name] = float(metric.fn(labels, values))
        except ValueError:  # sklearn refuses e.g. AUC with a single class present
            out[metric.name] = float("nan")
    return out
