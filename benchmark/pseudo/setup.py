"""A run's pseudo-fakes: landmarks for every real image a generator's training set blends, the
recipes of its train and val parts, and the files that show them (``generated.csv``: every
pseudo-fake with its source and partners; ``generators/<name>.png``: a few examples)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.files import atomic_write
from benchmark.pseudo.fakes import PseudoFakes
from benchmark.pseudo.figure import example_figure
from benchmark.pseudo.landmarks import find_landmarks

PROVENANCE = "generated.csv"
EXAMPLES = 4  # blends per generator in the run's example figure


def pseudo_fakes(dataset, generators: dict, digest_of, cache_dir: Path | None, workers: int, say=None
                 ) -> PseudoFakes | None:
    """The run's :class:`PseudoFakes` (None without generators); stops, naming the generator, when
    a part has no image it can blend."""
    if not generators:
        return None
    parts = {(name, split): dataset.cell(name, split).paths for name in generators for split in ("train", "val")}
    reals = list(dict.fromkeys(p for paths in parts.values() for p in paths))
    if say is not None:
        say(f"landmarks of {len(reals)} real images for {', '.join(generators)} (found once, remembered in the cache)")
    landmarks = find_landmarks(reals, digest_of, cache_dir, workers)
    videos = {s.path: (s.cls, s.video) for s in dataset.samples}
    fakes = PseudoFakes(generators)
    for (name, split), paths in parts.items():
        fakes.add_part(name, split, paths, landmarks, digest_of, videos)
    fakes.check({s.path: s.split for s in dataset.samples if s.label == 0})
    return fakes


def audit_lines(fakes: PseudoFakes) -> list[str]:
    """Audit warnings: real images a generator could not blend (counted; the audit lists them)."""
    return [f"{name} ({split}): {part['not_blended']} of {part['real']} real images not blended "
            f"(e.g. {part['examples'][0]['path']}: {part['examples'][0]['why']})"
            for (name, split), part in fakes.parts.items() if part["not_blended"]]


def audit_with_fakes(audit: dict, fakes: PseudoFakes | None, generators: dict) -> dict:
    """The audit, its cells of a generator's training set saying how many real train images were
    blended (their pseudo-fakes are the cell's fakes), plus the counts and names per part."""
    if fakes is None:
        return audit
    cells = []
    for cell in audit["cells"]:
        part = fakes.parts.get((cell["train"], "train"))
        if part is not None:
            cell = {**cell, "train_fake": part["blended"], "train_blended": part["blended"],
                    "train_not_blended": part["not_blended"], "per_image": generators[cell["train"]].per_image}
        cells.append(cell)
    return {**audit, "cells": cells, "generators": fakes.audit(), "warnings": [*audit["warnings"], *audit_lines(fakes)]}


def write_run_files(out: Path, fakes: PseudoFakes | None) -> dict[str, str]:
    """generated.csv and one example figure per generator, in the run dir; name -> figure path."""
    if fakes is None:
        return {}
    atomic_write(out / PROVENANCE, pd.DataFrame(fakes.provenance()).to_csv(index=False))
    figures = {}
    for name in fakes.generators:
        names = fakes.names(name, "train", fresh=False)[:EXAMPLES]
        rows = [(fakes.recipes[n].source, *_pair(fakes, n)) for n in names]
        figures[name] = str(example_figure(rows, out / "generators" / f"{name}.png",
                                           f"{name}: fixed blends of real training images").relative_to(out))
    return figures


def _pair(fakes: PseudoFakes, name: str):
    import numpy as np

    from benchmark.data.images import load_rgb

    fake, mask = fakes.make(name)
    return np.asarray(load_rgb(fakes.recipes[name].source)), fake, mask
