"""Metrics under many bootstrap resamples at once.

A bootstrap resample of a test set is the same images, each counted ``w`` times (0, 1, 2, ...).
So instead of drawing B index arrays and calling a metric B times, a metric here takes a weight
matrix ``W`` (B x n, one resample per row) and returns B values in a few array operations: the ROC
counts of every resample come from one sort of the scores and one cumulative sum per class.

The point estimates of a report still come from scikit-learn; these vectorised forms are tested
to equal scikit-learn's metrics called with ``sample_weight=W[b]`` (tests/test_weighted.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.sparse import coo_matrix

MAX_THRESHOLDS = 2000  # distinct scores beyond which a resample's ROC is taken at score quantiles


@dataclass
class WeightedROC:
    """Cumulative true/false positives at every distinct threshold, high to low, with (0, 0) first."""

    tp: np.ndarray  # B x (m + 1)
    fp: np.ndarray

    @cached_property
    def tpr(self) -> np.ndarray:
        return _ratio(self.tp, self.tp[:, -1:])

    @cached_property
    def fpr(self) -> np.ndarray:
        return _ratio(self.fp, self.fp[:, -1:])


@dataclass
class Resamples:
    """One test set (labels, scores or 0/1 predictions) under B weightings; what a batch metric gets.

    The weights come as groups: ``counts[b, g]`` is how often group ``g`` (a video) is drawn in
    resample ``b`` and ``group[i]`` is image i's group, so image i weighs ``counts[b, group[i]]``.
    Working on groups keeps every step proportional to B x videos, or B x thresholds, never
    B x images (``weights`` builds the full matrix for metrics that need it).
    """

    labels: np.ndarray  # n, 1 = fake
    values: np.ndarray  # n, scores (or predictions for thresholded metrics)
    counts: np.ndarray  # B x G
    group: np.ndarray  # n, column of counts

    @classmethod
    def of_weights(cls, labels, values, weights: np.ndarray) -> "Resamples":
        """Each image its own group: a plain B x n weight matrix."""
        return cls(np.asarray(labels), np.asarray(values), np.asarray(weights, dtype=np.float32),
                   np.arange(np.shape(weights)[1]))

    @cached_property
    def weights(self) -> np.ndarray:
        return self.counts[:, self.group]

    @cached_property
    def _counts_by_group(self) -> np.ndarray:
        return np.ascontiguousarray(self.counts.T, dtype=np.float32)  # G x B: rows read whole by sparse products

    def _per_group(self, rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
        """B x size: sum over images of counts[:, group] into column ``cols`` (image rows ``rows``)."""
        matrix = coo_matrix((np.ones(len(rows), dtype=np.float32), (cols, self.group[rows])),
                            shape=(size, self.counts.shape[1])).tocsr()  # images of one group in one column summed
        return np.asarray(matrix @ self._counts_by_group).T

    @cached_property
    def roc(self) -> WeightedROC:
        """Exact at every distinct score up to MAX_THRESHOLDS of them; beyond, at that many score
        quantiles (pairs of images within one quantile bin then count as ties)."""
        distinct = np.unique(self.values)[::-1]  # high to low
        if len(distinct) > MAX_THRESHOLDS:
            distinct = np.unique(np.quantile(self.values, np.linspace(0, 1, MAX_THRESHOLDS)))[::-1]
        # each image falls in the first threshold it reaches (descending search via negation)
        bins = np.searchsorted(-distinct, -self.values, side="left")
        counts = [self._per_group(rows, bins[rows], len(distinct))
                  for rows in (np.flatnonzero(self.labels == 1), np.flatnonzero(self.labels != 1))]
        zero = np.zeros((self.counts.shape[0], 1))
        return WeightedROC(*(np.hstack([zero, np.cumsum(c, axis=1, dtype=np.float64)]) for c in counts))

    @cached_property
    def confusion(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(TP, FP, TN, FN) per resample, for 0/1 predictions."""
        y, p = self.labels.astype(bool), self.values.astype(bool)
        cell = np.select([y & p, ~y & p, ~y & ~p], [0, 1, 2], default=3)  # TP, FP, TN, FN
        counts = self._per_group(np.arange(len(y)), cell, 4).astype(np.float64)
        return counts[:, 0], counts[:, 1], counts[:, 2], counts[:, 3]


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return a / b


def auc(r: Resamples) -> np.ndarray:
    """Trapezoidal area under the ROC: equal to roc_auc_score, ties counted one half."""
    fpr, tpr = r.roc.fpr, r.roc.tpr
    return np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, axis=1)


def average_precision(r: Resamples) -> np.ndarray:
    """sum over thresholds of (recall step) x precision, as average_precision_score."""
    tp, fp = r.roc.tp[:, 1:], r.roc.fp[:, 1:]
    precision = _ratio(tp, tp + fp)
    recall_steps = np.diff(r.roc.tpr, axis=1)
    return np.sum(np.where(recall_steps > 0, recall_steps * precision, 0.0), axis=1)


def equal_error_rate(r: Resamples) -> np.ndarray:
    """Where 1 - TPR meets FPR, linearly interpolated between the two ROC points around it."""
    fpr, tpr = r.roc.fpr, r.roc.tpr
    diff = 1.0 - tpr - fpr  # falls from 1 at (0, 0) to -1 at (1, 1)
    i = np.argmax(diff <= 0, axis=1)[:, None]
    i = np.maximum(i, 1)
    before, after = np.take_along_axis(diff, i - 1, 1), np.take_along_axis(diff, i, 1)
    f0, f1 = np.take_along_axis(fpr, i - 1, 1), np.take_along_axis(fpr, i, 1)
    t = _ratio(before, before - after)
    return (f0 + t * (f1 - f0))[:, 0]


def tpr_at_fpr(r: Resamples, max_fpr: float) -> np.ndarray:
    """The highest TPR of any threshold whose FPR is at most ``max_fpr``."""
    fpr, tpr = r.roc.fpr, r.roc.tpr
    best = np.max(np.where(fpr <= max_fpr + 1e-12, tpr, 0.0), axis=1)
    return np.where(np.isfinite(fpr[:, -1]) & np.isfinite(tpr[:, -1]), best, np.nan)  # NaN with one class


def accuracy(r: Resamples) -> np.ndarray:
    tp, fp, tn, fn = r.confusion
    return _ratio(tp + tn, tp + fp + tn + fn)


def f1(r: Resamples) -> np.ndarray:
    tp, fp, _, fn = r.confusion
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, _ratio(2 * tp, denominator), 0.0)  # zero_division=0, as f1_score


def balanced_accuracy(r: Resamples) -> np.ndarray:
    tp, fp, tn, fn = r.confusion
    return (_ratio(tp, tp + fn) + _ratio(tn, tn + fp)) / 2


def one_by_one(fn, r: Resamples) -> np.ndarray:
    """Fallback for a metric with no batch form: call it on each resample, images repeated by weight."""
    out = np.empty(len(r.weights))
    for b, row in enumerate(r.weights):
        index = np.repeat(np.arange(len(row)), row.astype(int))
        try:
            out[b] = fn(r.labels[index], r.values[index])
        except ValueError:
            out[b] = np.nan
    return out
