"""One test cell's files: test_predictions.csv, test_metrics.json and roc_curve.png."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmark.detector import Samples  # noqa: E402
from benchmark.files import atomic_write, write_json  # noqa: E402
from benchmark.report.figures import draw_roc, roc_axes  # noqa: E402


def score_problem(scores, count: int) -> str | None:
    """Why ``scores`` are not one P(fake) per image (finite, in [0, 1]), naming the first bad value; None if they are.
    A threshold or an accuracy@0.5 over anything else means nothing."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (count,):
        return f"predict() returned {scores.shape} scores for {count} images; it must give one P(fake) per image"
    bad = np.flatnonzero(~(np.isfinite(scores) & (scores >= 0) & (scores <= 1)))
    if bad.size:
        return (f"predict() returned {float(scores[bad[0]]):.4g} for image {bad[0]} ({bad.size} of {count} scores outside "
                f"[0, 1] or not finite); it must give P(fake) in [0, 1], e.g. a sigmoid of its logits")
    return None


def predictions_table(samples: Samples, scores: np.ndarray, threshold: float, by_path: dict) -> pd.DataFrame:
    """One row per test image: what it is (class, video, label), its score and its prediction at
    the val threshold. Everything a report needs to rescore the cell, or aggregate its videos."""
    return pd.DataFrame({
        "path": samples.paths,
        "class": [by_path[p].cls for p in samples.paths],
        "video": [by_path[p].video for p in samples.paths],
        "label": samples.labels.astype(int),
        "score": scores,
        "prediction": (scores >= threshold).astype(int),
    })


def write_cell(folder: Path, predictions: pd.DataFrame, row: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "test_predictions.csv", predictions.to_csv(index=False, float_format="%.9g"))
    write_json(folder / "test_metrics.json", {k: v for k, v in row.items()
                                              if k not in ("detector", "train", "test", "seed", "perturbation")})
    what = f" ({row['perturbation']})" if row.get("perturbation", "none") != "none" else ""
    atomic_write(folder / "roc_curve.png", _roc_png(
        predictions["label"].to_numpy(), predictions["score"].to_numpy(),
        f"{row['detector']}, seed {row['seed']}: train {row['train']} -> test {row['test']}{what}", row["detector"],
        row["threshold"]))


def _roc_png(labels: np.ndarray, scores: np.ndarray, title: str, name: str, threshold: float) -> bytes:
    """The cell's ROC curve in the style of the report's ROC figures (AUC in the legend, the val threshold's dot)."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=80)
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.12, top=0.88)  # fixed margins: one draw per save
    try:
        if len(np.unique(labels)) == 2:
            draw_roc(ax, labels, scores, name, threshold)
        else:
            ax.text(0.5, 0.5, "ROC undefined: one class only", ha="center")
        roc_axes(ax)
        ax.set_title(textwrap.fill(title + "; dot: threshold chosen on validation", 55), fontsize=8)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")  # no bbox_inches="tight": it draws the figure twice
        return buffer.getvalue()
    finally:
        plt.close(fig)
