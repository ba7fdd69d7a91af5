"""Example blends beside their source and mask: the figure a user checks before a long run
(``benchmark generate``) and the one each run's report links."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def example_figure(rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], path: Path, title: str) -> Path:
    """``rows``: (label, real, fake, mask) per example -> a PNG with one row each: the real image,
    the pseudo-fake, the mask (how much of each pixel was blended), |fake - real|."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(rows), 4, figsize=(10, 2.6 * len(rows)), squeeze=False)
    for (label, real, fake, mask), row in zip(rows, axes):
        difference = np.abs(fake.astype(np.int16) - real.astype(np.int16)).max(-1)
        for axis, image, name in zip(row, (real, fake, mask, difference),
                                     ("real", "pseudo-fake", "blend mask", "|fake - real|")):
            axis.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0,
                        vmax=1 if image is mask else (255 if image.ndim == 3 else max(1, int(image.max()))))
            axis.set_title(name, fontsize=8)
            axis.axis("off")
        row[0].text(0, -0.08, label, transform=row[0].transAxes, fontsize=6, va="top")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial.png")  # a figure is whole or absent
    figure.savefig(partial, dpi=90)
    plt.close(figure)
    os.replace(partial, path)
    return path
