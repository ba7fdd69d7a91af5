"""Google/Jigsaw's DeepFakeDetection (DFD), shipped inside the FaceForensics++ download: the actors'
original sequences (real) and manipulated_sequences/DeepFakeDetection (fake). No official split:
the whole set is the test set, as DeepfakeBench and the cross-dataset papers use it."""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets import DatasetRecipe, Item, Option, videos_in
from benchmark.hookspecs import hookimpl


class DeepFakeDetection(DatasetRecipe):
    name = "dfd"
    title = "DeepFakeDetection (DFD)"
    origin = "the FaceForensics++ download script (-d DeepFakeDetection and DeepFakeDetection_original)"
    test_split = "every video (363 real, 3068 fake): no official split"
    labels = "original_sequences/actors = real; manipulated_sequences/DeepFakeDetection = fake"
    layout = "original_sequences/actors/<c>/videos/*.mp4, manipulated_sequences/DeepFakeDetection/<c>/videos/*.mp4"
    options = (Option("compression", "c23 (default), c40 or raw", "c23", ("c23", "c40", "raw")),)

    def items(self, src: Path, options: dict) -> list[Item]:
        c = options["compression"]
        folders = {"DFD_real": src / "original_sequences" / "actors" / c / "videos",
                   "DFD_fake": src / "manipulated_sequences" / "DeepFakeDetection" / c / "videos"}
        return [Item(path, cls, path.stem, "test") for cls, folder in folders.items()
                for path in videos_in(folder, f"DFD's {cls[4:]} videos ({self.layout})")]


@hookimpl
def register_datasets(register):
    register(DeepFakeDetection())
