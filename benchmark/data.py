"""Datasets: class folders of images, grouped by video, split into train / val / test by group.

Layout (``data.layout: folders``)::

    <root>/<Class>/*.png|jpg|jpeg             one image per group
    <root>/<Class>/<video>/*.png|jpg|jpeg     one group per video sub-folder

Splits are made per class and by group, so frames of one video never straddle train and test,
and the real class is split too: no image used in training is ever scored in a test cell.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from benchmark.detector import Samples
from benchmark.errors import BenchmarkError
from benchmark.images import IMAGE_SUFFIXES

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Sample:
    path: str
    cls: str
    label: int  # 1 = fake
    group: str  # video id (or the image itself when there are no video folders)
    split: str


@dataclass(frozen=True)
class Dataset:
    root: Path
    real: str
    samples: tuple[Sample, ...]

    def select(self, classes: Iterable[str], split: str) -> Samples:
        wanted = set(classes)
        chosen = [s for s in self.samples if s.cls in wanted and s.split == split]
        return Samples(paths=[s.path for s in chosen], labels=np.array([s.label for s in chosen], dtype=np.int64))

    def cell(self, fake_class: str, split: str) -> Samples:
        """The real class and one fake class, both restricted to ``split``."""
        return self.select((self.real, fake_class), split)

    def paths_of(self, classes: Iterable[str]) -> list[str]:
        wanted = set(classes)
        return [s.path for s in self.samples if s.cls in wanted]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"path": [s.path for s in self.samples], "class": [s.cls for s in self.samples],
             "group": [s.group for s in self.samples], "split": [s.split for s in self.samples]}
        )

    def write_splits(self, path: Path) -> None:
        self.to_frame()[["path", "class", "split"]].to_csv(path, index=False)


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def list_groups(class_dir: Path) -> dict[str, list[Path]]:
    """group id -> image files: each sub-folder is a video; loose images are groups of one."""
    groups: dict[str, list[Path]] = {}
    for image in _images_in(class_dir):
        groups[image.name] = [image]
    for sub in sorted(p for p in class_dir.iterdir() if p.is_dir()):
        frames = _images_in(sub)
        if frames:
            groups[sub.name] = frames
    return groups


def split_groups(groups: list[str], fractions: Mapping[str, float]) -> dict[str, str]:
    """Deterministic split of group ids: ordered by a hash of the id (so adding a video does not
    reshuffle the others), then cut by the fractions; each part gets at least one group."""
    ordered = sorted(groups, key=lambda g: hashlib.sha1(g.encode()).hexdigest())
    n = len(ordered)
    n_val = max(1, round(n * fractions["val"]))
    n_test = max(1, round(n * fractions["test"]))
    n_train = n - n_val - n_test
    cuts = {"train": ordered[:n_train], "val": ordered[n_train : n_train + n_val], "test": ordered[n_train + n_val :]}
    return {g: split for split, members in cuts.items() for g in members}


def index_folders(root: str | Path, real: str, fake_classes: Iterable[str], fractions: Mapping[str, float]) -> Dataset:
    root = Path(root)
    if not root.is_dir():
        raise BenchmarkError(f"data root {root} is not a folder; pass --data-dir or set data.root")
    available = sorted(p.name for p in root.iterdir() if p.is_dir())
    samples: list[Sample] = []
    for cls in dict.fromkeys([real, *fake_classes]):
        class_dir = root / cls
        if not class_dir.is_dir():
            hint = f" (folders there: {', '.join(available)})" if available else " (it holds no folders)"
            key = "data.real" if cls == real else "pairings"
            raise BenchmarkError(f"{key}: class folder '{cls}' not found under {root}{hint}")
        groups = list_groups(class_dir)
        if len(groups) < 3:
            raise BenchmarkError(
                f"{class_dir}: {len(groups)} video(s)/image(s) found; at least 3 are needed to split "
                f"into train/val/test (images must be .png/.jpg/.jpeg, directly or in one folder per video)"
            )
        assignment = split_groups(list(groups), fractions)
        label = 0 if cls == real else 1
        for group, files in groups.items():
            samples.extend(Sample(str(f), cls, label, group, assignment[group]) for f in files)
    return Dataset(root=root, real=real, samples=tuple(samples))
