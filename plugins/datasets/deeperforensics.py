"""DeeperForensics-1.0 (Jiang et al., CVPR 2020): 1000 fakes made on FaceForensics++'s YouTube
videos, in the official split lists; the reals are those FF++ target videos (the fake
'<ffpp id>_<actor>' is made on FF++ video <ffpp id>), each in the split of its fake."""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets import SPLIT_NAMES, DatasetRecipe, Item, Option, need, read_lines, stem_of, videos_in
from benchmark.errors import BenchmarkError
from benchmark.hookspecs import hookimpl


class DeeperForensics(DatasetRecipe):
    name = "deeperforensics"
    title = "DeeperForensics-1.0"
    origin = "github.com/EndlessSora/DeeperForensics-1.0 (form); reals from FaceForensics++"
    test_split = "lists/splits/test.txt (and the FF++ videos its fakes were made on)"
    labels = "manipulated_videos/<perturbation> = fake; FF++ original_sequences/youtube = real"
    layout = "lists/splits/{train,val,test}.txt, manipulated_videos/<perturbation>/*.mp4"
    options = (Option("ffpp", "the FaceForensics++ download holding the real videos (required)"),
               Option("perturbation", "which manipulated_videos folder (default end_to_end)", "end_to_end"),
               Option("compression", "of the FF++ reals: c23 (default), c40 or raw", "c23", ("c23", "c40", "raw")))

    def items(self, src: Path, options: dict) -> list[Item]:
        if not options.get("ffpp"):
            raise BenchmarkError("deeperforensics: --ffpp FFPP_ROOT is needed (its reals are FaceForensics++ videos)")
        reals = Path(options["ffpp"]) / "original_sequences" / "youtube" / options["compression"] / "videos"
        split_of = {}
        for split in reversed(SPLIT_NAMES):  # test first: a real shared by two splits' fakes stays in test
            for line in read_lines(src / "lists" / "splits" / f"{split}.txt", f"DeeperForensics' {split} list"):
                split_of.setdefault(stem_of(line), split)
        fakes = videos_in(src / "manipulated_videos" / options["perturbation"], "DeeperForensics' fake videos")
        items, real_split = [], {}
        for path in fakes:
            if path.stem not in split_of:
                raise BenchmarkError(f"{path} is in none of {src / 'lists' / 'splits'}/*.txt")
            items.append(Item(path, "DFo_fake", path.stem, split_of[path.stem]))
            real_split.setdefault(path.stem.split("_")[0], split_of[path.stem])
        for ffpp_id, split in sorted(real_split.items()):
            path = need(reals / f"{ffpp_id}.mp4", f"the FF++ real video that DeeperForensics' {ffpp_id}_* fakes use")
            items.append(Item(path, "DFo_real", ffpp_id, split))
        return items


@hookimpl
def register_datasets(register):
    register(DeeperForensics())
