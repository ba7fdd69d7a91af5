"""Dataset recipes: how `benchmark prepare <dataset> SRC DEST` reads one public dataset's official
layout, labels and split lists. A recipe lists the dataset's videos (or, for sets that ship face
crops, their frame folders) as :class:`Item` rows; the harness decodes, finds faces, aligns, and
writes the frames, ``manifest.csv`` (path, class, video, split) and ``prepare.json``.

A new dataset is one module: subclass :class:`DatasetRecipe`, and register it from a plugin::

    @hookimpl
    def register_datasets(register):
        register(MyDataset())
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import BenchmarkError

SPLIT_NAMES = ("train", "val", "test")
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


@dataclass(frozen=True)
class Item:
    source: Path  # a video file; for a recipe with ``frames = True``, a folder of face images
    cls: str  # the manifest's class: a folder name, prefixed by the dataset so sets never collide
    video: str  # unique within its class
    split: str | None  # train | val | test from the official lists; None: the suite's splits decide


@dataclass(frozen=True)
class Option:
    """An extra command-line option of one recipe (``--<name>``)."""

    name: str
    help: str
    default: str | None = None
    choices: tuple[str, ...] | None = None


class DatasetRecipe:
    """One public dataset. Subclasses set the class attributes and implement :meth:`items`."""

    name = ""  # the command: benchmark prepare <name>
    title = ""  # e.g. "Celeb-DF (v1, v2)"
    origin = ""  # where it comes from (a page a user can find)
    test_split = ""  # what its test split is
    labels = ""  # its label convention, as its files state it
    layout = ""  # the folders SRC must hold, for --help and errors
    frames = False  # ships face crops already: manifest only, no decoding
    test_only = True  # a cross-dataset test set: keeps only its test videos unless --all-splits
    in_place = False  # frames go inside SRC (FF++'s tree), no DEST
    options: tuple[Option, ...] = ()

    def items(self, src: Path, options: dict) -> list[Item]:
        """Every video (or frame folder) of the dataset with its class and official split."""
        raise NotImplementedError

    def target(self, item: Item, dest: Path) -> Path:
        """Where an item's frames are written (in-place recipes override this)."""
        return dest / item.cls / item.video


def need(path: Path, what: str) -> Path:
    """``path`` if it exists, else one line naming it and what it should be."""
    if not path.exists():
        raise BenchmarkError(f"{path} does not exist: expected {what}")
    return path


def read_lines(path: Path, what: str) -> list[str]:
    """The non-empty lines of an official list file."""
    need(path, what)
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise BenchmarkError(f"{path} cannot be read as text ({e}); expected {what}") from None


def videos_in(folder: Path, what: str, recursive: bool = False) -> list[Path]:
    """The video files of ``folder`` in a stable order; a missing folder is one line."""
    need(folder, what)
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())


def frame_folders(folder: Path) -> list[Path]:
    """Every folder below ``folder`` that directly holds images (a video's frames), in natural order."""
    found = {p.parent for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()}
    return sorted(found, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(p))])


def stem_of(entry: str) -> str:
    """'YouTube-real/00170.mp4' -> '00170'."""
    return Path(entry.replace("\\", "/")).stem
