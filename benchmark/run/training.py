"""One training run: fit, checkpoint every epoch, and select the model and threshold on the
training domain's validation split, never on test data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import torch
from sklearn.metrics import log_loss, roc_auc_score, roc_curve

from benchmark.checkpoints import Checkpoint, check_plain, checkpoints_in, rng_state, safe_load, set_rng_state
from benchmark.detector import Detector, FitContext, Samples
from benchmark.files import atomic_save, atomic_write
from benchmark.run.results import EPOCHS
from benchmark.run.scoring import score_problem

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
                   epoch_rule: str, threshold_rule, on_checkpoint=None) -> Selected:
    """Fit with a checkpoint per epoch that also scores val; keep the epoch ``epoch_rule`` picks
    (best val AUC, or the last) and choose the threshold on val (or use the fixed number).

    When ``folder`` already holds checkpoints that carry resume state (an interrupted run), the
    detector continues after the last one, with the RNGs as they were: the result is the same as
    an uninterrupted run. ``on_checkpoint(path)`` is told of each checkpoint once it is written."""
    history: dict[int, float] = {}
    curve: dict[int, dict] = {}  # epoch -> its row of epochs.csv
    val_scores: dict[int, np.ndarray] = {}
    ctx.resume = _resume_point(folder, history, ctx, curve)

    def save_checkpoint(epoch: int, stats: dict, resume: dict | None = None) -> None:
        bad = {k: v for k, v in stats.items() if isinstance(v, float) and not math.isfinite(v)}
        if bad:
            raise FloatingPointError(f"{', '.join(f'{k}={v}' for k, v in bad.items())} in epoch {epoch}")
        state = detector.state_dict()
        check_plain(state, "state_dict()")
        check_plain(resume, "save_checkpoint(resume=...)")
        scores = np.asarray(detector.predict(val, ctx), dtype=np.float64)
        problem = score_problem(scores, len(val))
        if problem:
            raise ValueError(f"on val after epoch {epoch}: {problem}")
        rng = rng_state()  # after scoring val: as the next epoch will find it
        if ctx.batch_generator is not None:
            rng["batches"] = ctx.batch_generator.get_state()
        history[epoch] = auc_or_nan(val.labels, scores)
        val_scores[epoch] = scores
        curve[epoch] = epoch_row(epoch, stats, history[epoch], val.labels, scores)
        ctx.log(f"epoch {epoch}: val_auc={history[epoch]:.4f}")
        atomic_save({"epoch": epoch, "stats": stats, "val_auc": history[epoch], "history": dict(history),
                     "curve": dict(curve), "val_scores": torch.from_numpy(scores), "state": state, "resume": resume,
                     "rng": rng}, folder / f"checkpoint_epoch_{epoch}.pth")
        write_curve(folder, curve)
        ctx.epoch = epoch
        if on_checkpoint is not None:
            on_checkpoint(folder / f"checkpoint_epoch_{epoch}.pth")

    ctx.save_checkpoint = save_checkpoint
    detector.fit(train, val, ctx)

    epoch = None
    if history:
        last = max(history)
        scored = {e: a for e, a in history.items() if not math.isnan(a)}
        epoch = max(scored, key=lambda e: (scored[e], -e)) if epoch_rule == "best" and scored else last
        if epoch != last or epoch not in val_scores:
            saved = safe_load(folder / f"checkpoint_epoch_{epoch}.pth", CHECKPOINT_KEYS)
            detector.load_state_dict(saved["state"])
            val_scores[epoch] = saved["val_scores"].numpy()
        scores = val_scores[epoch]
    else:
        scores = np.asarray(detector.predict(val, ctx), dtype=np.float64)
        problem = score_problem(scores, len(val))
        if problem:
            raise ValueError(f"on val: {problem}")
    threshold = val_threshold(val.labels, scores) if threshold_rule == "val" else float(threshold_rule)
    selected = Selected(epoch, auc_or_nan(val.labels, scores), threshold, history)
    if curve:
        write_curve(folder, curve, selected=epoch)
    ctx.log(f"selected epoch {epoch} ({epoch_rule}) val_auc={selected.val_auc:.4f} threshold={threshold:.4f}")
    return selected


CHECKPOINT_KEYS = ("epoch", "state", "val_scores", "history", "rng")


def epoch_row(epoch: int, stats: dict, val_auc: float, labels: np.ndarray, scores: np.ndarray) -> dict:
    """One epoch's numbers: the detector's own stats (train_loss, ...), val AUC and val loss (the
    detector's own when it reports one, else the log loss of its val scores: the same for every detector)."""
    row = {"epoch": epoch, **{k: float(v) for k, v in stats.items() if isinstance(v, (int, float))}, "val_auc": val_auc}
    if "val_loss" not in row and len(np.unique(labels)) == 2:
        row["val_loss"] = float(log_loss(labels, np.clip(scores, 1e-7, 1 - 1e-7), labels=[0, 1]))
    return row


def write_curve(folder: Path, curve: dict, selected: int | None = None) -> None:
    table = pd.DataFrame([curve[e] for e in sorted(curve)])
    table["selected"] = table["epoch"] == selected
    atomic_write(folder / EPOCHS, table.to_csv(index=False, float_format="%.6g"))


def _resume_point(folder: Path, history: dict, ctx: FitContext, curve: dict) -> Checkpoint | None:
    """The last checkpoint an interrupted run left, if the detector saved resume state in it."""
    found = checkpoints_in(folder)
    if not found:
        return None
    saved = safe_load(found[-1], CHECKPOINT_KEYS)
    if saved.get("resume") is None:
        ctx.log(f"found {found[-1].name} without resume state: training starts again at epoch 1")
        for path in found:
            path.unlink()
        return None
    history.update({int(k): float(v) for k, v in saved["history"].items()})
    curve.update({int(k): v for k, v in (saved.get("curve") or {}).items()})  # older checkpoints: no curve
    set_rng_state(saved["rng"])
    if ctx.batch_generator is not None and "batches" in saved["rng"]:
        ctx.batch_generator.set_state(saved["rng"]["batches"])
    ctx.epoch = int(saved["epoch"])
    ctx.log(f"resumed after epoch {saved['epoch']} from {found[-1].name}")
    return Checkpoint(int(saved["epoch"]), saved["state"], saved["resume"])
