"""FaceForensics++ (Rössler et al. 2019): its official download tree, prepared in place."""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets import DatasetRecipe, Item, Option, videos_in
from benchmark.hookspecs import hookimpl


class FaceForensics(DatasetRecipe):
    name = "ffpp"
    title = "FaceForensics++"
    origin = "github.com/ondyari/FaceForensics (download script after the form)"
    test_split = "the official 70 test pairs (140 real ids; the suite's `splits: official`)"
    labels = "original_sequences = real; manipulated_sequences/<method> = fake, ids <target>_<source>"
    layout = "original_sequences/youtube/<c>/videos/*.mp4, manipulated_sequences/<method>/<c>/videos/*.mp4"
    test_only = False  # the training set: splits come from the shipped official lists at run time
    in_place = True
    options = (Option("compression", "c23 (default), c40 or raw", "c23", ("c23", "c40", "raw")),)

    def items(self, src: Path, options: dict) -> list[Item]:
        compression = options["compression"]
        folders = [("Real_youtube", src / "original_sequences" / "youtube" / compression)]
        manipulated = src / "manipulated_sequences"
        if manipulated.is_dir():
            folders += [(m.name, m / compression) for m in sorted(manipulated.iterdir())
                        if m.is_dir() and m.name != "DeepFakeDetection"]  # DFD is its own recipe (dfd)
        return [Item(path, cls, path.stem, None) for cls, folder in folders if (folder / "videos").is_dir()
                for path in videos_in(folder / "videos", "")]

    def target(self, item: Item, dest: Path) -> Path:
        return item.source.parent.parent / "frames" / item.video  # <...>/<c>/videos/x.mp4 -> <...>/<c>/frames/x/


@hookimpl
def register_datasets(register):
    register(FaceForensics())
