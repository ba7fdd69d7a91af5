"""Binary classification metrics from scikit-learn. Fake is the positive class, score = P(fake)."""

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score, roc_curve

from benchmark.hookspecs import hookimpl
from benchmark.metrics import Metric


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
    """Error rate where the false-positive and false-negative rates meet on the ROC curve."""
    if len(np.unique(labels)) < 2:
        raise ValueError("EER needs both classes")
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    # linear interpolation between the two ROC points where fnr - fpr changes sign
    diff = fnr - fpr
    i = int(np.argmax(diff <= 0))
    if i == 0:
        return float(fpr[0])
    t = diff[i - 1] / (diff[i - 1] - diff[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


@hookimpl
def register_metrics(register):
    register(Metric("auc", roc_auc_score))
    register(Metric("eer", equal_error_rate, higher_is_better=False))
    register(Metric("f1", lambda y, p: f1_score(y, p, zero_division=0.0), thresholded=True))
    register(Metric("accuracy", accuracy_score, thresholded=True))
    register(Metric("ap", average_precision_score))
