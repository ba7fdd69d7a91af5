"""DFDC Preview (Dolhansky et al. 2019): dataset.json gives every video's label and set; fakes of
two methods (method_A, method_B), reals in original_videos."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.datasets import DatasetRecipe, Item, need
from benchmark.errors import BenchmarkError
from benchmark.hookspecs import hookimpl


class DFDCPreview(DatasetRecipe):
    name = "dfdcp"
    title = "DFDC Preview (DFDC-P)"
    origin = "ai.meta.com/datasets/dfdc (the preview release)"
    test_split = "dataset.json entries with set = test"
    labels = "dataset.json {'<folder>/.../<video>.mp4': {'label': 'real'|'fake', 'set': 'train'|'test'}}"
    layout = "dataset.json, method_A/, method_B/, original_videos/"

    def items(self, src: Path, options: dict) -> list[Item]:
        listing = need(src / "dataset.json", "DFDC-P's dataset.json (labels and sets)")
        try:
            entries = json.loads(listing.read_text())
            rows = [(key, entry["label"], entry["set"]) for key, entry in entries.items()]
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise BenchmarkError(f"{listing}: expected {self.labels} ({e})") from None
        items = []
        for key, label, split in sorted(rows):
            method = key.split("/")[0]
            if label not in ("real", "fake") or split not in ("train", "test"):
                raise BenchmarkError(f"{listing}: {key}: label {label!r} / set {split!r} (expected real|fake, train|test)")
            cls = "DFDCP_real" if label == "real" else {"method_A": "DFDCP_fakeA", "method_B": "DFDCP_fakeB"}.get(method)
            if cls is None:
                raise BenchmarkError(f"{listing}: {key}: a fake outside method_A/ and method_B/")
            path = need(src / key, f"the video {listing} lists as {key}")
            items.append(Item(path, cls, path.stem, split))
        return items


@hookimpl
def register_datasets(register):
    register(DFDCPreview())
