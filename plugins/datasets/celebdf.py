"""Celeb-DF v1 and v2 (Li et al. 2020): Celeb-real, YouTube-real, Celeb-synthesis and the official
test list, whose labels are 1 = real, 0 = fake (the opposite of this harness's 1 = fake)."""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets import DatasetRecipe, Item, Option, read_lines, stem_of, videos_in
from benchmark.errors import BenchmarkError
from benchmark.hookspecs import hookimpl

FOLDERS = {"Celeb-real": "1", "YouTube-real": "1", "Celeb-synthesis": "0"}  # folder -> its label in the list
LIST = "List_of_testing_videos.txt"


class CelebDF(DatasetRecipe):
    name = "celebdf"
    title = "Celeb-DF v1 / v2"
    origin = "github.com/yuezunli/celeb-deepfakeforensics (form)"
    test_split = f"{LIST}: 518 videos in v2 (178 real, 340 fake), 100 in v1"
    labels = f"{LIST} lines '<label> <folder>/<video>.mp4' with 1 = real, 0 = fake"
    layout = f"Celeb-real/, YouTube-real/, Celeb-synthesis/ (*.mp4) and {LIST}"
    options = (Option("version", "v2 (default) or v1: names the classes CDFv2_* or CDFv1_*", "v2", ("v1", "v2")),)

    def items(self, src: Path, options: dict) -> list[Item]:
        prefix = f"CDF{options['version']}_"
        listed = {}
        for number, line in enumerate(read_lines(src / LIST, "Celeb-DF's official test list"), start=1):
            label, _, entry = line.partition(" ")
            folder = entry.replace("\\", "/").split("/")[0]
            if folder not in FOLDERS or label not in ("0", "1"):
                raise BenchmarkError(f"{src / LIST}, line {number}: expected '<0|1> <{'|'.join(FOLDERS)}>/<video>.mp4', "
                                     f"got {line!r}")
            if label != FOLDERS[folder]:
                raise BenchmarkError(f"{src / LIST}, line {number}: label {label} for {folder} (Celeb-DF marks real "
                                     "as 1 and fake as 0); is this the official list?")
            listed[(folder, stem_of(entry))] = line
        items = []
        for folder in FOLDERS:
            for path in videos_in(src / folder, f"Celeb-DF's {folder} folder of .mp4 videos"):
                split = "test" if listed.pop((folder, path.stem), None) else "train"
                items.append(Item(path, prefix + folder, path.stem, split))
        if listed:
            (folder, video), line = next(iter(listed.items()))
            raise BenchmarkError(f"{src / LIST} lists {len(listed)} video(s) not in {src} (first: {line!r}); "
                                 "is the download complete?")
        return items


@hookimpl
def register_datasets(register):
    register(CelebDF())
