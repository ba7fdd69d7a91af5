import numpy as np
import pytest

from benchmark import plugins
from benchmark.metrics import compute_metrics


@pytest.fixture(scope="module")
def metrics():
    found = plugins.collect().metrics
    return {name: found.get(name).value for name in ("auc", "eer", "f1", "accuracy")}


def brute_force_eer(labels, scores):
    """Independent EER: scan thresholds, take the point where FPR and FNR are closest."""
    best = (2.0, None)
    for t in np.unique(np.concatenate([scores, [np.inf]])):
        fpr = np.mean(scores[labels == 0] >= t)
        fnr = np.mean(scores[labels == 1] < t)
        best = min(best, (abs(fpr - fnr), (fpr + fnr) / 2))
    return best[1]


def test_metrics_agree_with_independent_formulas(metrics):
    rng = np.random.default_rng(1)
    labels = np.r_[np.zeros(300), np.ones(200)].astype(int)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1)
    values = compute_metrics(metrics.values(), labels, scores, threshold=0.5)
    # AUC = probability a fake outranks a real (Mann-Whitney)
    fake, real = scores[labels == 1], scores[labels == 0]
    auc = ((fake[:, None] > real[None, :]).mean() + 0.5 * (fake[:, None] == real[None, :]).mean())
    assert values["auc"] == pytest.approx(auc, abs=1e-9)
    predictions = scores >= 0.5
    assert values["accuracy"] == pytest.approx(np.mean(predictions == labels))
    tp = np.sum(predictions & (labels == 1))
    assert values["f1"] == pytest.approx(2 * tp / (predictions.sum() + labels.sum()))
    assert values["eer"] == pytest.approx(brute_force_eer(labels, scores), abs=0.01)


def test_perfect_and_inverted_detectors(metrics):
    labels = np.array([0, 0, 0, 1, 1, 1])
    good = compute_metrics(metrics.values(), labels, np.array([.1, .2, .3, .7, .8, .9]))
    assert good == {"auc": 1.0, "eer": 0.0, "f1": 1.0, "accuracy": 1.0}
    bad = compute_metrics(metrics.values(), labels, np.array([.9, .8, .7, .3, .2, .1]))
    assert bad["auc"] == 0.0 and bad["eer"] == 1.0 and bad["accuracy"] == 0.0


def test_single_class_gives_nan_not_a_crash(metrics):
    values = compute_metrics(metrics.values(), np.zeros(4, dtype=int), np.array([.1, .6, .2, .3]))
    assert np.isnan(values["auc"]) and np.isnan(values["eer"])
    assert values["accuracy"] == 0.75
