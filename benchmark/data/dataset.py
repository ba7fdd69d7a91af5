"""Datasets: which images each class holds, grouped by video, and which split each video is in.

``data.layout: folders`` (the seed's layout)::

    <root>/<Class>/*.png|jpg|jpeg             loose images: each is its own group
    <root>/<Class>/<video>/*.png|jpg|jpeg     one group per video sub-folder

``data.layout: ffpp`` (FaceForensics++ as downloaded)::

    <root>/original_sequences/youtube/<compression>/frames/<id>/
    <root>/manipulated_sequences/<Manipulation>/<compression>/frames/<target>_<source>/

Splits are by video, and by pair for FF++ names (see :mod:`benchmark.data.splits`); the real class is
split too, so no image used in training is ever scored in a test cell.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from benchmark.data.images import IMAGE_SUFFIXES, natural_key
from benchmark.data.manifest import manifest_classes, read_manifests
from benchmark.data.splits import (
    SPLITS,
    assign_by_fractions,
    assign_official,
    evenly_spaced,
    load_official_splits,
    split_units,
)
from benchmark.detector import Samples
from benchmark.errors import BenchmarkError
from benchmark.suite import ClassSet, DataConfig

__all__ = ["SPLITS", "Sample", "Dataset", "load_dataset", "list_videos"]


@dataclass(frozen=True, slots=True)
class Sample:
    path: str
    cls: str
    label: int  # 1 = fake
    video: str  # video id (the image's own name when there are no video folders)
    unit: str  # what may not straddle splits: the video, or its FF++ pair
    split: str


@dataclass(frozen=True)
class Dataset:
    root: Path
    real: str
    samples: tuple[Sample, ...]
    has_videos: bool  # True when images are grouped in video folders: video-level metrics apply
    left_out: int = 0  # videos the official split files do not list
    reals: tuple[str, ...] = ()  # every real class (data.real and the sets' reals)
    test_only: frozenset = frozenset()  # classes only ever tested: they need a test split only
    sets: Mapping[str, ClassSet] = dataclasses.field(default_factory=dict)  # name -> its real and fake classes
    generated: frozenset = frozenset()  # training sets of pseudo-fakes: their data here is data.real alone

    def classes_of(self, name: str) -> tuple[str, ...]:
        """The classes of a train or test set: a named set's own, data.real alone for a generator's
        (its fakes are made from those images, see benchmark.pseudo), else data.real + that fake class."""
        if name in self.generated:
            return (self.real,)
        if name in self.sets:
            return (*self.sets[name].real, *self.sets[name].fake)
        return (self.real, name)

    def select(self, classes: Iterable[str], split: str) -> Samples:
        wanted = set(classes)
        chosen = [s for s in self.samples if s.cls in wanted and s.split == split]
        return Samples(paths=[s.path for s in chosen], labels=np.array([s.label for s in chosen], dtype=np.int64))

    def cell(self, name: str, split: str) -> Samples:
        """A set (data.real + a fake class, or a named set) restricted to ``split``."""
        return self.select(self.classes_of(name), split)

    def by_path(self) -> dict[str, Sample]:
        return {s.path: s for s in self.samples}

    def summary(self) -> pd.DataFrame:
        """"images (videos)" per class (rows) and split (columns)."""
        frame = self.to_frame()
        images = frame.groupby(["class", "split"]).size().unstack(fill_value=0)
        videos = frame.groupby(["class", "split"])["video"].nunique().unstack(fill_value=0)
        return (images.astype(str) + " (" + videos.astype(str) + ")")[[s for s in SPLITS if s in images]]

    def without(self, paths: Iterable[str]) -> "Dataset":
        """The dataset less ``paths`` (unreadable images); every class must still fill every split."""
        dropped = set(paths)
        if not dropped:
            return self
        samples = tuple(s for s in self.samples if s.path not in dropped)
        _check_every_split_filled(list(samples), list(dict.fromkeys(s.cls for s in self.samples)), None,
                                  why="every one of its images there is unreadable", test_only=self.test_only)
        return dataclasses.replace(self, samples=samples)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [(s.path, s.cls, s.video, s.unit, s.split) for s in self.samples],
            columns=["path", "class", "video", "unit", "split"],
        )


def _frame_order(names: list[str]) -> list[str]:
    """frame_2 before frame_10: a plain sort when every name has the same length (zero-padded frames,
    the usual case: then it is the same order), the natural order otherwise."""
    names.sort()
    if names and len({len(n) for n in names}) > 1:
        names.sort(key=natural_key)
    return names


def _scan(folder: str) -> tuple[list[str], list[os.DirEntry]]:
    """(image names, sub-folder entries) of ``folder``: one ``scandir``, no stat per file (the entry's
    type comes with the listing; only symbolic links are followed)."""
    images, folders = [], []
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                if entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.is_file():
                    images.append(entry.name)
                elif entry.is_dir():
                    folders.append(entry)
            except OSError:  # a link that loops (a -> b -> a) is neither
                continue
    return _frame_order(images), folders


def _loops_back(sub: os.DirEntry, class_dir: str) -> bool:
    """A symlinked sub-folder pointing at its class folder or above would list images twice."""
    if not sub.is_symlink():
        return False
    target, here = Path(sub.path).resolve(), Path(class_dir).resolve()
    return target == here or target in here.parents


def list_videos(class_dir: str | Path) -> dict[str, list[str]]:
    """video id -> frame paths: each sub-folder is a video; loose images are videos of one frame.
    Links that loop (or point back up) are skipped."""
    class_dir = str(class_dir)
    loose, subs = _scan(class_dir)
    here = os.path.join(class_dir, "")
    videos: dict[str, list[str]] = {name: [here + name] for name in loose}
    for sub in sorted(subs, key=lambda e: e.name):
        if _loops_back(sub, class_dir):
            continue
        frames, _ = _scan(sub.path)
        if frames:
            folder = sub.path + os.sep
            videos[sub.name] = [folder + name for name in frames]
    return videos


def available_classes(config: DataConfig, root: Path) -> list[str]:
    """The manipulation classes present in the data: what `test: all` means."""
    if config.layout == "manifest":
        return sorted(c for c in manifest_classes(root, config.manifest) if c != config.real)
    where = root / "manipulated_sequences" if config.layout == "ffpp" else root
    if not where.is_dir():
        return []
    return sorted(p.name for p in where.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p.name != config.real)


OFFICIAL_SPLITS = Path(__file__).resolve().parent / "ffpp_splits"


def splits_folder(value: str | None, relative_to: Path) -> Path | None:
    """``data.splits``: ``official`` (FF++'s lists, shipped with the harness) or a folder."""
    if value is None:
        return None
    if value == "official":
        return OFFICIAL_SPLITS
    path = Path(value)
    return path if path.is_absolute() else relative_to / path


def _class_dirs(config: DataConfig, root: Path, classes: list[str], reals: tuple[str, ...]) -> dict[str, Path]:
    if config.layout == "folders":
        dirs = {cls: root / cls for cls in classes}
        where = root
    else:  # ffpp: other real classes are other original_sequences (e.g. actors)
        frames = Path(config.compression) / "frames"
        dirs = {cls: root / ("original_sequences" if cls in reals else "manipulated_sequences") / cls / frames
                for cls in classes}
        dirs[config.real] = root / "original_sequences" / "youtube" / frames
        where = root / "manipulated_sequences"
    for cls, folder in dirs.items():
        if not folder.is_dir():
            available = sorted(p.name for p in where.iterdir() if p.is_dir()) if where.is_dir() else []
            close = difflib.get_close_matches(cls, available, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            hint += f" (folders in {where}: {', '.join(available)})" if available else ""
            key = "data.real" if cls == config.real else "pairings"
            raise BenchmarkError(f"{key}: class '{cls}' not found: no folder {folder}{hint}")
    return dirs


def load_dataset(config: DataConfig, root: str | Path, fake_classes: Iterable[str], splits_dir: Path | None = None,
                 real_classes: Iterable[str] = (), sets: Mapping[str, ClassSet] | None = None,
                 test_only: Iterable[str] = (), generators: Iterable[str] = ()) -> Dataset:
    """``fake_classes``: every class the suite uses besides data.real (set classes included);
    ``real_classes``: those that are real (data.real always is); ``test_only``: classes no training
    set uses, which need test images only (e.g. a manifest listing only a dataset's official test videos)."""
    root = Path(root)
    if not root.is_dir():
        raise BenchmarkError(f"data root {root} is not a folder; pass --data-dir or set data.root")
    classes = list(dict.fromkeys([config.real, *fake_classes]))
    reals = tuple(dict.fromkeys([config.real, *real_classes]))
    given_splits = {}
    if config.layout == "manifest":
        videos, given_splits = read_manifests(root, config.manifest, classes)
    else:
        class_dirs = _class_dirs(config, root, classes, reals)
        videos = {cls: list_videos(folder) for cls, folder in class_dirs.items()}
        for cls, found in videos.items():
            if not found:
                raise BenchmarkError(f"class '{cls}': no .png/.jpg/.jpeg images in {class_dirs[cls]} "
                                     f"(directly or in one folder per video); add images or fix the folder name")
    names = {cls: list(found) for cls, found in videos.items()}
    # videos whose manifest rows carry no split (no column, or an empty cell) are split as usual
    rest = {cls: [v for v in found if (cls, v) not in given_splits] for cls, found in names.items()}
    rest = {cls: found for cls, found in rest.items() if found}
    if splits_dir is not None:
        assignment, _ = assign_official(rest, load_official_splits(splits_dir))
    else:
        assignment, _ = assign_by_fractions(rest, reals, config.split)
    assignment.update(given_splits)
    units = split_units(names)
    samples = []
    for cls, found in videos.items():
        label = 0 if cls in reals else 1
        for video, frames in found.items():
            split = assignment.get((cls, video))
            if split is None:
                continue
            unit = units[cls, video]
            samples += [Sample(frame, cls, label, video, unit, split)
                        for frame in evenly_spaced(frames, config.frames_per_video)]
    test_only = frozenset(test_only)
    _check_every_split_filled(samples, classes, splits_dir, test_only=test_only)
    has_videos = any(len(frames) > 1 or os.path.basename(os.path.dirname(frames[0])) == video  # not a loose image
                     for found in videos.values() for video, frames in found.items())
    left_out = sum(len(found) for found in names.values()) - len(assignment)
    return Dataset(root=root, real=config.real, samples=tuple(samples), has_videos=has_videos, left_out=left_out,
                   reals=reals, sets=dict(sets or {}), test_only=test_only, generated=frozenset(generators))


def _check_every_split_filled(samples: list[Sample], classes: list[str], splits_dir, why: str = "",
                              test_only=frozenset()) -> None:
    present = {(s.cls, s.split) for s in samples}
    for cls in classes:
        for split in ("test",) if cls in test_only else SPLITS:
            if (cls, split) not in present:
                why = why or (f"none of its videos is listed in {splits_dir}/{split}.json" if splits_dir
                              else "it has too few videos/images to split; at least 3 are needed")
                raise BenchmarkError(f"class '{cls}' has no {split} images: {why}")
