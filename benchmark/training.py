"""One training run: fit, checkpoint every epoch, and select the model and threshold on the
training domain's validation split, never on test data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.metrics import roc_auc_score, roc_curve

from benchmark.detector import Detector, FitContext, Samples
from benchmark.results import atomic_save

FINAL_MODEL = "final_model.pth"


def val_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold maximising balanced accuracy (Youden's J = TPR - FPR) on validation."""
    if len(np.unique(labels)) < 2:
        return 0.5
    fpr, tpr, thresholds = roc_curve(labels, scores)
    finite = np.isfinite(thresholds)  # the first ROC threshold is +inf: "call nothing fake"
    best = np.argmax(np.where(finite, tpr - fpr, -np.inf))
    return float(thresholds[best])


def auc_or_nan(labels, scores) -> float:
    """ROC AUC (fake positive); NaN when only one class is present."""
    if len(np.unique(labels)) < 2:
        return float("nan")
    with sklearn.config_context(skip_parameter_validation=True):  # called every epoch; inputs are ours
        return float(roc_auc_score(labels, scores))


@dataclass
class Selected:
    epoch: int | None  # None when the detector has no epochs (never called save_checkpoint)
    val_auc: float
    threshold: float
    history: dict  # epoch -> val AUC

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "val_auc": self.val_auc, "threshold": self.threshold,
                "val_auc_by_epoch": self.history}


def fit_and_select(detector: Detector, train: Samples, val: Samples, ctx: FitContext, folder: Path,
                   epoch_rule: str, threshold_rule) -> Selected:
    """Fit with a checkpoint per epoch that also scores val; keep the epoch ``epoch_rule`` picks
    (best val AUC, or the last) and choose the threshold on val (or use the fixed number)."""
    history: dict[int, float] = {}
    val_scores: dict[int, np.ndarray] = {}

    def save_checkpoint(epoch: int, stats: dict) -> None:
        scores = np.asarray(detector.predict(val, ctx), dtype=np.float64)
        history[epoch] = auc_or_nan(val.labels, scores)
        val_scores[epoch] = scores
        ctx.log(f"epoch {epoch}: val_auc={history[epoch]:.4f}")
        atomic_save({"epoch": epoch, "stats": stats, "val_auc": history[epoch], "state": detector.state_dict()},
                    folder / f"checkpoint_epoch_{epoch}.pth")

    ctx.save_checkpoint = save_checkpoint
    detector.fit(train, val, ctx)

    epoch = None
    if history:
        last = max(history)
        scored = {e: a for e, a in history.items() if not math.isnan(a)}
        epoch = max(scored, key=lambda e: (scored[e], -e)) if epoch_rule == "best" and scored else last
        if epoch != last:
            state = torch.load(folder / f"checkpoint_epoch_{epoch}.pth", map_location="cpu", weights_only=False)
            detector.load_state_dict(state["state"])
        scores = val_scores[epoch]
    else:
        scores = np.asarray(detector.predict(val, ctx), dtype=np.float64)
    threshold = val_threshold(val.labels, scores) if threshold_rule == "val" else float(threshold_rule)
    selected = Selected(epoch, auc_or_nan(val.labels, scores), threshold, history)
    ctx.log(f"selected epoch {epoch} ({epoch_rule}) val_auc={selected.val_auc:.4f} threshold={threshold:.4f}")
    return selected
