"""``data.layout: manifest``: images listed in CSV files ``path,class,video[,split]``, paths relative to
each manifest, so any dataset's layout (Celeb-DF, DFDC, DF40, in-house) works without renaming, and
official split lists become a ``split`` column. `benchmark prepare` writes such a manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from benchmark.data.images import natural_key
from benchmark.data.splits import SPLITS
from benchmark.errors import BenchmarkError
from benchmark.suite_sections import check_name

REQUIRED = ("path", "class", "video")


def manifest_classes(root: Path, manifests) -> list[str]:
    """Every class the manifests list (what `test: all` means for this layout)."""
    found = []
    for name in manifests:
        file = Path(name) if Path(name).is_absolute() else root / name
        try:
            found += list(pd.read_csv(file, dtype=str, keep_default_na=False, usecols=["class"])["class"])
        except (OSError, ValueError, pd.errors.ParserError):
            continue  # read_manifests names the problem when the data is loaded
    return list(dict.fromkeys(found))


def read_manifests(root: Path, manifests, classes: list[str]):
    """({class: {video: [frame paths]}}, {(class, video): split} for rows of manifests with a split
    column) for the wanted ``classes``; every problem is one error naming the file and row."""
    rows = []
    for name in manifests:
        file = Path(name) if Path(name).is_absolute() else root / name
        try:
            table = pd.read_csv(file, dtype=str, keep_default_na=False)
        except FileNotFoundError:
            raise BenchmarkError(f"data.manifest: {file} does not exist; write one (path,class,video[,split]) or run "
                                 "`benchmark prepare`, which writes manifest.csv") from None
        except (OSError, ValueError, pd.errors.ParserError) as e:
            raise BenchmarkError(f"data.manifest: {file} is not a readable CSV ({str(e).splitlines()[0][:100]})") from None
        missing = [c for c in REQUIRED if c not in table.columns]
        if missing:
            raise BenchmarkError(f"data.manifest: {file} lacks the column(s) {', '.join(missing)} "
                                 "(needed: path,class,video, optional split)")
        for number, record in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
            where = f"{file}, line {number}"
            if not record["path"] or not record["class"] or not record["video"]:
                raise BenchmarkError(f"data.manifest: {where}: path, class and video must all be given")
            check_name(record["class"], "class", f"data.manifest: {where}")  # it becomes a folder of the run dir
            path = Path(record["path"])
            path = path if path.is_absolute() else file.parent / path
            split = record.get("split") or None  # an empty cell: this row is split as usual
            rows.append((path, record["class"], record["video"], split, where, record["path"]))
    wanted = [r for r in rows if r[1] in set(classes)]
    present = {r[1] for r in rows}
    for cls in classes:
        if cls not in present:
            raise BenchmarkError(f"data.manifest: class '{cls}' is not in {', '.join(map(str, manifests))} "
                                 f"(classes there: {', '.join(sorted(present)) or 'none'})")
    seen: dict[Path, str] = {}
    videos: dict[str, dict[str, list[Path]]] = {cls: {} for cls in classes}
    splits: dict[tuple[str, str], str] = {}
    for path, cls, video, split, where, written in wanted:
        resolved = path.resolve()
        if resolved in seen:
            raise BenchmarkError(f"data.manifest: {where}: {written} is listed twice (also at {seen[resolved]}); "
                                 "list each image once")
        seen[resolved] = where
        if not path.is_file():
            raise BenchmarkError(f"data.manifest: {where}: {path} does not exist; fix the path (relative to the "
                                 "manifest) or remove the row")
        if split is not None:  # this manifest has a split column
            if split not in SPLITS:
                raise BenchmarkError(f"data.manifest: {where}: split {split!r} is not one of {', '.join(SPLITS)}")
            if splits.setdefault((cls, video), split) != split:
                raise BenchmarkError(f"data.manifest: {where}: video '{video}' of {cls} is in two splits "
                                     f"({splits[cls, video]} and {split}); a video belongs to one split")
        videos[cls].setdefault(video, []).append(path)
    return {cls: {v: [str(f) for f in sorted(frames, key=natural_key)] for v, frames in found.items()}
            for cls, found in videos.items()}, splits


def prepare_provenance(data, root: Path) -> list[dict]:
    """What `benchmark prepare` recorded (tool, parameters, totals) for each part of this data it made:
    the root, or the folder of each manifest."""
    root = Path(root)
    folders = ([(Path(m) if Path(m).is_absolute() else root / m).parent for m in data.manifest]
               if data.layout == "manifest" else [root])
    found = []
    for path in dict.fromkeys(folder / "prepare.json" for folder in folders):
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        found.append({"file": str(path), **{k: saved.get(k) for k in ("tool", "finished", "parameters", "totals")}})
    return found
