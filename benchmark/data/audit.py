"""Leakage and shortcut audit of a dataset's splits, written to audit.json and report.md.

* unreadable images: skipped, counted and listed (or the run stops, see :func:`unreadable`);
* leakage: split units (videos, FF++ pairs) present in both a cell's training and test data, and
  byte-identical files in different splits (an error unless ``data.allow_duplicates``);
* balance: images and videos per class and split;
* shortcuts: whether image format or size alone tells a fake class from the real one (e.g. every
  fake a 256 px PNG, every real a 600 px JPEG): a detector can score well without looking at faces.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmark.data.dataset import Dataset
from benchmark.errors import BenchmarkError
from benchmark.files import atomic_write, to_json
from benchmark.data.facts import FileFacts
from benchmark.suite import Suite

SHORTCUT_LEVEL = 0.95  # a single file property separating classes this well is worth a warning


def _separability(values_real, values_fake) -> float:
    """Best accuracy of telling the two classes apart by one categorical value (majority per value)."""
    real, fake = Counter(values_real), Counter(values_fake)
    correct = sum(max(real[v], fake[v]) for v in set(real) | set(fake))
    return correct / (len(values_real) + len(values_fake))


def scan_files(dataset: Dataset, files: FileFacts, workers: int = 8) -> dict[str, tuple]:
    """path -> (sha256, format, width, height, problem) for every sample; memoised in ``files``."""
    return files.scan([s.path for s in dataset.samples], workers)


def cached_audit(cache_dir: Path | None, key: str, audit: Callable[[], dict]) -> dict:
    """The audit of data already audited with the same key (see Run._audit_key) from the cache, else
    ``audit()``, remembered: at a million images an audit costs seconds, its answer a few KB."""
    path = cache_dir / "audits" / f"{key}.json" if cache_dir else None
    if path is not None:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass
    result = json.loads(to_json(audit()))  # the same plain JSON whether remembered or not
    if path is not None:
        try:
            atomic_write(path, to_json(result))
        except OSError:
            pass  # an unwritable cache only costs auditing again
    return result


def unreadable(dataset: Dataset, facts: dict, config) -> list[dict]:
    """The images that do not decode. With ``on_bad_image: fail`` any, and otherwise more than
    ``max_bad_fraction`` of a class, stop the run before anything is written."""
    bad = [{"path": s.path, "class": s.cls, "split": s.split, "problem": facts[s.path][4]}
           for s in dataset.samples if facts[s.path][4]]
    if not bad:
        return bad
    listed = "; ".join(f"{b['path']} ({b['problem']})" for b in bad)
    if config.on_bad_image == "fail":
        raise BenchmarkError(f"{len(bad)} unreadable image(s): {listed}; remove or replace them, "
                             f"or set data.on_bad_image: skip")
    totals = Counter(s.cls for s in dataset.samples)
    for cls, count in Counter(b["class"] for b in bad).items():
        if count / totals[cls] > config.max_bad_fraction:
            raise BenchmarkError(f"class '{cls}': {count} of {totals[cls]} images are unreadable "
                                 f"({count / totals[cls]:.1%} > data.max_bad_fraction {config.max_bad_fraction:g}), "
                                 f"e.g. {bad[0]['path']} ({bad[0]['problem']}); fix the data or raise data.max_bad_fraction")
    return bad


def run_audit(dataset: Dataset, suite: Suite, facts: dict[str, tuple], bad: list[dict] = ()) -> dict:
    """``dataset`` without the unreadable images ``bad`` (listed in the audit)."""
    samples = dataset.samples

    def part(cls: str, split: str) -> list:
        classes = set(dataset.classes_of(cls))
        return [s for s in samples if s.split == split and s.cls in classes]

    cells = []
    for train in suite.train_sets:
        training = part(train, "train")
        trained = {s.unit for s in training}
        for test in suite.tests_for(train):
            testing = part(test, "test")
            shared = trained & {s.unit for s in testing}
            cells.append({"train": train, "test": test, "shared_units": len(shared), "examples": sorted(shared)[:5],
                          "train_real": sum(s.label == 0 for s in training), "train_fake": sum(s.label for s in training),
                          "test_real": sum(s.label == 0 for s in testing), "test_fake": sum(s.label for s in testing)})

    by_hash = defaultdict(list)
    for s in samples:
        by_hash[facts[s.path][0]].append(s)
    duplicates = [
        [{"path": s.path, "class": s.cls, "split": s.split} for s in group]
        for group in by_hash.values() if len({s.split for s in group}) > 1
    ]
    conflicts = [  # the same bytes labelled real in one place and fake in another
        [{"path": s.path, "class": s.cls, "split": s.split} for s in group]
        for group in by_hash.values() if len({s.label for s in group}) > 1
    ]

    counts = {}
    for s in samples:
        entry = counts.setdefault(s.cls, {f"{split}_{kind}": 0 for split in ("train", "val", "test")
                                           for kind in ("images", "videos")})
        entry[f"{s.split}_images"] += 1
    for cls, split, _ in {(s.cls, s.split, s.video) for s in samples}:
        counts[cls][f"{split}_videos"] += 1

    classes = {}
    for cls in dict.fromkeys(s.cls for s in samples):
        mine = [facts[s.path] for s in samples if s.cls == cls]
        widths, heights = np.array([f[2] for f in mine]), np.array([f[3] for f in mine])
        classes[cls] = {
            "formats": dict(Counter(f[1] for f in mine).most_common()),
            "width": [int(widths.min()), int(np.median(widths)), int(widths.max())],
            "height": [int(heights.min()), int(np.median(heights)), int(heights.max())],
        }

    warnings = []
    reals = set(dataset.reals or (dataset.real,))
    real = [facts[s.path] for s in samples if s.cls in reals]
    against = " + ".join(sorted(reals))
    for cls in classes:
        if cls in reals:
            continue
        fake = [facts[s.path] for s in samples if s.cls == cls]
        by_format = _separability([f[1] for f in real], [f[1] for f in fake])
        by_size = _separability([(f[2], f[3]) for f in real], [(f[2], f[3]) for f in fake])
        area = np.array([f[2] * f[3] for f in real + fake], dtype=float)
        labels = np.r_[np.zeros(len(real)), np.ones(len(fake))]
        area_auc = roc_auc_score(labels, area) if area.std() > 0 else 0.5
        classes[cls].update({"format_separability": by_format, "size_separability": by_size,
                             "area_auc": float(area_auc)})
        if by_format >= SHORTCUT_LEVEL:
            warnings.append(f"{cls} vs {against}: file format alone separates them "
                            f"({by_format:.0%} accuracy): a detector can cheat on it")
        if by_size >= SHORTCUT_LEVEL or abs(area_auc - 0.5) >= SHORTCUT_LEVEL - 0.5:
            warnings.append(f"{cls} vs {against}: image size alone separates them "
                            f"({max(by_size, abs(area_auc - 0.5) + 0.5):.0%}): a detector can cheat on it")
    for cell in cells:
        if cell["shared_units"]:
            warnings.append(f"train {cell['train']} / test {cell['test']}: {cell['shared_units']} videos in both")
    if duplicates:
        warnings.append(f"{len(duplicates)} byte-identical files appear in more than one split")
    if conflicts:
        first = conflicts[0]
        warnings.append(f"{len(conflicts)} images appear under both a real and a fake class (conflicting labels), "
                        f"e.g. {first[0]['path']} = {first[1]['path']}")
    if bad:
        warnings.append(f"{len(bad)} unreadable images skipped, e.g. {bad[0]['path']} ({bad[0]['problem']})")
    if dataset.left_out:
        warnings.append(f"{dataset.left_out} videos are not listed in the split files and were left out")
    return {"cells": cells, "duplicates": duplicates, "conflicting_labels": conflicts, "unreadable": list(bad),
            "counts": counts, "classes": classes, "warnings": warnings}


def check_leaks(audit: dict, allow_duplicates: bool) -> None:
    """Stop before any output when test data leaked into training."""
    leaking = [c for c in audit["cells"] if c["shared_units"]]
    if leaking:
        c = leaking[0]
        raise BenchmarkError(f"split leak: train {c['train']} / test {c['test']} share videos {c['examples']}; "
                             f"this is a harness bug, please report it")
    if audit["duplicates"] and not allow_duplicates:
        first = audit["duplicates"][0]
        where = " = ".join(f"{d['path']} ({d['split']})" for d in first[:2])
        raise BenchmarkError(f"{len(audit['duplicates'])} byte-identical file(s) in more than one split, e.g. {where}; "
                             f"remove the copies, or set data.allow_duplicates: true to only warn")
