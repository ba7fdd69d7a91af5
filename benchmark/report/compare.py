"""The study's statistics: the generalization leaderboard and paired differences between systems.

Every interval here comes from the same bootstrap resamples as the cells' own (see
:mod:`benchmark.report.bootstrap`): a mean over cells is the mean per resample, a difference between
two systems is the difference per resample. Because two systems tested on the same images see the
same resamples, that difference is a *paired* bootstrap; an unpaired interval on paired data would be
far too wide. DeLong's test for AUC differences is added on video scores where the data has videos
(frames of one video are not independent, so a frame-level test would overstate significance).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from benchmark.metrics import video_table
from benchmark.report.bootstrap import interval
from benchmark.report.study import Study, common_cells


def _mean_reps(study: Study, label: str, cells: list[tuple[str, str]], name: str) -> np.ndarray | None:
    reps = [study.replicates.get((label, t, s), {}).get(name) for t, s in cells]
    if not cells or any(r is None for r in reps):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample where every cell is NaN: NaN is the answer
        return np.nanmean(np.vstack(reps), axis=0)


def _pooled(study: Study, label: str) -> pd.DataFrame:
    return study.pooled[study.pooled["system"] == label].set_index(["train", "test"])


def leaderboard(study: Study, name: str) -> pd.DataFrame:
    """Per system, on the cells all systems share: mean in-domain (train = test), mean cross-domain,
    the gap (in - cross) and the worst cross-domain cell, each with its interval."""
    cells = common_cells(study, study.labels)
    inside = [c for c in cells if c[0] == c[1]]
    cross = [c for c in cells if c[0] != c[1]]
    lower = study.lower_is_better(name)
    records = []
    for label in study.labels:
        pooled = _pooled(study, label)
        record = {"system": label, "cells_in": len(inside), "cells_cross": len(cross)}
        parts = {}
        for part, chosen in (("in", inside), ("cross", cross)):
            value = pooled.loc[chosen, name].mean() if chosen else np.nan
            parts[part] = (value, _mean_reps(study, label, chosen, name))
            record.update(_with_interval(part, value, parts[part][1], study))
        gap_reps = (parts["in"][1] - parts["cross"][1]) if parts["in"][1] is not None and parts["cross"][1] is not None \
            else None
        record.update(_with_interval("gap", parts["in"][0] - parts["cross"][0], gap_reps, study))
        if cross:
            values = pooled.loc[cross, name]
            worst = values.idxmax() if lower else values.idxmin()
            record["worst_cell"] = f"{worst[0]} -> {worst[1]}"
            reps = study.replicates.get((label, *worst), {}).get(name)
            record.update(_with_interval("worst", values[worst], reps, study))
        records.append(record)
    return pd.DataFrame(records).set_index("system")


def _with_interval(part: str, value: float, reps, study: Study) -> dict:
    low, high = interval(reps, study.config.confidence) if reps is not None else (np.nan, np.nan)
    return {part: value, f"{part}_lo": low, f"{part}_hi": high}


def paired(study: Study, a: str, b: str, name: str) -> pd.DataFrame:
    """a - b per shared cell and for the summary (mean in, mean cross, gap): the difference, its paired
    bootstrap interval, whether the interval excludes 0, and DeLong's p for AUC columns."""
    cells = common_cells(study, [a, b])
    pa, pb = _pooled(study, a), _pooled(study, b)
    records = []
    for cell in cells:
        same = pa.loc[cell, "test_digest"] == pb.loc[cell, "test_digest"]
        reps = _difference(study, a, b, [cell], name) if same else None
        record = {"cell": f"{cell[0]} -> {cell[1]}", "paired": bool(same),
                  **_with_interval("diff", pa.loc[cell, name] - pb.loc[cell, name], reps, study)}
        if _delong_applies(study, name) and same:
            record["delong_p"] = delong_for_cell(study, a, b, cell, video=name.startswith("video_"))
        records.append(record)
    comparable = all(pa.loc[c, "test_digest"] == pb.loc[c, "test_digest"] for c in cells)
    inside, cross = [c for c in cells if c[0] == c[1]], [c for c in cells if c[0] != c[1]]
    for part, chosen in (("mean in-domain", inside), ("mean cross-domain", cross)):
        if chosen:
            reps = _difference(study, a, b, chosen, name) if comparable else None
            value = pa.loc[chosen, name].mean() - pb.loc[chosen, name].mean()
            records.append({"cell": part, "paired": comparable, **_with_interval("diff", value, reps, study)})
    if inside and cross:  # does a generalize better, i.e. lose less off its own manipulation?
        gaps = [_difference(study, a, b, chosen, name) for chosen in (inside, cross)]
        reps = gaps[0] - gaps[1] if comparable and all(g is not None for g in gaps) else None
        value = (records[-2]["diff"] - records[-1]["diff"])
        records.append({"cell": "gap (in - cross)", "paired": comparable, **_with_interval("diff", value, reps, study)})
    frame = pd.DataFrame(records)
    if not frame.empty:
        frame["excludes_0"] = (frame["diff_lo"] > 0) | (frame["diff_hi"] < 0)
    return frame


def _delong_applies(study: Study, name: str) -> bool:
    """AUC columns; for frame-level AUC only where there are no videos (frames of one video are not
    independent, and DeLong would take them as such: its p-values would be too small)."""
    has_videos = any(c.video for c in study.columns)
    return name == "video_auc" or (name == "auc" and not has_videos)


def _difference(study: Study, a: str, b: str, cells, name: str) -> np.ndarray | None:
    ra, rb = _mean_reps(study, a, cells, name), _mean_reps(study, b, cells, name)
    return None if ra is None or rb is None else ra - rb


def delong_for_cell(study: Study, a: str, b: str, cell: tuple[str, str], video: bool) -> float:
    """DeLong on the two systems' scores for the same test items (seed-averaged scores when a system
    has several seeds)."""
    tables = [study.predictions[(label, *cell)] for label in (a, b)]
    scores = []
    for label, seeds in zip((a, b), tables):
        merged = [video_table(t, study.system(label).run.video_score) if video else t for t in seeds]
        key = ["class", "video"] if video else ["path"]
        stacked = pd.concat(merged).groupby(key, sort=True).agg(label=("label", "first"), score=("score", "mean"))
        scores.append(stacked)
    joined = scores[0].merge(scores[1], left_index=True, right_index=True, suffixes=("_a", "_b"))
    return delong_p(joined["label_a"].to_numpy(int), joined["score_a"].to_numpy(float), joined["score_b"].to_numpy(float))


def delong_p(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of DeLong's test that two correlated AUCs (same items) are equal
    (DeLong et al. 1988, with the midrank computation of Sun & Xu 2014)."""
    positive = labels == 1
    m, n = int(positive.sum()), int((~positive).sum())
    if m < 2 or n < 2:
        return float("nan")
    v10, v01, aucs = [], [], []
    for scores in (a, b):
        pos, neg = scores[positive], scores[~positive]
        combined = rankdata(np.concatenate([pos, neg]))
        pos_rank, neg_rank = rankdata(pos), rankdata(neg)
        aucs.append((combined[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((combined[:m] - pos_rank) / n)  # per positive: share of negatives it outranks
        v01.append(1.0 - (combined[m:] - neg_rank) / m)  # per negative: share of positives above it
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    difference = aucs[0] - aucs[1]
    if variance <= 1e-18:
        return 1.0 if abs(difference) < 1e-12 else 0.0
    return float(2 * norm.sf(abs(difference) / np.sqrt(variance)))


def robustness(study: Study, name: str) -> pd.DataFrame:
    """Per system and perturbation, over the cells scored both clean and degraded: the mean metric
    under the degradation and its drop from clean (positive = worse, whatever the metric's direction),
    each with its interval; the drop is paired (the same resampled test videos, clean and degraded)."""
    if study.robust.empty:
        return pd.DataFrame()
    sign = -1.0 if study.lower_is_better(name) else 1.0
    records = []
    for (label, perturbation), group in study.robust.groupby(["system", "perturbation"], sort=False):
        clean = _pooled(study, label)
        cells = [(t, s) for t, s in zip(group["train"], group["test"]) if (t, s) in clean.index]
        if not cells:
            continue
        value = group.set_index(["train", "test"]).loc[cells, name].mean()
        drop = sign * (clean.loc[cells, name].mean() - value)
        degraded = [study.robust_replicates.get((label, t, s, perturbation), {}).get(name) for t, s in cells]
        reps = _mean_reps(study, label, cells, name)
        kind, _, param = perturbation.partition(":")
        record = {"system": label, "perturbation": perturbation, "kind": kind, "param": float(param), "cells": len(cells)}
        if reps is not None and all(d is not None for d in degraded):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                degraded_mean = np.nanmean(np.vstack(degraded), axis=0)
            record.update(_with_interval("value", value, degraded_mean, study))
            record.update(_with_interval("drop", drop, sign * (reps - degraded_mean), study))
        else:
            record.update(_with_interval("value", value, None, study))
            record.update(_with_interval("drop", drop, None, study))
        records.append(record)
    return pd.DataFrame(records)
