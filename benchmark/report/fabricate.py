"""A run directory with made-up scores, in exactly the layout `benchmark run` writes: for measuring
the report's speed (`benchmark perf --report`) and for testing statistics on known truths.

Scores are logistic of a normal whose separation is larger in-domain (train = test) than across, plus
a per-video offset so that frames of one video are correlated, as real frames are.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from benchmark.files import atomic_write, to_json, write_json
from benchmark.run.results import RESULTS, cell_dir

REAL = "Real"


def fabricate_run(out: Path, classes=("A", "B", "C", "D"), detectors=("alpha", "beta", "gamma"), seeds=(1, 2, 3),
                  images_per_cell: int = 10_000, frames: int = 10, separation: dict | None = None, seed: int = 0,
                  test_videos: int | None = None) -> Path:
    """``separation[detector] = (in-domain, cross-domain)`` mean score shift of fakes (default 1.5, 0.3)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    per_class = test_videos or max(1, images_per_cell // 2 // frames)
    splits = []
    for cls in (REAL, *classes):
        for v in range(per_class):
            for f in range(frames):
                path = f"/data/{cls}/{v:05d}/{f:03d}.png"
                splits.append({"path": path, "class": cls, "video": f"{v:05d}", "unit": f"{v:05d}", "split": "test",
                               "sha256": hashlib.sha256(path.encode()).hexdigest()})
    table = pd.DataFrame(splits)
    atomic_write(out / "splits.csv", table.to_csv(index=False))
    video_offset = {cls: rng.normal(0, 0.5, per_class) for cls in (REAL, *classes)}
    rows = []
    for detector in detectors:
        inside, across = (separation or {}).get(detector, (1.5, 0.3))
        for train in classes:
            for s in seeds:
                for test in classes:
                    cell = table[table["class"].isin([REAL, test])].copy()
                    cell["label"] = (cell["class"] != REAL).astype(int)
                    shift = inside if train == test else across
                    offsets = np.concatenate([video_offset[c][cell.loc[cell["class"] == c, "video"].astype(int)]
                                              for c in (REAL, test)])
                    logits = rng.normal(0, 1, len(cell)) + offsets + shift * cell["label"].to_numpy()
                    cell["score"] = 1 / (1 + np.exp(-logits))
                    cell["prediction"] = (cell["score"] >= 0.5).astype(int)
                    folder = cell_dir(out, detector, train, s, test)
                    folder.mkdir(parents=True, exist_ok=True)
                    predictions = cell[["path", "class", "video", "label", "score", "prediction"]]
                    atomic_write(folder / "test_predictions.csv", predictions.to_csv(index=False, float_format="%.9g"))
                    rows.append({"detector": detector, "train": train, "test": test, "seed": s,
                                 "auc": roc_auc_score(cell["label"], cell["score"]),
                                 "n_real": int((cell["label"] == 0).sum()), "n_fake": int(cell["label"].sum()),
                                 "threshold": 0.5, "selected_epoch": 1, "val_auc": float("nan")})
    atomic_write(out / RESULTS, "".join(to_json(r) + "\n" for r in rows))
    metrics = ["auc", "eer", "f1", "accuracy"]
    columns = metrics + ["f1@0.5", "accuracy@0.5"] + [f"video_{m}" for m in metrics]
    write_json(out / "meta.json", {
        "suite": "fabricated", "seeds": list(seeds), "metrics": columns,
        "lower_is_better": ["eer", "video_eer"], "video_score": "mean",
        "selection": {"epoch": "best", "threshold": "val"},
        "detectors": {d: {"use": d, "options": {}} for d in detectors},
        "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    atomic_write(out / "suite.yaml", f"name: fabricated\nmetrics: {metrics}\n")
    return out


def report_perf(folder: Path, bootstrap: int = 1000, images_per_cell: int = 10_000) -> dict:
    """Seconds to rescore and report a 4 x 4 x 3 detectors x 3 seeds study (videos of 10 frames)."""
    from benchmark.report.build import open_study
    from benchmark.report.write import write_report

    start = time.perf_counter()
    fabricate_run(folder, images_per_cell=images_per_cell)
    made = time.perf_counter()
    study, notes = open_study([folder], report={"bootstrap": bootstrap})
    studied = time.perf_counter()
    write_report(study, notes, folder)
    written = time.perf_counter()
    return {"cells": len(study.cells), "images_per_cell": images_per_cell, "bootstrap": bootstrap,
            "fabricate_s": round(made - start, 2), "load_rescore_bootstrap_s": round(studied - made, 2),
            "figures_tables_markdown_s": round(written - studied, 2), "report_total_s": round(written - made, 2)}
