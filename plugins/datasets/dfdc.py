"""The Deepfake Detection Challenge (Dolhansky et al. 2020): the public test set with its labels
file (label 1 = fake), and with --all-splits the 50 training parts and their metadata.json."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from benchmark.datasets import DatasetRecipe, Item, need, videos_in
from benchmark.errors import BenchmarkError
from benchmark.hookspecs import hookimpl


class DFDC(DatasetRecipe):
    name = "dfdc"
    title = "DFDC (full)"
    origin = "ai.meta.com/datasets/dfdc (Kaggle competition data)"
    test_split = "the public test set: test/labels.csv (5000 videos)"
    labels = "test/labels.csv filename,label with 1 = fake; train parts: metadata.json label REAL / FAKE"
    layout = "test/labels.csv and test/videos/*.mp4 (or test/*.mp4); train/dfdc_train_part_*/metadata.json + *.mp4"

    def items(self, src: Path, options: dict) -> list[Item]:
        labels = need(src / "test" / "labels.csv", "DFDC's test labels file (filename,label)")
        try:
            table = pd.read_csv(labels, dtype=str)
            rows = list(zip(table["filename"], table["label"]))
        except (ValueError, KeyError, pd.errors.ParserError) as e:
            raise BenchmarkError(f"{labels}: expected columns filename,label ({e})") from None
        folder = src / "test" / "videos" if (src / "test" / "videos").is_dir() else src / "test"
        items = []
        for number, (filename, label) in enumerate(rows, start=2):
            if label not in ("0", "1"):
                raise BenchmarkError(f"{labels}, line {number}: label {label!r} is not 0 (real) or 1 (fake)")
            path = need(folder / filename, f"the test video {labels} lists at line {number}")
            items.append(Item(path, "DFDC_fake" if label == "1" else "DFDC_real", path.stem, "test"))
        if options.get("all_splits"):  # the training parts are large: read only when asked
            for part in sorted((src / "train").glob("*")) if (src / "train").is_dir() else []:
                if part.is_dir():
                    items += self._part(part)
        return items

    def _part(self, part: Path) -> list[Item]:
        metadata = need(part / "metadata.json", "the training part's metadata.json")
        try:
            labels = {name: entry["label"] for name, entry in json.loads(metadata.read_text()).items()}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise BenchmarkError(f"{metadata}: expected {{'<video>.mp4': {{'label': 'REAL'|'FAKE'}}}} ({e})") from None
        out = []
        for path in videos_in(part, ""):
            if labels.get(path.name) not in ("REAL", "FAKE"):
                raise BenchmarkError(f"{metadata} gives no REAL/FAKE label for {path.name}")
            out.append(Item(path, f"DFDC_{labels[path.name].lower()}", path.stem, "train"))
        return out


@hookimpl
def register_datasets(register):
    register(DFDC())
