"""The vectorised bootstrap metrics equal scikit-learn's metrics called with the same weights."""

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    roc_auc_score,
    roc_curve,
)

from benchmark import weighted
from benchmark_plugins.metrics.classification import equal_error_rate

RNG = np.random.default_rng(7)


def _case(n=300, rows=6, ties=False):
    labels = (RNG.random(n) < 0.4).astype(int)
    scores = RNG.random(n) * 0.6 + labels * 0.3
    if ties:
        scores = np.round(scores, 1)  # many equal scores across both classes
    weights = RNG.multinomial(n, np.full(n, 1 / n), size=rows).astype(np.float32)
    return labels, scores, weights


def _expanded(labels, values, row):
    index = np.repeat(np.arange(len(row)), row.astype(int))
    return labels[index], values[index]


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("batch, reference", [
    (weighted.auc, roc_auc_score),
    (weighted.average_precision, average_precision_score),
    (weighted.equal_error_rate, equal_error_rate),
])
def test_score_metrics_equal_sklearn_on_each_resample(batch, reference, ties):
    labels, scores, weights = _case(ties=ties)
    got = batch(weighted.Resamples.of_weights(labels, scores, weights))
    want = [reference(*_expanded(labels, scores, row)) for row in weights]
    np.testing.assert_allclose(got, want, atol=1e-9)


@pytest.mark.parametrize("batch, reference", [
    (weighted.accuracy, accuracy_score),
    (weighted.f1, lambda y, p, **kw: f1_score(y, p, zero_division=0.0, **kw)),
    (weighted.balanced_accuracy, balanced_accuracy_score),
])
def test_thresholded_metrics_equal_sklearn_with_sample_weight(batch, reference):
    labels, scores, weights = _case()
    predictions = (scores >= 0.5).astype(int)
    got = batch(weighted.Resamples.of_weights(labels, predictions, weights))
    want = [reference(labels, predictions, sample_weight=row) for row in weights]
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_tpr_at_fpr_is_the_best_operating_point_within_the_fpr_budget():
    labels, scores, weights = _case(ties=True)
    got = weighted.tpr_at_fpr(weighted.Resamples.of_weights(labels, scores, weights), 0.05)
    for value, row in zip(got, weights):
        fpr, tpr, _ = roc_curve(labels, scores, sample_weight=row, drop_intermediate=False)
        assert value == pytest.approx(tpr[fpr <= 0.05].max())


def test_one_class_gives_nan_not_a_number_that_looks_real():
    labels = np.zeros(20, dtype=int)
    r = weighted.Resamples.of_weights(labels, RNG.random(20), np.ones((3, 20), dtype=np.float32))
    for batch in (weighted.auc, weighted.equal_error_rate, lambda r: weighted.tpr_at_fpr(r, 0.01)):
        assert np.isnan(batch(r)).all()


def test_the_fallback_calls_the_metric_on_each_resample():
    labels, scores, weights = _case(n=50, rows=3)
    got = weighted.one_by_one(roc_auc_score, weighted.Resamples.of_weights(labels, scores, weights))
    np.testing.assert_allclose(got, weighted.auc(weighted.Resamples.of_weights(labels, scores, weights)), atol=1e-12)
