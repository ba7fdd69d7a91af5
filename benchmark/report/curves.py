"""Training curves: one figure per system, one panel per training set, a line per seed (val AUC, and
the train and val losses on a second axis), the epoch selected on val marked. Read from each
training run's epochs.csv (written as it trains); systems without epochs (no checkpoints) get none."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from benchmark.report.study import Study, System  # noqa: E402
from benchmark.run.results import EPOCHS, train_dir  # noqa: E402


def epoch_tables(study: Study, system: System) -> dict[str, list[tuple[int, pd.DataFrame]]]:
    """train set -> [(seed, its epochs.csv)] for the runs of ``system`` that have one."""
    cells = study.cells[study.cells["system"] == system.label]
    found: dict[str, list[tuple[int, pd.DataFrame]]] = {}
    for (train, seed), _ in cells.groupby(["train", "seed"], sort=False):
        path = train_dir(system.run.path, system.detector, train, int(seed)) / EPOCHS
        try:
            found.setdefault(train, []).append((int(seed), pd.read_csv(path)))
        except (OSError, ValueError, pd.errors.ParserError):
            continue  # an older run, or a detector without epochs
    return {train: tables for train, tables in found.items() if tables}


def training_figure(system: System, tables: dict[str, list[tuple[int, pd.DataFrame]]]) -> plt.Figure:
    trains = list(tables)
    fig, axes = plt.subplots(1, len(trains), figsize=(4.4 * len(trains), 4.0), dpi=90, squeeze=False)
    seeds: dict[int, str] = {}  # seed -> its colour, the same in every panel
    for ax, train in zip(axes[0], trains):
        losses = ax.twinx()
        for seed, table in tables[train]:
            colour = seeds.setdefault(seed, f"C{len(seeds) % 10}")
            ax.plot(table["epoch"], table["val_auc"], "o-", color=colour, markersize=3)
            for column, style in (("train_loss", "--"), ("val_loss", ":")):
                if column in table:
                    losses.plot(table["epoch"], table[column], style, color=colour, linewidth=1)
            chosen = table[table["selected"].astype(str) == "True"] if "selected" in table else table.iloc[:0]
            ax.plot(chosen["epoch"], chosen["val_auc"], "*", color=colour, markersize=13, markeredgecolor="black")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("epoch")
        ax.set_ylabel("val AUC")
        losses.set_ylabel("loss")
        ax.set_title(f"{system.label}: trained on {train}", fontsize=9)
        ax.xaxis.get_major_locator().set_params(integer=True)
    # one legend for the figure: colour = seed, line style = quantity
    handles = [Line2D([], [], color=c, label=f"seed {s}") for s, c in seeds.items()] + [
        Line2D([], [], color="black", marker="o", markersize=3, label="val AUC (left)"),
        Line2D([], [], color="black", linestyle="--", label="train loss (right)"),
        Line2D([], [], color="black", linestyle=":", label="val loss (right)"),
        Line2D([], [], color="white", marker="*", markersize=11, markeredgecolor="black", markerfacecolor="grey",
               label="epoch selected on val")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 4), fontsize=7, frameon=False)
    fig.suptitle(f"{system.label}: training curves", fontsize=9)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig
