"""DF40 (Yan et al., NeurIPS 2024): 40 forgery methods, shipped as face crops (manifest only), one
folder per method and data domain (ff: made on FaceForensics++, cdf: on Celeb-DF). The reals of the
31 'known' methods are FF++ and Celeb-DF's own (prepare them with ffpp and celebdf); the 9 others
carry theirs in a real/ folder. DF40 has no val split: the training download's rows are left to the
suite's splits (its 'ff' videos carry FF++ ids, so `splits: official` puts them in FF++'s own
train / val / test, as DF40 made them), the testing download's rows are test."""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets import DatasetRecipe, Item, frame_folders
from benchmark.errors import BenchmarkError
from benchmark.hookspecs import hookimpl


class DF40(DatasetRecipe):
    name = "df40"
    title = "DF40"
    origin = "github.com/YZY-stack/DF40 (Google Drive, after preprocessing)"
    test_split = ("the testing download (or SRC/test/); the training download as SRC/train/ with --all-splits, "
                  "split by the suite (FF++ ids: splits: official)")
    labels = "every image is fake except those under a method's real/ folder"
    layout = "<method>/<ff|cdf>/[frames/]<video>/*.png (or train/ and test/ holding those), e.g. simswap/ff/..."
    frames = True

    def items(self, src: Path, options: dict) -> list[Item]:
        roots = [(src / s, s) for s in ("train", "test") if (src / s).is_dir()] or [(src, "test")]
        split_of = {"train": None, "test": "test"}  # None: no val list ships, the suite's splits decide
        items = []
        for root, split in roots:
            for method in sorted(p for p in root.iterdir() if p.is_dir()):
                for domain in sorted(p for p in method.iterdir() if p.is_dir()):
                    cls = f"{method.name}_{domain.name}"  # DF40's own names: simswap_ff, simswap_cdf, heygen_real
                    base = domain / "frames" if (domain / "frames").is_dir() else domain
                    for frames in frame_folders(base):
                        video = "-".join(frames.relative_to(base).parts) or frames.name
                        items.append(Item(frames, cls, video, split_of[split]))
        if not items:
            raise BenchmarkError(f"{src} holds no face images: expected {self.layout}")
        return items


@hookimpl
def register_datasets(register):
    register(DF40())
