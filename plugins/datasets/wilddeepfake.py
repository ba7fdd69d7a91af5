"""WildDeepfake (Zi et al., ACM MM 2020): face sequences from the internet, shipped as face crops
(manifest only); its official split is the archive it comes in (real_train, fake_test, ...)."""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets import DatasetRecipe, Item, frame_folders
from benchmark.errors import BenchmarkError
from benchmark.hookspecs import hookimpl

FOLDERS = {f"{label}_{split}": (f"WDF_{label}", split) for label in ("real", "fake") for split in ("train", "test")}


class WildDeepfake(DatasetRecipe):
    name = "wilddeepfake"
    title = "WildDeepfake"
    origin = "github.com/deepfakeinthewild/deepfake-in-the-wild (form)"
    test_split = "real_test/ and fake_test/ (the official test archives)"
    labels = "the archive's name: real_* = real, fake_* = fake"
    layout = "real_train/, real_test/, fake_train/, fake_test/ (the .tar.gz archives extracted), face sequences inside"
    frames = True

    def items(self, src: Path, options: dict) -> list[Item]:
        if list(src.glob("*.tar.gz")) and not any((src / f).is_dir() for f in FOLDERS):
            raise BenchmarkError(f"{src} holds WildDeepfake's .tar.gz archives: extract them first ({self.layout})")
        items = []
        for folder, (cls, split) in FOLDERS.items():
            if (src / folder).is_dir():
                for frames in frame_folders(src / folder):
                    items.append(Item(frames, cls, "-".join(frames.relative_to(src / folder).parts), split))
        if not any(item.split == "test" for item in items):
            raise BenchmarkError(f"{src} has no face images in real_test/ or fake_test/: expected {self.layout}")
        return items


@hookimpl
def register_datasets(register):
    register(WildDeepfake())
