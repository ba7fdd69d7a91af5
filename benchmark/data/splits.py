"""Which split every video lands in: by video, never by frame, and by *pair* for FF++ names.

In FaceForensics++ a fake ``a_b`` shows target video ``a`` (its background, for Face2Face and
NeuralTextures also its identity) with source ``b``'s face. So reals ``a`` and ``b`` and fakes ``a_b``
and ``b_a`` form one unit that must stay in one split, as the official split files do.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Mapping

import numpy as np

from benchmark.errors import BenchmarkError

SPLITS = ("train", "val", "test")
FFPP_ID = re.compile(r"^\d+$")
FFPP_PAIR = re.compile(r"^(\d+)_(\d+)$")


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def split_groups(groups: list[str], fractions: Mapping[str, float]) -> dict[str, str]:
    """Deterministic split of unit ids: ordered by a hash of the id (so adding a video does not
    reshuffle the others), then cut by the fractions; each part gets one unit when there are three."""
    ordered = sorted(groups, key=_hash)
    n = len(ordered)
    if n < 3:  # too few to cut: each unit falls where its hash points
        bounds = np.cumsum([fractions[s] for s in SPLITS])
        return {g: SPLITS[min(int(np.searchsorted(bounds, int(_hash(g)[:8], 16) / 16**8, "right")), 2)] for g in ordered}
    n_val = max(1, round(n * fractions["val"]))
    n_test = max(1, round(n * fractions["test"]))
    n_train = n - n_val - n_test
    cuts = {"train": ordered[:n_train], "val": ordered[n_train : n_train + n_val], "test": ordered[n_train + n_val :]}
    return {g: split for split, members in cuts.items() for g in members}


class _Pairs:
    """Union-find over FF++ video ids: ids joined by a fake ``a_b`` are one unit."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def split_units(class_videos: Mapping[str, list[str]]) -> dict[tuple[str, str], str]:
    """(class, video) -> the unit that must not straddle splits: the FF++ pair for FF++ names,
    otherwise the video itself."""
    pairs = _Pairs()
    for videos in class_videos.values():
        for video in videos:
            match = FFPP_PAIR.match(video)
            if match:
                pairs.union(match[1], match[2])
    units = {}
    for cls, videos in class_videos.items():
        for video in videos:
            match = FFPP_PAIR.match(video)
            if match:
                units[cls, video] = "pair:" + pairs.find(match[1])
            elif FFPP_ID.match(video):
                units[cls, video] = "pair:" + pairs.find(video)
            else:
                units[cls, video] = f"{cls}/{video}"
    return units


def assign_by_fractions(class_videos: Mapping[str, list[str]], reals, fractions):
    """((class, video) -> split, (class, video) -> unit). Real classes first (``reals``: one name or
    several), then each fake class: a unit already placed keeps its split; the others of a class are
    cut by the fractions, so every class gets train, val and test parts."""
    units = split_units(class_videos)
    placed: dict[str, str] = {}
    out = {}
    first = [reals] if isinstance(reals, str) else [r for r in reals if r in class_videos]
    for cls in [*first, *[c for c in class_videos if c not in first]]:
        videos = class_videos[cls]
        fresh = list(dict.fromkeys(units[cls, v] for v in videos if units[cls, v] not in placed))
        placed.update(split_groups(fresh, fractions))
        out.update({(cls, v): placed[units[cls, v]] for v in videos})
    return out, units


def load_official_splits(folder: str | Path) -> dict[str, str]:
    """video id -> split from FF++'s train/val/test.json (lists of [a, b] pairs)."""
    folder = Path(folder)
    ids: dict[str, str] = {}
    for split in SPLITS:
        path = folder / f"{split}.json"
        try:
            pairs = json.loads(path.read_text())
        except OSError:
            raise BenchmarkError(f"data.splits: cannot read {path}; the folder needs train.json, val.json, test.json") from None
        except json.JSONDecodeError as e:
            raise BenchmarkError(f"data.splits: {path} is not valid JSON ({e.msg})") from None
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise BenchmarkError(f"data.splits: {path} must be a list of [id, id] pairs, found {pair!r}")
            for video in pair:
                if ids.setdefault(str(video), split) != split:
                    raise BenchmarkError(f"data.splits: video {video} is in both {ids[str(video)]} and {split}")
    return ids


def assign_official(class_videos: Mapping[str, list[str]], official: Mapping[str, str]):
    """Real ``a`` and fake ``a_b`` follow ``a``'s split; videos the files do not list are left out."""
    units = split_units(class_videos)
    out = {}
    for cls, videos in class_videos.items():
        for video in videos:
            match = FFPP_PAIR.match(video)
            split = official.get(match[1] if match else video)
            if split is not None:
                out[cls, video] = split
    return out, units


def evenly_spaced(frames: list, n: int | None) -> list:
    """``n`` frames spread over the whole video (first and last included), not the first ``n``."""
    if not n or len(frames) <= n:
        return frames
    return [frames[i] for i in np.unique(np.linspace(0, len(frames) - 1, n).round().astype(int))]
