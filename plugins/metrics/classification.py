"""Binary classification metrics from scikit-learn. Fake is the positive class, score = P(fake).

Each also has its vectorised bootstrap form from :mod:`benchmark.weighted`.
"""

from functools import partial

import numpy as np

from benchmark import weighted
from benchmark.hookspecs import hookimpl
from benchmark.metrics import Metric


def _sklearn(name: str):
    """A sklearn.metrics function, imported when first called (sklearn costs half a second to import)."""
    def call(*args, **kwargs):
        import sklearn.metrics

        return getattr(sklearn.metrics, name)(*args, **kwargs)
    call.__name__ = name
    return call


roc_auc_score, roc_curve, f1_score = _sklearn("roc_auc_score"), _sklearn("roc_curve"), _sklearn("f1_score")
accuracy_score, balanced_accuracy_score = _sklearn("accuracy_score"), _sklearn("balanced_accuracy_score")
average_precision_score = _sklearn("average_precision_score")


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


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    """The highest TPR of any threshold whose FPR is at most ``max_fpr`` (an operating point one can set)."""
    if len(np.unique(labels)) < 2:
        raise ValueError("TPR at FPR needs both classes")
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return float(tpr[fpr <= max_fpr + 1e-12].max())


def _tpr_at(percent: int) -> Metric:
    return Metric(f"tpr@{percent}%fpr", partial(tpr_at_fpr, max_fpr=percent / 100),
                  batch=partial(weighted.tpr_at_fpr, max_fpr=percent / 100))


@hookimpl
def register_metrics(register):
    register(Metric("auc", roc_auc_score, batch=weighted.auc))
    register(Metric("eer", equal_error_rate, higher_is_better=False, batch=weighted.equal_error_rate))
    register(Metric("f1", lambda y, p: f1_score(y, p, zero_division=0.0), thresholded=True, batch=weighted.f1))
    register(Metric("accuracy", accuracy_score, thresholded=True, batch=weighted.accuracy))
    register(Metric("balanced_accuracy", balanced_accuracy_score, thresholded=True, batch=weighted.balanced_accuracy))
    register(Metric("ap", average_precision_score, batch=weighted.average_precision))
    register(_tpr_at(1))
    register(_tpr_at(5))
