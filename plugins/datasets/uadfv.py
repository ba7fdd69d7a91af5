"""UADFV (Yang, Li and Lyu 2019): 49 real and 49 fake videos, no official split (all test)."""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets import DatasetRecipe, Item, videos_in
from benchmark.hookspecs import hookimpl


class UADFV(DatasetRecipe):
    name = "uadfv"
    title = "UADFV"
    origin = "the authors (Yang et al., ICASSP 2019), on request"
    test_split = "every video (49 real, 49 fake): no official split"
    labels = "real/ = real, fake/ = fake"
    layout = "real/*.mp4, fake/*.mp4"

    def items(self, src: Path, options: dict) -> list[Item]:
        return [Item(path, f"UADFV_{label}", path.stem, "test") for label in ("real", "fake")
                for path in videos_in(src / label, f"UADFV's {label}/ folder of .mp4 videos")]


@hookimpl
def register_datasets(register):
    register(UADFV())
