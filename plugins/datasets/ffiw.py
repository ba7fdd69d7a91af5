"""FFIW-10K (Zhou et al., CVPR 2021): face forgery in the wild, source (real) and target (fake)
videos in official train / val / test folders."""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets import SPLIT_NAMES, DatasetRecipe, Item, videos_in
from benchmark.errors import BenchmarkError
from benchmark.hookspecs import hookimpl


class FFIW(DatasetRecipe):
    name = "ffiw"
    title = "FFIW-10K"
    origin = "github.com/tfzhou/FFIW (form)"
    test_split = "the official test folders (source/test real, target/test fake)"
    labels = "source/ = real, target/ = fake"
    layout = "source/{train,val,test}/*.mp4, target/{train,val,test}/*.mp4 (FFIW10K-v1-release)"

    def items(self, src: Path, options: dict) -> list[Item]:
        items = [Item(path, f"FFIW_{cls}", path.stem, split)
                 for folder, cls in (("source", "real"), ("target", "fake")) for split in SPLIT_NAMES
                 if (src / folder / split).is_dir() for path in videos_in(src / folder / split, "")]
        if not any(item.split == "test" for item in items):
            raise BenchmarkError(f"{src} has no source/test or target/test videos: expected {self.layout}")
        return items


@hookimpl
def register_datasets(register):
    register(FFIW())
