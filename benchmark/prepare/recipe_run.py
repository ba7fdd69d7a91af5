"""A dataset recipe's items -> what `benchmark prepare` does with them: test-only sets keep their
official test videos (unless --all-splits), videos become jobs for :mod:`benchmark.prepare.videos`,
and sets that ship face crops are indexed into a manifest without being copied or decoded."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from benchmark.datasets import IMAGE_SUFFIXES, DatasetRecipe, Item
from benchmark.errors import BenchmarkError
from benchmark.files import atomic_write, write_json
from benchmark.prepare.videos import Job, tool_version
from benchmark.suite_sections import check_name


def recipe_items(recipe: DatasetRecipe, src: Path, options: dict, all_splits: bool) -> list[Item]:
    """The recipe's items, checked (one video id per class), test-only sets cut to their test split."""
    if not src.is_dir():
        raise BenchmarkError(f"{src} is not a folder: expected {recipe.title} ({recipe.layout})")
    items = recipe.items(src, {**options, "all_splits": all_splits})
    seen: dict[tuple[str, str], Path] = {}
    for item in items:
        for value, key in ((item.cls, "class"), (item.video, "video")):  # they become DEST/<class>/<video>/
            check_name(value, key, f"{recipe.name}: {item.source}")
        if (item.cls, item.video) in seen:
            raise BenchmarkError(f"{recipe.name}: video '{item.video}' of {item.cls} comes from both "
                                 f"{seen[item.cls, item.video]} and {item.source}; the recipe must tell them apart")
        seen[item.cls, item.video] = item.source
    if recipe.test_only and not all_splits:  # (an item left to the suite's splits is not an official test video)
        items = [item for item in items if item.split == "test"]
    if not items:
        raise BenchmarkError(f"{recipe.name}: no videos found in {src} (expected {recipe.layout})")
    return items


def jobs_of(recipe: DatasetRecipe, items: list[Item], dest: Path) -> list[Job]:
    return [Job(item.source, recipe.target(item, dest), item.cls, item.video, item.split) for item in items]


def index_frames(items: list[Item], dest: Path, what: dict) -> dict:
    """Face-crop sets: manifest.csv (paths relative to it, pointing into SRC) and prepare.json."""
    rows, records = [], []
    for item in items:
        images = sorted(p for p in item.source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        rows += [(os.path.relpath(p, dest), item.cls, item.video, item.split or "") for p in images]
        records.append({"video": item.video, "class": item.cls, "source": str(item.source), "split": item.split,
                        "frames_written": len(images), "failure": None if images else "no images"})
    table = pd.DataFrame(rows, columns=["path", "class", "video", "split"])
    if not (table["split"] != "").any():
        table = table.drop(columns="split")
    dest.mkdir(parents=True, exist_ok=True)
    summary = {"tool": f"forgery-benchmark {tool_version()}", "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
               "parameters": what, "totals": {"videos": len(records), "frames_indexed": len(rows),
                                              "failed": sum(r["failure"] is not None for r in records)},
               "videos": records}
    write_json(dest / "prepare.json", summary)
    atomic_write(dest / "manifest.csv", table.to_csv(index=False))
    return summary
